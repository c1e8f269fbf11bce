"""What labels teach detection (pulse.job.feedback): bounded, reversible, fading, per tenant; an expected change
teaches a metric's level. The lessons reach the job's per-tenant step (PlainRun) as the API sends them; what they
hold back is counted in the tenant's usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pulse.events import parse_record
from pulse.job import kept
from pulse.job.feedback import (
    FADE_MS,
    MAX_LESSONS,
    Feedback,
    Lesson,
    is_feedback,
    lesson_record,
    read_record,
)
from pulse.job.pipeline import PlainRun
from pulse.tenants.config import ConfigSet, parse_tenant_config
from pulse.tenants.plans import PlanWatcher, plans_file_for

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def metric(
    at: datetime, observed: float, expected: float, direction: str = "drop", name: str = "orders", minutes: int = 15
) -> dict:
    """An `alerts` row of a metric detector, as pulse.job.metric_alerts writes it (the fields feedback reads);
    `minutes` 0: as it wrote them before it labelled the minutes of the window."""
    labels = {"metric": name, "direction": direction, "observed": f"{observed:g}", "expected": f"{expected:g}"}
    labels |= {"window_minutes": str(minutes)} if minutes else {}
    return {"kind": "model", "cause": f"metric:{name}", "group_key": name, "ts": at, "score": 0.999,
            "threshold": 5.0, "labels": labels}  # fmt: skip


def risk(at: datetime, score: float, features: str = "amount_vs_tenant,country_rarity") -> dict:
    return {"kind": "model", "cause": "risk_score", "group_key": "c1", "ts": at, "score": score, "threshold": 0.8,
            "labels": {"top_features": features}}  # fmt: skip


def rule(at: datetime, group: str = "c1", score: float | None = None, cause: str = "big") -> dict:
    return {"kind": "rule", "cause": cause, "group_key": group, "ts": at, "score": score, "threshold": None,
            "labels": {}}  # fmt: skip


def taught(*lessons: tuple[str, str, dict]) -> Feedback:
    feedback = Feedback()
    for incident, label, alert in lessons:
        feedback.learn(read_record(lesson_record(incident, label, alert)))  # as the job reads what the API sends
    return feedback


def held(feedback: Feedback, alert: dict) -> bool:
    return feedback.holds_back(alert) is not None


def test_a_false_alarm_makes_its_metric_detector_less_eager_where_it_fired_bounded():
    feedback = taught(("inc_1", "false_alarm", metric(MONDAY + timedelta(hours=3), 60, 100)))  # a drop of 40
    later = MONDAY + timedelta(days=1, hours=15)
    assert held(feedback, metric(later, 50, 100))  # a drop of 50: up to 1.5 times the false alarm's is held back
    assert not held(feedback, metric(later, 35, 100))  # a drop of 65: much larger, it alerts
    assert not held(feedback, metric(later, 0, 100))  # orders stop: it alerts
    assert not held(feedback, metric(later, 300, 400))  # busier than 3 times the false alarm's conditions
    assert not held(feedback, metric(later, 130, 100, "spike"))  # the other direction
    assert not held(feedback, metric(later, 60, 100, name="revenue"))  # another metric
    assert not held(feedback, metric(MONDAY + timedelta(hours=2), 60, 100))  # before the false alarm


def test_spikes_from_nothing_are_one_condition():
    feedback = taught(("inc_1", "false_alarm", metric(MONDAY + timedelta(hours=2), 105, 0.03, "spike", "revenue")))
    assert held(feedback, metric(MONDAY + timedelta(days=1, hours=5), 90, 0, "spike", "revenue"))
    assert not held(feedback, metric(MONDAY + timedelta(days=1, hours=5), 400, 0, "spike", "revenue"))
    assert not held(feedback, metric(MONDAY + timedelta(days=1, hours=14), 200, 100, "spike", "revenue"))


def test_relabelling_true_problem_takes_the_lesson_back_and_lessons_fade():
    alarm = metric(MONDAY, 60, 100)
    feedback = taught(("inc_1", "false_alarm", alarm))
    assert held(feedback, metric(MONDAY + timedelta(days=3), 60, 100))
    feedback.learn(Lesson.of("inc_1", "true_problem", alarm))
    assert not held(feedback, metric(MONDAY + timedelta(days=3), 60, 100)) and feedback.lessons == {}
    feedback = taught(("inc_1", "false_alarm", alarm))
    assert held(feedback, metric(MONDAY + timedelta(milliseconds=FADE_MS), 60, 100))
    assert not held(feedback, metric(MONDAY + timedelta(milliseconds=FADE_MS + 60_000), 60, 100))


def test_an_expected_change_teaches_the_level_it_reached():
    feedback = taught(("inc_1", "expected", metric(MONDAY + timedelta(hours=10), 200, 80, "spike")))
    assert held(feedback, metric(MONDAY + timedelta(days=2, hours=3), 190, 20, "spike"))  # any hour, up to 200
    assert not held(feedback, metric(MONDAY + timedelta(days=2), 250, 80, "spike"))  # past the level: alerts
    assert not held(feedback, metric(MONDAY + timedelta(days=2), 10, 80, "drop"))
    relabelled = taught(("inc_1", "expected", metric(MONDAY, 200, 80, "spike")),
                        ("inc_1", "true_problem", metric(MONDAY, 200, 80, "spike")))  # fmt: skip
    assert not held(relabelled, metric(MONDAY + timedelta(days=1), 190, 80, "spike"))


def test_metric_alerts_are_compared_per_minute_of_their_windows():
    later = MONDAY + timedelta(days=1, hours=3)
    alarm = taught(("inc_1", "false_alarm", metric(MONDAY, 60, 100)))  # 40 fewer in 15 minutes: 2.7 a minute
    assert held(alarm, metric(later, 240, 400, minutes=60))  # 160 fewer in an hour: as many a minute, as usual
    assert not held(alarm, metric(later, 140, 400, minutes=60))  # 4.3 fewer a minute: past 1.5 times
    assert not held(alarm, metric(later, 60, 100, minutes=2))  # 20 fewer a minute
    assert not held(alarm, metric(later, 240, 400, minutes=0))  # no window: compared as it is, 4 times as busy
    spike = taught(("inc_2", "expected", metric(MONDAY, 46, 16, "spike", minutes=4)))  # 11.5 a minute accepted
    assert held(spike, metric(later, 684, 560, "spike", minutes=60))  # 11.4 a minute
    assert not held(spike, metric(later, 720, 560, "spike", minutes=60))  # 12 a minute
    assert not held(spike, metric(later, 684, 560, "spike", minutes=0))
    before = taught(("inc_3", "expected", metric(MONDAY, 46, 16, "spike", minutes=0)))  # a label from before
    assert held(before, metric(later, 40, 16, "spike", minutes=4))
    assert not held(before, metric(later, 684, 560, "spike", minutes=60))


def test_the_risk_model_is_less_eager_in_its_score_band_for_the_same_features():
    feedback = taught(("inc_1", "false_alarm", risk(MONDAY, 0.88)))
    assert held(feedback, risk(MONDAY + timedelta(hours=9), 0.95))
    assert not held(feedback, risk(MONDAY + timedelta(hours=9), 0.99))  # far past the band
    assert not held(feedback, risk(MONDAY + timedelta(hours=9), 0.85, "failures,small_amount"))  # other features


def test_a_rule_is_less_eager_for_the_same_group_and_time_of_day():
    feedback = taught(("inc_1", "false_alarm", rule(MONDAY + timedelta(hours=10))))
    assert held(feedback, rule(MONDAY + timedelta(days=1, hours=11)))
    assert not held(feedback, rule(MONDAY + timedelta(days=1, hours=15)))  # other hours
    assert not held(feedback, rule(MONDAY + timedelta(days=1, hours=10), group="c2"))
    assert not held(feedback, rule(MONDAY + timedelta(days=1, hours=10), cause="other"))
    window = taught(("inc_1", "false_alarm", rule(MONDAY, "ip=1", score=12)))
    assert held(window, rule(MONDAY + timedelta(days=1), "ip=1", score=15))
    assert not held(window, rule(MONDAY + timedelta(days=1), "ip=1", score=40))


def test_quota_notices_are_never_held_back_and_lessons_are_bounded_in_number():
    many = [(f"inc_{i}", "false_alarm", rule(MONDAY + timedelta(minutes=i))) for i in range(MAX_LESSONS + 5)]
    feedback = taught(*many)
    assert len(feedback.lessons) == MAX_LESSONS and "inc_0" not in feedback.lessons
    assert feedback.holds_back({**rule(MONDAY + timedelta(hours=1)), "kind": "usage"}) is None


def test_feedback_records_are_told_apart_from_configs_and_bad_ones_refused():
    record = lesson_record("inc_1", "false_alarm", rule(MONDAY))
    assert is_feedback(record) and not is_feedback("tenant: acme\nrules: []\n")
    assert not is_feedback('{"tenant": "acme", "rules": []}')
    for bad in ('{"feedback": 2}', '{"feedback": 1, "label": "false_alarm"}', "{nonsense"):
        with pytest.raises(ValueError):
            read_record(bad)


def test_feedback_is_kept_state_that_names_no_module_of_the_project():
    import pickle

    feedback = taught(("inc_1", "false_alarm", metric(MONDAY, 60, 100)), ("inc_2", "expected", risk(MONDAY, 0.9)))
    data = pickle.dumps(kept.Kept(feedback))
    assert b"pulse." not in data and b"models." not in data
    assert kept.read(pickle.loads(data)) == feedback
    plain = pickle.loads(data)  # kept before lessons knew their window: read as lessons without one
    for lesson in plain["state"]["lessons"].values():
        del lesson["window_minutes"]
    assert {k.window_minutes for k in kept.read(plain).lessons.values()} == {None}


CONFIG = """\
tenant: {tenant}
rules:
  - id: big
    description: Big order
    severity: high
    when: event_type == "order_placed" && amount > 2000.0
