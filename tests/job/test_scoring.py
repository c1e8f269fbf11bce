"""Rules, summaries and the risk model, without Flink."""

import pytest

from models.risk import RiskModel
from pulse.job.alerts import alert_id
from pulse.job.scoring import TenantScorer
from pulse.rules.conditions import RuleSet
from pulse.rules.language import ConditionRule
from pulse.summaries import render
from pulse.tenants.config import RiskModelConfig, parse_tenant_config

ORDER = {
    "event_id": "e1",
    "tenant_id": "shop",
    "event_type": "order_placed",
    "ts": 1793613600000,
    "amount": 2500.0,
    "currency": "EUR",
    "customer_id": "c1",
    "session_id": None,
    "order_id": "o1",
    "product_id": None,
    "campaign_id": None,
    "ip": None,
    "country": "NG",
    "payment_method": "card",
    "card_fingerprint": "k1",
    "attributes": {"items": "3"},
}

CONFIG = """\
tenant: shop
display_name: Shop GmbH
currency: EUR
rules:
  - id: big
    description: Big order
    severity: high
    when: event_type == "order_placed" && amount > 2000.0
  - id: risky-country
    description: Risky country
    when: country in ["NG"]
    summary: "{{ event.order_id }} from {{ event.country }} for {{ event.amount | money(currency) }}"
  - id: disabled-rule
    description: Disabled
    when: "true"
    enabled: false
models:
  risk:
    warmup_events: 20
    window_size: 20
"""


def test_condition_rules_match_and_skip_missing_fields():
    rules = RuleSet(
        [
            ConditionRule(id="a", description="a", when='event_type == "order_placed" && amount > 2000.0'),
            ConditionRule(id="b", description="b", when="amount < 1.0"),
        ]
    )
    assert [r.id for r in rules.matches(ORDER)] == ["a"]
    assert rules.matches({**ORDER, "amount": None}) == []


def test_scorer_builds_row_and_alerts_with_summaries():
    scorer = TenantScorer("shop", parse_tenant_config(CONFIG, "shop.yaml"))
    row, alerts = scorer.score(ORDER, scorer.new_state(), run_id="r1")
    assert row["rule_hits"] == ["big", "risky-country"]
    assert row["model_warming_up"] is True and 0.0 <= row["risk_score"] <= 1.0
    assert row["customer_id"] == "c1" and row["session_id"] == ""
    big, risky = alerts
    assert big["severity"] == "high" and big["alert_id"] == alert_id("shop", "big", "e1")
    assert "Big order at Shop GmbH" in big["summary"] and "2,500.00 EUR" in big["summary"]
    assert risky["summary"] == "o1 from NG for 2,500.00 EUR"


def test_page_views_skip_the_model():
    scorer = TenantScorer("shop", parse_tenant_config(CONFIG, "shop.yaml"))
    row, _ = scorer.score(
        {**ORDER, "event_type": "page_view", "amount": None, "country": None}, scorer.new_state(), run_id="r1"
    )
    assert row["risk_score"] is None and row["rule_hits"] == []


def test_risk_model_warms_up_then_flags_an_outlier():
    model = RiskModel(RiskModelConfig(warmup_events=100, window_size=50))
    normal = [model.score({**ORDER, "amount": 40.0 + (i * 13) % 60, "ts": (i % 10) * 3_600_000}) for i in range(400)]
    assert all(not s.is_alert for s in normal[:100]) and all(s.warming_up for s in normal[:100])
    assert sum(s.is_alert for s in normal[100:]) <= 4
    outlier = model.score({**ORDER, "amount": 60000.0, "attributes": {"items": "40"}})
    assert outlier.is_alert and outlier.score > outlier.threshold
    assert outlier.top_features[0] in ("amount_vs_tenant", "items")


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% for x in range(10**9) %}{% endfor %}",
    ],
)
def test_templates_cannot_reach_python_internals(attack):
    text = render(attack, {"event": {"amount": 1.0}, "headline": "fallback headline"})
    assert text.startswith("(summary template failed") and "fallback headline" in text
