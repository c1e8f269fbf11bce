"""Usage metering, quota alerts, overage, plan reloading and plan validation: plain logic, no Flink."""

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from pulse.job.usage import COUNTERS, UsageState, evict_flushed, meter, usage_rows
from pulse.tenants.config import load_config_dir
from pulse.tenants.plan_check import check_against_plan
from pulse.tenants.plans import Plan, PlanWatcher, load_plans

T0 = datetime(2026, 11, 30, 23, 58, tzinfo=UTC)


def scored(n: int, minute: int = 0, risk: float | None = 0.3, month_end: bool = False) -> dict:
    ts = datetime(2026, 12, 1, 0, minute, tzinfo=UTC) if month_end else T0.replace(minute=58 + minute)
    return {"tenant_id": "t", "event_id": f"e{n}", "ts": ts, "risk_score": risk, "risk_threshold": 0.9,
            "top_features": ["amount"], "model_warming_up": False, "rule_hits": ["big"]}  # fmt: skip


def alert(n: int, kind: str = "rule") -> dict:
    return {"tenant_id": "t", "alert_id": f"a{n}", "event_id": f"e{n}", "ts": T0, "kind": kind}


def month_totals(state: UsageState) -> dict[str, int]:
    rows = usage_rows(state, "t", "r1", 1)
    return {c: sum(r[c] for r in rows) for c in COUNTERS}


def run(state: UsageState, plan: Plan, rows: list[tuple[str, dict]], stored=None) -> list[tuple[str, dict]]:
    get = stored.get if stored is not None else lambda minute: None
    return [out for table, row in rows for out in meter(state, "t", "small", plan, table, row, "r1", get)]


def test_counts_every_row_per_minute_and_emits_cumulative_rows_once_per_change():
    state, plan = UsageState(), Plan(events_per_second=1)
    rejected = {"tenant_id": "t", "rejected_at": T0, "reason": "malformed_json"}
    repeat = {"tenant_id": "t", "rejected_at": T0, "reason": "duplicate_event_id"}
    out = run(state, plan, [("scored_events", scored(1)), ("alerts", alert(1)), ("scored_events", scored(2, 1, None)),
                            ("rejected_events", rejected), ("rejected_events", repeat)])  # fmt: skip
    assert [table for table, _ in out] == ["scored_events", "alerts", "scored_events", "rejected_events"] + [
        "rejected_events"
    ]
    assert all(row["over_quota"] is False for table, row in out if table == "scored_events")
    flushed = {}  # what the operator keeps in MapState
    flushed.update(state.minutes)
    first = usage_rows(state, "t", "r1", 1)
    minutes = [
        (r["minute"].minute, r["accepted"], r["scored"], r["alerts"], r["rejected"], r["duplicates"]) for r in first
    ]
    assert minutes == [(58, 1, 1, 1, 1, 1), (59, 1, 0, 0, 0, 0)]
    assert usage_rows(state, "t", "r1", 2) == []  # nothing changed since
    run(state, plan, [("scored_events", scored(3, 1))], flushed)
    again = usage_rows(state, "t", "r1", 3)
    assert [(r["minute"].minute, r["accepted"], r["scored"]) for r in again] == [(59, 2, 1)]
    assert again[0]["version"] == 3  # the newer row replaces the older in ReplacingMergeTree


