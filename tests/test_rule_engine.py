"""The stateful rule engine without Flink: each rule type, window boundaries, lateness, order, cool-down, hold."""

import random

import pytest

from pulse.config import parse_tenant_config
from pulse.ruleengine.engine import END_OF_INPUT, NO_WATERMARK, EngineState, RuleEngine

MIN = 60_000
T0 = 1_790_000_000_000 - 1_790_000_000_000 % (60 * MIN)  # an hour boundary


def engine_for(rules_yaml: str, lateness_ms: int = MIN, tables: str = "") -> RuleEngine:
    config = parse_tenant_config(f"tenant: shop\n{tables}rules:\n{rules_yaml}", "shop.yaml")
    return RuleEngine(config.rules, config.tables, lateness_ms)


def event(minute: float, event_type: str = "payment_failed", n: int = 0, **fields) -> dict:
    ts = T0 + int(minute * MIN)
    return {"event_id": f"e{ts}-{n}", "tenant_id": "shop", "event_type": event_type, "ts": ts, **fields}


def run(engine: RuleEngine, events: list[dict]) -> tuple[list[tuple], list[bool]]:
    """Feed events in arrival order, end the input; return (rule, group, minute) alerts and late flags."""
    state = EngineState()
    alerts, late_flags = [], []
    for e in events:
        late, due = engine.observe(engine.enrich(e), state)
        late_flags.append(late)
        alerts += due
    alerts += engine.advance(state, END_OF_INPUT)
    return [(a.rule.id, a.group, (a.ts - T0) / MIN) for a in alerts], late_flags


CARD_TESTING = """\
  - id: card-testing
    type: threshold
    description: Card testing
    filter: event_type == "payment_failed"
    group_by: [card_fingerprint]
    window: {size: 10m, every: 1m}
    op: ">="
    limit: 5
    cooldown: 30m
"""


def test_threshold_fires_once_per_group_with_cooldown():
    engine = engine_for(CARD_TESTING)
    events = [event(i * 0.5, card_fingerprint="c1", n=i) for i in range(8)]
    events += [event(i * 3, card_fingerprint="c2", n=i) for i in range(8)]  # 1 every 3 minutes: never 5 in 10m
    alerts, _ = run(engine, events)
    assert [(rule, group) for rule, group, _ in alerts] == [("card-testing", ("c1",))]
    assert alerts[0][2] == pytest.approx(2.999, abs=0.01)  # the window [-7m, 3m) is the first to hold 5


def test_tumbling_window_boundaries():
    rule = CARD_TESTING.replace("{size: 10m, every: 1m}", "10m").replace("cooldown: 30m", "cooldown: 0")
    engine = engine_for(rule)
    split = [event(m, card_fingerprint="c1", n=i) for i, m in enumerate([6, 7, 8, 9, 9.99, 10, 11, 12, 13])]
    assert run(engine, split)[0] == [("card-testing", ("c1",), pytest.approx(9.99999, abs=1e-3))]
    straddle = [event(m, card_fingerprint="c1", n=i) for i, m in enumerate([7, 8, 9, 9.99, 10, 11, 12, 13])]
    assert run(engine, straddle)[0] == []  # 4 + 4 on both sides of the 10-minute boundary


def test_out_of_order_within_lateness_gives_the_same_alerts():
    engine = engine_for(CARD_TESTING + SEQUENCE + NEW_COUNTRY, lateness_ms=2 * MIN)
    rng = random.Random(3)
    events = [
        event(
            m,
            rng.choice(["payment_failed", "payment_succeeded"]),
            n=i,
            card_fingerprint=rng.choice("ab"),
            customer_id=rng.choice("xy"),
            country=rng.choice(["US", "US", "FR"]),
            amount=rng.choice([0.5, 900.0]),
        )
        for i, m in enumerate(sorted(rng.uniform(0, 60) for _ in range(300)))
    ]
    shuffled = sorted(events, key=lambda e: e["ts"] + rng.randrange(0, 2 * MIN - 1))  # at most 2 min out of order
    in_order, late_in_order = run(engine, events)
    reordered, late_reordered = run(engine, shuffled)
    assert in_order and sorted(in_order) == sorted(reordered)
    assert not any(late_in_order) and not any(late_reordered)


def test_events_beyond_lateness_are_flagged_late_not_counted():
    engine = engine_for(CARD_TESTING, lateness_ms=MIN)
    events = [event(20, card_fingerprint="other")] + [event(i * 0.5, card_fingerprint="c1", n=i) for i in range(8)]
    alerts, late = run(engine, events)
    assert late == [False] + [True] * 8
    assert alerts == []


HOLD = """\
  - id: busy
    type: threshold
    description: Busy checkout
    filter: event_type == "checkout_started"
    window: 5m
    limit: 3
    for: 10m
"""


