"""Scoring one tenant's event: rules, then the risk model, into a `scored_events` row and `alerts` rows.

This is the whole per-event logic of the scoring job, callable without Flink.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models.risk import RiskModel, RiskScore
from pulse.config import ConditionRule, TenantConfig
from pulse.retention import retention_days
from pulse.rules import RuleSet
from pulse.summaries import default_template, render

REJECTED_COLUMNS = ("tenant_id", "source", "record_index", "reason", "detail", "raw", "run_id", "rejected_at")


@dataclass
class TenantState:
    """Everything the scoring job remembers about one tenant; kept in one Flink ValueState per tenant,
    so it is serialised once per bundle, not once per event."""

    model: RiskModel | None = None


class TenantScorer:
    """The compiled rules and templates of one tenant's config."""

    def __init__(self, tenant: str, config: TenantConfig):
        self.tenant = tenant
        self.config = config
        self.rules = RuleSet(config.rules)
        self.name = config.display_name or tenant
        self.rule_template = config.templates.get("rule_alert") or default_template("rule_alert")
        self.risk_template = config.templates.get("risk_alert") or default_template("risk_alert")

    def new_state(self) -> TenantState:
        """The state of a tenant seen for the first time."""
        risk = self.config.models.risk
        return TenantState(model=RiskModel(risk) if risk.enabled else None)

    def wants_model(self, event: dict[str, Any]) -> bool:
        """Only orders and payments (by default) go through the risk model."""
        risk = self.config.models.risk
        return risk.enabled and event["event_type"] in risk.event_types

    def score(self, event: dict[str, Any], state: TenantState, run_id: str) -> tuple[dict, list[dict]]:
        """Return the scored row for `event` and the alerts it raises; the state learns from it."""
        now = datetime.now(UTC)
        hits = self.rules.matches(event)
        risk = state.model.score(event) if state.model is not None and self.wants_model(event) else None
        row = self._scored_row(event, risk, hits, run_id, now)
        alerts = [self._rule_alert(event, rule, run_id, now) for rule in hits]
        if risk is not None and risk.is_alert:
            alerts.append(self._risk_alert(event, risk, run_id, now))
        return row, alerts

    def _context(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"tenant_name": self.name, "currency": self.config.currency, "event": event}

    def _scored_row(
        self, event: dict[str, Any], risk: RiskScore | None, hits: list[ConditionRule], run_id: str, now: datetime
    ) -> dict[str, Any]:
        row = {k: ("" if v is None else v) for k, v in event.items()}
        row["amount"] = event["amount"]
        row["ts"] = _datetime(event["ts"])
        row["risk_score"] = risk.score if risk else None
        row["risk_threshold"] = risk.threshold if risk else None
        row["top_features"] = list(risk.top_features) if risk else []
        row["model_warming_up"] = bool(risk and risk.warming_up)
        row["rule_hits"] = [rule.id for rule in hits]
        row["run_id"] = run_id
        row["ingested_at"] = now
        row["retention_days"] = retention_days(self.config.plan)
        return row

    def _rule_alert(self, event: dict[str, Any], rule: ConditionRule, run_id: str, now: datetime) -> dict[str, Any]:
        context = {**self._context(event), "rule": rule.model_dump(), "headline": rule.description}
        summary = render(rule.summary or self.rule_template, context)
        return self._alert(event, "rule", rule.id, rule.severity, None, None, summary, rule.labels, run_id, now)

    def _risk_alert(self, event: dict[str, Any], risk: RiskScore, run_id: str, now: datetime) -> dict[str, Any]:
        headline = f"Unusual {event['event_type']} (risk score {risk.score:.2f})"
        context = {**self._context(event), "risk": risk, "headline": headline}
        summary = render(self.risk_template, context)
        labels = {"top_features": ",".join(risk.top_features)}
        return self._alert(
            event, "model", "risk_score", "high", risk.score, risk.threshold, summary, labels, run_id, now
        )

    def _alert(
        self,
        event: dict[str, Any],
        kind: str,
        cause: str,
        severity: str,
        score: float | None,
        threshold: float | None,
        summary: str,
        labels: dict[str, str],
        run_id: str,
        now: datetime,
    ) -> dict[str, Any]:
        group_key = event.get("customer_id") or event.get("card_fingerprint") or event["event_id"]
        return {
            "tenant_id": self.tenant,
            "alert_id": alert_id(self.tenant, cause, event["event_id"]),
            "ts": _datetime(event["ts"]),
            "kind": kind,
            "cause": cause,
            "severity": severity,
            "group_key": group_key,
            "event_id": event["event_id"],
            "score": score,
            "threshold": threshold,
            "summary": summary,
            "labels": dict(labels),
            "run_id": run_id,
            "created_at": now,
        }


def alert_id(tenant: str, cause: str, event_id: str) -> str:
    """A deterministic alert id, so a replayed event yields the same alert row."""
    return hashlib.sha256(f"{tenant}\x1f{cause}\x1f{event_id}".encode()).hexdigest()[:24]


def rejected_row(
    tenant: str | None, source: str, index: int, reason: str, detail: str, raw: Any, run_id: str
) -> dict[str, Any]:
    """The `rejected_events` row for a record that failed validation, keeping the record as sent."""
    text = raw if isinstance(raw, str) else _json(raw)
    values = (tenant or "", source, index, reason, detail, text, run_id, datetime.now(UTC))
    return dict(zip(REJECTED_COLUMNS, values, strict=True))


def _datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
