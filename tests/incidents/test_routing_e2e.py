"""Routing, grouping and inhibition through a real `pulse dispatch --once`: chDB alerts, the tenant's route tree,
and three real Alertmanager-format receivers counting the notifications each one gets; a re-run sends nothing."""

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from incident_support import SECRET, dispatch, insert_alerts
from ingest_support import free_port
from receiver import Receiver

from pulse.incidents.webhooks import verify
from pulse.store.clickhouse import store

PROJECT_CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
START = datetime(2026, 11, 2, 9, tzinfo=UTC)
EU, US = {"team": "growth", "region": "eu"}, {"team": "growth", "region": "us"}
ALERTS = [  # tenant, alert id (the order they were written), minutes after START, cause, group key, severity, labels
    ("acme", "a01", 0, "checkout-errors", "checkout", "critical", EU),  # the outage: on-call (continue) and growth
    ("acme", "a02", 0, "large-order", "c1"),  # risk, the default route ...
    ("acme", "a03", 0.2, "large-order", "c2"),  # ... grouped by cause with c1
    ("acme", "a04", 0.5, "conversion-drop", "drop-eu", "high", EU),  # explained by the outage: inhibited
    ("acme", "a05", 0.5, "conversion-drop", "drop-us", "high", US),  # another region: to growth
    ("acme", "a06", 5, "large-order", "c3"),  # risk again, on the group's next tick
]
ROUTES = """
route:
  receivers: [risk]
  group_by: [cause]
  group_wait: 1m
  group_interval: 10m
  routes:
    - matchers: ["severity=critical"]
      receivers: [on-call]
      continue: true
    - matchers: ["labels.team=growth"]
      receivers: [growth]
inhibit_rules:
  - source_matchers: ["cause=checkout-errors", "severity=critical"]
    target_matchers: ["severity!=critical"]
    equal: [labels.region]
"""


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("routing")
    dsn = f"chdb://{folder / 'clickhouse'}"
    receiver = Receiver(port=free_port())
    receiver.start()
    shutil.copytree(PROJECT_CONFIGS, folder / "configs")
    hooks = "".join(f"  - url: {receiver.url('/' + name)}\n    name: {name}\n    format: alertmanager\n"
                    "    secrets: [ACME_HOOK]\n" for name in ("risk", "on-call", "growth"))  # fmt: skip
    with (folder / "configs" / "tenants" / "acme.yaml").open("a") as f:
        f.write("\nwebhooks:\n" + hooks + ROUTES)
    with store(dsn, wait_s=60) as s:
        s.migrate()
    insert_alerts(dsn, ALERTS, {"acme": START}, {"acme": START + timedelta(hours=2)})  # every incident resolves
    try:
        first = dispatch(folder, dsn)
        sent = list(receiver.requests)
        second = dispatch(folder, dsn)
        yield sent, receiver.requests[len(sent) :], first, second, dsn
    finally:
        receiver.stop()


def notifications(sent, path: str) -> list[list[tuple[str, str]]]:
    """Per notification to `path`: (group key of the incident, firing/resolved) of each of its alerts."""
    bodies = [json.loads(r.body) for r in sent if r.path == path]
    return [[(a["labels"]["group_key"], a["status"]) for a in b["alerts"]] for b in bodies]


def test_each_receiver_gets_exactly_its_routed_grouped_notifications(routed):
    sent, _, first, _, _ = routed
    assert {r.path for r in sent} == {"/risk", "/on-call", "/growth"}
    assert all(verify(SECRET, r.headers, r.body) for r in sent)
    assert notifications(sent, "/on-call") == [[("checkout", "firing")], [("checkout", "resolved")]]
    growth = notifications(sent, "/growth")  # the outage (continue: true), and drop-us; drop-eu never
    assert sorted(growth) == sorted([
        [("checkout", "firing")], [("drop-us", "firing")], [("checkout", "resolved")], [("drop-us", "resolved")],
    ])  # fmt: skip
    risk = notifications(sent, "/risk")
    assert risk[:2] == [[("c1", "firing"), ("c2", "firing")], [("c3", "firing")]]  # group_wait, then group_interval
    # the resolves (at 30, 30.2 and 35 minutes) on the group's ticks, every 10 minutes from its first notification
    assert risk[2:] == [[("c1", "resolved"), ("c2", "resolved")], [("c3", "resolved")]]
    assert len(sent) == 10 and "10 notifications sent to receivers" in first and "1 inhibited" in first


def test_a_notification_is_one_alertmanager_group(routed):
    sent, _, _, _, _ = routed
    body = json.loads(next(r.body for r in sent if r.path == "/risk"))
    assert body["groupKey"] == '{}:{alertname="large-order", tenant="acme"}'
    assert body["groupLabels"] == {"tenant": "acme", "alertname": "large-order"}
    assert body["commonLabels"]["alertname"] == "large-order" and "group_key" not in body["commonLabels"]
    growth = [json.loads(r.body) for r in sent if r.path == "/growth"]
    assert {b["groupKey"] for b in growth} == {
        '{}/{labels.team=growth}:{alertname="checkout-errors", tenant="acme"}',
        '{}/{labels.team=growth}:{alertname="conversion-drop", tenant="acme"}',
    }


def test_the_inhibited_notice_is_recorded_and_a_rerun_sends_nothing(routed):
    _, resent, _, second, dsn = routed
    with store(dsn, wait_s=60) as s:
        held = s.query("SELECT n.status, n.reason, i.group_key FROM silenced_notices n JOIN (SELECT DISTINCT "
                       "incident_id, group_key FROM incidents) i USING incident_id")[1]  # fmt: skip
        outage = s.query("SELECT DISTINCT incident_id FROM incidents WHERE group_key = 'checkout'")[1][0][0]
    assert held == [("open", f"inhibited by {outage} (checkout-errors, inhibit_rules[0])", "drop-eu")]
    assert resent == [] and "0 notifications sent to receivers, 10 already delivered" in second
