"""Absence rules with `min_expected`: a silence alerts only once the events usually seen in it reach the number."""

import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pulse.dev.scenarios import ScenarioGenerator
from pulse.eventtime import END_OF_INPUT
from pulse.job.kept import Kept, read
from pulse.rules.engine import EngineState, RuleEngine
from pulse.tenants.config import load_config_dir, parse_tenant_config

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
MONDAY = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
OUTAGE = MONDAY + 2 * DAY + 14 * HOUR  # Wednesday 14:00, after two days of history
PROJECT_CONFIGS = Path(__file__).parent.parent.parent / "configs"

LEARNED = """\
  - id: no-orders
    type: absence
    description: No orders while some were expected
    filter: event_type == "order_placed"
    for: 20m
    min_expected: 10
"""
PLAIN = LEARNED.replace("    min_expected: 10\n", "")


def engine_for(rules_yaml: str) -> RuleEngine:
    config = parse_tenant_config(f"tenant: shop\nrules:\n{rules_yaml}", "shop.yaml")
    return RuleEngine(config.rules, config.tables, allowed_lateness_ms=0)


def shop(per_hour: Callable[[int], int], days: int = 3, gap: tuple[int, int] = (0, 0), **fields) -> list[dict]:
    """Orders evenly spread in each hour (`per_hour(hour of day)` of them), none in the `gap` [start, end)."""
    events = []
    for hour in range(days * 24):
        count = per_hour(hour % 24)
        for i in range(count):
            ts = MONDAY + hour * HOUR + i * HOUR // count
            if not gap[0] <= ts < gap[1]:
                events.append({"event_id": f"e{ts}-{fields}", "tenant_id": "shop", "event_type": "order_placed",
                               "ts": ts, **fields})  # fmt: skip
    return events


def slow(hour: int) -> int:
    return 2 if hour < 8 else 6  # a silence of 30 minutes at night, 10 minutes by day


def busy(hour: int) -> int:
    return 6 if hour < 8 else 60


def timers(engine: RuleEngine, events: list[dict], state: EngineState | None = None, end: bool = True) -> list:
    """Feed events (sorted), firing the engine's event-time timers in between as the Flink job does; end the
    input unless `end` is False."""
    state = state or EngineState()
    alerts = []
    for event in sorted(events, key=lambda e: e["ts"]):
        while (due := engine.next_timer(state)) is not None and due < event["ts"]:
            alerts += engine.advance(state, due)
        alerts += engine.observe(engine.enrich(event), state)[1]
    return alerts + (engine.advance(state, END_OF_INPUT) if end else [])


def minutes_after(alerts: list, start: int) -> list[tuple]:
    return [(a.group, (a.ts - start) / MIN) for a in alerts]


def test_quiet_nights_of_a_small_tenant_raise_nothing_with_the_shipped_rule():
    """A generated three-day stream of a small shop (about 5 events, 0.13 orders a minute; a few an hour at
    night): the plain 20-minute rule alerts night after night, the shipped `no-orders` rule not once."""
    generator = ScenarioGenerator(scenario="seasonal_quiet", sessions_per_minute=1.5, seed=3, minutes=4 * 24 * 60)
    events, _ = generator.run()
    shipped = load_config_dir(PROJECT_CONFIGS).default
    engine = RuleEngine(shipped.rules, shipped.tables)
    assert next(r for r in shipped.rules if r.id == "no-orders").min_expected
    assert len(timers(engine_for(PLAIN), events)) > 10
    assert timers(engine, events) == []


def test_hand_built_quiet_nights_alert_with_the_plain_rule_only():
    events = shop(slow)
    assert len(timers(engine_for(PLAIN), events)) == 3 * 16  # the 16 half-hour gaps of each night
    assert timers(engine_for(LEARNED), events) == []


def test_a_daytime_outage_alerts_after_for_on_a_busy_tenant_and_later_on_a_slow_one():
    outage = (OUTAGE, OUTAGE + 3 * HOUR)
    (busy_alert,) = timers(engine_for(LEARNED), shop(busy, gap=outage))
    (slow_alert,) = timers(engine_for(LEARNED), shop(slow, gap=outage))
    last_busy, last_slow = OUTAGE - MIN, OUTAGE - 10 * MIN  # the last orders before the outage
    assert busy_alert.ts == last_busy + 20 * MIN  # `for`: 10 orders were expected after 10 minutes already
    assert slow_alert.ts == last_slow + 100 * MIN  # 6 orders an hour: 10 are expected after 100 minutes
    assert "no matching event for 1h40m since 2026-11-04 13:50 UTC; about 10 were expected" in slow_alert.detail
    assert "no matching event for 20m since 2026-11-04 13:59 UTC; about 20 were expected" in busy_alert.detail


