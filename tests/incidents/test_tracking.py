"""Incidents from alerts (pure logic) and their plain-language summaries in the sandbox."""

import threading
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from pulse.incidents.tracking import IncidentTracker
from pulse.summaries import MAX_SUMMARY_CHARS, default_template, incident_summary, render
from pulse.tenants.config import IncidentsConfig
from pulse.tenants.limits import MAX_RENDER_S, MAX_TEMPLATE_VALUE_CHARS

GROWTH_BOMBS = [
    "{% set a = 'x' * 10000 %}{{ ([a] * 10000) | join }}",  # 100 MB in one join
    "{% set a = 'x' * 10000 %}{% set b = ([a] * 10) | join %}{% set c = ([b] * 10) | join %}{{ ([c] * 100) | join }}",
    "{% set a = 'x' * 10000 %}{{ a | replace('x', a) }}",
    "{% set a = 'x' * 10000 %}{{ a.replace('x', a) }}",
    "{% set a = 'x' * 10000 %}{% set b = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}{{ b ~ b ~ b }}",
    "{% set a = 'x' * 10000 %}{% set b = a + a + a + a + a + a + a + a + a + a %}{{ b + b }}",
    "{% set a = [1] * 10000 %}{{ a + a + a + a + a + a + a + a + a + a + a }}",
    "{{ ('\\n' * 10000) | indent(10000) }}",
    "{% for i in range(10000) %}{{ 'x' * 10000 }}{% endfor %}",  # 100 MB of output
]
SLOW_LOOP = "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"

T0 = datetime(2026, 11, 2, 10, tzinfo=UTC)


def alert(i: int, minutes: float, group: str = "c1", cause: str = "large-order", tenant: str = "acme", **extra):
    return {"tenant_id": tenant, "alert_id": f"{cause}-{i}", "ts": T0 + timedelta(minutes=minutes), "kind": "rule",
            "cause": cause, "severity": "high", "group_key": group, "amount": 1000.0, "currency": "USD",
            "baseline_amount": 100.0, **extra}  # fmt: skip


def tracker(**config):
    return IncidentTracker(lambda tenant: IncidentsConfig(**config))


def test_alerts_of_one_group_make_one_incident_opened_updated_then_resolved_in_event_time():
    t = tracker(quiet_minutes=30, quiet_minutes_by_cause={"card-testing": 5})
    [opened] = t.observe(alert(1, 0, country="NG", campaign_id="bf"))
    [updated] = t.observe(alert(2, 10, country="NG", campaign_id="xmas"))
    [other] = t.observe(alert(3, 11, group="c2"))
    [card] = t.observe(alert(4, 12, cause="card-testing", payment_method="card"))
    assert (opened["status"], updated["status"], other["status"]) == ("open", "updated", "open")
    assert updated["incident_id"] == opened["incident_id"] != other["incident_id"]
    assert updated["version"] == 2 and updated["alert_count"] == 2
    assert updated["top_dimensions"] == {"country": ["NG"], "campaign_id": ["bf", "xmas"]}
    assert t.advance("acme", T0 + timedelta(minutes=16)) == []  # card-testing resolves after 5 quiet minutes
    [resolved_card] = t.advance("acme", T0 + timedelta(minutes=17))
    assert resolved_card["incident_id"] == card["incident_id"] and resolved_card["status"] == "resolved"
    assert resolved_card["resolved_at"] == T0 + timedelta(minutes=17)
    assert t.advance("globex", T0 + timedelta(days=1)) == []  # another tenant's time does not resolve acme's
    resolved = t.advance("acme", T0 + timedelta(minutes=41))
    assert [n["incident_id"] for n in resolved] == [opened["incident_id"], other["incident_id"]]
    [again] = t.observe(alert(5, 50))
    assert again["status"] == "open" and again["incident_id"] != opened["incident_id"]


def test_repeated_alerts_are_deduplicated_and_ids_are_deterministic():
    first, second = tracker(), tracker()
    a = alert(1, 0)
    assert first.observe(a)[0]["incident_id"] == second.observe(a)[0]["incident_id"]
    assert first.observe(a) == []


def test_notices_are_rate_limited_per_tenant_but_still_recorded():
    t = tracker(max_notices_per_hour=3)
    notices = [n for i in range(6) for n in t.observe(alert(i, i, group=f"g{i}"))]
    assert [n["notify"] for n in notices] == [True, True, True, False, False, False]
    assert t.observe(alert(9, 3, tenant="globex"))[0]["notify"]  # another tenant has its own budget
    later = t.observe(alert(7, 61, group="g7"))  # the hour has slid on; the six earlier ones resolve first
    assert [(n["status"], n["notify"]) for n in later] == [("resolved", True)] * 3 + [("resolved", False)] * 3 + [
        ("open", True)
    ]


def test_updates_of_one_incident_are_sent_at_most_every_update_minutes():
    t = tracker(update_minutes=10)
    notices = [n for i, minute in enumerate((0, 2, 4, 11, 12, 22)) for n in t.observe(alert(i, minute))]
    assert [(n["status"], n["notify"]) for n in notices] == [
        ("open", True), ("updated", False), ("updated", False), ("updated", True), ("updated", False),
        ("updated", True),
    ]  # fmt: skip
    assert notices[3]["alert_count"] == 4  # a sent update carries everything since the last one


