"""PagerDuty Events API v2: `trigger` when an incident opens (and again on updates, which PagerDuty folds into
the same alert), `resolve` when it resolves; `dedup_key` is the incident id, so every notice of one incident
reaches the same PagerDuty alert. The routing key is added only to the request: the stored payload (dead
letters, which the tenant's analysts can read) never holds it.

>>> [SEVERITIES[s] for s in ("critical", "high", "medium", "low", "info")]
['critical', 'error', 'warning', 'warning', 'info']
"""

from __future__ import annotations

import json
from typing import Any

from pulse.incidents.channels.base import Outcome, env_secret
from pulse.incidents.channels.http import HttpTarget, json_bytes
from pulse.incidents.channels.message import dimensions, incident_link, iso, numbers, title
from pulse.tenants.channels import PagerDutyChannel

SEVERITIES = {"critical": "critical", "high": "error", "medium": "warning", "low": "warning", "info": "info"}


def event(notice: dict[str, Any], dashboard_url: str | None) -> dict[str, Any]:
    """The event without its routing key."""
    if notice["status"] == "resolved":
        return {"event_action": "resolve", "dedup_key": notice["incident_id"]}
    details = dict(numbers(notice) + dimensions(notice)) | {
        "next_step": notice.get("next_step") or "",
        "incident_id": notice["incident_id"],
        "version": notice["version"],
        "labels": notice.get("labels") or {},
    }
    document: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": notice["incident_id"],
        "payload": {
            "summary": f"{title(notice)}: {notice['summary']}"[:1024],
            "source": f"pulseecom/{notice['tenant_id']}",
            "severity": SEVERITIES[notice["severity"]],
            "timestamp": iso(notice["updated_at"] or notice["opened_at"]),
            "component": notice["cause"],
            "group": notice["tenant_id"],
            "class": notice["kind"],
            "custom_details": details,
        },
        "client": "PulseEcom",
    }
    if link := incident_link(notice, dashboard_url):
        document["client_url"] = link
        document["links"] = [{"href": link, "text": "Open in the PulseEcom dashboard"}]
    return document


class PagerDutyTarget(HttpTarget):
    def __init__(self, config: PagerDutyChannel, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        name = f"pagerduty {config.name}"
        super().__init__(f"pagerduty:{config.name}", name, timeout_s, allow_private, dashboard_url)
        self.config = config

    def url(self) -> str:
        return self.config.url

    def prepare(self) -> None:
        super().prepare()
        self.routing_key = env_secret(self.config.routing_key_env, "PagerDuty routing key")

    def document(self, notice: dict[str, Any]) -> dict[str, Any]:
        return event(notice, self.dashboard_url)

    def send(self, message_id: str, payload: bytes) -> Outcome:
        return super().send(message_id, json_bytes({"routing_key": self.routing_key, **json.loads(payload)}))