def test_the_first_day_is_learned_quietly():
    first_day = MONDAY + 14 * HOUR
    assert timers(engine_for(LEARNED), shop(busy, gap=(first_day, first_day + 3 * HOUR))) == []
    assert len(timers(engine_for(PLAIN), shop(busy, gap=(first_day, first_day + 3 * HOUR)))) == 1


def test_a_silence_counts_the_usual_orders_of_opening_hours_only():
    """A slow shop (6 orders an hour by day) silent after its order at 18:50: 7 orders were expected by
    closing time (20:00), the other 3 by 08:30 the next morning."""
    engine = engine_for(LEARNED + "    active_hours: [8, 20]\n")
    evening = MONDAY + 2 * DAY + 19 * HOUR
    (alert,) = timers(engine, shop(slow, days=4, gap=(evening, evening + 14 * HOUR)))
    assert alert.ts == evening + 13 * HOUR + 30 * MIN  # 08:30


def test_a_grouped_rule_learns_each_group_and_alerts_for_the_silent_one():
    rule = LEARNED.replace("    for: 20m", "    group_by: [payment_method]\n    for: 20m")
    outage = (OUTAGE, OUTAGE + 3 * HOUR)
    events = shop(busy, payment_method="card") + shop(slow, gap=outage, payment_method="paypal")
    assert minutes_after(timers(engine_for(rule), events), OUTAGE) == [(("paypal",), 90.0)]
    plain = timers(engine_for(PLAIN.replace("    for: 20m", "    group_by: [payment_method]\n    for: 20m")), events)
    assert {a.group for a in plain} == {("paypal",)} and len(plain) > 3  # the plain rule: paypal's nights too


def test_a_group_silent_for_a_week_is_forgotten():
    rule = LEARNED.replace("    for: 20m", "    group_by: [payment_method]\n    for: 20m")
    engine = engine_for(rule)
    state = EngineState()
    timers(engine, shop(slow, days=2, payment_method="paypal") + shop(busy, days=10, payment_method="card"), state)
    data = state.rules["no-orders"].data
    assert set(data.last_seen) == set(data.rates) == {("card",)}  # paypal alerted, then stayed silent for a week


def test_restored_from_kept_state_it_alerts_as_if_never_stopped():
    outage = (OUTAGE, OUTAGE + 3 * HOUR)
    events = shop(slow, gap=outage)
    engine = engine_for(LEARNED)
    state = EngineState()
    before = timers(engine, [e for e in events if e["ts"] < OUTAGE - HOUR], state, end=False)
    kept = read(pickle.loads(pickle.dumps(Kept(state))))  # as a savepoint stores and restores it
    assert kept.rules["no-orders"].data.rates == state.rules["no-orders"].data.rates
    after = timers(engine, [e for e in events if e["ts"] >= OUTAGE - HOUR], kept)
    assert before == [] and minutes_after(after, OUTAGE) == minutes_after(timers(engine_for(LEARNED), events), OUTAGE)
    assert minutes_after(after, OUTAGE) == [((), 90.0)]


def test_the_alert_fires_from_the_watermark_alone_and_not_after_the_end_of_input():
    engine = engine_for(LEARNED)
    state = EngineState()
    until_outage = [e for e in shop(slow) if e["ts"] < OUTAGE]
    for event in until_outage:
        engine.observe(engine.enrich(event), state)
    engine.advance(state, OUTAGE)
    due = engine.next_timer(state)
    assert due == OUTAGE + 90 * MIN
    assert engine.advance(state, due - 1) == []
    (alert,) = engine.advance(state, due)
    assert alert.ts == due and engine.next_timer(state) is None  # once per silence
    quiet = EngineState()
    for event in until_outage:  # then the input ends
        engine.observe(engine.enrich(event), quiet)
    assert engine.advance(quiet, END_OF_INPUT) == []


def test_rules_without_min_expected_keep_their_fingerprint_and_state():
    """The rule's dump (hashed into the fingerprint that keeps its state across config updates) has no new
    key when `min_expected` is not set; setting or changing it gives the rule fresh state."""
    plain, learned = engine_for(PLAIN), engine_for(LEARNED)
    assert "min_expected" not in plain.runners["no-orders"].rule.model_dump_json()
    fingerprints = {e.fingerprints["no-orders"] for e in (plain, learned, engine_for(LEARNED.replace("10", "12")))}
    assert len(fingerprints) == 3
