"""The stateful rule engine without Flink: each rule type, window boundaries, lateness, order, cool-down, hold."""

import random

import pytest

from pulse.eventtime import END_OF_INPUT, NO_WATERMARK
from pulse.rules.engine import EngineState, RuleEngine
from pulse.tenants.config import parse_tenant_config

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


def test_without_the_tenant_clock_only_the_sources_watermark_makes_events_late():
    """Kafka: a tenant's events in two partitions, one read ahead. Its own newest event does not move its time;
    the source's watermark (the smaller of the partitions', each trailing its newest by the lateness) does."""
    config = parse_tenant_config(f"tenant: shop\nrules:\n{CARD_TESTING}", "shop.yaml")
    ahead = event(20, card_fingerprint="other")
    behind = [event(i * 0.5, card_fingerprint="c1", n=i) for i in range(8)]
    for tenant_clock, expected_late in [(True, [True] * 8), (False, [False] * 8)]:
        engine, state = RuleEngine(config.rules, config.tables, MIN, tenant_clock), EngineState()
        assert engine.observe(engine.enrich(ahead), state, None) == (False, [])  # the other partition: no watermark
        late, alerts = [], []
        for e in behind:
            source_watermark = min(ahead["ts"], e["ts"]) - MIN - 1
            is_late, due = engine.observe(engine.enrich(e), state, source_watermark)
            late.append(is_late)
            alerts += due
        alerts += engine.advance(state, END_OF_INPUT)
        assert late == expected_late
        assert [a.group for a in alerts] == ([] if tenant_clock else [("c1",)])


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
    engine = engine_for(ABSENCE, lateness_ms=60 * MIN)
    state = EngineState()
    for m in (0, 5, 60):  # a 55-minute gap, all seen before the watermark moves
        assert engine.observe(engine.enrich(event(m, "order_placed", n=m)), state, watermark=NO_WATERMARK) == (
            False,
            [],
        )
    assert len(state.pending) == 3
    (alert,) = engine.advance(state, T0 + 61 * MIN)
    assert alert.ts == T0 + 25 * MIN


def test_scorer_applies_condition_cooldown_and_stores_late_flag_tags_and_derived_fields():
    from pulse.job.scoring import TenantScorer, TenantState

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


# Edge cases per rule type, in event time. Alert times are the window's last millisecond (END = -1 ms).
END = -1 / MIN


def alerts_with_values(engine: RuleEngine, events: list[dict]) -> list[tuple]:
    """Like run(), with each alert's measured value."""
    state = EngineState()
    alerts = []
    for e in events:
        alerts += engine.observe(engine.enrich(e), state)[1]
    alerts += engine.advance(state, END_OF_INPUT)
    return [(a.rule.id, a.group, round((a.ts - T0) / MIN, 5), a.value) for a in alerts]


def timers(engine: RuleEngine, events: list[dict], until_minute: float) -> list[tuple]:
    """Feed events, then fire the engine's event-time timers up to `until_minute`, as the Flink job does."""
    state = EngineState()
    alerts = []
    for e in events:
        alerts += engine.observe(engine.enrich(e), state)[1]
    while (due := engine.next_timer(state)) is not None and due <= T0 + until_minute * MIN:
        alerts += engine.advance(state, due)
    alerts += engine.advance(state, T0 + int(until_minute * MIN))
    return [(a.rule.id, a.group, round((a.ts - T0) / MIN, 5)) for a in alerts]


AGGREGATE = """\
  - id: agg
    type: threshold
    description: Aggregate per card
    filter: event_type == "payment_failed"
    group_by: [card_fingerprint]
    aggregate: {aggregate}
    field: {field}
    window: 10m
    op: "{op}"
    limit: {limit}
"""


