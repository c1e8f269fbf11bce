"""Rows of the metric detectors: one `metric_values` row per tenant, metric and minute, and one `alerts`
row (kind 'model', cause 'metric:<metric>') per incident, with a plain-language summary.

>>> from models.detectors import Verdict
>>> v = Verdict(ts=3_600_000, value=1.0, expected_value=3.0, lower=0.0, upper=6.0, observed=6.0, expected=45.0,
...             z=-6.1, score=1.0, threshold=5.0, direction="drop", is_anomalous=True, opens_incident=True,
...             warming_up=False, since=3_000_000, window_minutes=15)
>>> from pulse.tenants.config import TenantConfig
>>> rows = MetricRows("acme", TenantConfig(display_name="ACME"), "r1").rows("orders", v)
>>> [table for table, _ in rows]
['metric_values', 'alerts']
>>> rows[1][1]["summary"]
'Orders at ACME dropped: 6 in the 15 minutes to 1970-01-01 01:01 UTC against 45 expected (-87%), below the usual \
since 1970-01-01 00:50 UTC. Next step: check checkout, payment provider and the storefront for errors.'

Its labels say the values and the minutes of their window (not for ratios, which do not add up over a window):

>>> {k: v for k, v in rows[1][1]["labels"].items() if k != "since"}
{'metric': 'orders', 'direction': 'drop', 'observed': '6', 'expected': '45', 'window_minutes': '15'}

With nothing expected there is no percentage to give; the summary says so:

>>> from dataclasses import replace
>>> quiet = replace(v, observed=7.0, expected=0.0, direction="spike", window_minutes=10)
>>> MetricRows("acme", TenantConfig(display_name="ACME"), "r1").rows("orders", quiet)[1][1]["summary"].split(", ")[0]
'Orders at ACME spiked: 7 in the 10 minutes to 1970-01-01 01:01 UTC where none were expected'

A small expected count keeps its decimal, so the change reads as it was:

>>> few = replace(v, observed=7.0, expected=0.3, direction="spike", window_minutes=10)
>>> MetricRows("acme", TenantConfig(), "r1").rows("payment_failures", few)[1][1]["summary"].split(", ")[0]
'Failed payments at acme spiked: 7 in the 10 minutes to 1970-01-01 01:01 UTC against 0.3 expected (+2233%)'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models.detectors import MINUTE, Verdict
from pulse.job.alerts import alert_row
from pulse.summaries import default_template, render
from pulse.tenants.config import TenantConfig
from pulse.tenants.planned import PlannedEvent

LABELS = {
    "orders": ("orders", "check checkout, payment provider and the storefront for errors."),
    "revenue": ("revenue", "check checkout, payment provider and pricing."),
    "traffic": ("page views", "check for bots (views per IP) or an outage of the storefront."),
    "sessions": ("sessions", "check for bots or an outage of the storefront."),
    "conversion": ("conversion (orders per session)", "check checkout, stock and prices."),
    "checkout_completion": (
        "checkout completion (orders per started checkout)",
        "check the checkout and payment pages for errors.",
    ),
    "payment_failures": ("failed payments", "check for card testing and the payment provider's status."),
    "payment_failure_rate": ("the payment failure rate", "check for card testing and the payment provider."),
    "views_per_ip": ("page views per IP address", "likely bot traffic: check the top IPs and rate-limit them."),
    "campaign_clicks": ("campaign clicks", "check the campaign's ads and landing page."),
    "campaign_conversions": ("campaign conversions", "check the campaign's landing page and offer."),
}
RATIOS = {"conversion", "checkout_completion", "payment_failure_rate", "views_per_ip"}


def metric_headline(incident: dict[str, Any]) -> str | None:
    """ "Failed payments spiked", for an incident of a metric detector; None for other causes."""
    metric = incident["cause"].removeprefix("metric:")
    if metric == incident["cause"]:
        return None
    label = LABELS[metric.partition(":")[0]][0]
    direction = incident["labels"].get("direction", "changed")
    return f"{label[0].upper()}{label[1:]} {'dropped' if direction == 'drop' else 'spiked'}"


def metric_next_step(cause: str) -> str | None:
    """The shipped next step for a metric detector's incidents."""
    family = cause.removeprefix("metric:").partition(":")[0]
    return LABELS[family][1] if cause.startswith("metric:") and family in LABELS else None


