"""Delivering incident notices to tenants' receivers (webhooks, Slack, Teams, PagerDuty, email): one worker
thread and queue per receiver, so a slow or failing one only ever delays itself. Retries with exponential
backoff and full jitter on network errors, 5xx and 429 (honouring Retry-After) and SMTP 4xx; other refusals
fail at once; 410 disables the endpoint; after the last attempt the notice goes to the dead-letter table.
Every attempt is logged, once per notice (a digest mail's attempt is every one of its notices' attempt).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pulse.incidents.channels import ReceiverConfig, Target, receiver_key, target
from pulse.incidents.channels.base import MissingSecret
from pulse.incidents.webhooks import EndpointRefused, webhook_id

log = logging.getLogger(__name__)
Record = Callable[[str, dict[str, Any]], None]
"""Writes one row to a table (webhook_attempts, webhook_dead_letters, webhook_disabled)."""
Notices = list[dict[str, Any]]


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
    """One tenant receiver: its queue of notice batches, its worker thread and its target."""

    def __init__(self, tenant: str, target: Target, policy: RetryPolicy, record: Record):
        self.tenant = tenant
        self.target = target
        self.policy = policy
        self.record = record
        self.name = target.name
        self.disabled: str | None = None
        self.queue: queue.Queue[Notices | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"notices {tenant} {self.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (notices := self.queue.get()) is not None:
            taken = 1
            while self.target.digest_from:  # a digest takes everything queued meanwhile too
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                taken += 1
                if more is None:
                    self.queue.put(None)
                    break
                notices = notices + more
            try:
                for batch in self.batches(notices):
                    self.deliver(batch)
            except Exception as exc:  # a bug must not kill this endpoint's worker and strand its queue
                log.exception("notices %s %s: delivery failed unexpectedly", self.tenant, self.name)
                self._dead(notices, b"", 0, f"internal error: {exc!r}")
            finally:
                for _ in range(taken):
                    self.queue.task_done()
        self.queue.task_done()
        self.target.close()

    def batches(self, notices: Notices) -> list[Notices]:
        """One message per notice, or one of them all: a group's notification to a receiver that takes groups
        (Alertmanager webhooks, Slack, Teams), or a digest when `digest_from` or more came at once."""
        digest = self.target.grouped or (self.target.digest_from and len(notices) >= self.target.digest_from)
        return [notices] if digest else [[n] for n in notices]

    def deliver(self, notices: Notices) -> None:
        """Try until delivered, refused for good, or out of attempts (then dead-letter)."""
        message_id = self.target.message_id(notices[0]) if len(notices) == 1 else _digest_id(self.target, notices)
        payload = self.target.payload(notices, message_id)
        if self.disabled:
            return self._dead(notices, payload, 0, f"endpoint disabled: {self.disabled}")
        try:
            self.target.prepare()  # the form and the credentials; the address is checked when connecting
        except (EndpointRefused, MissingSecret) as exc:
            return self._dead(notices, payload, 0, str(exc))
        for attempt in range(1, self.policy.attempts + 1):
            try:
                outcome = self.target.send(message_id, payload)
            except EndpointRefused as exc:  # the host resolved to a refused address when connecting
                return self._dead(notices, payload, attempt, str(exc))
            last = attempt == self.policy.attempts or not outcome.retryable or outcome.ok
            delay = 0.0 if last else self.policy.delay(attempt - 1, outcome.retry_after)
            self._log_attempt(notices, attempt, outcome.status, outcome.ok, outcome.error, delay)
            if outcome.ok:
                return
            if outcome.gone:
                self.disabled = f"{self.name} answered 410 Gone"
                self.record("webhook_disabled", {"tenant_id": self.tenant, "endpoint": self.name,
                                                 "reason": self.disabled, "disabled_at": _now()})  # fmt: skip
                return self._dead(notices, payload, attempt, self.disabled)
            if not outcome.retryable:
                return self._dead(notices, payload, attempt, f"{outcome.error}: not retried")
            if last:
                return self._dead(notices, payload, attempt, f"gave up after {attempt} attempts: {outcome.error}")
            time.sleep(delay)

    def _delivery(self, notice: dict) -> dict:
        """The columns that name one delivery in the attempts and dead-letter tables."""
        return {
            "tenant_id": self.tenant,
            "webhook_id": self.target.message_id(notice),
            "endpoint": self.name,
            "incident_id": notice["incident_id"],
            "version": notice["version"],
        }

    def _log_attempt(self, notices: Notices, attempt: int, status: int | None, ok: bool, error: str, delay: float):
        log.info("notices %s %s attempt %d -> %s", self.tenant, self.name, attempt, status or error)
        for notice in notices:
            row = self._delivery(notice) | {
                "attempt": attempt,
                "status_code": status or 0,
                "ok": ok,
                "error": "" if ok else error,
                "next_delay_ms": int(delay * 1000),
                "attempted_at": _now(),
            }
            self.record("webhook_attempts", row)

    def _dead(self, notices: Notices, payload: bytes, attempts: int, reason: str) -> None:
        log.warning("notices %s %s dead-lettered %d notice(s): %s", self.tenant, self.name, len(notices), reason)
        for notice in notices:
            row = self._delivery(notice) | {
                "payload": payload.decode(),
                "reason": reason,
                "attempts": attempts,
                "failed_at": _now(),
            }
            self.record("webhook_dead_letters", row)


class Dispatcher:
    """Queues notices for a tenant's receivers; never blocks on delivery."""

    def __init__(
        self,
        receivers: Callable[[str], list[ReceiverConfig]],
        record: Record,
        policy: RetryPolicy | None = None,
        allow_private: bool = False,
        disabled: dict[tuple[str, str], str] | None = None,
        dashboard_url: str | None = None,
    ):
        self.receivers = receivers
        self.record = record
        self.policy = policy or RetryPolicy()
        self.allow_private = allow_private
        self.disabled = disabled or {}
        self.dashboard_url = dashboard_url
        self.endpoints: dict[tuple[str, str], Endpoint] = {}

    def submit(self, notice: dict[str, Any], keys: set[str] | None = None) -> None:
        """Queue a notice for every enabled receiver of its tenant (only those whose `receiver_key` is in `keys`,
        if given)."""
        for config in self.receivers(notice["tenant_id"]):
            if config.enabled and (keys is None or receiver_key(config) in keys):
                self.send(notice["tenant_id"], config, [notice])

    def send(self, tenant: str, config: ReceiverConfig, notices: Notices) -> None:
        """Queue notices that came at once for one receiver (a digest when that receiver makes them)."""
        key = (tenant, config.model_dump_json())
        if key not in self.endpoints:
            made = target(config, self.policy.timeout_s, self.allow_private, self.dashboard_url)
            endpoint = Endpoint(tenant, made, self.policy, self.record)
            endpoint.disabled = self.disabled.get((tenant, endpoint.name))
            self.endpoints[key] = endpoint
        self.endpoints[key].queue.put(list(notices))

    def close(self) -> None:
        """Drain, then stop every worker."""
        for endpoint in self.endpoints.values():
            endpoint.queue.put(None)
        for endpoint in self.endpoints.values():
            endpoint.thread.join()
        self.endpoints.clear()


def message_id(notice: dict[str, Any], config: ReceiverConfig) -> str:
    """The id a notice has at a receiver (what `webhook_attempts` and dead letters record)."""
    return webhook_id(notice, receiver_key(config))


def _digest_id(target: Target, notices: Notices) -> str:
    """A digest's own id, from its notices' ids."""
    ids = "\x1f".join(target.message_id(n) for n in notices)
    return "msg_" + hashlib.sha256(ids.encode()).hexdigest()[:32]


def _now() -> datetime:
    return datetime.now(UTC)
