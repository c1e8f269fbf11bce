"""How many notifications each receiver of a tenant would have got from a replayed period's alerts: the
dispatcher's incidents, rate limits, mute windows, routing, grouping and inhibition, without sending anything
(silences made through the API are live decisions, not part of a replay).

>>> from datetime import UTC, datetime, timedelta
>>> from pulse.tenants.config import parse_tenant_config
>>> config = parse_tenant_config('''tenant: acme
... channels: [{name: risk, type: slack, url_env: ACME_SLACK}]
... route: {receivers: [risk], group_by: [cause], group_wait: 5m, group_interval: 10m}''', "acme.yaml")
>>> t = datetime(2026, 11, 2, 10, tzinfo=UTC)
>>> alerts = [{"tenant_id": "acme", "alert_id": f"a{i}", "ts": t + timedelta(minutes=i), "kind": "rule",
...            "cause": "large-order", "severity": "high", "group_key": f"c{i}"} for i in range(3)]
>>> forecast("acme", config, alerts, t + timedelta(hours=2))["risk"]
Tally(notifications=2, notices=6, messages=2)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pulse.incidents.channels import ReceiverConfig, receiver_key
from pulse.incidents.routing import Flush, Router, receiver_names
from pulse.incidents.silences import HoldBack, notice_time
from pulse.incidents.tracking import IncidentTracker
from pulse.tenants.channels import EmailChannel, SlackChannel, TeamsChannel
from pulse.tenants.config import TenantConfig, WebhookConfig

HELD = "held back"  # the tallies' key for notices held back by mute windows or inhibition


@dataclass
class Tally:
    """`messages`: what arrives: one per notification for Alertmanager webhooks, Slack, Teams and email digests
    (from `digest_from` notices), else one per notice (PagerDuty, JSON webhooks)."""

    notifications: int = 0
    notices: int = 0
    messages: int = 0


def forecast(tenant: str, config: TenantConfig, alerts: Iterable[dict[str, Any]], until: datetime) -> dict[str, Tally]:
    """Per receiver name: the notifications (one per group flush) and the notices in them; `HELD`: the notices
    held back. Incidents still open at `until` stay open; notifications pending then are counted."""
    tracker = IncidentTracker(lambda _: config.incidents)
    hold_back = HoldBack(lambda _: config.mute_windows)
    receivers = [*config.webhooks, *config.channels]
    names = receiver_names(receivers, receiver_key)
    router = Router(config.route, names, config.inhibit_rules)
    tallies = {name: Tally() for name in names} | {HELD: Tally()}
    by_key = {key: name for name, key in names.items()}
    configs = {receiver_key(r): r for r in receivers}

    def count(flush: Flush) -> None:
        tallies[HELD].notices += len(flush.inhibited)
        for notification in flush.notifications:
            tally = tallies[by_key[notification.receiver]]
            tally.notifications += 1
            tally.notices += len(notification.notices)
            tally.messages += messages(configs[notification.receiver], len(notification.notices))

    clock = None
    for notice in _notices(tracker, tenant, alerts, until):
        at = notice_time(notice)
        clock = max(clock or at, at)
        count(router.due(clock))
        if not notice["notify"]:
            continue
        if hold_back.reason(notice) and notice["status"] != "resolved":
            tallies[HELD].notices += 1
            router.mute(notice)
        else:
            router.add(notice, at)
        count(router.due(clock))
    count(router.due(until))
    count(router.close(until))
    return tallies


def messages(receiver: ReceiverConfig, notices: int) -> int:
    """How many messages a notification of `notices` notices is at this receiver (as `Endpoint.batches` sends)."""
    grouped = isinstance(receiver, SlackChannel | TeamsChannel) or (
        isinstance(receiver, WebhookConfig) and receiver.format == "alertmanager"
    )
    digest = isinstance(receiver, EmailChannel) and notices >= receiver.digest_from
    return 1 if grouped or digest else notices


def _notices(tracker: IncidentTracker, tenant: str, alerts: Iterable[dict[str, Any]], until: datetime):
    for alert in sorted(alerts, key=lambda a: a["ts"]):
        yield from tracker.observe(alert)
    yield from tracker.advance(tenant, until)