@pytest.mark.parametrize(
    "aggregate, field, op, limit, expected",
    [
        ("count", "amount", ">=", 4, [("c1", 4)]),
        ("sum", "amount", ">=", 100, [("c1", 100.0), ("c2", 205.0)]),
        ("avg", "amount", ">=", 25, [("c1", 25.0), ("c2", 102.5)]),
        ("min", "amount", "<=", 10, [("c1", 10.0), ("c2", 5.0)]),
        ("max", "amount", ">", 50, [("c2", 200.0)]),
        ("distinct_count", "country", ">=", 3, [("c1", 3)]),
    ],
)
def test_threshold_aggregates_per_group_in_a_tumbling_window(aggregate, field, op, limit, expected):
    rule = AGGREGATE.format(aggregate=aggregate, field=field, op=op, limit=limit)
    engine = engine_for(rule)
    c1 = [(1, 10.0, "US"), (2, 20.0, "FR"), (3, 20.0, "FR"), (4, 50.0, "DE")]
    c2 = [(2.5, 5.0, "US"), (5, 200.0, "US")]
    events = [event(m, n=i, card_fingerprint="c1", amount=a, country=c) for i, (m, a, c) in enumerate(c1)]
    events += [event(m, n=10 + i, card_fingerprint="c2", amount=a, country=c) for i, (m, a, c) in enumerate(c2)]
    events.sort(key=lambda e: e["ts"])
    events.append(event(11, "page_view", n=99))  # closes [0, 10) for every op
    alerts = alerts_with_values(engine, events)
    assert [(group[0], value) for _, group, _, value in alerts] == expected
    assert {minute for _, _, minute, _ in alerts} == {round(10 + END, 5)}


def test_tumbling_window_boundary_to_the_millisecond():
    rule = CARD_TESTING.replace("{size: 10m, every: 1m}", "10m").replace("cooldown: 30m", "cooldown: 0")
    engine = engine_for(rule)
    four = [event(m, card_fingerprint="c1", n=i) for i, m in enumerate([6, 7, 8, 9])]
    last_ms_inside = {**event(0, card_fingerprint="c1", n=9), "ts": T0 + 10 * MIN - 1}
    first_ms_after = {**last_ms_inside, "ts": T0 + 10 * MIN}
    assert run(engine, [*four, last_ms_inside])[0] == [("card-testing", ("c1",), pytest.approx(10 + END))]
    assert run(engine, [*four, first_ms_after])[0] == []


def test_sliding_window_boundaries():
    engine = engine_for(CARD_TESTING)
    inside = [event(m, card_fingerprint="c1", n=i) for i, m in enumerate([0, 2, 4, 6])]
    at_end = event(10, card_fingerprint="c1", n=9)  # 10 minutes after the first: no 10-minute window holds both
    assert run(engine, [*inside, at_end])[0] == []
    just_before = {**at_end, "ts": T0 + 10 * MIN - 1}
    assert run(engine, [*inside, just_before])[0] == [("card-testing", ("c1",), pytest.approx(10 + END))]


def test_sliding_threshold_alerts_again_only_after_the_cooldown():
    engine = engine_for(CARD_TESTING)  # cooldown 30m
    events = [event(i * 0.5, card_fingerprint="c1", n=i) for i in range(90)]  # a failure every 30 s for 45 minutes
    assert run(engine, events)[0] == [
        ("card-testing", ("c1",), pytest.approx(3 + END)),
        ("card-testing", ("c1",), pytest.approx(33 + END)),
    ]


def test_out_of_order_event_within_lateness_completes_its_window_and_a_later_one_is_late():
    rule = CARD_TESTING.replace("{size: 10m, every: 1m}", "10m").replace("cooldown: 30m", "cooldown: 0")
    engine = engine_for(rule, lateness_ms=2 * MIN)
    events = [event(m, card_fingerprint="c1", n=i) for i, m in enumerate([1, 2, 3, 4])]
    events += [event(10.5, "page_view", n=10), event(9.5, card_fingerprint="c1", n=11)]  # 1 min out of order
    alerts, late = run(engine, events)
    assert alerts == [("card-testing", ("c1",), pytest.approx(10 + END))]
    assert late == [False] * 6
    too_late = events[:4] + [event(10.6, "page_view", n=10), event(8.5, card_fingerprint="c1", n=11)]  # 2.1 min
    alerts, late = run(engine, too_late)
    assert alerts == [] and late == [False] * 5 + [True]


def test_lateness_edge_to_the_millisecond():
    engine = engine_for(CARD_TESTING, lateness_ms=MIN)
    state = EngineState()
    engine.observe(engine.enrich(event(10, n=0, card_fingerprint="c1")), state)
    exactly_lateness = {**event(0, n=1, card_fingerprint="c1"), "ts": T0 + 9 * MIN}
    one_ms_more = {**event(0, n=2, card_fingerprint="c1"), "ts": T0 + 9 * MIN - 1}
    assert engine.observe(engine.enrich(exactly_lateness), state)[0] is False
    assert engine.observe(engine.enrich(one_ms_more), state)[0] is True


