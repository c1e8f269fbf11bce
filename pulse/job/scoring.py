"""Scoring one tenant's event: rules, then the risk model, into a `scored_events` row and `alerts` rows.

Callable without Flink; the job's keyed step (pulse/job/pipeline.py) runs it with the metric detectors and usage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from models.risk import RiskModel, RiskScore
from pulse.eventtime import ALLOWED_LATENESS_MS
from pulse.job.alerts import alert_row
from pulse.rules.conditions import RuleSet
from pulse.rules.engine import EngineState, RuleEngine
from pulse.rules.language import ConditionRule
from pulse.rules.runners import Alert
from pulse.store.tables import REJECTED_EVENTS
from pulse.summaries import default_template, render
from pulse.tenants.config import TenantConfig


@dataclass
class TenantState:
    """What scoring remembers about one tenant: its risk model and its rules' state (part of the job's
    PipelineState; the job keeps the model in a ValueState of its own, see operators/pipeline.py)."""

    model: RiskModel | None = None
    rules: EngineState = field(default_factory=EngineState)


class TenantScorer:
    """The compiled rules and templates of one tenant's config."""

    def __init__(
        self,
        tenant: str,
        config: TenantConfig,
        allowed_lateness_ms: int = ALLOWED_LATENESS_MS,
        tenant_clock: bool = True,
    ):
        """`tenant_clock`: see pulse.rules.engine (False when the source's watermarks are the only clock)."""
        self.tenant = tenant
        self.config = config
        self.engine = RuleEngine(config.rules, config.tables, allowed_lateness_ms, tenant_clock)
        self.rules = RuleSet([rule for rule in config.rules if rule.type == "condition"], self.engine.scope)
        self.derived = [name for rule in config.rules if rule.type == "enrichment" for name in rule.derive]
        self.name = config.display_name or tenant
        self.rule_template = config.templates.get("rule_alert") or default_template("rule_alert")
        self.risk_template = config.templates.get("risk_alert") or default_template("risk_alert")
        self.window_template = default_template("window_alert")

    def new_state(self) -> TenantState:
        """The state of a tenant seen for the first time."""
        risk = self.config.models.risk
        return TenantState(model=RiskModel(risk) if risk.enabled else None)

    def wants_model(self, event: dict[str, Any]) -> bool:
        """Only orders and payments (by default) go through the risk model."""
        risk = self.config.models.risk
        return risk.enabled and event["event_type"] in risk.event_types

    def score(
        self, event: dict[str, Any], state: TenantState, run_id: str, watermark: int | None = None
    ) -> tuple[dict, list[dict]]:
        """Return the scored row for `event` and the alerts it raises (or that are now due); the state learns.

        `watermark`: the job's event-time watermark (None: trail the newest event by the allowed lateness)."""
        now = datetime.now(UTC)
        self.engine.scope.start_event()
        view = self.engine.enrich(event)
        late, due = self.engine.observe(view, state.rules, watermark)
        group, ts = _group_key(event), event["ts"]
        hits = [rule for rule in self.rules.matches(view) if self.engine.cooled(rule.id, group, ts, state.rules)]
        risk = None
        if state.model is not None and self.wants_model(event):
            state.model.configure(self.config.models.risk)  # the tenant's current settings
            risk = state.model.score(event)
        row = self._scored_row(event, risk, hits, run_id, now)
        row.update(is_late=late, tags=view["tags"], derived={name: _text(view.get(name)) for name in self.derived})
        alerts = [self._rule_alert(view, rule, run_id, now) for rule in hits]
        if risk is not None and risk.is_alert:
            alerts.append(self._risk_alert(event, risk, run_id, now))
        alerts += [self._window_alert(alert, run_id, now) for alert in due if not self._maintenance(alert)]
        self.engine.scope.end_event()
        return row, alerts

    def advance(self, state: TenantState, watermark: int, run_id: str) -> list[dict]:
        """The alerts due when event time reaches `watermark` (window ends, absences); from a timer."""
        now = datetime.now(UTC)
        self.engine.scope.start_event()
        due = self.engine.advance(state.rules, watermark)
        self.engine.scope.end_event()
        return [self._window_alert(alert, run_id, now) for alert in due if not self._maintenance(alert)]

    def next_timer(self, state: TenantState) -> int | None:
        """The event time at which `advance` has work to do next."""
        return self.engine.next_timer(state.rules)

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
        return row

    def _rule_alert(self, event: dict[str, Any], rule: ConditionRule, run_id: str, now: datetime) -> dict[str, Any]:
        context = {**self._context(event), "rule": rule.model_dump(), "headline": rule.description}
        summary = render(rule.summary or self.rule_template, context)
        return self._event_alert(event, rule.id, rule.severity, summary, rule.labels, run_id, now)

    def _maintenance(self, alert: Alert) -> bool:
        """Whether `alert` is an absence that a planned event expecting a drop (maintenance) explains."""
        return alert.rule.type == "absence" and any(
            p.direction in ("drop", "both") and p.covers(alert.ts) for p in self.config.planned
        )

    def _window_alert(self, alert: Alert, run_id: str, now: datetime) -> dict[str, Any]:
        rule = alert.rule
        group = ",".join(f"{name}={value}" for name, value in zip(rule.group_by, alert.group, strict=True))
        facts = {"group": group, "detail": alert.detail, "value": alert.value, "limit": alert.limit, "ts": alert.ts}
        event = alert.event or {}
        context = {**self._context(event), "rule": rule.model_dump(), "headline": rule.description, "alert": facts}
        summary = render(rule.summary or self.window_template, context)
        return alert_row(
            self.tenant,
            key=(rule.id, f"{group}@{alert.ts}"),
            ts=_datetime(alert.ts),
            kind="rule",
            cause=rule.id,
            severity=rule.severity,
            group_key=group,
            event_id=event.get("event_id", ""),
            score=alert.value,
            threshold=alert.limit,
            summary=summary,
            labels=rule.labels,
            run_id=run_id,
            created_at=now,
        )

    def _risk_alert(self, event: dict[str, Any], risk: RiskScore, run_id: str, now: datetime) -> dict[str, Any]:
        headline = f"Unusual {event['event_type']} (risk score {risk.score:.2f})"
        context = {**self._context(event), "risk": risk, "headline": headline}
        summary = render(self.risk_template, context)
        labels = {"top_features": ",".join(risk.top_features)}
        return self._event_alert(event, "risk_score", "high", summary, labels, run_id, now, risk)

    def _event_alert(
        self, event: dict[str, Any], cause: str, severity: str, summary: str, labels: dict[str, str], run_id: str,
        now: datetime, risk: RiskScore | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The alert about one event: a condition rule's, or the risk model's (with its `risk` score)."""
        return alert_row(
            self.tenant,
            key=(cause, event["event_id"]),
            ts=_datetime(event["ts"]),
            kind="rule" if risk is None else "model",
            cause=cause,
            severity=severity,
            group_key=_group_key(event),
            event_id=event["event_id"],
            score=None if risk is None else risk.score,
            threshold=None if risk is None else risk.threshold,
            summary=summary,
            labels=labels,
            run_id=run_id,
            created_at=now,
        )


def rejected_row(
    tenant: str | None, source: str, index: int, reason: str, detail: str, raw: Any, run_id: str, received: int
) -> dict[str, Any]:
    """The `rejected_events` row for a record that failed validation, keeping the record as sent; `rejected_at` is
    when the record was received (epoch ms), so the row is the same whenever the record is read again."""
    text = raw if isinstance(raw, str) else _json(raw)
    values = (tenant or "", source, index, reason, detail, text, run_id, _datetime(received))
    return dict(zip(REJECTED_EVENTS, values, strict=True))


def _group_key(event: dict[str, Any]) -> str:
    return event.get("customer_id") or event.get("card_fingerprint") or event["event_id"]


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else _json(value)


def _datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)
