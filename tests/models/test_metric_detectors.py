"""Metric detectors and business metrics without Flink: seasonality, cold start, direction, gaps, tools."""

import math
import random

import pytest
from poisson_counts import poisson

from models.backtest import backtest
from models.business_metrics import TenantMetrics, detector_config
from models.detectors import DAY, HOUR, MINUTE, SeriesDetector
from models.evaluation import metric_alerts
from models.series import read_rows
from pulse.dev.scenarios import ScenarioGenerator
from pulse.tenants.config import ConfigInvalid, MetricDetectorConfig, MetricsConfig, parse_tenant_config

MONDAY = 1_793_577_600_000  # 2026-11-02 00:00 UTC, a Monday


def shop_rate(ts: int) -> float:
    """Orders a minute: busy afternoons, quiet nights, a weekend dip and a very quiet Sunday night."""
    hour = (ts % DAY) / HOUR
    weekday = (ts // DAY + 3) % 7
    daily = 0.5 + 20 * max(0.0, math.sin(math.pi * (hour - 6) / 18))
    weekly = 0.4 if weekday == 6 and hour >= 18 else (0.7 if weekday >= 5 else 1.0)
    return daily * weekly


def orders_detector(**overrides) -> SeriesDetector:
    kind, config = detector_config(MetricsConfig(detectors={"orders": MetricDetectorConfig(**overrides)}), "orders")
    return SeriesDetector(kind, config, MINUTE, warmup_intervals=60)


def feed(detector: SeriesDetector, start: int, minutes: int, rng: random.Random, factor=lambda ts: 1.0):
    return [
        detector.update(ts, poisson(rng, shop_rate(ts) * factor(ts)))
        for ts in range(start, start + minutes * MINUTE, MINUTE)
    ]


def test_quiet_sunday_night_after_two_weeks_is_no_outage_but_a_real_outage_is():
    rng = random.Random(3)
    detector = orders_detector()
    feed(detector, MONDAY, 13 * 24 * 60 + 18 * 60, rng)  # two weeks up to Sunday 18:00
    sunday_evening = MONDAY + 13 * DAY + 18 * HOUR
    quiet = feed(detector, sunday_evening, 6 * 60, rng)  # the weekly quiet Sunday night: 40% of a weekday
    assert not any(v.is_anomalous for v in quiet)
    assert max(v.expected_value for v in quiet) < 0.7 * shop_rate(MONDAY + 7 * DAY + 18 * HOUR)
    outage = feed(detector, sunday_evening + 6 * HOUR + 14 * HOUR, 60, rng, factor=lambda ts: 0.1)  # Monday 14:00
    first = next(v for v in outage if v.opens_incident)
    assert first.direction == "drop" and first.observed < 0.3 * first.expected
    assert first.ts - (sunday_evening + 20 * HOUR) <= 15 * MINUTE


def test_cold_start_raises_nothing_during_the_stated_warmup():
    detector = orders_detector()
    rng = random.Random(5)
    verdicts = [detector.update(MONDAY + i * MINUTE, float(poisson(rng, 10.0) if i % 7 else 80)) for i in range(60)]
    assert all(v.warming_up and not v.is_anomalous for v in verdicts)
    after = detector.update(MONDAY + 60 * MINUTE, 10.0)
    assert not after.warming_up


def test_direction_is_reported_and_respected():
    rng = random.Random(7)
    both, drops_only = orders_detector(direction="both"), orders_detector(direction="drop")
    for ts in range(MONDAY + 12 * HOUR, MONDAY + 15 * HOUR, MINUTE):
        value = poisson(rng, 10.0)
        both.update(ts, value)
        drops_only.update(ts, value)
    spike_at = MONDAY + 15 * HOUR
    spikes = [
        (both.update(ts, 40.0), drops_only.update(ts, 40.0)) for ts in range(spike_at, spike_at + 10 * MINUTE, MINUTE)
    ]
    opened = next(a for a, _ in spikes if a.opens_incident)
    assert opened.direction == "spike" and opened.observed > opened.expected and opened.since == spike_at
    assert not any(b.is_anomalous for _, b in spikes)


def test_a_gap_is_missing_data_not_an_outage():
    rng = random.Random(9)
    detector = orders_detector()
    for ts in range(MONDAY + 10 * HOUR, MONDAY + 13 * HOUR, MINUTE):
        detector.update(ts, poisson(rng, 12.0))
    after_gap = [
        detector.update(ts, poisson(rng, 12.0)) for ts in range(MONDAY + 15 * HOUR, MONDAY + 16 * HOUR, MINUTE)
    ]
    assert not any(v.is_anomalous for v in after_gap)
    assert after_gap[0].observed == after_gap[0].value  # the window restarted after the gap


def test_tenant_metrics_count_minutes_and_treat_a_small_shops_silence_as_zeros_then_as_a_gap():
    metrics = TenantMetrics(MetricsConfig(warmup_minutes=0))  # warm, but 5 orders are too few to show a drop
    for i in range(5):
        metrics.add({"event_type": "order_placed", "ts": MONDAY + i * MINUTE + 5, "session_id": f"s{i}"})
        metrics.add({"event_type": "payment_failed", "ts": MONDAY + i * MINUTE + 9, "session_id": f"s{i}"})
    points = metrics.close(MONDAY + 5 * MINUTE)
    orders = [p.verdict for p in points if p.metric == "orders"]
    assert [v.value for v in orders] == [1.0] * 5
    rate = [p.verdict.value for p in points if p.metric == "payment_failure_rate"]
    assert rate == [1.0] * 5
    silent = metrics.close(MONDAY + 3 * HOUR)
    minutes = sorted({p.verdict.ts for p in silent})
    assert len(minutes) == 5 and all(p.verdict.value == 0 for p in silent if p.metric == "orders")
    assert metrics.next_tick() is None and metrics.close(MONDAY + 4 * HOUR) == []
    metrics.add({"event_type": "order_placed", "ts": MONDAY + 4 * HOUR, "session_id": "s9"})
    back = metrics.close(MONDAY + 4 * HOUR + MINUTE)
    assert [p.verdict.observed for p in back if p.metric == "orders"] == [1.0]  # its windows start again


def test_a_silent_shop_closed_in_batches_is_judged_as_minute_by_minute_and_its_outage_alerts():
    def busy_shop() -> TenantMetrics:
        metrics, rng = TenantMetrics(MetricsConfig()), random.Random(5)
        for minute in range(180):  # three hours of 12 orders a minute, past warm-up, then the checkout stops
            for i in range(poisson(rng, 12.0)):
                metrics.add({"event_type": "order_placed", "ts": MONDAY + 9 * HOUR + minute * MINUTE + i})
        return metrics

    by_minute, batched = busy_shop(), busy_shop()
    silence = MONDAY + 12 * HOUR
    assert by_minute.close(silence) == batched.close(silence)
    silent: list = []
    while (tick := batched.next_tick()) is not None:  # the job's timers: once per batch of silent minutes
        assert tick - batched.closed_until == 5 * MINUTE
        in_batch = batched.close(tick)
        one_by_one = []
        while by_minute.closed_until < tick:
            one_by_one += by_minute.close(by_minute.closed_until + MINUTE)
        assert in_batch == one_by_one
        silent += in_batch
    assert by_minute.next_tick() is None and len({p.verdict.ts for p in silent}) == 60
    outage = next(p.verdict for p in silent if p.verdict.opens_incident)
    assert (outage.direction, outage.value) == ("drop", 0.0) and silence <= outage.ts < silence + HOUR


def test_campaign_metrics_attribute_orders_to_the_clicked_campaign_and_stay_bounded():
    metrics = TenantMetrics(MetricsConfig(max_campaigns=2))
    metrics.add({"event_type": "campaign_click", "ts": MONDAY, "session_id": "s1", "campaign_id": "spring"})
    metrics.add({"event_type": "campaign_click", "ts": MONDAY, "session_id": "s2", "campaign_id": "summer"})
    metrics.add({"event_type": "campaign_click", "ts": MONDAY, "session_id": "s3", "campaign_id": "autumn"})
    metrics.add({"event_type": "order_placed", "ts": MONDAY + 1000, "session_id": "s1"})
    values = {p.metric: p.verdict.value for p in metrics.close(MONDAY + MINUTE)}
    assert values["campaign_clicks:spring"] == 1 and values["campaign_conversions:spring"] == 1
    assert values["campaign_clicks:summer"] == 1 and "campaign_conversions:summer" not in values  # none yet
    assert not any("autumn" in metric for metric in values)


def failed_payments(rng: random.Random, minutes: int) -> list[int]:
    """A young shop's failed payments a minute: 0.08 on average, a fifth of them a customer's retry (pairs)."""
    return [sum(2 if rng.random() < 0.2 else 1 for _ in range(poisson(rng, 0.065))) for _ in range(minutes)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_seven_failed_payments_in_three_minutes_are_flagged_in_a_young_shop(seed):
    """Three hours of about 0.08 failed payments a minute, some in pairs (its first hours: little volume to learn
    the clustering from), then a card tested: 3, 2 and 2 failures in three minutes. Nothing opens before; the
    test opens a spike incident while it lasts or right after."""
    rng = random.Random(seed)
    kind, config = detector_config(MetricsConfig(), "payment_failures")
    detector = SeriesDetector(kind, config, MINUTE, warmup_intervals=60)
    quiet = failed_payments(rng, 180)
    before = [detector.update(MONDAY + m * MINUTE, float(v)) for m, v in enumerate(quiet)]
    assert not any(v.opens_incident for v in before), [(v.ts, v.z) for v in before if v.opens_incident]
    burst = [3, 2, 2, *failed_payments(rng, 5)]
    during = [detector.update(MONDAY + (180 + m) * MINUTE, float(v)) for m, v in enumerate(burst)]
    opened = [v for v in during if v.opens_incident]
    assert opened and opened[0].direction == "spike" and opened[0].ts <= MONDAY + 184 * MINUTE, [v.z for v in during]


@pytest.mark.parametrize(
    "scenario,metrics",
    [("bot_burst", {"views_per_ip", "sessions"}), ("card_testing", {"payment_failures", "payment_failure_rate"})],
)
def test_shipped_defaults_catch_bots_and_card_testing(scenario, metrics):
    events, incidents = ScenarioGenerator(scenario=scenario, seed=11).run()
    alerts = metric_alerts(events, MetricsConfig())
    for incident in incidents:
        hits = {metric for ts, metric in alerts if incident.start - MINUTE <= ts <= incident.end + 10 * MINUTE}
        assert hits & metrics, (incident.kind, alerts)


def test_backtest_reads_any_interval_and_flags_only_the_outage_once_it_knows_the_week():
    rng = random.Random(1)
    start = MONDAY // 1000
    rows = []
    for i in range(24 * 14):  # hourly, two weeks, the last day has a three-hour outage at noon
        ts = start + i * 3600
        value = poisson(rng, 60 * shop_rate(ts * 1000)) if not (24 * 13 + 12 <= i < 24 * 13 + 15) else 0
        if i != 100:  # a missing hour
            rows.append((str(ts), str(value)))
    results = list(backtest(read_rows(rows, "hourly.csv").points, "orders", MetricsConfig()))
    assert len(results) == len(rows)
    flagged = [i for i, r in enumerate(results) if r.is_anomalous]
    outage = [i for i, (ts, _) in enumerate(rows) if 13 * 24 + 12 <= (int(ts) - start) // 3600 < 13 * 24 + 15]
    week_two = [i for i in flagged if int(rows[i][0]) - start >= 7 * 86400 + 6 * 3600]  # week one learns the cycle
    after = set(range(outage[-1] + 1, outage[-1] + 9))  # the 4-hour windows still see the outage for a while
    assert week_two[0] == outage[0] and set(outage) <= set(week_two) <= {*outage, *after}
    alerts = [i for i, r in enumerate(results) if r.is_alert and int(rows[i][0]) - start >= 7 * 86400 + 6 * 3600]
    assert alerts == [outage[0]]  # one alert: the outage is one incident
    assert all(0.0 <= r.anomaly_score <= 1.0 for r in results)


def test_metric_config_rejects_unknown_metrics_with_the_line():
    text = "models:\n  metrics:\n    detectors:\n      oders: {direction: drop}\n"
    with pytest.raises(ConfigInvalid) as info:
        parse_tenant_config(text, "t.yaml")
    assert "unknown metric(s) oders" in str(info.value) and "t.yaml:" in str(info.value)
    config = parse_tenant_config("models:\n  metrics:\n    detectors:\n      orders: {min_z: 7}\n", "t.yaml")
    kind, orders = detector_config(config.models.metrics, "orders")
    assert kind == "count" and orders.min_z == 7 and orders.direction == "both"


def test_cli_lists_the_same_scenarios_as_the_generator():
    from pulse.cli.common import SCENARIO_NAMES
    from pulse.dev.scenarios import SCENARIOS

    assert SCENARIO_NAMES == SCENARIOS


def test_state_survives_a_pickle_round_trip_without_a_new_warmup():
    """Flink keeps TenantMetrics pickled in keyed state: a restored copy must go on exactly as the original."""
    import pickle

    events, _ = ScenarioGenerator(scenario="card_testing", seed=5, minutes=3 * 60).run()
    half = len(events) // 2
    original = TenantMetrics(MetricsConfig())
    restored: TenantMetrics | None = None
    after_original, after_restored = [], []
    for i, event in enumerate(events):
        if i == half:
            restored = pickle.loads(pickle.dumps(original))
        for metrics, out in ((original, after_original), (restored, after_restored)):
            if metrics is not None:
                metrics.add(event)
                points = metrics.close(event["ts"] - MINUTE)
                if i >= half:
                    out.extend(points)
    assert after_original and after_original == after_restored
    assert not any(p.verdict.warming_up for p in after_restored if not p.metric.startswith("campaign"))


def test_risk_context_flags_velocity_and_unusual_amount_and_stays_bounded():
    from models import context as ctx

    recent = ctx.RecentContext()
    order = {"event_type": "order_placed", "customer_id": "c1", "country": "DE", "amount": 40.0}
    for i in range(5):
        recent.features({**order, "ts": i * 60_000, "ip": "10.0.0.1"})
    f = recent.features({**order, "ts": 6 * 60_000, "country": "BR", "amount": 4000.0, "ip": "10.0.0.1"})
    assert f["amount_vs_usual"] > 0.9 and f["ip_orders_10m"] == 0.5
    later = recent.features({**order, "ts": 30 * 60_000, "ip": "10.0.0.1"})
    assert later["ip_orders_10m"] == 0.0 and later["customer_orders_10m"] == 0.0  # outside the 10 minutes
    for i in range(ctx.MAX_KEYS + 10):
        recent.features({"event_type": "order_placed", "ts": 31 * 60_000, "customer_id": f"x{i}", "ip": f"ip{i}"})
    assert len(recent.recent["customer"]) <= ctx.MAX_KEYS and len(recent.usual) <= ctx.MAX_KEYS