FLATLINE = """\
  - id: revenue-flatline
    type: threshold
    description: Revenue per 15 minutes below 100 for 30 minutes
    filter: event_type == "payment_succeeded"
    aggregate: sum
    field: amount
    window: 15m
    op: "<"
    limit: 100
    for: 30m
"""


def test_flatline_counts_empty_windows_and_fires_from_timers_alone():
    engine = engine_for(FLATLINE)
    payments = [event(m, "payment_succeeded", n=m, amount=50.0) for m in range(30)]  # 750 per window, then silence
    # [30,45) is the first empty window: the breach is seen at 45 and has lasted 30 minutes when [60,75) closes
    # (as Prometheus' `for`: held from the first evaluation that breaches); no cool-down, so again at 90.
    assert timers(engine, payments, until_minute=90) == [
        ("revenue-flatline", (), round(75 + END, 5)),
        ("revenue-flatline", (), round(90 + END, 5)),
    ]
    once = engine_for(FLATLINE + "    cooldown: 1h\n")
    assert timers(once, payments, until_minute=100) == [("revenue-flatline", (), round(75 + END, 5))]


def test_flatline_recovery_restarts_the_hold():
    engine = engine_for(FLATLINE)
    payments = [event(m, "payment_succeeded", n=m, amount=50.0) for m in range(30)]
    payments.append(event(62, "payment_succeeded", n=62, amount=200.0))  # [60,75) is back above 100
    # the breach starts again when [75,90) closes and has lasted 30 minutes when [105,120) closes
    assert timers(engine, payments, until_minute=119) == []
    assert timers(engine, payments, until_minute=125) == [("revenue-flatline", (), round(120 + END, 5))]


def test_end_of_input_flushes_a_reached_limit_but_never_judges_a_drop():
    count = CARD_TESTING.replace("{size: 10m, every: 1m}", "10m").replace("cooldown: 30m", "cooldown: 0")
    engine = engine_for(count.replace("limit: 5", "limit: 3"))
    partial = [event(m, card_fingerprint="c1", n=i) for i, m in enumerate([1, 2, 3])]
    assert run(engine, partial)[0] == [("card-testing", ("c1",), pytest.approx(10 + END))]
    assert run(engine_for(FLATLINE), [event(1, "payment_succeeded", amount=5.0)])[0] == []


def test_hold_broken_by_a_quiet_window_starts_again():
    engine = engine_for(HOLD)  # 5m window, >= 3, for 10m
    busy = [event(m / 2, "checkout_started", n=m) for m in range(0, 20)]  # [0, 10)
    busy += [event(m / 2, "checkout_started", n=m) for m in range(30, 60)]  # [15, 30)
    assert run(engine, busy)[0] == [("busy", (), pytest.approx(30 + END))]


def test_absence_out_of_order_event_within_lateness_moves_the_deadline():
    engine = engine_for(ABSENCE, lateness_ms=2 * MIN)
    events = [event(0, "order_placed"), event(20.5, "page_view", n=1), event(19.5, "order_placed", n=2)]
    assert timers(engine, events, until_minute=45) == [("no-orders", (), 39.5)]


def test_absence_per_group_fires_once_per_group_at_its_own_deadline():
    engine = engine_for(ABSENCE.replace("    for: 20m", "    group_by: [customer_id]\n    for: 20m"), lateness_ms=0)
    events = [event(0, "order_placed", customer_id="a"), event(0, "order_placed", n=1, customer_id="b")]
    events.append(event(10, "order_placed", n=2, customer_id="b"))
    assert timers(engine, events, until_minute=120) == [("no-orders", ("a",), 20.0), ("no-orders", ("b",), 30.0)]


def test_absence_cooldown_suppresses_the_next_gap():
    engine = engine_for(ABSENCE + "    cooldown: 1h\n", lateness_ms=0)
    events = [event(0, "order_placed"), event(25, "order_placed", n=1), event(90, "order_placed", n=2)]
    # gaps end at 20, 45 (within the hour after 20: suppressed) and 110
    assert timers(engine, events, until_minute=120) == [("no-orders", (), 20.0), ("no-orders", (), 110.0)]


SPIKE = """\
  - id: traffic-spike
    type: baseline
    description: Page views 10 above the recent mean
    filter: event_type == "page_view"
    window: 15m
    compare_to: recent
    history: 4
    change: difference
    direction: above
    limit: 10
"""


