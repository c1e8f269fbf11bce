"""Backtesting a tenant's rules on historical files: the scoring job's own per-event code, without Flink.

Events are replayed in file order with the job's allowed lateness; the risk model is left out, so the
result shows what the rules alone would have raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pulse.eventtime import ALLOWED_LATENESS_MS, END_OF_INPUT
from pulse.inputs import read_records
from pulse.job.scoring import TenantScorer, TenantState
from pulse.tenants.config import TenantConfig


@dataclass
class Backtest:
    """What a tenant's rules would have raised: per rule id, the (event time, group) of every alert; `raised`:
    the alerts themselves (for `pulse.incidents.forecast`), `until`: the newest event time."""

    tenant: str
    events: int = 0
    rejected: int = 0
    late: int = 0
    alerts: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    raised: list[dict] = field(default_factory=list)
    until: datetime | None = None


def backtest(
    tenant: str, config: TenantConfig, paths: Iterable[Path], allowed_lateness_ms: int = ALLOWED_LATENESS_MS
) -> Backtest:
    """Replay the tenant's events of `paths` (records of other tenants are skipped) through its rules."""
    scorer = TenantScorer(tenant, config, allowed_lateness_ms)
    state = TenantState(model=None)
    result = Backtest(tenant, alerts={rule.id: [] for rule in config.rules if rule.type != "enrichment"})
    for path in paths:
        for record in read_records(path):
            parsed = record.parse()
            if not parsed.ok:
                result.rejected += 1
                continue
            if parsed.event["tenant_id"] != tenant:
                continue
            row, alerts = scorer.score(parsed.event, state, "backtest")
            result.events += 1
            result.late += row["is_late"]
            result.until = max(result.until or row["ts"], row["ts"])
            _collect(result, alerts)
    _collect(result, scorer.advance(state, END_OF_INPUT, "backtest"))
    return result


def _collect(result: Backtest, alerts: list[dict]) -> None:
    for alert in alerts:
        result.alerts.setdefault(alert["cause"], []).append((alert["ts"], alert["group_key"]))
        result.raised.append(alert)