def test_hold_needs_the_breach_to_last():
    engine = engine_for(HOLD)
    burst = [event(m, "checkout_started", n=i) for i, m in enumerate([1, 1.5, 2, 2.5])]  # one busy window only
    assert run(engine, burst)[0] == []
    steady = [event(m / 2, "checkout_started", n=m) for m in range(0, 60)]  # 10 per 5 minutes for 30 minutes
    alerts, _ = run(engine, steady)
    assert [a[2] for a in alerts] == pytest.approx([14.99999, 19.99999, 24.99999, 29.99999], abs=1e-3)


ABSENCE = """\
  - id: no-orders
    type: absence
    description: No orders
    filter: event_type == "order_placed"
    for: 20m
"""


def test_absence_fires_on_time_from_the_watermark_alone():
    engine = engine_for(ABSENCE, lateness_ms=0)
    state = EngineState()
    for m in (0, 5, 10):
        engine.observe(engine.enrich(event(m, "order_placed", n=m)), state)
    assert engine.next_timer(state) == T0 + 10 * MIN  # the newest event waits for the watermark
    assert engine.advance(state, T0 + 10 * MIN) == []
    assert engine.next_timer(state) == T0 + 30 * MIN
    assert engine.advance(state, T0 + 30 * MIN - 1) == []
    (alert,) = engine.advance(state, T0 + 30 * MIN)
    assert alert.rule.id == "no-orders" and alert.ts == T0 + 30 * MIN
    assert engine.advance(state, T0 + 90 * MIN) == []  # once per gap
    engine.observe(engine.enrich(event(95, "order_placed")), state)
    assert len(engine.advance(state, T0 + 116 * MIN)) == 1


def test_absence_during_opening_hours_only():
    rule = ABSENCE + "    active_hours: [8, 20]\n"
    engine = engine_for(rule, lateness_ms=0)
    state = EngineState()
    day = T0 - T0 % (24 * 60 * MIN)
    engine.observe(engine.enrich({**event(0, "order_placed"), "ts": day + 19 * 60 * MIN + 50 * MIN}), state)
    engine.advance(state, day + 19 * 60 * MIN + 50 * MIN)
    assert engine.next_timer(state) == day + 24 * 60 * MIN + 8 * 60 * MIN + 20 * MIN  # 08:20 next morning


def test_end_of_input_does_not_fire_absence():
    engine = engine_for(ABSENCE)
    alerts, _ = run(engine, [event(0, "order_placed"), event(5, "order_placed", n=1)])
    assert alerts == []


BASELINE = """\
  - id: revenue-drop
    type: baseline
    description: Revenue below half of usual
    filter: event_type == "payment_succeeded"
    aggregate: sum
    field: amount
    window: 15m
    compare_to: recent
    history: 4
    change: ratio
    direction: below
    limit: 0.5
"""


def test_baseline_drop_against_recent_windows():
    engine = engine_for(BASELINE)
    events = [event(m, "payment_succeeded", n=m, amount=100.0) for m in range(0, 90)]  # 1500 per 15 minutes
    events = [e for e in events if not (60 * MIN <= e["ts"] - T0 < 75 * MIN and e["ts"] % (3 * MIN))]  # 500
    alerts, _ = run(engine, events)
    assert [(a[0], a[2]) for a in alerts] == [("revenue-drop", pytest.approx(74.99999, abs=1e-3))]


def test_baseline_same_hour_of_previous_weeks():
    rule = BASELINE.replace("compare_to: recent", "compare_to: same_hour_last_weeks").replace(
        "history: 4", "history: 2\n    min_history: 2"
    )
    engine = engine_for(rule)
    week = 7 * 24 * 60
    events = []
    for w in range(3):
        amount = 100.0 if w < 2 else 30.0
        events += [event(w * week + m, "payment_succeeded", n=m, amount=amount) for m in range(15)]
    events.append(event(2 * week + 17, "page_view"))  # moves event time past the window's end
    alerts, _ = run(engine, events)
    assert [a[2] for a in alerts] == [pytest.approx(2 * week + 14.99999, abs=1e-3)]


NEW_COUNTRY = """\
  - id: new-country
    type: new_value
    description: Customer in a new country
    field: country
    group_by: [customer_id]
"""


def test_new_value_per_group_and_not_on_first_sight():
    engine = engine_for(NEW_COUNTRY)
    events = [
        event(0, "page_view", customer_id="a", country="US"),
        event(1, "page_view", n=1, customer_id="a", country="US"),
        event(2, "page_view", n=2, customer_id="b", country="FR"),
        event(3, "page_view", n=3, customer_id="a", country="FR"),
    ]
    assert run(engine, events)[0] == [("new-country", ("a",), 3.0)]


SEQUENCE = """\
  - id: tiny-then-large
    type: sequence
    description: Tiny payment then a large one
    group_by: [card_fingerprint]
    first: event_type == "payment_succeeded" && amount < 1.0
    then: event_type == "payment_succeeded" && amount > 500.0
    within: 1m
"""


