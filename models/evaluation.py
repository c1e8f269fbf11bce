"""Evaluation of the metric detectors on labelled synthetic scenarios (pulse/dev/scenarios.py).

Events are fed in time order to the same TenantMetrics the job runs, closing minutes as a watermark
one minute behind would. An alert is a true positive when it falls between its incident's start and
30 minutes after its end; precision counts alerts, recall counts incidents, the delay is from the
incident's start to its first alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.business_metrics import TenantMetrics
from models.detectors import MINUTE
from pulse.dev.generate import Incident
from pulse.dev.scenarios import ScenarioGenerator
from pulse.tenants.config import MetricsConfig

GRACE = 30 * MINUTE
LATENESS = MINUTE


@dataclass(frozen=True)
class ScenarioResult:
    scenario: str
    days: float
    incidents: int
    detected: int
    alerts: int
    true_alerts: int
    delays_min: list[float]
    causes: list[str]

    @property
    def precision(self) -> float | None:
        return self.true_alerts / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None

    @property
    def false_alerts_per_day(self) -> float:
        return (self.alerts - self.true_alerts) / self.days


def metric_alerts(events: list[dict[str, Any]], config: MetricsConfig) -> list[tuple[int, str]]:
    """(minute, metric) of every alert the detectors raise over `events` (sorted by time)."""
    tenants: dict[str, TenantMetrics] = {}
    alerts: list[tuple[int, str]] = []
    for event in events:
        metrics = tenants.setdefault(event["tenant_id"], TenantMetrics(config))
        metrics.add(event)
        alerts += [(p.verdict.ts, p.metric) for p in metrics.close(event["ts"] - LATENESS) if p.verdict.opens_incident]
    for metrics in tenants.values():
        end = max(metrics.open, default=metrics.closed_until) + MINUTE
        alerts += [(p.verdict.ts, p.metric) for p in metrics.close(end) if p.verdict.opens_incident]
    return alerts


def evaluate(scenario: str, seed: int = 7, config: MetricsConfig | None = None) -> ScenarioResult:
    generator = ScenarioGenerator(scenario=scenario, seed=seed)
    events, incidents = generator.run()
    alerts = metric_alerts(events, config or MetricsConfig())
    return score(scenario, generator.minutes / 1440, alerts, incidents)


def score(scenario: str, days: float, alerts: list[tuple[int, str]], incidents: list[Incident]) -> ScenarioResult:
    """Match alerts to incidents."""

    def matches(ts: int, incident: Incident) -> bool:
        return incident.start - MINUTE <= ts <= incident.end + GRACE

    true_alerts = sum(1 for ts, _ in alerts if any(matches(ts, i) for i in incidents))
    delays = []
    for incident in incidents:
        hits = [ts for ts, _ in alerts if matches(ts, incident)]
        if hits:
            delays.append(max(0.0, (min(hits) + MINUTE - incident.start) / MINUTE))  # a minute is judged at its end
    causes = sorted({metric for _, metric in alerts})
    return ScenarioResult(scenario, days, len(incidents), len(delays), len(alerts), true_alerts, delays, causes)


def merge(results: list[ScenarioResult]) -> ScenarioResult:
    """One result over several runs of the same scenario."""
    return ScenarioResult(
        results[0].scenario,
        sum(r.days for r in results),
        sum(r.incidents for r in results),
        sum(r.detected for r in results),
        sum(r.alerts for r in results),
        sum(r.true_alerts for r in results),
        [d for r in results for d in r.delays_min],
        sorted({c for r in results for c in r.causes}),
    )