def test_baseline_difference_above_waits_for_min_history():
    engine = engine_for(SPIKE)
    per_window = [5, 30, 5, 5, 40]  # the 30 has one past window only: below min_history (2)
    events = [
        event(w * 15 + i * 15 / count, "page_view", n=w * 100 + i)
        for w, count in enumerate(per_window)
        for i in range(count)
    ]
    events.append(event(77, "page_view", n=999))  # moves the watermark past 75
    # usual for the last window: mean of 5, 30, 5, 5 = 11.25; 40 - 11.25 >= 10
    assert alerts_with_values(engine, events) == [("traffic-spike", (), round(75 + END, 5), 40)]


def test_new_value_forgets_after_remember_and_can_alert_on_first_event():
    rule = NEW_COUNTRY + "    remember: 1h\n"
    events = [
        event(m, "page_view", n=i, customer_id="a", country=c) for i, (m, c) in enumerate([(0, "US"), (10, "FR")])
    ]
    events += [event(50, "page_view", n=2, customer_id="a", country="FR")]
    events += [event(80, "page_view", n=3, customer_id="a", country="US")]  # US last seen 80 minutes ago
    assert run(engine_for(rule), events)[0] == [("new-country", ("a",), 10.0), ("new-country", ("a",), 80.0)]
    assert run(engine_for(NEW_COUNTRY.replace("1h", "2h")), events)[0] == [("new-country", ("a",), 10.0)]
    first = engine_for(NEW_COUNTRY + "    alert_on_first_event: true\n")
    assert run(first, events[:2])[0] == [("new-country", ("a",), 0.0), ("new-country", ("a",), 10.0)]


def test_new_value_ignores_a_late_event():
    engine = engine_for(NEW_COUNTRY)
    events = [event(0, "page_view", customer_id="a", country="US"), event(10, "page_view", n=1, customer_id="a")]
    events.append(event(5, "page_view", n=2, customer_id="a", country="FR"))  # 5 minutes late
    alerts, late = run(engine, events)
    assert alerts == [] and late == [False, False, True]


def tiny_then_large(pairs: list[tuple[float, float]]) -> list[dict]:
    """Payments on card a: (minute, amount)."""
    return [event(m, "payment_succeeded", n=i, card_fingerprint="a", amount=a) for i, (m, a) in enumerate(pairs)]


def test_sequence_within_is_inclusive_to_the_millisecond():
    engine = engine_for(SEQUENCE)  # within 1m
    assert run(engine, tiny_then_large([(0, 0.5), (1, 900.0)]))[0] == [("tiny-then-large", ("a",), 1.0)]
    first, then = tiny_then_large([(0, 0.5), (1, 900.0)])
    assert run(engine, [first, {**then, "ts": then["ts"] + 1}])[0] == []


def test_sequence_follows_event_time_not_arrival_order():
    engine = engine_for(SEQUENCE)
    first, then = tiny_then_large([(0.5, 0.5), (0.9, 900.0)])
    assert run(engine, [then, first])[0] == [("tiny-then-large", ("a",), 0.9)]  # then arrived first
    then_before, first_after = tiny_then_large([(0.4, 900.0), (0.5, 0.5)])
    assert run(engine, [first_after, then_before])[0] == []  # in event time the large one came first


def test_sequence_cooldown():
    engine = engine_for(SEQUENCE + "    cooldown: 10m\n")
    pairs = [(0, 0.5), (0.5, 900.0), (2, 0.5), (2.5, 900.0), (11, 0.5), (11.5, 900.0)]
    assert run(engine, tiny_then_large(pairs))[0] == [
        ("tiny-then-large", ("a",), 0.5),
        ("tiny-then-large", ("a",), 11.5),
    ]


def test_enrichment_filter_and_lookup_feed_a_grouped_threshold():
    rules = """\
  - id: tier
    type: enrichment
    description: VIP tier of orders
    filter: event_type == "order_placed"
    set:
      vip_tier: 'customer_id in tables.vip_customers ? tables.vip_customers[customer_id] : "none"'
    tags:
      high_risk_country: country in tables.high_risk_countries
  - id: orders-per-tier
    type: threshold
    description: Two orders of one tier in 10 minutes
    group_by: [vip_tier]
    window: 10m
    limit: 2
"""
    engine = engine_for(rules, tables=TABLES)
    view = engine.enrich(event(0, "page_view", customer_id="c1", country="NG"))
    assert "vip_tier" not in view and view["tags"] == []  # the filter keeps page views out
    orders = [
        event(m, "order_placed", n=i, customer_id=c, country="US") for i, (m, c) in enumerate([(1, "c1"), (2, "c2")])
    ]
    orders += [event(3, "order_placed", n=2, customer_id="c3", country="NG")]
    assert run(engine, orders)[0] == [("orders-per-tier", ("none",), pytest.approx(10 + END))]
    assert engine.enrich(orders[2])["tags"] == ["high_risk_country"]