def test_sequence_within_duration_same_group():
    engine = engine_for(SEQUENCE)
    events = [
        event(0, "payment_succeeded", card_fingerprint="a", amount=0.5),
        event(0.5, "payment_succeeded", n=1, card_fingerprint="b", amount=900.0),  # other card
        event(0.9, "payment_succeeded", n=2, card_fingerprint="a", amount=900.0),  # fires
        event(5, "payment_succeeded", n=3, card_fingerprint="a", amount=0.5),
        event(6.5, "payment_succeeded", n=4, card_fingerprint="a", amount=900.0),  # too late
    ]
    assert run(engine, events)[0] == [("tiny-then-large", ("a",), 0.9)]


ENRICH = """\
  - id: risk-tags
    type: enrichment
    description: Country risk and VIP status
    set:
      vip_tier: 'customer_id in tables.vip_customers ? tables.vip_customers[customer_id] : "none"'
    tags:
      high_risk_country: country in tables.high_risk_countries
  - id: risky-vip-less
    type: threshold
    description: Orders from high-risk countries by non-VIPs
    filter: '"high_risk_country" in tags && vip_tier == "none"'
    window: 10m
    limit: 2
"""
TABLES = "tables:\n  high_risk_countries: [NG, RU]\n  vip_customers: {c1: gold}\n"


def test_enrichment_derives_fields_and_tags_that_later_rules_see():
    engine = engine_for(ENRICH, tables=TABLES)
    view = engine.enrich(event(0, "order_placed", customer_id="c1", country="NG"))
    assert view["vip_tier"] == "gold" and view["tags"] == ["high_risk_country"]
    orders = [event(m, "order_placed", n=m, customer_id=c, country="NG") for m, c in [(1, "c1"), (2, "c2"), (3, "c3")]]
    assert run(engine, orders[:2])[0] == []  # c1 is a VIP: only c2 counts
    assert [a[0] for a in run(engine, orders)[0]] == ["risky-vip-less"]  # c2 and c3


def test_removed_or_changed_rule_frees_its_state_others_keep_it():
    both = engine_for(CARD_TESTING + NEW_COUNTRY)
    state = EngineState()
    for i in range(3):
        both.observe(both.enrich(event(i, card_fingerprint="c1", customer_id="a", country="US", n=i)), state)
    both.advance(state, T0 + 5 * MIN)
    kept = state.rules["new-country"]
    only_new_country = engine_for(NEW_COUNTRY)
    only_new_country.advance(state, T0 + 6 * MIN)
    assert set(state.rules) == {"new-country"} and state.rules["new-country"] is kept
    changed = engine_for(NEW_COUNTRY.replace("group_by: [customer_id]", "group_by: [ip]"))
    changed.advance(state, T0 + 7 * MIN)
    assert state.rules["new-country"] is not kept and state.rules["new-country"].data.seen == {}


def test_window_state_is_pruned_to_the_window():
    engine = engine_for(CARD_TESTING)
    state = EngineState()
    for i in range(2000):
        engine.observe(engine.enrich(event(i * 0.1, card_fingerprint=f"card-{i % 300}", n=i)), state)
    data = state.rules["card-testing"].data
    assert sum(len(b) for b in data.buckets.values()) <= 10 * 300
    assert min(s for b in data.buckets.values() for s in b) >= T0 + (200 - 1 - 10 - 1) * MIN
    assert len(state.pending) < 20  # only the last minute of events waits for the watermark


def test_a_watermark_jump_still_fires_the_absence_inside_it():
    engine = engine_for(ABSENCE, lateness_ms=0)
    state = EngineState()
    for m in (0, 5, 60):  # a 55-minute gap, all seen before the watermark moves
        engine.observe(engine.enrich(event(m, "order_placed", n=m)), state, watermark=NO_WATERMARK)
    (alert,) = engine.advance(state, T0 + 61 * MIN)
    assert alert.ts == T0 + 25 * MIN


def test_scorer_applies_condition_cooldown_and_stores_late_flag_tags_and_derived_fields():
    from pulse.scoring import TenantScorer, TenantState

    config = parse_tenant_config(
        "tenant: shop\n"
        + TABLES
        + "rules:\n"
        + ENRICH.split("  - id: risky-vip-less")[0]
        + """\
  - id: big
    description: Big order
    when: amount > 100.0
    cooldown: 10m
""",
        "shop.yaml",
    )
    scorer = TenantScorer("shop", config, allowed_lateness_ms=MIN)
    state = TenantState(model=None)
    fired = []
    for i, minute in enumerate([0, 5, 11, 30, 28.5]):  # the last one is later than the 1-minute lateness
        row, alerts = scorer.score(event(minute, "order_placed", n=i, customer_id="c1", amount=500.0), state, "t")
        fired.append([a["cause"] for a in alerts])
    assert fired == [["big"], [], ["big"], ["big"], []]
    assert row["is_late"] is True and row["derived"] == {"vip_tier": "gold"} and row["tags"] == []
