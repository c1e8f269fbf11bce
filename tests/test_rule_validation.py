"""`pulse validate` on the rule language: every mistake named with file, line, field and a hint."""

import subprocess
import sys
from pathlib import Path

import pytest

from pulse.config import ConfigInvalid, parse_tenant_config

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


def test_type_mismatch_hides_behind_and_is_still_found():
    text = RULES.replace('event_type == "payment_failed" && risky', 'event_type == "x" && amount > "5"')
    assert any('type mismatch in `amount > "5"`' in e for e in errors_of(text))


def test_pulse_validate_lists_rule_errors(tmp_path):
    (tmp_path / "tenants").mkdir()
    (tmp_path / "tenants" / "shop.yaml").write_text(RULES.replace("window: {size: 10m, every: 1m}", "window: 10 mins"))
    result = subprocess.run([sys.executable, "-m", "pulse", "validate", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "shop.yaml:15: rules[1].window.size: bad duration '10 mins'" in result.stderr


def test_every_readme_rule_example_is_valid():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Rules\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```yaml\n")[1:]
    assert len(blocks) == 7
    for block in blocks:
        text = block.split("```", 1)[0]
        if not text.startswith("tables:"):
            text = "rules:\n" + text
        config = parse_tenant_config("tenant: shop\n" + text, "README.md")
        assert config.rules
