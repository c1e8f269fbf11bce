"""Alerts become incidents: grouped by tenant, cause and group key; opened, updated, resolved.

All time is event time: an incident resolves when its tenant's watermark passes the last alert plus the
cause's quiet period. A repeated alert (same alert id) changes nothing. Notices are rate-limited per
incident, updates are sent at most every `update_minutes`; per tenant, at most `max_notices_per_hour`
opens/updates per event-time hour are flagged `notify`; the
rest are still recorded (the incidents table is complete), and a resolve is sent when its open was.

>>> from datetime import UTC
>>> tracker = IncidentTracker(lambda tenant: IncidentsConfig(quiet_minutes=10))
>>> a = {"tenant_id": "acme", "alert_id": "a1", "ts": datetime(2026, 11, 2, 10, tzinfo=UTC), "kind": "rule",
...      "cause": "large-order", "severity": "high", "group_key": "c1", "amount": 2500.0, "country": "DE"}
>>> [n["status"] for n in tracker.observe(a)]
['open']
>>> tracker.observe(a)
[]
>>> [n["status"] for n in tracker.advance("acme", datetime(2026, 11, 2, 10, 11, tzinfo=UTC))]
['resolved']
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pulse.tenants.config import IncidentsConfig

DIMENSIONS = ("campaign_id", "country", "payment_method", "product_id")
SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")


@dataclass
class Incident:
    """One open incident and what it has accumulated."""

    tenant_id: str
    incident_id: str
    kind: str
    cause: str
    group_key: str
    opened_at: datetime
    severity: str
    version: int = 0
    updated_at: datetime | None = None
    alert_ids: set[str] = field(default_factory=set)
    amount: float = 0.0
    max_score: float | None = None
    threshold: float | None = None
    baseline_amount: float | None = None
    currency: str = ""
    event_type: str = ""
    dimensions: dict[str, Counter] = field(default_factory=lambda: {d: Counter() for d in DIMENSIONS})
    labels: dict[str, str] = field(default_factory=dict)
    notified: bool = False
    last_sent: datetime | None = None

    def add(self, alert: dict[str, Any]) -> None:
        self.alert_ids.add(alert["alert_id"])
        self.updated_at = max(self.updated_at or alert["ts"], alert["ts"])
        if SEVERITY_ORDER.index(alert["severity"]) > SEVERITY_ORDER.index(self.severity):
            self.severity = alert["severity"]
        self.amount += alert.get("amount") or 0.0
        if alert.get("score") is not None:
            self.max_score = max(self.max_score or 0.0, alert["score"])
            self.threshold = alert.get("threshold")
        self.baseline_amount = alert.get("baseline_amount") or self.baseline_amount
        self.currency = alert.get("currency") or self.currency
        self.event_type = self.event_type or alert.get("event_type") or ""
        self.labels |= alert.get("labels") or {}
        for dimension in DIMENSIONS:
            if alert.get(dimension):
                self.dimensions[dimension][alert[dimension]] += 1

    def observed_expected(self) -> tuple[float, float | None, str]:
        """What was measured, what was expected, and the unit: the metric's own values for metric detectors,
        risk score for the risk model, money for rules."""
        if self.cause.startswith("metric:") and "observed" in self.labels:
            return float(self.labels["observed"]), float(self.labels["expected"]), "metric"
        if self.kind == "model" and self.max_score is not None:
            return self.max_score, self.threshold, "score"
        expected = self.baseline_amount * len(self.alert_ids) if self.baseline_amount else None
        return self.amount, expected, "amount"

    def notice(self, status: str, now: datetime | None = None, notify: bool = True) -> dict[str, Any]:
        """The incidents-table row (and webhook payload source) for this incident's current version."""
        self.version += 1
        observed, expected, unit = self.observed_expected()
        percent = (observed / expected - 1) * 100 if expected else None
        return {
            "tenant_id": self.tenant_id,
            "incident_id": self.incident_id,
            "version": self.version,
            "status": status,
            "kind": self.kind,
            "cause": self.cause,
            "severity": self.severity,
            "group_key": self.group_key,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "resolved_at": now if status == "resolved" else None,
            "alert_count": len(self.alert_ids),
            "observed": round(observed, 4),
            "expected": None if expected is None else round(expected, 4),
            "percent": None if percent is None else round(percent, 1),
            "unit": unit,
            "currency": self.currency,
            "event_type": self.event_type,
            "top_dimensions": {d: [v for v, _ in c.most_common(3)] for d, c in self.dimensions.items() if c},
            "dimension_counts": {d: dict(c.most_common(3)) for d, c in self.dimensions.items() if c},
            "labels": dict(self.labels),
            "notify": notify,
        }


