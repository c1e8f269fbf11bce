"""`pulse clickhouse grants`: every statement is valid ClickHouse SQL (parsed by chDB, which is current
ClickHouse); chDB has no access control to apply them to, and says so clearly."""

import subprocess
import sys

import chdb

from pulse.store.grants import TENANT_TABLES, statements


def test_every_statement_parses_as_clickhouse_sql():
    sql = statements("acme-eu", "pa'ss\\word", "pulse")
    for statement in sql:
        quoted = statement.replace("\\", "\\\\").replace("'", "\\'")
        formatted = str(chdb.query(f"SELECT formatQuery('{quoted}')", "TSVRaw")).strip()
        assert formatted.split()[0] in ("CREATE", "GRANT"), formatted
    policies = [s for s in sql if "pulse_tenant_acme_eu" in s]
    assert len(policies) == len(TENANT_TABLES)
    assert all("USING tenant_id = 'acme-eu' TO pulse_analyst_acme_eu" in p for p in policies)
    grants = [s for s in sql if s.startswith("GRANT SELECT")]
    assert grants == [f"GRANT SELECT ON pulse.{t} TO pulse_analyst_acme_eu" for t in TENANT_TABLES]
    assert sql[-2].endswith("DEFAULT ROLE pulse_analyst_acme_eu SETTINGS readonly = 2")


def test_cli_prints_sql_and_refuses_bad_tenants(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "pulse", "clickhouse", "grants", "--tenant", "acme"],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0 and ok.stdout.count("CREATE ROW POLICY OR REPLACE pulse_tenant_acme") == 9
    bad = subprocess.run([sys.executable, "-m", "pulse", "clickhouse", "grants", "--tenant", "x'; DROP TABLE t; --"],
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "not a valid tenant id" in bad.stderr


def test_apply_on_chdb_fails_clearly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "clickhouse", "grants", "--tenant", "acme", "--apply",
         "--clickhouse", f"chdb://{tmp_path / 'ch'}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1
    assert "privileges" in result.stderr or "ACCESS" in result.stderr