class MetricRows:
    """Turns one tenant's metric verdicts into ClickHouse rows."""

    def __init__(self, tenant: str, config: TenantConfig, run_id: str):
        self.tenant = tenant
        self.config = config
        self.run_id = run_id
        self.name = config.display_name or tenant
        self.template = config.templates.get("metric_alert") or default_template("metric_alert")

    def rows(
        self, metric: str, verdict: Verdict, planned: tuple[PlannedEvent, ...] = ()
    ) -> list[tuple[str, dict[str, Any]]]:
        """The minute's value, and an alert if it opens an incident: none when a `planned` event under way
        announced this change (a sale's spike, a maintenance's drop); one that names the event otherwise."""
        now = datetime.now(UTC)
        rows: list[tuple[str, dict[str, Any]]] = [("metric_values", self._value_row(metric, verdict, now))]
        family = metric.partition(":")[0]
        if verdict.opens_incident and not any(p.expects(family, verdict.direction, verdict.ts) for p in planned):
            rows.append(("alerts", self._alert_row(metric, verdict, now, planned)))
        return rows

    def _value_row(self, metric: str, v: Verdict, now: datetime) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant,
            "metric": metric,
            "minute": _datetime(v.ts),
            "value": v.value,
            "expected": v.expected_value,
            "lower": v.lower,
            "upper": v.upper,
            "window_observed": v.observed,
            "window_expected": v.expected,
            "z": v.z,
            "anomaly_score": v.score,
            "threshold": v.threshold,
            "is_anomalous": v.is_anomalous,
            "warming_up": v.warming_up,
            "run_id": self.run_id,
            "written_at": now,
        }

    def _alert_row(self, metric: str, v: Verdict, now: datetime, planned: tuple[PlannedEvent, ...]) -> dict[str, Any]:
        family, _, campaign = metric.partition(":")
        label, next_step = LABELS[family]
        change = (v.observed / v.expected - 1) * 100 if v.expected >= 0.05 else None  # None: nothing was expected
        context = {
            "tenant_name": self.name,
            "direction": v.direction,
            "window_minutes": v.window_minutes,
            "until": v.ts + MINUTE,
            "since": v.since,
            "change_pct": change,
            "observed": v.observed,
            "expected": v.expected,
            "metric": {
                "name": metric,
                "label": label,
                "campaign": campaign,
                "next_step": next_step,
                "observed_text": self._amount(family, v.observed),
                "expected_text": self._amount(family, v.expected),
            },
            "headline": f"{label} {v.direction}: {v.observed:g} observed, {v.expected:g} expected",
        }
        severity = "high" if abs(v.z) >= 2 * v.threshold else "medium"
        cause = f"metric:{metric}"
        labels = {"metric": metric, "direction": v.direction, "observed": f"{v.observed:g}"}
        labels |= {"expected": f"{v.expected:g}", "since": _datetime(v.since).isoformat()}
        if family not in RATIOS:  # sums over the window judged: labels compare them per minute (pulse.job.feedback)
            labels["window_minutes"] = str(v.window_minutes)
        summary = render(self.template, context)
        if planned:
            labels["planned"] = ", ".join(p.name for p in planned)
            summary += (
                f" This came during the {', '.join(p.describe() for p in planned)}, which expected a change "
                "the other way."
            )
        return alert_row(
            self.tenant,
            key=(cause, str(v.since)),
            ts=_datetime(v.ts),
            kind="model",
            cause=cause,
            severity=severity,
            group_key=metric,
            event_id="",
            score=v.score,
            threshold=v.threshold,
            summary=summary,
            labels=labels,
            run_id=self.run_id,
            created_at=now,
        )

    def _amount(self, family: str, value: float) -> str:
        if family == "revenue":
            return f"{value:,.2f} {self.config.currency}"
        if family in RATIOS:
            return f"{value:.1f}" if family == "views_per_ip" else f"{value:.1%}"
        return f"{value:.1f}" if value < 9.95 and value != round(value) else f"{value:,.0f}"


def _datetime(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