def test_counters_saved_by_a_version_without_duplicates_count_on():
    older = {c: 1 for c in COUNTERS if c != "duplicates"} | {"run_id": "r1"}  # a minute restored from older state
    state = UsageState(minutes={int(T0.timestamp() // 60): dict(older)})
    repeat = {"tenant_id": "t", "rejected_at": T0, "reason": "duplicate_event_id"}
    run(state, Plan(events_per_second=1), [("rejected_events", repeat), ("rejected_events", repeat)])
    (row,) = usage_rows(state, "t", "r1", 1)
    assert (row["rejected"], row["duplicates"], row["accepted"]) == (1, 2, 1)


def test_soft_and_hard_limit_alerts_fire_once_each_at_80_and_100_percent():
    state, plan = UsageState(), Plan(events_per_second=1, events_per_month=10, overage="flag")
    out = run(state, plan, [("scored_events", scored(n)) for n in range(1, 15)])
    alerts = [(row["event_id"], row["cause"], row["kind"]) for table, row in out if table == "alerts"]
    assert alerts == [("e8", "quota_80", "usage"), ("e10", "quota_100", "usage")]
    flagged = [row["event_id"] for table, row in out if table == "scored_events" and row["over_quota"]]
    assert flagged == ["e11", "e12", "e13", "e14"]
    assert all(row["risk_score"] == 0.3 for table, row in out if table == "scored_events")  # flag keeps scoring
    totals = month_totals(state)
    assert (totals["accepted"], totals["over_quota"], totals["alerts"]) == (14, 4, 2)
    usage_alert = next(row for table, row in out if table == "alerts")
    assert usage_alert["labels"] == {"plan": "small", "month": "2026-11", "overage": "flag"}
    assert usage_alert["ts"] == datetime(2026, 11, 1, tzinfo=UTC)  # deterministic: a replay replaces it
    assert "80%" in usage_alert["summary"] and "10 events per month" in usage_alert["summary"]


def test_quota_is_per_calendar_month_of_event_time():
    state, plan = UsageState(), Plan(events_per_second=1, events_per_month=2)
    out = run(state, plan, [("scored_events", scored(1)), ("scored_events", scored(2)), ("scored_events", scored(3)),
                            ("scored_events", scored(4, month_end=True))])  # fmt: skip
    assert [row["over_quota"] for table, row in out if table == "scored_events"] == [False, False, True, False]


def test_store_unscored_strips_scores_and_suppresses_alerts_of_events_over_quota_but_counts_them():
    state, plan = UsageState(), Plan(events_per_second=1, events_per_month=1, overage="store_unscored")
    rows = [("scored_events", scored(1)), ("alerts", alert(1)), ("scored_events", scored(2)), ("alerts", alert(2)),
            ("alerts", alert(2, "model")), ("scored_events", scored(3))]  # fmt: skip
    out = run(state, plan, rows)
    events = {row["event_id"]: row for table, row in out if table == "scored_events"}
    assert events["e1"]["risk_score"] == 0.3 and events["e1"]["rule_hits"] == ["big"]
    for over in ("e2", "e3"):
        assert events[over]["over_quota"] is True
        assert (events[over]["risk_score"], events[over]["rule_hits"], events[over]["top_features"]) == (None, [], [])
    alerts = [(row["event_id"], row["kind"]) for table, row in out if table == "alerts"]
    assert alerts == [("e1", "usage"), ("e1", "usage"), ("e1", "rule")]  # 80% and 100% at e1; e2's alerts dropped
    totals = month_totals(state)
    assert (totals["accepted"], totals["scored"], totals["over_quota"], totals["alerts"]) == (3, 1, 2, 3)
    assert totals["alerts_suppressed"] == 2


def write_plans(path: Path, quota: int) -> None:
    path.write_text(f"default_plan: small\nplans:\n  small:\n    events_per_second: 5\n    events_per_month: {quota}\n")


def test_a_plan_change_takes_effect_without_a_restart(tmp_path):
    clock = [0.0]
    path = tmp_path / "plans.yaml"
    write_plans(path, 2)
    plans = PlanWatcher(path, check_every_s=10, clock=lambda: clock[0])
    state = UsageState()
    flags = []
    for n in range(1, 4):
        out = run(state, plans.plan("small"), [("scored_events", scored(n))])
        flags += [row["over_quota"] for table, row in out if table == "scored_events"]
    assert flags == [False, False, True]
    write_plans(path, 100)  # the quota is raised while the job runs
    clock[0] = 5.0
    assert plans.plan("small").events_per_month == 2  # checked at most every 10 s
    clock[0] = 10.0
    assert plans.plan("small").events_per_month == 100
    out = run(state, plans.plan("small"), [("scored_events", scored(4))])
    assert out[0][1]["over_quota"] is False
    path.write_text("plans: [broken")
    clock[0] = 20.0
    assert plans.plan("small").events_per_month == 100  # an invalid file keeps the plans in force


def test_plans_file_keeps_the_keys_other_loaders_read():
    plans = load_plans(Path("configs/plans.yaml")).plans
    assert {name: (p.events_per_second, p.retention_days) for name, p in plans.items()} == {
        "free": (50, 30),
        "growth": (2000, 180),
        "enterprise": (20000, 730),
    }
    assert plans["free"].overage == "store_unscored" and plans["enterprise"].events_per_month is None


def test_validate_refuses_a_config_that_exceeds_its_plan_with_file_line_and_field(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "plans.yaml").write_text(
        "plans:\n  free:\n    events_per_second: 5\n    max_rules: 1\n    max_webhooks: 0\n    max_models: 0\n"
    )
    (tmp_path / "default.yaml").write_text(
        "currency: USD\nmodels:\n  risk:\n    enabled: false\n  metrics:\n    enabled: false\n"
    )
    rules = "".join(f"  - id: r{i}\n    description: d\n    when: amount > {i}.0\n" for i in range(3))
    hooks = "webhooks:\n  - url: https://example.com/h\n    secrets: [SHOP_HOOK_SECRET]\n"
    models = "models:\n  risk:\n    enabled: true\n"
    (tmp_path / "tenants" / "shop.yaml").write_text(f"tenant: shop\ncurrency: USD\nrules:\n{rules}{models}{hooks}")
    configs = load_config_dir(tmp_path)
    file = str(tmp_path / "tenants" / "shop.yaml")
    errors = check_against_plan(configs.tenants["shop"], file, load_plans(tmp_path / "plans.yaml"), "plans.yaml")
    assert [(e.line, e.field) for e in errors] == [(3, "rules"), (13, "models"), (16, "webhooks")]
    assert "3 rules, but plan 'free' allows 1; remove 2" in str(errors[0])
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{file}:3: rules: 3 rules, but plan 'free' allows 1" in result.stderr
    assert "3 config(s) exceed their plan" in result.stderr


def test_validate_refuses_a_tenant_assigned_to_a_plan_the_plans_file_does_not_have(tmp_path):
    (tmp_path / "plans.yaml").write_text("tenants:\n  shop: gold\nplans:\n  free:\n    events_per_second: 5\n")
    (tmp_path / "default.yaml").write_text("currency: USD\n")
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    plans = tmp_path / "plans.yaml"
    assert f"{plans}: tenant shop: plan 'gold' is not defined under plans: (plans there: free)" in result.stderr


def test_a_tenant_cannot_choose_its_plan_in_its_own_config(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "shop.yaml").write_text("tenant: shop\nplan: enterprise\n")
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{tmp_path / 'tenants' / 'shop.yaml'}:2: plan: a tenant's plan is set by the operator" in result.stderr
    publish = [sys.executable, "-m", "pulse", "rules", "publish", str(tmp_path / "tenants" / "shop.yaml"),
               "--tenant", "shop", "--configs", str(tmp_path), "--folder", str(tmp_path)]  # fmt: skip
    published = subprocess.run(publish, capture_output=True, text=True)
    assert published.returncode == 1 and "shop.yaml:2: plan: a tenant's plan is set by the operator" in published.stderr
    assert "not published" in published.stderr and not list(tmp_path.glob("*.ndjson"))


def test_the_operator_moves_a_tenant_to_another_plan_without_a_restart(tmp_path):
    clock = [0.0]
    path = tmp_path / "plans.yaml"
    plans = "plans:\n  free: {events_per_second: 5}\n  growth: {events_per_second: 50}\n"
    path.write_text(plans)
    watcher = PlanWatcher(path, check_every_s=10, clock=lambda: clock[0])
    assert watcher.of("shop")[0] == "free" and watcher.of("shop")[1].events_per_second == 5
    path.write_text(plans + "tenants:\n  shop: growth\n")
    clock[0] = 10.0
    assert watcher.of("shop")[0] == "growth" and watcher.of("shop")[1].events_per_second == 50
    assert watcher.of("other")[0] == "free"


def test_a_new_job_starts_the_month_from_earlier_runs_and_does_not_repeat_their_alerts():
    state = UsageState(month_accepted={"2026-11": 9}, prior={"2026-11": 9})
    out = run(state, Plan(events_per_second=1, events_per_month=10), [("scored_events", scored(n)) for n in (1, 2)])
    assert [(row["event_id"], row["cause"]) for table, row in out if table == "alerts"] == [("e1", "quota_100")]
    assert [row["over_quota"] for table, row in out if table == "scored_events"] == [False, True]


def test_a_job_restored_under_a_new_run_id_counts_that_run_apart_from_the_restored_one():
    """A savepoint taken under run r1 and resumed as r2: per (minute, run) each row counts its own run's rows."""
    state, plan = UsageState(), Plan(events_per_second=1)
    meter_as = lambda run_id, n, stored: meter(state, "t", "small", plan, "scored_events", scored(n), run_id, stored)  # noqa: E731
    flushed = {}  # what the operator keeps in MapState
    meter_as("r1", 1, flushed.get)
    flushed.update(state.minutes)
    assert [(r["run_id"], r["accepted"]) for r in usage_rows(state, "t", "r1", 1)] == [("r1", 1)]
    meter_as("r1", 2, flushed.get)  # counted, not yet emitted when the savepoint is taken
    meter_as("r2", 3, flushed.get)  # after the restore, the same minute
    meter_as("r2", 4, flushed.get)
    flushed.update(state.minutes)
    rows = usage_rows(state, "t", "r2", 2)
    assert [(r["run_id"], r["minute"], r["accepted"]) for r in rows] == [("r1", T0.replace(second=0), 2),
                                                                         ("r2", T0.replace(second=0), 2)]  # fmt: skip
    meter_as("r2", 5, flushed.get)
    assert [(r["run_id"], r["accepted"]) for r in usage_rows(state, "t", "r2", 3)] == [("r2", 3)]


def test_counting_on_in_a_recently_flushed_minute_needs_no_look_up_of_stored_counters():
    state, plan = UsageState(), Plan(events_per_second=1)
    stored: dict[int, dict] = {}  # as the operator keeps them (Flink MapState)
    looked_up: list[int] = []

    def look_up(minute: int) -> dict | None:
        looked_up.append(minute)
        return stored.get(minute)

    def flush(version: int) -> list[dict]:
        rows = usage_rows(state, "t", "r1", version)
        stored.update(evict_flushed(state))
        return rows

    meter(state, "t", "small", plan, "scored_events", scored(1), "r1", look_up)
    flush(1)
    meter(state, "t", "small", plan, "scored_events", scored(2), "r1", look_up)
    assert [row["accepted"] for row in flush(2)] == [2]  # cumulative over both flushes
    assert looked_up == []  # a minute newer than every flushed one has nothing stored; then its counts are kept
    for minute in range(1, 8):
        meter(state, "t", "small", plan, "scored_events", scored(10 + minute, minute=minute, month_end=True), "r1",
              look_up)  # fmt: skip
        flush(3 + minute)
    assert len(state.recent) == 5 and min(state.recent) == max(state.recent) - 4  # the newest flushed minutes
    assert looked_up == [] and len(stored) == 3
    meter(state, "t", "small", plan, "scored_events", scored(30), "r1", look_up)  # a late one, minute 58
    assert looked_up == [int(T0.replace(minute=58).timestamp() // 60)]
    assert [row["accepted"] for row in flush(20)] == [3]
