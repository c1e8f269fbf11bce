"""Usage metering end to end: the shared job run's usage equals its tables, and one small run with tiny
plans (acme: 100 events a month, flag; initech: 50, store_unscored) run twice with the same run id."""

import json
import shutil
import subprocess
import sys
import threading
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException
from threaded_server import serving
from usage_support import disagreements

from pulse.api.usage import usage_router
from pulse.cli.common import PROJECT_CONFIGS
from pulse.store.clickhouse import open_store, store
from pulse.tenants.plans import load_plans

pytestmark = pytest.mark.flink

TOTALS_SQL = """SELECT tenant_id, sum(accepted), sum(rejected), sum(scored), sum(alerts), sum(over_quota),
sum(duplicates) FROM usage FINAL WHERE run_id = {run:String} GROUP BY tenant_id ORDER BY tenant_id"""


def test_shared_run_usage_equals_the_row_counts_of_every_table_per_tenant_and_minute(job_run):
    assert disagreements(job_run.query) == []
    totals = {r[0]: r[1:] for r in job_run.query(TOTALS_SQL)}
    scored = job_run.query("SELECT count() FROM scored_events FINAL WHERE run_id = {run:String}")[0][0]
    rejected = job_run.query("SELECT count() FROM rejected_events FINAL WHERE run_id = {run:String}")[0][0]
    assert sum(t[0] for t in totals.values()) == scored > 19000
    assert sum(t[1] + t[5] for t in totals.values()) == rejected > 0
    assert sum(t[5] for t in totals.values()) == job_run.repeats["duplicates"]
    assert {"acme", "globex", "initech"} <= set(totals)
    assert all(t[4] == 0 for t in totals.values())  # the shipped plans are far from these volumes


@dataclass
class TinyRun:
    dsn: str
    configs: Path
    outputs: list[str]

    def query(self, sql: str, **params) -> list[tuple]:
        with store(self.dsn) as s:
            return s.query(sql, {"run": "tiny", **params})[1]


DAY_MS = 86_400_000


