"""A label `expected` on a metric incident teaches that detector's baseline (TenantPipeline, no Flink): a level shift
of a planned but undeclared event, labelled expected, raises what the detector expects at its hours (a little the next
day, about twice the same weekday a week later), so a repeat of it deviates far less from what is expected, while the
same stream unlabelled does not learn it and alerts again as at first."""

import random

from pulse.job.feedback import Lesson
from pulse.job.pipeline import TenantPipeline
from pulse.tenants.config import parse_tenant_config
from pulse.tenants.plans import PlanWatcher, plans_file_for

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T0 = 1_793_577_600_000  # 2026-11-02 00:00 UTC, a Monday
SHIFT = T0 + 8 * DAY + 10 * HOUR  # the second Tuesday at 10:00, an hour of the week the detector knows
REPEAT = SHIFT + 7 * DAY  # the same shift on the next Tuesday
CONFIG = """tenant: shop
models:
  risk: {enabled: false}
  metrics: {warmup_minutes: 60}
"""


def tripled(ts: int) -> bool:
    """Orders x3 from 10:00 to 12:00 on the days of the shift."""
    return any(start <= ts < start + 2 * HOUR for start in (SHIFT, REPEAT))


def orders(minute: int) -> list[dict]:
    """About 4 orders in the `minute` after T0 (12 while tripled), each minute its own draws."""
    ts, rng = T0 + minute * MINUTE, random.Random(minute)
    count = sum(rng.random() < 0.5 for _ in range(8 * (3 if tripled(ts) else 1)))
    return [{"event_id": f"o{minute}-{i}", "tenant_id": "shop", "event_type": "order_placed", "ts": ts + 1000 + i,
             "amount": 20.0, "session_id": f"s{minute}-{i}"} for i in range(count)]  # fmt: skip


def run(label: str | None) -> tuple[list[dict], dict[int, float]]:
    """The orders alerts of 16 days through the tenant's pipeline, `label` given to the shift's alert when it comes;
    and what the detector expects at 10:00 and 11:00 of the day after the shift and of the repeat's day, just before."""
    pipeline = TenantPipeline("shop", parse_tenant_config(CONFIG, "shop.yaml"), PlanWatcher(plans_file_for("configs")),
                              "test")  # fmt: skip
    state, alerts, expected = pipeline.new_state(), [], {}
    for minute in range(16 * 1440):
        for event in orders(minute):
            pipeline.event(event, state, None)
        for table, row in pipeline.advance(state, T0 + (minute + 1) * MINUTE):
            if table == "alerts" and row["cause"] == "metric:orders":
                alerts.append(row)
                if label and not any(kept.label == label for kept in pipeline.feedback.lessons.values()):
                    pipeline.learn(Lesson.of("inc_shift", label, row))
        if T0 + minute * MINUTE in (SHIFT + DAY - MINUTE, REPEAT - MINUTE):
            baseline = state.metrics.detectors["orders"].baseline
            day = T0 + (minute + 1) * MINUTE
            expected |= {day + hour * HOUR: baseline.expected(day + hour * HOUR) for hour in (0, 1)}
    return alerts, expected


def at(alerts: list[dict], start: int) -> list[str]:
    """The ids of the alerts of the two hours from `start`."""
    return [a["alert_id"] for a in alerts if start - MINUTE <= a["ts"].timestamp() * 1000 < start + 2 * HOUR]


def test_an_expected_label_teaches_the_baseline_so_its_repeat_deviates_far_less():
    unlabelled, usual = run(None)
    assert at(unlabelled, SHIFT) and at(unlabelled, REPEAT), "unlabelled, the shift and its repeat alert"
    labelled, learned = run("expected")
    assert at(labelled, SHIFT) == at(unlabelled, SHIFT)
    next_day, next_week = (SHIFT + DAY, SHIFT + DAY + HOUR), (REPEAT, REPEAT + HOUR)
    assert all(learned[ts] > 1.05 * usual[ts] for ts in next_day), (learned, usual)  # mostly a Tuesday's: its factor
    assert all(learned[ts] > 1.8 * usual[ts] for ts in next_week), (learned, usual)
    [repeat] = [a for a in labelled if a["alert_id"] in at(labelled, REPEAT)]  # an hour in, as its window fills
    [again] = [a for a in unlabelled if a["alert_id"] in at(unlabelled, REPEAT)]  # at once
    assert ratio(repeat) < 1.5 < 2.0 < ratio(again), (ratio(repeat), ratio(again))


def ratio(alert: dict) -> float:
    """How far the alert's window was above what it expected."""
    return float(alert["labels"]["observed"]) / float(alert["labels"]["expected"])
