"""Changing a tenant's rules while the job runs (real standalone cluster, --watch landing folder, rule updates
from a watched folder): a valid update takes effect on later events and keeps the state of the rules it did
not change; an invalid one is refused, recorded in `config_updates`, and the previous version stays. A label's
feedback on the same channel (as `pulse serve --rules-folder` sends it) holds back a later alert like the
labelled one. Both stay in force after a restore from a savepoint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest
from cluster_support import PROJECT, drop, wait_checkpoints

from pulse.dev.cluster import Cluster
from pulse.job.feedback import lesson_record
from pulse.job.rule_updates import RuleUpdate, publish
from pulse.store.clickhouse import store

pytestmark = [pytest.mark.flink, pytest.mark.cluster]

T0 = 1793613600000  # 2026-11-02 10:00 UTC
CARD_TESTING = """tenant: acme
display_name: ACME
rules:
  - id: card-testing
    type: threshold
    description: 5 or more failed payments on one card within 10 minutes
    severity: critical
    filter: event_type == "payment_failed"
    group_by: [card_fingerprint]
    aggregate: count
    window: {size: 10m, every: 1m}
    op: ">="
    limit: 5
    cooldown: 1h
"""
BIG_ORDER = """  - id: big-order
    description: Order over 500
    severity: high
    when: event_type == "order_placed" && amount > 500.0