def test_condition_cooldown_per_group_to_the_millisecond_and_out_of_order():
    from pulse.job.scoring import TenantScorer, TenantState

    rule = "  - id: big\n    description: Big order\n    when: amount > 100.0\n    cooldown: 10m\n"
    config = parse_tenant_config(f"tenant: shop\nrules:\n{rule}", "shop.yaml")
    scorer = TenantScorer("shop", config, allowed_lateness_ms=MIN)
    state = TenantState(model=None)
    orders = [(0, "c1"), (10 * MIN - 1, "c1"), (1 * MIN, "c2"), (10 * MIN, "c1"), (10 * MIN + 30_000, "c1")]
    fired = []
    for i, (offset, customer) in enumerate(orders):
        order = {**event(0, "order_placed", n=i, customer_id=customer, amount=500.0), "ts": T0 + offset}
        fired.append([a["cause"] for a in scorer.score(order, state, "t")[1]])
    assert fired == [["big"], [], ["big"], ["big"], []]  # c2 has its own cool-down; 10m after 0 alerts again


def test_buffer_holds_only_the_allowed_lateness_when_flinks_watermark_lags():
    engine = engine_for(CARD_TESTING + SEQUENCE + NEW_COUNTRY + ABSENCE.replace("20m", "3m"), lateness_ms=MIN)
    events = [
        event(i * 0.05, ["payment_failed", "payment_succeeded", "order_placed"][i % 3], n=i,
              card_fingerprint=f"c{i % 7}", customer_id=f"u{i % 5}", country=["US", "FR"][i % 11 == 0],
              amount=[0.5, 900.0][i % 2])
        for i in range(3000)
    ]  # fmt: skip
    lagging, trailing = EngineState(), EngineState()
    alerts_lagging, alerts_trailing, most_pending = [], [], 0
    for e in events:  # a fast replay: Flink's watermark has not moved at all yet
        alerts_lagging += engine.observe(engine.enrich(e), lagging, watermark=NO_WATERMARK)[1]
        alerts_trailing += engine.observe(engine.enrich(e), trailing)[1]
        most_pending = max(most_pending, len(lagging.pending))
    assert most_pending == 21  # one event every 3 s: the minute of lateness, not the 150 minutes replayed
    assert [(a.rule.id, a.group, a.ts) for a in alerts_lagging] == [(a.rule.id, a.group, a.ts) for a in alerts_trailing]
    assert alerts_lagging


def revenue(minutes: range, low: range) -> list[dict]:
    """100 per minute, but only every third minute inside `low` (500 per 15-minute window there)."""
    return [
        event(m, "payment_succeeded", n=m, amount=100.0) for m in minutes if m not in low or m % 3 == 0
    ]  # fmt: skip


def test_baseline_ignores_arrival_order_within_lateness_and_late_events():
    engine = engine_for(BASELINE, lateness_ms=2 * MIN)
    events = revenue(range(0, 90), range(60, 75))
    rng = random.Random(5)
    shuffled = sorted(events, key=lambda e: e["ts"] + rng.randrange(0, 2 * MIN - 1))
    expected = [("revenue-drop", (), pytest.approx(75 + END))]
    assert run(engine, events)[0] == expected and run(engine, shuffled)[0] == expected
    refill = [event(m, "payment_succeeded", n=1000 + m, amount=100.0) for m in range(61, 75) if m % 3]
    alerts, late = run(engine, events + refill)  # would lift [60,75) back to 1,500, but arrive after minute 89
    assert alerts == expected and late[-len(refill) :] == [True] * len(refill)


def test_baseline_cooldown_and_hold():
    events = revenue(range(0, 92), range(60, 90))  # two low windows: [60,75) and [75,90)
    assert [a[2] for a in run(engine_for(BASELINE), events)[0]] == [pytest.approx(75 + END), pytest.approx(90 + END)]
    assert [a[2] for a in run(engine_for(BASELINE + "    cooldown: 1h\n"), events)[0]] == [pytest.approx(75 + END)]
    assert [a[2] for a in run(engine_for(BASELINE + "    for: 15m\n"), events)[0]] == [pytest.approx(90 + END)]
