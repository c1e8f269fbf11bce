"""Planned events through a tenant's per-record logic (TenantPipeline, no Flink): a sale raises no spike alert and
leaves the baseline as it was, a drop during the sale still alerts and names it, maintenance holds back absence
rules. Each test also runs the same stream without the planned event, so it fails if the event changes nothing."""

import random

from pulse.job.pipeline import TenantPipeline
from pulse.tenants.config import parse_tenant_config
from pulse.tenants.plans import PlanWatcher, plans_file_for

MINUTE = 60_000
DAY = 1440 * MINUTE
T0 = 1_793_577_600_000  # 2026-11-02 00:00 UTC, a Monday
EVENT_START = T0 + 3 * DAY + 10 * 60 * MINUTE  # Thursday 10:00 UTC
CONFIG = """tenant: shop
rules:
  - id: no-orders
    type: absence
    description: No order placed for 20 minutes
    severity: high
    filter: event_type == "order_placed"
    for: 20m
models:
  risk: {enabled: false}
  metrics: {warmup_minutes: 60}
"""
SALE = """planned:
  - {name: Flash sale, kind: sale, start: "2026-11-05 10:00", end: "2026-11-05 13:00", metrics: [orders]}
"""
MAINTENANCE = """planned:
  - {name: Checkout upgrade, kind: maintenance, start: "2026-11-05 10:00", end: "2026-11-05 11:00"}
"""


def orders(factor_at) -> list[dict]:
    """Four days of about 4 orders a minute (an hour's factor from `factor_at(ts)`), one order a few seconds in."""
    events = []
    for minute in range(4 * 1440):
        ts, rng = T0 + minute * MINUTE, random.Random(minute)  # each minute its own draws: streams differ only there
        for i in range(sum(rng.random() < 0.5 for _ in range(int(8 * factor_at(ts))))):
            events.append({"event_id": f"o{minute}-{i}", "tenant_id": "shop", "event_type": "order_placed",
                           "ts": ts + 1000 + i, "amount": 20.0, "session_id": f"s{minute}-{i}"})  # fmt: skip
    return events


def run(events: list[dict], planned: str = "") -> tuple[list[dict], TenantPipeline, object]:
    """The alerts of `events` through the tenant's pipeline, the pipeline and its state."""
    pipeline = TenantPipeline("shop", parse_tenant_config(CONFIG + planned, "shop.yaml"),
                              PlanWatcher(plans_file_for("configs")), "test")  # fmt: skip
    state, alerts, minute = pipeline.new_state(), [], None
    for event in events:
        if minute is not None and event["ts"] // MINUTE > minute:
            alerts += [
                row for table, row in pipeline.advance(state, event["ts"] // MINUTE * MINUTE) if table == "alerts"
            ]
        minute = event["ts"] // MINUTE
        alerts += [row for table, row in pipeline.event(event, state, None) if table == "alerts"]
    alerts += [row for table, row in pipeline.advance(state, events[-1]["ts"] + MINUTE, end_of_input=True)
               if table == "alerts"]  # fmt: skip
    return alerts, pipeline, state


def during(alerts: list[dict], cause: str, hours: float = 3) -> list[dict]:
    start = EVENT_START - MINUTE
    end = EVENT_START + hours * 60 * MINUTE
    return [a for a in alerts if a["cause"] == cause and start <= a["ts"].timestamp() * 1000 < end]


def sale(ts: int) -> float:
    return 3.0 if EVENT_START <= ts < EVENT_START + 3 * 60 * MINUTE else 1.0


def test_a_planned_sale_raises_no_spike_alert_and_keeps_the_baseline():
    unplanned, _, poisoned = run(orders(sale))
    assert during(unplanned, "metric:orders"), "without the plan the sale's orders are a spike"
    planned, _, kept = run(orders(sale), SALE)
    assert during(planned, "metric:orders") == []
    _, _, quiet = run(orders(lambda ts: 1.0), SALE)  # the same days without the sale's orders
    next_week = EVENT_START + 60 * MINUTE + 7 * DAY  # what each expects at the sale's hour a week later
    learned, usual, unguarded = (
        s.metrics.detectors["orders"].baseline.expected(next_week) for s in (kept, quiet, poisoned)
    )
    assert abs(learned / usual - 1) < 0.1 and unguarded > 2 * usual  # without the plan the sale teaches a peak


def test_a_drop_during_a_sale_still_alerts_and_names_the_sale():
    def drop(ts: int) -> float:
        return 0.15 if EVENT_START + 30 * MINUTE <= ts < EVENT_START + 150 * MINUTE else 1.0

    alerts, _, _ = run(orders(drop), SALE)
    [first, *_] = during(alerts, "metric:orders")
    assert first["labels"]["direction"] == "drop" and first["labels"]["planned"] == "Flash sale"
    assert "during the planned sale Flash sale (2026-11-05 10:00 UTC to 2026-11-05 13:00 UTC)" in first["summary"]


def test_maintenance_holds_back_absence_alerts_inside_its_window_only():
    def outage(ts: int) -> float:
        return 0.0 if EVENT_START <= ts < EVENT_START + 60 * MINUTE else 1.0

    unplanned, _, _ = run(orders(outage))
    assert during(unplanned, "no-orders", hours=1) and during(unplanned, "metric:orders", hours=1)
    planned, _, _ = run(orders(outage), MAINTENANCE)
    assert during(planned, "no-orders", hours=1) == [] and during(planned, "metric:orders", hours=1) == []
