"""The provisioned Grafana dashboard: every panel's SQL runs on the real job run's ClickHouse (with incidents),
for one tenant, after the substitutions Grafana makes (the tenant variable and the plugin's `$__timeFilter` macro)."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from conftest import STREAM_START

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "grafana" / "dashboards" / "pulse-tenant.json"


def grafana_sql(sql: str, tenant: str) -> str:
    """The SQL Grafana sends: `${tenant}` filled in, `$__timeFilter(col)` as the plugin expands it (whole data day)."""
    sql = sql.replace("${tenant}", tenant)
    day = STREAM_START.date()
    start, end = f"toDateTime('{day} 00:00:00', 'UTC')", f"toDateTime('{day + timedelta(days=1)} 00:00:00', 'UTC')"
    return re.sub(r"\$__timeFilter\((\w+)\)", lambda m: f"{m[1]} >= {start} AND {m[1]} <= {end}", sql)


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["rawSql"]) for p in dashboard["panels"] for t in p["targets"]]


@pytest.mark.flink
def test_every_panel_is_tenant_scoped_and_returns_rows(incidents_run):
    queries = panel_queries()
    assert len(queries) >= 8
    for title, sql in queries:
        assert "tenant_id = '${tenant}'" in sql, title
        rows = incidents_run.query(grafana_sql(sql, "acme"))
        assert rows, f"panel {title!r} returned no rows"
    nobody = [incidents_run.query(grafana_sql(sql, "no-such-tenant")) for _, sql in queries]
    assert all(rows == [] or rows == [(None,)] for rows in nobody)


@pytest.mark.flink
def test_band_panels_read_the_metric_models_values(incidents_run):
    (sql,) = [sql for title, sql in panel_queries() if title.startswith("Orders with the expected band")]
    rows = incidents_run.query(grafana_sql(sql, "globex"))
    expected = incidents_run.query(
        "SELECT count() FROM metric_values FINAL WHERE tenant_id = 'globex' AND metric = 'orders'"
    )
    assert len(rows) == expected[0][0] > 100
    assert any(high is not None and high >= low for _, _, low, high in rows)


def test_provisioning_points_at_the_dashboard_and_the_clickhouse_plugin():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]
    assert grafana["environment"]["GF_INSTALL_PLUGINS"].startswith("grafana-clickhouse-datasource ")
    source = yaml.safe_load((ROOT / "grafana/provisioning/datasources/clickhouse.yaml").read_text())["datasources"][0]
    assert source["type"] == "grafana-clickhouse-datasource"
    uids = {t["datasource"]["uid"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
