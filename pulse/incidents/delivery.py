"""Delivering incident notices to tenants' webhook endpoints: one worker thread and queue per endpoint,
so a slow or failing endpoint only ever delays itself. Retries with exponential backoff and full jitter
on network errors, 5xx and 429 (honouring Retry-After); other 4xx fail at once; 410 disables the
endpoint; after the last attempt the notice goes to the dead-letter table. Every attempt is logged.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from pulse.incidents.webhooks import (
    EndpointRefused,
    PinnedTransport,
    body,
    check_form,
    redact,
    sign_headers,
    webhook_id,
)
from pulse.tenants.config import WebhookConfig

log = logging.getLogger(__name__)
Record = Callable[[str, dict[str, Any]], None]
"""Writes one row to a table (webhook_attempts, webhook_dead_letters, webhook_disabled)."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_s: float = 1.0
    cap_s: float = 300.0
    timeout_s: float = 10.0

    max_retry_after_s: float = 3600.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter over base·2^attempt (capped); never sooner than the server's Retry-After (up to an hour)."""
        backoff = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(backoff, min(retry_after or 0.0, self.max_retry_after_s))


class Endpoint:
    """One tenant endpoint: its queue, its worker thread and its HTTP client."""

    def __init__(self, tenant: str, config: WebhookConfig, policy: RetryPolicy, record: Record, allow_private: bool):
        self.tenant = tenant
        self.config = config
        self.policy = policy
        self.record = record
        self.allow_private = allow_private
        self.name = redact(config.url)
        self.disabled: str | None = None
        self.queue: queue.Queue[dict | None] = queue.Queue()
        transport = PinnedTransport(allow_private)
        self.client = httpx.Client(timeout=policy.timeout_s, follow_redirects=False, transport=transport)
        self.thread = threading.Thread(target=self._run, name=f"webhook {tenant} {self.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (incident := self.queue.get()) is not None:
            try:
                self.deliver(incident)
            except Exception as exc:  # a bug must not kill this endpoint's worker and strand its queue
                log.exception("webhook %s %s: delivery failed unexpectedly", self.tenant, self.name)
                self._dead(incident, webhook_id(incident, self.config.url), b"", 0, f"internal error: {exc!r}")
            finally:
                self.queue.task_done()
        self.queue.task_done()
        self.client.close()

    def deliver(self, incident: dict[str, Any]) -> None:
        """Try until delivered, refused for good, or out of attempts (then dead-letter)."""
        msg_id = webhook_id(incident, self.config.url)
        payload = body(incident, self.config.format)
        if self.disabled:
            return self._dead(incident, msg_id, payload, 0, f"endpoint disabled: {self.disabled}")
        try:
            check_form(self.config.url)  # the address is checked when connecting (PinnedTransport)
            secrets = [_secret(name) for name in self.config.secrets]
        except (EndpointRefused, MissingSecret) as exc:
            return self._dead(incident, msg_id, payload, 0, str(exc))
        for attempt in range(1, self.policy.attempts + 1):
            try:
                status, error, retry_after = self._attempt(msg_id, payload, secrets)
            except EndpointRefused as exc:  # the host resolved to a refused address when connecting
                return self._dead(incident, msg_id, payload, attempt, str(exc))
            retryable = status is None or status == 429 or status >= 500
            last = attempt == self.policy.attempts or not retryable or (status is not None and status < 300)
            delay = 0.0 if last else self.policy.delay(attempt - 1, retry_after)
            self._log_attempt(incident, msg_id, attempt, status, error, delay)
            if status is not None and 200 <= status < 300:
                return
            if status == 410:
                self.disabled = f"{self.name} answered 410 Gone"
                self.record("webhook_disabled", {"tenant_id": self.tenant, "endpoint": self.name,
                                                 "reason": self.disabled, "disabled_at": _now()})  # fmt: skip
                return self._dead(incident, msg_id, payload, attempt, self.disabled)
            if not retryable:
                return self._dead(incident, msg_id, payload, attempt, f"{error}: not retried")
            if last:
                reason = f"gave up after {attempt} attempts: {error}"
                return self._dead(incident, msg_id, payload, attempt, reason)
            time.sleep(delay)

    def _attempt(self, msg_id: str, payload: bytes, secrets: list[str]) -> tuple[int | None, str, float | None]:
        headers = {"content-type": "application/json", "user-agent": "PulseEcom-Webhooks/1"}
        headers |= sign_headers(msg_id, int(time.time()), payload, secrets)  # fresh timestamp, same id
        try:
            response = self.client.post(self.config.url, content=payload, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"no response ({type(exc).__name__})", None
        return (
            response.status_code,
            status_text(response.status_code),
            _retry_after(response.headers.get("retry-after")),
        )

    def _delivery(self, incident: dict, msg_id: str) -> dict:
        """The columns that name one delivery in the attempts and dead-letter tables."""
        return {
            "tenant_id": self.tenant,
            "webhook_id": msg_id,
            "endpoint": self.name,
            "incident_id": incident["incident_id"],
            "version": incident["version"],
        }

    def _log_attempt(self, incident: dict, msg_id: str, attempt: int, status: int | None, error: str, delay: float):
        ok = status is not None and 200 <= status < 300
        row = self._delivery(incident, msg_id) | {
            "attempt": attempt,
            "status_code": status or 0,
            "ok": ok,
            "error": "" if ok else error,
            "next_delay_ms": int(delay * 1000),
            "attempted_at": _now(),
        }
        log.info("webhook %s %s attempt %d -> %s", self.tenant, self.name, attempt, status or error)
        self.record("webhook_attempts", row)

    def _dead(self, incident: dict, msg_id: str, payload: bytes, attempts: int, reason: str) -> None:
        log.warning("webhook %s %s dead-lettered %s: %s", self.tenant, self.name, msg_id, reason)
        row = self._delivery(incident, msg_id) | {
            "payload": payload.decode(),
            "reason": reason,
            "attempts": attempts,
            "failed_at": _now(),
        }
        self.record("webhook_dead_letters", row)


class Dispatcher:
    """Routes each incident notice to its tenant's endpoints; never blocks on delivery."""

    def __init__(
        self,
        webhooks: Callable[[str], list[WebhookConfig]],
        record: Record,
        policy: RetryPolicy | None = None,
        allow_private: bool = False,
        disabled: dict[tuple[str, str], str] | None = None,
    ):
        self.webhooks = webhooks
        self.record = record
        self.policy = policy or RetryPolicy()
        self.allow_private = allow_private
        self.disabled = disabled or {}
        self.endpoints: dict[tuple[str, str], Endpoint] = {}

    def submit(self, incident: dict[str, Any]) -> None:
        """Queue a notice for every enabled endpoint of its tenant."""
        tenant = incident["tenant_id"]
        for config in self.webhooks(tenant):
            if not config.enabled:
                continue
            key = (tenant, config.url)
            if key not in self.endpoints:
                endpoint = Endpoint(tenant, config, self.policy, self.record, self.allow_private)
                endpoint.disabled = self.disabled.get((tenant, endpoint.name))
                self.endpoints[key] = endpoint
            self.endpoints[key].queue.put(incident)

    def close(self) -> None:
        """Drain, then stop every worker."""
        for endpoint in self.endpoints.values():
            endpoint.queue.put(None)
        for endpoint in self.endpoints.values():
            endpoint.thread.join()
        self.endpoints.clear()


class MissingSecret(ValueError):
    """A signing secret's environment variable is not set (its value is never logged)."""


def _secret(name: str) -> str:
    if not os.environ.get(name):
        raise MissingSecret(f"signing secret environment variable {name} is not set")
    return os.environ[name]


def status_text(status: int) -> str:
    """What is stored of a response (tenants' analysts read webhook_attempts): the status only, never the body.

    >>> status_text(503), status_text(599)
    ('HTTP 503 Service Unavailable', 'HTTP 599')
    """
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def _now() -> datetime:
    return datetime.now(UTC)
