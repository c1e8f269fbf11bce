"""The rule-type registry: docs/rules.md lists its types, validation and the engine take them from it."""

import re
from pathlib import Path

import pytest

from pulse.rules.engine import RuleEngine
from pulse.rules.types import RULE_TYPES
from pulse.tenants.config import ConfigInvalid, parse_tenant_config

RULES_DOC = Path(__file__).parent.parent.parent / "docs" / "rules.md"


def documented_types() -> dict[str, str]:
    """Each `**type**: what it does` paragraph of the Rules section of docs/rules.md, as type → its text."""
    section = RULES_DOC.read_text().split("## Rules\n", 1)[1].split("\n## ", 1)[0]
    paragraphs = re.findall(r"^\*\*(\w+)\*\*: (.+?)(?:\n```|\n\n)", section, flags=re.MULTILINE | re.DOTALL)
    return {name: " ".join(text.split()) for name, text in paragraphs}


def test_docs_describe_every_registered_type_in_its_order_and_no_other():
    documented = documented_types()
    assert list(documented) == list(RULE_TYPES)
    for name, kind in RULE_TYPES.items():
        assert documented[name].startswith(kind.description), f"docs/rules.md: **{name}**: {documented[name]}"


def test_a_registered_type_validates_with_its_model_and_runs_with_its_runner():
    text = """\
rules:
  - id: big
    description: Big order
    when: amount > 100.0
  - id: cards
    type: threshold
    description: Card testing
    window: 10m
    limit: 5
  - id: tags
    type: enrichment
    description: Tags
    tags: {large: amount > 500.0}
"""
    rules = parse_tenant_config(text, "shop.yaml").rules
    assert [type(rule) for rule in rules] == [
        RULE_TYPES[name].model for name in ("condition", "threshold", "enrichment")
    ]
    engine = RuleEngine(rules, {})
    assert {rid: type(runner) for rid, runner in engine.runners.items()} == {"cards": RULE_TYPES["threshold"].runner}
    assert len(engine.enrichments) == 1


@pytest.mark.parametrize(
    "rule, message",
    [
        ("type: treshold\n    id: x", "unknown rule type 'treshold'; use one of: " + ", ".join(RULE_TYPES)),
        ("type: [threshold]\n    id: x", "unknown rule type ['threshold']; use one of: " + ", ".join(RULE_TYPES)),
    ],
)
def test_an_unknown_type_names_the_known_ones_with_file_line_and_field(rule, message):
    text = f"tenant: shop\nrules:\n  - id: ok\n    description: Ok\n    when: amount > 1.0\n  - {rule}\n"
    with pytest.raises(ConfigInvalid) as caught:
        parse_tenant_config(text, "shop.yaml")
    assert [str(e) for e in caught.value.errors] == [f"shop.yaml:6: rules[1]: {message}"]


def test_a_rule_that_is_no_mapping_is_refused_with_its_place():
    with pytest.raises(ConfigInvalid) as caught:
        parse_tenant_config("tenant: shop\nrules:\n  - large-order\n", "shop.yaml")
    (error,) = caught.value.errors
    assert str(error) == (
        "shop.yaml:3: rules[0]: a rule is a mapping of keys (id: ..., description: ..., when: ...), not 'large-order'"
    )
