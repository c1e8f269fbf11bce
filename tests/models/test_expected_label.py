"""A label `expected` on a metric incident teaches that detector's baseline (TenantPipeline, no Flink): a level shift
of a planned but undeclared event, labelled expected, raises what the detector expects at its hours (a little the next
day, about twice the same weekday a week later), so a repeat of it deviates far less from what is expected, and the
label holds back the one alert the repeat still raises (an hour in, as its long window fills: about as many orders a
minute as the labelled alert's short window, pulse.job.feedback), while the same stream unlabelled does not learn it
and alerts again as at first."""

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
LONG_MINUTES = 60  # the orders detector's long window: four times its 15 minutes
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


def run(label: str | None) -> tuple[list[dict], dict[int, float], list[dict]]:
    """The orders alerts of 16 days through the tenant's pipeline, `label` given to the shift's alert when it comes;
    what the detector expects at 10:00 and 11:00 of the day after the shift and of the repeat's day, just before; and
    the orders `metric_values` rows of the minutes whose alert the label held back."""
    pipeline = TenantPipeline("shop", parse_tenant_config(CONFIG, "shop.yaml"), PlanWatcher(plans_file_for("configs")),
                              "test")  # fmt: skip
    state, alerts, expected, values = pipeline.new_state(), [], {}, {}
    for minute in range(16 * 1440):
        for event in orders(minute):
            pipeline.event(event, state, None)
        for table, row in pipeline.advance(state, T0 + (minute + 1) * MINUTE):
            if table == "metric_values" and row["metric"] == "orders":
                values[row["minute"]] = row
            if table == "alerts" and row["cause"] == "metric:orders":
                alerts.append(row)
                if label and not any(kept.label == label for kept in pipeline.feedback.lessons.values()):
                    pipeline.learn(Lesson.of("inc_shift", label, row))
        if T0 + minute * MINUTE in (SHIFT + DAY - MINUTE, REPEAT - MINUTE):
            baseline = state.metrics.detectors["orders"].baseline
            day = T0 + (minute + 1) * MINUTE
            expected |= {day + hour * HOUR: baseline.expected(day + hour * HOUR) for hour in (0, 1)}
    held = [usage["minute"] for usage in pipeline.usage(state, 1) if usage["alerts_held_back"]]
    return alerts, expected, [values[minute] for minute in held]


def at(rows: list[dict], start: int, key: str = "ts") -> list[dict]:
    """The `rows` whose `key` time falls in the two hours from `start` (or the minute before)."""
    return [row for row in rows if start - MINUTE <= row[key].timestamp() * 1000 < start + 2 * HOUR]


def test_an_expected_label_teaches_the_baseline_so_its_repeat_deviates_far_less_and_is_held_back():
    unlabelled, usual, _ = run(None)
    assert at(unlabelled, SHIFT) and at(unlabelled, REPEAT), "unlabelled, the shift and its repeat alert"
    labelled, learned, held = run("expected")
    assert [a["alert_id"] for a in at(labelled, SHIFT)] == [a["alert_id"] for a in at(unlabelled, SHIFT)]
    next_day, next_week = (SHIFT + DAY, SHIFT + DAY + HOUR), (REPEAT, REPEAT + HOUR)
    assert all(learned[ts] > 1.05 * usual[ts] for ts in next_day), (learned, usual)  # mostly a Tuesday's: its factor
    assert all(learned[ts] > 1.8 * usual[ts] for ts in next_week), (learned, usual)
    assert not at(labelled, REPEAT), "labelled, the repeat raises no alert"
    [repeat] = at(held, REPEAT, "minute")  # the detector's alert, an hour in as its long window fills, held back
    [again] = at(unlabelled, REPEAT)  # at once
    assert repeat["window_observed"] / repeat["window_expected"] < 1.5 < 2.0 < ratio(again), (repeat, ratio(again))
    [shift] = at(labelled, SHIFT)
    taught = float(shift["labels"]["observed"])  # over its short window: held back are as many orders a minute
    per_minute = taught / int(shift["labels"]["window_minutes"])
    assert taught < repeat["window_observed"] <= LONG_MINUTES * per_minute, (shift["labels"], repeat)


def ratio(alert: dict) -> float:
    """How far the alert's window was above what it expected."""
    return float(alert["labels"]["observed"]) / float(alert["labels"]["expected"])