models:
  risk:
    enabled: false
  metrics:
    enabled: false
"""


def order(tenant: str, n: int, customer: str, at: datetime) -> dict:
    raw = {"event_id": f"e{n}", "tenant_id": tenant, "event_type": "order_placed", "ts": at.isoformat(),
           "amount": 2500.0, "currency": "EUR", "customer_id": customer}  # fmt: skip
    return parse_record(raw, source="test", index=n).event


def alerts(run: PlainRun, event: dict) -> list[dict]:
    return [row for table, row in run.record("event", event) if table == "alerts"]


def test_a_label_changes_the_job_step_of_its_tenant_only_until_taken_back():
    tenants = {t: parse_tenant_config(CONFIG.format(tenant=t), f"{t}.yaml") for t in ("acme", "globex")}
    configs = ConfigSet(tenants["acme"], tenants)
    run = PlainRun(configs, PlanWatcher(plans_file_for("configs")), "feedback")
    start = MONDAY + timedelta(hours=10)
    [first] = alerts(run, order("acme", 1, "wholesale-1", start))
    run.learn("acme", read_record(lesson_record("inc_1", "false_alarm", first)))
    tomorrow = start + timedelta(days=1)
    assert alerts(run, order("acme", 2, "wholesale-1", tomorrow)) == []  # the same customer's big order: held back
    assert len(alerts(run, order("acme", 3, "c-new", tomorrow))) == 1  # another customer's: alerts
    assert len(alerts(run, order("globex", 4, "wholesale-1", tomorrow))) == 1  # another tenant: untouched
    run.learn("acme", read_record(lesson_record("inc_1", "true_problem", first)))
    assert len(alerts(run, order("acme", 5, "wholesale-1", tomorrow + timedelta(minutes=5)))) == 1
    usage = [row for table, row in run.finish() if table == "usage"]
    counted = {(u["tenant_id"], u["minute"]): (u["alerts"], u["alerts_held_back"]) for u in usage if u["accepted"]}
    assert counted == {  # the held-back alert is counted in its tenant's usage, in the minute it would have had
        ("acme", start): (1, 0), ("acme", tomorrow): (1, 1), ("acme", tomorrow + timedelta(minutes=5)): (1, 0),
        ("globex", tomorrow): (1, 0),
    }  # fmt: skip
