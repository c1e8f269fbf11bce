"""Slack incoming webhooks: a route group's notification is one Block Kit message: a notice in full, or each of
several notices in a short attachment of its own, coloured by severity.

Text from the notice is escaped for Slack's mrkdwn (`&`, `<`, `>`), so a summary cannot mention
`<!channel>` or hide a link.

>>> escape("<!channel> & co")
'&lt;!channel&gt; &amp; co'
"""

from __future__ import annotations

from typing import Any

from pulse.incidents.channels.base import env_secret
from pulse.incidents.channels.http import HttpTarget, json_bytes
from pulse.incidents.channels.message import MAX_SHOWN, colour, dimensions, incident_link, more_text, numbers, title
from pulse.tenants.channels import SlackChannel


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fields(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)}"[:2000]} for k, v in pairs[:10]]


def message(notice: dict[str, Any], dashboard_url: str | None) -> dict[str, Any]:
    """The incoming-webhook body: `text` (the notification's fallback) and one coloured attachment of blocks."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title(notice)[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(notice["summary"])[:3000]}},
        {"type": "section", "fields": _fields(numbers(notice))},
    ]
    if top := dimensions(notice):
        blocks.append({"type": "section", "fields": _fields(top)})
    if notice.get("next_step"):
        step = f"*Next step*\n{escape(notice['next_step'])}"[:3000]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": step}})
    if link := incident_link(notice, dashboard_url):
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in dashboard"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    where = f"{notice['tenant_id']} · {notice['incident_id']} · version {notice['version']}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(where)}]})
    return {"text": escape(title(notice)), "attachments": [{"color": colour(notice), "blocks": blocks}]}


def group_message(notices: list[dict[str, Any]], dashboard_url: str | None) -> dict[str, Any]:
    """One message for a group's notices: the notice in full if it is alone, else a short attachment per notice
    (title, summary, link) for the first MAX_SHOWN and a line saying how many more."""
    if len(notices) == 1:
        return message(notices[0], dashboard_url)
    attachments = [{"color": colour(n), "blocks": _short(n, dashboard_url)} for n in notices[:MAX_SHOWN]]
    if more := more_text(notices):
        attachments.append({"blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": more}]}]})
    text = f"{len(notices)} notices: " + "; ".join(title(n) for n in notices[:MAX_SHOWN])
    return {"text": escape(text)[:40000], "attachments": attachments}


def _short(notice: dict[str, Any], dashboard_url: str | None) -> list[dict[str, Any]]:
    text = f"*{escape(title(notice))}*\n{escape(notice['summary'])}"[:3000]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if link := incident_link(notice, dashboard_url):
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in dashboard"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})
    where = f"{notice['tenant_id']} · {notice['incident_id']} · version {notice['version']}"
    return blocks + [{"type": "context", "elements": [{"type": "mrkdwn", "text": escape(where)}]}]


class SlackTarget(HttpTarget):
    grouped = True

    def __init__(self, config: SlackChannel, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        super().__init__(f"slack:{config.name}", f"slack {config.name}", timeout_s, allow_private, dashboard_url)
        self.config = config

    def url(self) -> str:
        return env_secret(self.config.url_env, "Slack webhook URL")

    def payload(self, notices: list[dict[str, Any]], message_id: str) -> bytes:
        return json_bytes(group_message(notices, self.dashboard_url))
