"""Rule expressions in the job: an expression that names the event types it is about is not run for other types,
with the same results; compiled programs are shared by tenants, each with its own tables."""

from pulse.rules.expressions import Expression, Scope, event_types

TYPES = ("page_view", "order_placed", "payment_failed", "refund", "", None)
EXPRESSIONS = (
    'event_type == "order_placed" && amount > 100.0',
    "amount > 100.0 && 'refund' == event_type",
    'event_type in ["refund", "payment_failed"] && amount < 5.0',
    'event_type == "order_placed" || amount > 100.0',
    '(event_type == "order_placed" && amount > 1.0) || event_type == "refund"',
    'event_type == "refund" ? amount > 1.0 : amount > 100.0',
    '!(event_type == "order_placed") && amount > 1.0',
    'event_type != "page_view" && amount > 1.0',
    'event_type == "order_placed" && event_type == "refund"',
    'event_type == "a && b" && amount > 1.0',
    "country in tables.high_risk && event_type == 'order_placed'",
)


def test_event_types_are_read_only_from_top_level_conjuncts():
    assert event_types(EXPRESSIONS[0]) == {"order_placed"}
    assert event_types(EXPRESSIONS[1]) == {"refund"}
    assert event_types(EXPRESSIONS[2]) == {"refund", "payment_failed"}
    assert [event_types(e) for e in EXPRESSIONS[3:8]] == [None] * 5
    assert event_types(EXPRESSIONS[8]) == frozenset()
    assert event_types(EXPRESSIONS[9]) == {"a && b"}


def test_skipping_by_event_type_gives_the_full_evaluation_result():
    scope = Scope({"high_risk": ["NG"]}, ["event_type", "amount", "country"])
    for source in EXPRESSIONS:
        expression = Expression(source, scope, "r")
        for kind in TYPES:
            for amount in (0.5, 2.0, 250.0):
                event = {"event_type": kind, "amount": amount, "country": "NG"}
                assert expression.true(event) == (expression.value(event) is True), (source, event)


def test_an_expression_about_orders_does_not_run_for_a_page_view():
    scope = Scope()
    expression = Expression('event_type == "order_placed" && amount > 100.0', scope, "big")
    scope.start_event()
    assert not expression.true({"event_type": "page_view", "amount": 500.0})
    assert scope.spent == {} and scope.cpu_started is None  # not run, not timed, no CPU clock read
    assert expression.true({"event_type": "order_placed", "amount": 500.0})
    assert set(scope.spent) == {"big"} and scope.cpu_started is not None


def test_tenants_share_a_compiled_program_but_see_their_own_tables():
    source = "country in tables.high_risk && event_type == 'order_placed'"
    first = Expression(source, Scope({"high_risk": ["NG"]}), "r")
    second = Expression(source, Scope({"high_risk": ["BR"]}), "r")
    assert first.program is second.program
    order = {"event_type": "order_placed", "country": "NG"}
    assert first.true(order) and not second.true(order)