def test_summary_states_what_how_big_since_when_where_and_the_next_step():
    t = tracker()
    t.observe(alert(1, 0, country="NG", payment_method="card", product_id="tent-3"))
    [n] = t.observe(alert(2, 5, country="NG", campaign_id="bf"))
    playbooks = {"large-order": "call the customer before shipping."}
    text = incident_summary(n, "Order above 2,000 USD", "ACME Outdoor", "USD", default_template("incident"), playbooks)
    assert text.startswith("Order above 2,000 USD at ACME Outdoor: 2 alerts for c1 since 2026-11-02 10:00 UTC.")
    assert "Amount involved 2,000.00 USD against 200.00 USD expected for as many typical orders (+900%)." in text
    assert "Most involved: campaign bf; country NG; payment method card; product tent-3." in text
    assert text.endswith("Next step: call the customer before shipping.")


def test_model_incident_summary_compares_score_with_threshold_and_uses_the_default_playbook():
    t = tracker()
    [n] = t.observe(alert(1, 0, cause="risk_score", kind="model", score=0.96, threshold=0.8))
    text = incident_summary(n, "Unusual orders", "ACME", "USD", default_template("incident"), {})
    assert "Risk score 0.96 against an expected ceiling of 0.80 (+20%)." in text
    assert "Next step: hold the affected orders and verify the customers" in text


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # Python internals
        "{{ incident.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% include '/etc/passwd' %}",  # files
        "{% import 'os' as os %}",
        "{{ self._TemplateReference__context.environment }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ urlopen('http://169.254.169.254/') }}",  # network: nothing to call it with
        "{{ 'x' * 100000000 }}",  # memory
        "{{ 9 ** 1000000 }}",  # CPU
        "{{ 'x' | center(1000000000) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ '%1000000000d' | format(1) }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ '%*d' % (1000000000, 1) }}",
        "{{ '{:{}}'.format(1, 1000000000) }}",
        "{{ (10 ** 13) ** 100 }}",
        "{{ [1] * 100000 }}",
        "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
        "{{ range(10000000) | list }}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",  # recursion
        *GROWTH_BOMBS,
    ],
)
def test_template_injection_is_contained(template):
    text = render(template, {"incident": {}, "headline": "fallback headline"})
    assert text.startswith("(summary template failed:") and text.endswith("fallback headline")
    assert "root:" not in text and "uid=" not in text and len(text) <= MAX_SUMMARY_CHARS


@pytest.mark.parametrize("template", [*GROWTH_BOMBS, SLOW_LOOP])
def test_templates_are_bounded_on_worker_threads_too(template):
    """PyFlink runs operators on threads other than the main one, where no signal arrives: size and time still hold."""
    result = {}

    def render_on_a_thread():
        tracemalloc.start()
        result["text"] = render(template, {"incident": {}, "headline": "fallback headline"})
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    worker = threading.Thread(target=render_on_a_thread)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert result["text"].startswith("(summary template failed: SecurityError:"), result["text"]
    assert result["peak"] < 20 * MAX_TEMPLATE_VALUE_CHARS  # refused before building, not after
    if template == SLOW_LOOP:
        assert f"took longer than {MAX_RENDER_S} s" in result["text"]


def test_ordinary_template_features_still_work():
    assert render("{{ '%.2f' | format(x) }} {{ n * 3 }} {{ 'ab' * 2 }} {{ xs | join(', ') }} {{ 2 ** 10 }}",
                  {"x": 2.5, "n": 4, "xs": ["a", "b"]}) == "2.50 12 abab a, b 1024"  # fmt: skip
    big = {"n": 1234567}
    assert render("{{ '%d' % n }} {{ '{:,}'.format(n) }} {{ '%d' | format(n) }} {{ n % 1000 }}", big) == (
        "1234567 1,234,567 1234567 567"
    )


def test_metric_detector_incident_speaks_of_the_metric_not_the_risk_model():
    from datetime import UTC, datetime

    from pulse.incidents.tracking import Incident
    from pulse.job.metric_alerts import metric_headline, metric_next_step
    from pulse.summaries import default_template, incident_summary

    opened = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    incident = Incident("globex", "inc_1", "model", "metric:payment_failures", "payment_failures", opened, "high")
    labels = {"metric": "payment_failures", "direction": "spike", "observed": "7", "expected": "1"}
    incident.add({"alert_id": "a1", "ts": opened, "severity": "high", "score": 1.0, "threshold": 5.0, "labels": labels})
    notice = incident.notice("open")
    assert (notice["observed"], notice["expected"], notice["percent"], notice["unit"]) == (7.0, 1.0, 600.0, "metric")
    headline = metric_headline(notice)
    text = incident_summary(notice, headline, "Globex", "EUR", default_template("incident"), {},
                            metric_next_step(notice["cause"]))  # fmt: skip
    assert text.startswith("Failed payments spiked at Globex")
    assert "7 observed against 1 expected (+600%)" in text and "card testing" in text
    assert "risk" not in text.lower()
    assert metric_headline({"cause": "large-order", "labels": {}}) is None
