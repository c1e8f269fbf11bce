"""Microsoft Teams workflow webhooks: one Adaptive Card (version 1.4) per notice."""

from __future__ import annotations

from typing import Any

from pulse.incidents.channels.base import env_secret
from pulse.incidents.channels.http import HttpTarget
from pulse.incidents.channels.message import dimensions, incident_link, numbers, title
from pulse.tenants.channels import TeamsChannel

STYLES = {"critical": "attention", "high": "attention", "medium": "warning", "low": "accent", "info": "default"}


def card(notice: dict[str, Any], dashboard_url: str | None) -> dict[str, Any]:
    """The Adaptive Card: a heading coloured by severity (green once resolved), the summary, the facts, the
    next step, and an action opening the incident on the dashboard."""
    style = "good" if notice["status"] == "resolved" else STYLES[notice["severity"]]
    heading = {"type": "TextBlock", "text": title(notice), "weight": "Bolder", "size": "Medium", "wrap": True}
    body: list[dict[str, Any]] = [
        {"type": "Container", "style": style, "bleed": True, "items": [heading]},
        {"type": "TextBlock", "text": notice["summary"], "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in numbers(notice) + dimensions(notice)]},
    ]
    if notice.get("next_step"):
        body.append({"type": "TextBlock", "text": f"Next step: {notice['next_step']}", "wrap": True})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if link := incident_link(notice, dashboard_url):
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open in dashboard", "url": link}]
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
    return {"type": "message", "attachments": [attachment]}


class TeamsTarget(HttpTarget):
    def __init__(self, config: TeamsChannel, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        super().__init__(f"teams:{config.name}", f"teams {config.name}", timeout_s, allow_private, dashboard_url)
        self.config = config

    def url(self) -> str:
        return env_secret(self.config.url_env, "Teams workflow URL")

    def document(self, notice: dict[str, Any]) -> dict[str, Any]:
        return card(notice, self.dashboard_url)