def later_event(line: str) -> str:
    """The same record as a new event a day later (another event_id and ts), for a later run in the same month.
    (A window alert is identified by tenant, rule, group and window, so events at the same times would raise
    the same alert rows as the first run: a replay.)"""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if isinstance(record, dict) and isinstance(record.get("event_id"), str):
        record["event_id"] = "later-" + record["event_id"]
    if isinstance(record, dict) and isinstance(record.get("ts"), int):
        record["ts"] += DAY_MS
    return json.dumps(record) + "\n"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> TinyRun:
    folder = tmp_path_factory.mktemp("usage")
    configs = folder / "configs"
    shutil.copytree(PROJECT_CONFIGS, configs)
    plans = (PROJECT_CONFIGS / "plans.yaml").read_text()
    plans = plans.replace("events_per_month: 20000000", "events_per_month: 100")  # growth (acme), flag
    plans = plans.replace("events_per_month: 100000", "events_per_month: 50")  # free (initech), store_unscored
    (configs / "plans.yaml").write_text(plans)
    py = [sys.executable, "-m", "pulse"]
    subprocess.run([*py, "generate", "--out", str(folder / "ev.jsonl"), "--minutes", "5", "--broken-rate", "0.03"],
                   check=True, capture_output=True)  # fmt: skip
    dsn = f"chdb://{folder / 'ch'}"
    outputs = []
    for _ in range(2):  # the second run replays everything with the same run id: usage must not double
        run = [*py, "run", "--input", str(folder / "ev.jsonl"), "--configs", str(configs), "--clickhouse", dsn,
               "--run-id", "tiny"]  # fmt: skip
        result = subprocess.run(run, capture_output=True, text=True, cwd=folder, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        outputs.append(result.stdout)
    (folder / "later.jsonl").write_text("".join(map(later_event, (folder / "ev.jsonl").open())))
    later = [*py, "run", "--input", str(folder / "later.jsonl"), "--configs", str(configs), "--clickhouse", dsn,
             "--run-id", "tiny-2"]  # fmt: skip
    result = subprocess.run(later, capture_output=True, text=True, cwd=folder, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return TinyRun(dsn, configs, outputs)


def test_usage_equals_the_tables_over_the_quota_and_after_a_rerun(tiny_run):
    # a rerun under the same run id keeps the receive time of the first run: its rejects replace their usage rows
    assert disagreements(tiny_run.query) == []
    totals = {r[0]: r[1:] for r in tiny_run.query(TOTALS_SQL)}
    assert totals["acme"][0] > 100 and totals["initech"][0] > 50
    assert totals["acme"][4] == totals["acme"][0] - 100
    assert totals["initech"][4] == totals["initech"][0] - 50
    assert totals["globex"][4] == 0  # enterprise: no monthly quota


def test_a_later_run_counts_against_the_quota_used_by_earlier_runs(tiny_run):
    rows = tiny_run.query(
        "SELECT tenant_id, count(), countIf(over_quota) FROM scored_events FINAL WHERE run_id = 'tiny-2' "
        "GROUP BY tenant_id ORDER BY tenant_id"
    )
    assert [(tenant, over == count) for tenant, count, over in rows] == [
        ("acme", True),
        ("globex", False),
        ("initech", True),
    ]
    assert tiny_run.query("SELECT count() FROM alerts FINAL WHERE run_id = 'tiny-2' AND kind = 'usage'") == [(0,)]
    assert disagreements(lambda sql: tiny_run.query(sql.replace("{run:String}", "'tiny-2'"))) == []


def test_soft_and_hard_limits_raise_one_usage_alert_each(tiny_run):
    rows = tiny_run.query(
        "SELECT tenant_id, cause, severity, labels['overage'], summary FROM alerts FINAL "
        "WHERE run_id = {run:String} AND kind = 'usage' ORDER BY tenant_id, cause"
    )
    assert [r[:4] for r in rows] == [
        ("acme", "quota_100", "high", "flag"),
        ("acme", "quota_80", "medium", "flag"),
        ("initech", "quota_100", "high", "store_unscored"),
        ("initech", "quota_80", "medium", "store_unscored"),
    ]
    assert "acme has used 80% of the 100 events per month of plan 'growth'" in rows[1][4]


def test_flag_mode_keeps_scoring_and_store_unscored_stores_events_without_scores_or_alerts(tiny_run):
    flagged = "SELECT count(), countIf(risk_score IS NOT NULL), countIf(length(rule_hits) > 0) FROM scored_events FINAL"
    where = " WHERE run_id = {run:String} AND over_quota AND tenant_id = {t:String}"
    acme = tiny_run.query(flagged + where, t="acme")[0]
    initech = tiny_run.query(flagged + where, t="initech")[0]
    assert acme[0] > 0 and acme[1] > 0  # still scored
    assert initech[0] > 0 and initech[1:] == (0, 0)  # stored, unscored
    alerts_of_unscored = tiny_run.query(
        "SELECT count() FROM alerts FINAL WHERE run_id = {run:String} AND kind != 'usage' AND event_id IN (SELECT "
        "event_id FROM scored_events FINAL WHERE run_id = {run:String} AND over_quota AND tenant_id = 'initech')"
    )[0][0]
    assert alerts_of_unscored == 0


def test_usage_alerts_become_incidents_through_dispatch(tiny_run):
    command = [sys.executable, "-m", "pulse", "dispatch", "--once", "--configs", str(tiny_run.configs),
               "--clickhouse", tiny_run.dsn]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = tiny_run.query("SELECT tenant_id, cause, summary FROM incidents FINAL WHERE kind = 'usage' ORDER BY ALL")
    assert {(r[0], r[1]) for r in rows} == {
        ("acme", "quota_80"),
        ("acme", "quota_100"),
        ("initech", "quota_80"),
        ("initech", "quota_100"),
    }


def test_pulse_usage_prints_usage_against_the_plan(tiny_run):
    command = [sys.executable, "-m", "pulse", "usage", "--tenant", "initech", "--month", "2026-11",
               "--configs", str(tiny_run.configs), "--clickhouse", tiny_run.dsn]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    (accepted,) = tiny_run.query("SELECT count() FROM scored_events FINAL WHERE tenant_id = 'initech'")[0]
    assert accepted > 150  # both runs
    assert f"initech in 2026-11, plan free: {accepted} of 50 events" in result.stdout
    assert "beyond the quota: store_unscored" in result.stdout


def test_get_usage_answers_for_the_tenant_of_the_api_key_only(tiny_run):
    plans = load_plans(tiny_run.configs / "plans.yaml")
    keys = {"key-acme": "acme", "key-globex": "globex"}

    def tenant_of(authorization: Annotated[str, Header()] = "") -> str:
        tenant = keys.get(authorization.removeprefix("Bearer "))
        if tenant is None:
            raise HTTPException(401, "unknown API key")
        return tenant

    db = open_store(tiny_run.dsn)
    lock = threading.Lock()

    @contextmanager
    def one_store():
        with lock:
            yield db

    app = FastAPI()
    app.include_router(usage_router(tenant_of, one_store, plans.of))
    with closing(db), serving(app) as api:
        url = f"{api}/v1/usage"
        body = httpx.get(url, params={"month": "2026-11"}, headers={"authorization": "Bearer key-acme"}).json()
        accepted = db.query("SELECT count() FROM scored_events FINAL WHERE tenant_id = 'acme'")  # both runs
        assert body["tenant"] == "acme" and body["plan"] == "growth"
        assert body["totals"]["accepted"] == accepted[1][0][0]
        assert body["totals"]["over_quota"] == accepted[1][0][0] - 100
        assert body["limits"]["events_per_month"] == 100 and body["limits"]["overage"] == "flag"
        assert body["quota_used_percent"] == round(accepted[1][0][0], 1)
        # the quota alerts are dated at the start of the month they are about; the events on the day they happened
        assert [(d["day"], d["alerts"] > 0, d["accepted"] > 0) for d in body["days"]] == [
            ("2026-11-01", True, False),
            ("2026-11-02", True, True),
            ("2026-11-03", True, True),  # the later run's events
        ]
        empty = httpx.get(url, params={"month": "2026-10"}, headers={"authorization": "Bearer key-acme"}).json()
        assert empty["totals"]["accepted"] == 0 and empty["days"] == []
        assert (
            httpx.get(url, params={"month": "2026-1"}, headers={"authorization": "Bearer key-acme"}).status_code == 422
        )
        assert httpx.get(url).status_code == 401
