"""Microsoft Teams workflow webhooks: a route group's notification is one Adaptive Card (version 1.4): a notice in
full, or a section per notice when several come together."""

from __future__ import annotations

from typing import Any

from pulse.incidents.channels.base import env_secret
from pulse.incidents.channels.http import HttpTarget, json_bytes
from pulse.incidents.channels.message import MAX_SHOWN, dimensions, incident_link, more_text, numbers, title
from pulse.tenants.channels import TeamsChannel

STYLES = {"critical": "attention", "high": "attention", "medium": "warning", "low": "accent", "info": "default"}


MAX_LINKS = 5  # buttons on one card (Teams shows few)


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
    link = incident_link(notice, dashboard_url)
    return _message(body, [{"type": "Action.OpenUrl", "title": "Open in dashboard", "url": link}] if link else [])


def group_card(notices: list[dict[str, Any]], dashboard_url: str | None) -> dict[str, Any]:
    """One card for a group's notices: the notice in full if it is alone, else a section per notice (title,
    summary, numbers) for the first MAX_SHOWN, a line saying how many more, and links to the first incidents."""
    if len(notices) == 1:
        return card(notices[0], dashboard_url)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": f"{len(notices)} notices", "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    for n in notices[:MAX_SHOWN]:
        style = "good" if n["status"] == "resolved" else STYLES[n["severity"]]
        heading = {"type": "TextBlock", "text": title(n), "weight": "Bolder", "wrap": True}
        facts = {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in numbers(n)]}
        summary = {"type": "TextBlock", "text": n["summary"], "wrap": True}
        body.append({"type": "Container", "style": style, "items": [heading, summary, facts]})
    if more := more_text(notices):
        body.append({"type": "TextBlock", "text": more, "isSubtle": True, "wrap": True})
    links = [(title(n), incident_link(n, dashboard_url)) for n in notices[:MAX_LINKS]]
    return _message(body, [{"type": "Action.OpenUrl", "title": t, "url": url} for t, url in links if url])


def _message(body: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        content["actions"] = actions
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}
    return {"type": "message", "attachments": [attachment]}


class TeamsTarget(HttpTarget):
    grouped = True

    def __init__(self, config: TeamsChannel, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        super().__init__(f"teams:{config.name}", f"teams {config.name}", timeout_s, allow_private, dashboard_url)
        self.config = config

    def url(self) -> str:
        return env_secret(self.config.url_env, "Teams workflow URL")

    def payload(self, notices: list[dict[str, Any]], message_id: str) -> bytes:
        return json_bytes(group_card(notices, self.dashboard_url))