"""
BROKEN = BIG_ORDER.replace("amount > 500.0", "amount_usd > 500.0")  # a field events do not have
# Hostile updates: an alias bomb (9^9 strings once expanded) and parentheses deep enough to panic the CEL parser.
ALIAS_BOMB = "tenant: acme\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)
DEEP = BIG_ORDER.replace("amount > 500.0", "(" * 100_000 + "amount > 500.0" + ")" * 100_000)


def event(name: str, seconds: int, event_type: str, **fields) -> dict:
    return {"event_id": name, "tenant_id": "acme", "event_type": event_type, "ts": T0 + seconds * 1000, **fields}


def failed_payment(name: str, seconds: int) -> dict:
    return event(name, seconds, "payment_failed", amount=1.0, card_fingerprint="card-x", customer_id="c1")


def order(name: str, seconds: int, amount: float, customer: str = "c1") -> dict:
    return event(name, seconds, "order_placed", amount=amount, customer_id=customer)


# The alert big-order raises on b-order-c2, as the API reads it from `alerts` when c2's order is labelled a false alarm.
B_ORDER_C2 = {"kind": "rule", "cause": "big-order", "group_key": "c2", "ts": T0 + 285_000, "score": None,
              "threshold": None, "labels": {}}  # fmt: skip


@dataclass
class Reload:
    alerts: list[tuple]
    updates: list[tuple]
    states: list[str]
    feedback: list[tuple]  # the config_updates rows of label feedback
    held_back: list[tuple]  # (minute, alerts held back) of acme's usage rows that count any


@pytest.fixture(scope="module")
def reload(tmp_path_factory, flink_cluster: Cluster) -> Reload:
    folder = tmp_path_factory.mktemp("reload")
    configs = folder / "configs"
    shutil.copytree(PROJECT / "configs", configs)
    (configs / "tenants" / "acme.yaml").write_text(CARD_TESTING)
    landing, rules = folder / "landing", folder / "rules"
    landing.mkdir()
    rules.mkdir()
    dsn = f"chdb://{folder / 'clickhouse'}"
    cluster = flink_cluster
    args = ["--watch", str(landing), "--rules-folder", str(rules), "--configs", str(configs), "--clickhouse", dsn]
    states = []
    job = cluster.submit([*args, "--run-id", "reload"], parallelism=2)
    try:
        cluster.wait_job(job, {"RUNNING"})
        # Before the update: three failed payments on card-x, and an order that no rule watches yet.
        drop(landing, "a.ndjson", [failed_payment("a1", 0), failed_payment("a2", 60), failed_payment("a3", 120),
                                   order("a-order", 150, 800.0)])  # fmt: skip
        wait_checkpoints(cluster, job, 1)
        publish(RuleUpdate("acme", "acme.yaml@v1", 0, CARD_TESTING + BIG_ORDER), folder=str(rules))
        wait_checkpoints(cluster, job, 2)
        publish(RuleUpdate("acme", "acme.yaml@v1-bomb", 0, ALIAS_BOMB), folder=str(rules))
        publish(RuleUpdate("acme", "acme.yaml@v1-deep", 0, CARD_TESTING + DEEP), folder=str(rules))
        wait_checkpoints(cluster, job, 2)
        # After it: two more failures (5 in 10 minutes only with the three from before) and a big order.
        drop(landing, "b.ndjson", [failed_payment("b1", 240), failed_payment("b2", 270), order("b-order", 280, 900.0),
                                   order("b-order-c2", 285, 900.0, "c2")])  # fmt: skip
        wait_checkpoints(cluster, job, 1)
        publish(RuleUpdate("acme", "acme.yaml@v2", 0, CARD_TESTING + BROKEN), folder=str(rules))
        feedback = lesson_record("inc_b_order_c2", "false_alarm", B_ORDER_C2)
        publish(RuleUpdate("acme", "label-feedback", 0, feedback), folder=str(rules))
        wait_checkpoints(cluster, job, 2)
        # The refused update left v1 in force; a late page view moves event time past the window's end.
        drop(landing, "c.ndjson", [order("c-order", 360, 1000.0), order("c-order-c2", 365, 1000.0, "c2"),
                                   event("c-view", 1200, "page_view")])  # fmt: skip
        wait_checkpoints(cluster, job, 2)
        states.append(cluster.job_state(job))
        savepoint = cluster.stop_with_savepoint(job)
        # Restored from the savepoint, v1 and the label are still in force: c1's big order alerts, c2's is held back.
        job = cluster.submit([*args, "--run-id", "reload-restored"], savepoint=savepoint, parallelism=2)
        cluster.wait_job(job, {"RUNNING"})
        drop(landing, "d.ndjson", [order("d-order", 1300, 1000.0), order("d-order-c2", 1305, 1000.0, "c2")])
        wait_checkpoints(cluster, job, 2)
        states.append(cluster.job_state(job))
        cluster.stop_with_savepoint(job)
    finally:
        cluster.cancel_unfinished()
    with store(dsn, wait_s=60) as s:
        alerts = s.query("SELECT cause, event_id, group_key FROM alerts FINAL WHERE tenant_id = 'acme' ORDER BY ALL")
        updates = s.query("SELECT version, accepted, rules, error FROM config_updates FINAL ORDER BY version")
        held_back = s.query("SELECT toUnixTimestamp(minute) * 1000, sum(alerts_held_back) FROM usage FINAL "
                            "WHERE tenant_id = 'acme' GROUP BY minute HAVING sum(alerts_held_back) > 0 "
                            "ORDER BY minute")[1]  # fmt: skip
    rules_updates = [u for u in updates[1] if u[0].startswith("acme.yaml")]
    return Reload(alerts[1], rules_updates, states, [u for u in updates[1] if u not in rules_updates], held_back)


def test_a_new_rule_fires_on_events_after_the_update_only_also_after_a_restore(reload):
    assert reload.states == ["RUNNING", "RUNNING"]
    assert [a[1] for a in reload.alerts if a[0] == "big-order"] == ["b-order", "b-order-c2", "c-order", "d-order"]


def test_a_false_alarm_label_holds_back_a_later_alert_like_it_only(reload):
    """c2's later big orders are held back (c1's still alert) and counted, also after a restore from a savepoint, and
    the job says it took the label."""
    assert {"c-order-c2", "d-order-c2"}.isdisjoint(a[1] for a in reload.alerts)
    assert reload.feedback == [("label-feedback#0: label false_alarm on inc_b_order_c2 (rule:big-order)", True, 0, "")]
    # counted in acme's usage, in the minutes of c-order-c2 (10:06) and d-order-c2 (10:21)
    assert reload.held_back == [(T0 + 360_000, 1), (T0 + 1_260_000, 1)]


def test_an_unchanged_rule_keeps_its_window_across_the_update(reload):
    assert [(a[0], a[2]) for a in reload.alerts if a[0] == "card-testing"] == [
        ("card-testing", "card_fingerprint=card-x")
    ]


def test_an_invalid_update_is_refused_and_recorded_with_its_error(reload):
    (v1, accepted_1, rules_1, error_1), _, _, (v2, accepted_2, rules_2, error_2) = reload.updates
    assert (v1, accepted_1, rules_1, error_1) == ("acme.yaml@v1#0", True, 2, "")
    assert (v2, accepted_2, rules_2) == ("acme.yaml@v2#0", False, 0)
    assert "acme.yaml@v2#0:" in error_2 and "rules[1].when" in error_2 and "amount_usd" in error_2, error_2


def test_hostile_updates_are_refused_and_the_job_keeps_running_the_rules_before(reload):
    _, bomb, deep, _ = reload.updates
    assert bomb[:3] == ("acme.yaml@v1-bomb#0", False, 0)
    assert "acme.yaml@v1-bomb#0:3: not valid YAML: anchors and aliases (& and *) are not allowed" in bomb[3]
    assert deep[:3] == ("acme.yaml@v1-deep#0", False, 0)
    assert "acme.yaml@v1-deep#0:18: rules[1].when: expression has 200,046 characters; the limit is 500" in deep[3]
    assert reload.states[0] == "RUNNING"  # and big-order (v1) still fired on later events: see the first test


def test_publish_refuses_an_invalid_file_before_it_reaches_the_job(tmp_path):
    broken = tmp_path / "acme.yaml"
    broken.write_text(CARD_TESTING + BROKEN)
    command = [sys.executable, "-m", "pulse", "rules", "publish", str(broken), "--tenant", "acme",
               "--folder", str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{broken}:18: rules[1].when" in result.stderr and "not published" in result.stderr, result.stderr
    assert not list(tmp_path.glob("*.ndjson"))
