"""Targets reached by an HTTPS POST of JSON: signed webhooks, and the Slack, Teams and PagerDuty channels.

Every request goes through `PinnedTransport` (the address checked is the address connected to; private
addresses refused) and follows no redirect; what is stored of an answer is its status, never its body.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from pulse.incidents.channels.base import Outcome, env_secret, http_outcome
from pulse.incidents.webhooks import PinnedTransport, body, check_form, redact, sign_headers, webhook_id
from pulse.tenants.config import WebhookConfig

USER_AGENT = "PulseEcom-Webhooks/1"


class HttpTarget:
    """POSTs one JSON document per notice to `url()`; subclasses say what the document is."""

    digest_from = 0  # one request per notice
    grouped = False

    def __init__(self, key: str, name: str, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        self.key = key
        self.name = name
        self.dashboard_url = dashboard_url
        transport = PinnedTransport(allow_private)
        self.client = httpx.Client(timeout=timeout_s, follow_redirects=False, transport=transport)

    def url(self) -> str:
        raise NotImplementedError

    def document(self, notice: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def message_id(self, notice: dict[str, Any]) -> str:
        return webhook_id(notice, self.key)

    def payload(self, notices: list[dict[str, Any]], message_id: str) -> bytes:
        [notice] = notices
        return json_bytes(self.document(notice))

    def prepare(self) -> None:
        """Refuse a malformed URL or a missing credential before any attempt (EndpointRefused, MissingSecret)."""
        check_form(self.url())

    def headers(self, message_id: str, payload: bytes) -> dict[str, str]:
        return {"content-type": "application/json", "user-agent": USER_AGENT}

    def send(self, message_id: str, payload: bytes) -> Outcome:
        try:
            response = self.client.post(self.url(), content=payload, headers=self.headers(message_id, payload))
        except httpx.HTTPError as exc:
            return Outcome(None, f"no response ({type(exc).__name__})")
        return http_outcome(response.status_code, retry_after(response.headers.get("retry-after")))

    def close(self) -> None:
        self.client.close()


class WebhookTarget(HttpTarget):
    """A tenant's own endpoint: PulseEcom JSON or Alertmanager v4, signed (Standard Webhooks)."""

    def __init__(self, config: WebhookConfig, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        super().__init__(config.url, redact(config.url), timeout_s, allow_private, dashboard_url)
        self.config = config
        self.grouped = config.format == "alertmanager"  # a group's notices as one notification

    def url(self) -> str:
        return self.config.url

    def payload(self, notices: list[dict[str, Any]], message_id: str) -> bytes:
        return body(notices, self.config.format, self.dashboard_url)

    def prepare(self) -> None:
        super().prepare()
        self.secrets = [env_secret(name) for name in self.config.secrets]

    def headers(self, message_id: str, payload: bytes) -> dict[str, str]:
        signed = sign_headers(message_id, int(time.time()), payload, self.secrets)  # fresh timestamp, same id
        return super().headers(message_id, payload) | signed


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date.

    >>> retry_after("120"), retry_after(None), retry_after("Thu, 01 Jan 1970 00:00:00 GMT")
    (120.0, None, 0.0)
    """
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def json_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
