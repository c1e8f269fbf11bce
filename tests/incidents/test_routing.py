"""Routing, grouping and inhibition as plain logic, with explicit event times."""

from datetime import UTC, datetime, timedelta

import pytest

from pulse.incidents.routing import Router, notice
from pulse.tenants.config import ConfigInvalid, parse_tenant_config
from pulse.tenants.routes import InhibitRule, Route

T = datetime(2026, 11, 2, 10, tzinfo=UTC)
RECEIVERS = {"risk": "webhook:risk", "on-call": "pagerduty:on-call", "growth": "slack:growth"}


def at(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def sent(router: Router, minutes: float) -> list[tuple[str, list[str], int]]:
    """(receiver, [incident:status, ...], repeat) of the notifications due by `minutes`."""
    notifications = router.due(at(minutes)).notifications
    return [(n.receiver, [f"{x['incident_id']}:{x['status']}" for x in n.notices], n.repeat) for n in notifications]


def add(router: Router, minutes: float, incident: str, cause: str, status: str = "open", **fields) -> None:
    router.add(notice(incident, cause, at(minutes), status, **fields), at(minutes))


def tree(data: dict) -> Route:
    return Route.model_validate(data)


def test_without_a_route_every_notice_goes_to_every_receiver_at_once():
    router = Router(None, RECEIVERS, [])
    add(router, 0, "i1", "large-order")
    assert sorted(sent(router, 0)) == [(k, ["i1:open"], 0) for k in sorted(RECEIVERS.values())]
    add(router, 5, "i1", "large-order", "updated", version=2)
    add(router, 5, "i2", "card-testing")
    assert len(sent(router, 5)) == 6  # one notification per notice and receiver
    assert sent(router, 500) == []  # never repeated


def test_first_matching_route_wins_unless_continue_and_unmatched_go_to_the_default():
    route = tree({"receivers": ["risk"], "group_wait": 0, "routes": [
        {"matchers": ["severity=critical"], "receivers": ["on-call"], "continue": True},
        {"matchers": ["labels.team=growth"], "receivers": ["growth"]},
        {"matchers": ["labels.team=growth|risk"], "receivers": ["risk"]},  # growth stops above
    ]})  # fmt: skip
    router = Router(route, RECEIVERS, [])
    add(router, 0, "crit", "checkout-errors", severity="critical", labels={"team": "growth"})
    add(router, 0, "growth", "conversion-drop", labels={"team": "growth"})
    add(router, 0, "other", "large-order")
    assert sorted(sent(router, 0)) == [
        ("pagerduty:on-call", ["crit:open"], 0),  # continue: true, so also ...
        ("slack:growth", ["crit:open", "growth:open"], 0),  # ... the growth route; one group (no group_by)
        ("webhook:risk", ["other:open"], 0),  # no child matched: the default route
    ]


def test_nested_routes_inherit_receivers_and_timing_and_group_by_their_own_fields():
    route = tree({"receivers": ["risk"], "group_by": ["cause"], "group_wait": "1m", "routes": [
        {"matchers": ["kind=rule"], "group_wait": "5m", "routes": [{"matchers": ["severity=high"]}]},
    ]})  # fmt: skip
    router = Router(route, RECEIVERS, [])
    add(router, 0, "a", "large-order")
    add(router, 1, "b", "large-order")
    add(router, 1, "c", "velocity")
    add(router, 2, "m", "risk_score", kind="model")
    assert sent(router, 3) == [("webhook:risk", ["m:open"], 0)]  # the default route's 1m
    assert sent(router, 4.9) == []
    assert sent(router, 5) == [("webhook:risk", ["a:open", "b:open"], 0)]  # the rule route's 5m, per cause
    assert sent(router, 6) == [("webhook:risk", ["c:open"], 0)]


def test_grouping_waits_then_sends_new_notices_per_interval_and_repeats_unchanged_groups():
    route = tree({"receivers": ["risk"], "group_by": ["cause"], "group_wait": "30s", "group_interval": "5m",
                  "repeat_interval": "1h"})  # fmt: skip
    router = Router(route, RECEIVERS, [])
    add(router, 0, "a", "large-order")
    add(router, 0.25, "b", "large-order")
    assert sent(router, 0.4) == []
    assert sent(router, 0.5) == [("webhook:risk", ["a:open", "b:open"], 0)]  # after group_wait
    add(router, 1, "a", "large-order", "updated", version=2)
    add(router, 2, "c", "large-order")
    assert sent(router, 5.4) == []
    assert sent(router, 5.5) == [("webhook:risk", ["a:updated", "c:open"], 0)]  # group_interval after the last
    assert sent(router, 65.4) == []
    assert sent(router, 65.5) == [("webhook:risk", ["a:updated", "b:open", "c:open"], 1)]  # repeat_interval
    assert [repeat for _, _, repeat in sent(router, 125.5)] == [2]
    assert [repeat for _, _, repeat in sent(router, 300)] == [3, 4]  # a long gap: each reminder it spans
    add(router, 300, "a", "large-order", "updated", version=3)
    assert sent(router, 300.4) == [] and sent(router, 300.5) == [("webhook:risk", ["a:updated"], 0)]  # next tick
    for incident in ("a", "b", "c"):
        add(router, 310, incident, "large-order", "resolved", version=4)
    assert sent(router, 310.5) == [("webhook:risk", ["a:resolved", "b:resolved", "c:resolved"], 0)]
    assert router.groups == {} and sent(router, 1000) == []  # everything resolved: the group is gone
    add(router, 1001, "d", "large-order")
    assert sent(router, 1001) == [] and sent(router, 1001.5) == [("webhook:risk", ["d:open"], 0)]  # a new group


def test_close_sends_what_is_pending_at_the_end_of_the_input():
    router = Router(tree({"receivers": ["risk"], "group_wait": "10m"}), RECEIVERS, [])
    add(router, 0, "a", "large-order")
    [notification] = router.close(at(1)).notifications
    assert (notification.receiver, notification.at) == ("webhook:risk", at(10))


CHECKOUT_MUTES_CONVERSION = InhibitRule(
    source_matchers=["cause=checkout-errors", "severity=critical"],
    target_matchers=["severity!=critical"],
    equal=["labels.region"],
)


def test_a_firing_critical_incident_inhibits_the_warnings_it_explains():
    route = tree({"receivers": ["risk"], "group_by": ["incident_id"], "group_wait": "1m"})
    router = Router(route, RECEIVERS, [CHECKOUT_MUTES_CONVERSION])
    add(router, 0, "drop-eu", "conversion-drop", labels={"region": "eu"})  # arrives before its cause ...
    add(router, 0.5, "outage", "checkout-errors", severity="critical", labels={"region": "eu"})
    add(router, 0.5, "drop-us", "conversion-drop", labels={"region": "us"})  # another region: not explained
    flush = router.due(at(2))
    assert sorted(n.notices[0]["incident_id"] for n in flush.notifications) == ["drop-us", "outage"]
    [(muted, reason)] = flush.inhibited  # ... but is muted when its group is sent
    assert muted["incident_id"] == "drop-eu" and reason == "inhibited by outage (checkout-errors, inhibit_rules[0])"
    add(router, 3, "drop-eu", "conversion-drop", "resolved", version=2, labels={"region": "eu"})
    add(router, 3, "drop-us", "conversion-drop", "resolved", version=2, labels={"region": "us"})
    assert router.due(at(6.4)).notifications == []  # group_interval (5m) after the group's first notification
    flush = router.due(at(6.5))
    assert [n.notices[0]["incident_id"] for n in flush.notifications] == ["drop-us"]  # nobody got drop-eu's open
    add(router, 10, "outage", "checkout-errors", "resolved", version=2, severity="critical", labels={"region": "eu"})
    add(router, 11, "drop-eu-2", "conversion-drop", labels={"region": "eu"})  # the outage is over
    assert [n.notices[0]["incident_id"] for n in router.due(at(12)).notifications] == ["outage", "drop-eu-2"]


def test_a_resolve_reaches_the_receivers_that_got_the_open_even_when_inhibited_since():
    router = Router(None, RECEIVERS, [CHECKOUT_MUTES_CONVERSION])
    add(router, 0, "drop", "conversion-drop", labels={"region": "eu"})
    assert len(router.due(at(0)).notifications) == 3
    add(router, 1, "outage", "checkout-errors", severity="critical", labels={"region": "eu"})
    add(router, 2, "drop", "conversion-drop", "updated", version=2, labels={"region": "eu"})
    flush = router.due(at(2))
    assert {n.notices[0]["incident_id"] for n in flush.notifications} == {"outage"}
    assert [(n["incident_id"], n["version"]) for n, _ in flush.inhibited] == [("drop", 2)]
    add(router, 3, "drop", "conversion-drop", "resolved", version=3, labels={"region": "eu"})
    assert {(n.receiver, n.notices[0]["status"]) for n in router.due(at(3)).notifications} == {
        (k, "resolved") for k in RECEIVERS.values()
    }


def test_a_muted_incident_still_inhibits_but_is_not_repeated():
    route = tree({"receivers": ["risk"], "group_wait": 0, "repeat_interval": "1h"})
    router = Router(route, RECEIVERS, [CHECKOUT_MUTES_CONVERSION])
    add(router, 0, "drop", "conversion-drop", labels={"region": "eu"})
    assert len(router.due(at(0)).notifications) == 1
    router.mute(notice("outage", "checkout-errors", at(1), severity="critical", labels={"region": "eu"}))
    router.mute(notice("drop", "conversion-drop", at(1), "updated", version=2, labels={"region": "eu"}))
    assert router.due(at(120)).notifications == []  # drop is muted: no reminder
    add(router, 121, "drop", "conversion-drop", "updated", version=3, labels={"region": "eu"})
    assert router.due(at(124)).inhibited == []  # the group's next tick: 5m (the default) after 0, 5, ..., 120
    assert [reason for _, reason in router.due(at(125)).inhibited] == [
        "inhibited by outage (checkout-errors, inhibit_rules[0])"
    ]


ROUTED = """tenant: acme
webhooks:
  - url: https://hooks.acme.example/pulse
    name: risk
    secrets: [ACME_HOOK]
channels:
  - name: on-call
    type: pagerduty
    routing_key_env: ACME_PD_KEY
route:
  receivers: [risk]
  group_by: [cause]
  group_wait: 30s
  routes:
    - matchers: ["severity=critical"]
      receivers: [on-call]
      continue: true
inhibit_rules:
  - source_matchers: ["cause=checkout-errors"]
    target_matchers: ["severity!=critical"]
    equal: [labels.region]
"""


def test_a_routed_config_reads():
    config = parse_tenant_config(ROUTED, "acme.yaml", ["acme"])
    assert config.route.routes[0].continue_ and config.route.group_wait == 30_000
    assert config.inhibit_rules[0].equal == ["labels.region"]


@pytest.mark.parametrize(
    "old, new, where, message",
    [
        ("receivers: [on-call]", "receivers: [on-cal]", "acme.yaml:16: route.routes[0].receivers[0]",
         "no webhook or channel is named 'on-cal' (named: on-call, risk)"),
        ('["severity=critical"]', '["severity~critical"]', "acme.yaml:15: route.routes[0].matchers[0]",
         "write FIELD=VALUE or FIELD!=VALUE"),
        ("group_by: [cause]", "group_by: [region]", "acme.yaml:12: route.group_by[0]",
         "unknown field 'region': use one of cause, severity, kind, group_key, incident_id or labels.NAME"),
        ("continue: true", "continues: true", "acme.yaml:17: route.routes[0].continues", "unknown key"),
        ("group_wait: 30s", "group_wait: 30 seconds", "acme.yaml:13: route.group_wait", "write a number and a unit"),
        ("    equal: [labels.region]", "    equal: [labels.]", "acme.yaml:21: inhibit_rules[0].equal[0]",
         "unknown field"),
        ("    name: risk\n", "    name: on-call\n", "acme.yaml:6: channels", "receiver name(s) on-call used more"),
    ],
)  # fmt: skip
def test_routing_mistakes_are_located(old, new, where, message):
    with pytest.raises(ConfigInvalid) as failure:
        parse_tenant_config(ROUTED.replace(old, new), "acme.yaml", ["acme"])
    assert where in str(failure.value) and message in str(failure.value), str(failure.value)