def incident_id(tenant: str, cause: str, group_key: str, opened_at: datetime) -> str:
    """Deterministic, so a replay of the same alerts yields the same incidents (and webhook ids)."""
    key = f"{tenant}\x1f{cause}\x1f{group_key}\x1f{opened_at.isoformat()}"
    return "inc_" + hashlib.sha256(key.encode()).hexdigest()[:24]


class IncidentTracker:
    """Turns a time-ordered stream of alerts (per tenant) into incident notices."""

    def __init__(self, settings: Callable[[str], IncidentsConfig]):
        self.settings = settings
        self.open: dict[tuple[str, str, str], Incident] = {}
        self.sent: dict[str, list[datetime]] = {}

    def observe(self, alert: dict[str, Any]) -> list[dict[str, Any]]:
        """Add one alert: returns an `open` or `updated` notice, or nothing for a repeated alert;
        first resolves the tenant's incidents whose quiet period ended before this alert."""
        notices = self.advance(alert["tenant_id"], alert["ts"])
        key = (alert["tenant_id"], alert["cause"], alert["group_key"])
        incident = self.open.get(key)
        if incident is not None and alert["alert_id"] in incident.alert_ids:
            return notices
        if incident is None:
            incident = Incident(
                tenant_id=alert["tenant_id"],
                incident_id=incident_id(*key, alert["ts"]),
                kind=alert["kind"],
                cause=alert["cause"],
                group_key=alert["group_key"],
                opened_at=alert["ts"],
                severity=alert["severity"],
            )
            self.open[key] = incident
        status = "open" if not incident.alert_ids else "updated"
        incident.add(alert)
        config = self.settings(alert["tenant_id"])
        due = status == "open" or (
            incident.notified and alert["ts"] - incident.last_sent >= timedelta(minutes=config.update_minutes)
        )
        notify = due and self._allow(alert["tenant_id"], alert["ts"])
        incident.notified |= notify
        incident.last_sent = alert["ts"] if notify else incident.last_sent
        notices.append(incident.notice(status, notify=notify))
        return notices

    def advance(self, tenant: str, watermark: datetime) -> list[dict[str, Any]]:
        """Resolve the tenant's incidents quiet since before `watermark` minus their quiet period."""
        config = self.settings(tenant)
        notices = []
        for key, incident in list(self.open.items()):
            if key[0] != tenant:
                continue
            quiet = timedelta(minutes=config.quiet_minutes_by_cause.get(incident.cause, config.quiet_minutes))
            if incident.updated_at + quiet <= watermark:
                del self.open[key]
                resolved_at = incident.updated_at + quiet
                notices.append(incident.notice("resolved", now=resolved_at, notify=incident.notified))
        return notices

    def _allow(self, tenant: str, ts: datetime) -> bool:
        """Per-tenant rate limit over a sliding event-time hour."""
        recent = [t for t in self.sent.get(tenant, []) if ts - t < timedelta(hours=1)]
        allowed = len(recent) < self.settings(tenant).max_notices_per_hour
        if allowed:
            recent.append(ts)
        self.sent[tenant] = recent
        return allowed
