"""`pulse validate` on the rule language: every mistake named with file, line, field and a hint."""

import subprocess
import sys
from pathlib import Path

import pytest

from pulse.tenants.config import ConfigInvalid, parse_tenant_config

RULES = """\
tenant: shop
tables:
  high_risk_countries: [NG, RU]
rules:
  - id: enrich
    type: enrichment
    description: Risk tags
    set:
      risky: country in tables.high_risk_countries
  - id: card-testing
    type: threshold
    description: Card testing
    filter: event_type == "payment_failed" && risky
    group_by: [card_fingerprint]
    window: {size: 10m, every: 1m}
    limit: 5
    for: 2m
    cooldown: 30m
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigInvalid) as caught:
        parse_tenant_config(text, "shop.yaml")
    return [str(e) for e in caught.value.errors]


def test_valid_rules_parse_with_durations_in_milliseconds():
    rule = parse_tenant_config(RULES, "shop.yaml").rules[1]
    assert (rule.window.size, rule.window.slide, rule.hold, rule.cooldown) == (600_000, 60_000, 120_000, 1_800_000)


@pytest.mark.parametrize(
    "broken, expected",
    [
        (
            RULES.replace("group_by: [card_fingerprint]", "group_by: [card]"),
            "shop.yaml:14: rules[1].group_by: unknown field(s) card",
        ),
        (RULES.replace("&& risky", "&& riskyy"), "shop.yaml:13: rules[1].filter: unknown field(s) riskyy"),
        (
            RULES.replace('event_type == "payment_failed"', 'amount > "100"'),
            'shop.yaml:13: rules[1].filter: type mismatch in `amount > "100"`',
        ),
        (RULES.replace('event_type == "payment_failed"', "country >= 5"), "country is a text: put the value in quotes"),
        (RULES.replace("for: 2m", "for: 2 minutes"), "shop.yaml:17: rules[1].for: bad duration '2 minutes'"),
        (RULES.replace("every: 1m", "every: 3m"), "shop.yaml:15: rules[1].window: `every` must divide the window size"),
        (RULES.replace("type: threshold", "type: treshold"), "shop.yaml:10: rules[1]: unknown rule type 'treshold'"),
        (RULES.replace("    limit: 5\n", "    limit: 5\n    limt: 6\n"), "shop.yaml:17: rules[1].limt: unknown key"),
        (RULES.replace("id: card-testing", "id: enrich"), "shop.yaml:10: rules[1].id: duplicate rule id 'enrich'"),
        (RULES.replace("    limit: 5\n", ""), "shop.yaml:10: rules[1].limit: required key is missing"),
    ],
)
def test_rule_errors_are_located_with_a_hint(broken, expected):
    assert any(expected in error for error in errors_of(broken)), errors_of(broken)


EVENT_FIELDS = (
    "event_id, tenant_id, event_type, ts, amount, currency, customer_id, session_id, order_id, product_id, "
    "campaign_id, ip, country, payment_method, card_fingerprint, attributes"
)
CONDITION = "  - id: big\n    description: Big order\n    when: amount > 100.0\n    cooldown: 10m\n"


@pytest.mark.parametrize(
    "broken, expected",
    [
        (
            RULES.replace("group_by: [card_fingerprint]", "group_by: [card]"),
            f"shop.yaml:14: rules[1].group_by: unknown field(s) card; events have: {EVENT_FIELDS}, risky",
        ),
        (
            RULES.replace("&& risky", "&& riskyy"),
            "shop.yaml:13: rules[1].filter: unknown field(s) riskyy in expression; "
            f"events have: {EVENT_FIELDS}, tags, risky",
        ),
        (
            RULES + CONDITION.replace("amount > 100.0", "amonut > 100.0"),
            "shop.yaml:21: rules[2].when: unknown field(s) amonut in expression; "
            f"events have: {EVENT_FIELDS}, tags, risky",
        ),
        (
            RULES + CONDITION.replace("amount > 100.0", 'amount > "100"'),
            'shop.yaml:21: rules[2].when: type mismatch in `amount > "100"`: '
            "compare a field with a value of its type (amount is a number)",
        ),
        (
            RULES + CONDITION.replace("amount > 100.0", "country == 5"),
            "shop.yaml:21: rules[2].when: type mismatch in `country == 5`: "
            "compare a field with a value of its type (country is a text: put the value in quotes)",
        ),
        (
            RULES + CONDITION.replace("cooldown: 10m", "cooldown: 10 mins"),
            "shop.yaml:22: rules[2].cooldown: bad duration '10 mins': "
            "write a number and a unit, e.g. 30s, 10m, 1h, 7d, 2w (or 1h30m)",
        ),
        (
            RULES.replace("type: threshold", "type: treshold"),
            "shop.yaml:10: rules[1]: unknown rule type 'treshold'; "
            "use one of: condition, threshold, baseline, absence, new_value, sequence, enrichment",
        ),
        (
            RULES + CONDITION.replace("id: big", "id: card-testing"),
            "shop.yaml:19: rules[2].id: duplicate rule id 'card-testing': every rule needs its own id",
        ),
    ],
)
def test_each_kind_of_mistake_gives_file_line_field_and_hint(broken, expected):
    assert errors_of(broken) == [expected]


@pytest.mark.parametrize(
    "rule, field, line",
    [
        ("type: sequence\n    first: amount < 1.0\n    then: amont > 9.0\n    within: 1m", "then", 23),
        ("type: sequence\n    first: amont < 1.0\n    then: amount > 9.0\n    within: 1m", "first", 22),
        ("type: enrichment\n    tags:\n      t: contry == 'x'", "tags", 22),
        ("type: enrichment\n    set:\n      v: contry", "set", 22),
        ("type: new_value\n    field: contry", "field", 22),
        ("type: threshold\n    aggregate: sum\n    field: amout\n    window: 5m\n    limit: 1", "field", 23),
    ],
)
def test_unknown_fields_are_found_in_every_expression_and_field_name(rule, field, line):
    (error,) = errors_of(RULES + f"  - id: x\n    description: X\n    {rule}\n")
    assert error.startswith(f"shop.yaml:{line}: rules[2].{field}") and "unknown field(s)" in error, error


ABSENCE = "  - id: quiet\n    type: absence\n    description: No orders\n    for: 20m\n    min_expected: {}\n"
ABOVE_0 = "must be above 0: how many matching events usually come in a silence before it alerts (e.g. min_expected: 10)"


@pytest.mark.parametrize(
    "value, message",
    [("0", ABOVE_0), ("-3", ABOVE_0), (".inf", ABOVE_0), ("ten", "Input should be a valid number, unable to parse")],
)
def test_min_expected_is_a_number_above_0(value, message):
    (error,) = errors_of(RULES + ABSENCE.format(value))
    assert error.startswith(f"shop.yaml:23: rules[2].min_expected: {message}"), error


def test_type_mismatch_hides_behind_and_is_still_found():
    text = RULES.replace('event_type == "payment_failed" && risky', 'event_type == "x" && amount > "5"')
    assert any('type mismatch in `amount > "5"`' in e for e in errors_of(text))


def test_pulse_validate_lists_rule_errors(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "shop.yaml").write_text(RULES.replace("window: {size: 10m, every: 1m}", "window: 10 mins"))
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "shop.yaml:15: rules[1].window.size: bad duration '10 mins'" in result.stderr


def test_every_documented_rule_example_is_valid():
    readme = (Path(__file__).parent.parent.parent / "docs" / "rules.md").read_text()
    section = readme.split("## Rules\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```yaml\n")[1:]
    types = []
    for block in blocks:
        text = block.split("```", 1)[0]
        if not text.startswith("tables:"):
            text = "rules:\n" + text
        config = parse_tenant_config("tenant: shop\n" + text, "docs/rules.md")
        types.append([(rule.id, rule.type) for rule in config.rules])
    assert types == [
        [("large-order", "condition")],
        [("card-testing", "threshold")],
        [("revenue-flatline", "threshold")],
        [("revenue-drop", "baseline")],
        [("no-orders", "absence")],
        [("no-orders", "absence")],
        [("new-country", "new_value")],
        [("tiny-then-large", "sequence")],
        [("risk-tags", "enrichment"), ("risky-order", "condition")],
    ]


def test_documented_tenant_file_example_is_valid():
    readme = (Path(__file__).parent.parent.parent / "docs" / "rules.md").read_text()
    section = readme.split("## Tenant configuration\n", 1)[1].split("\n## ", 1)[0]
    text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_tenant_config(text, "acme.yaml")
    assert [(rule.id, rule.type, rule.labels) for rule in config.rules] == [
        ("large-order", "condition", {"team": "risk"})
    ]
