"""A tenant's per-minute business metrics, computed from its events, each with its own online detector.

Metrics: orders, revenue (successful payments), traffic (page views), sessions (new sessions),
conversion (orders per new session), checkout completion (orders per started checkout), payment failures and
their rate, page views per IP (bot traffic
from few addresses), and per campaign its clicks and conversions (orders in a session that clicked the campaign).
Everything kept is bounded: open minutes, the session→campaign map and the number of campaigns.

>>> from pulse.tenants.config import MetricsConfig
>>> metrics = TenantMetrics(MetricsConfig(warmup_minutes=5))
>>> metrics.add({"event_type": "order_placed", "ts": 90_000, "session_id": "s1", "amount": 20.0})
60000
>>> points = metrics.close(120_000)
>>> sorted((p.metric, p.verdict.value) for p in points)  # no payment yet: no revenue series
[('checkout_completion', 0.0), ('conversion', 1.0), ('orders', 1.0), ('sessions', 1.0)]
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from models.detectors import MINUTE, Kind, SeriesDetector, Verdict
from pulse.tenants.config import MetricDetectorConfig, MetricsConfig
from pulse.tenants.planned import PlannedEvent, under_way

# Shipped defaults per metric: what each detector looks for and how much volume it needs to judge.
DEFAULTS: dict[str, tuple[Kind, MetricDetectorConfig]] = {
    "orders": ("count", MetricDetectorConfig(direction="both", window_minutes=15, min_volume=8)),
    "revenue": ("sum", MetricDetectorConfig(direction="both", window_minutes=15, min_volume=100)),
    "traffic": ("count", MetricDetectorConfig(direction="drop", window_minutes=10, min_volume=15)),
    "sessions": ("count", MetricDetectorConfig(direction="both", window_minutes=10, min_volume=20)),
    "conversion": ("ratio", MetricDetectorConfig(direction="drop", window_minutes=30, min_volume=40)),
    "checkout_completion": (
        "share",
        MetricDetectorConfig(direction="drop", window_minutes=15, min_z=4.0, min_volume=5),
    ),
    "payment_failures": ("count", MetricDetectorConfig(direction="spike", window_minutes=10, min_volume=0)),
    "payment_failure_rate": (
        "ratio",
        MetricDetectorConfig(direction="spike", window_minutes=15, min_z=6.0, min_volume=8),
    ),
    "views_per_ip": ("ratio", MetricDetectorConfig(direction="spike", window_minutes=5, min_volume=10)),
    "campaign_clicks": ("count", MetricDetectorConfig(direction="both", window_minutes=30, min_z=6.0, min_volume=8)),
    "campaign_conversions": ("count", MetricDetectorConfig(direction="drop", window_minutes=60, min_volume=8)),
}
BASE = MetricDetectorConfig(enabled=True, direction="both", window_minutes=15, min_z=5.0, alert_quantile=0.999)
SESSION_MEMORY = 20_000  # sessions remembered for campaign attribution
SILENCE_MINUTES = 60  # minutes without any event counted as zeros (an outage) at most, then a gap
SILENT_BATCH = 5  # a silent tenant's minutes are closed this many at a time (one timer, one state write),
# and the first this many are zeros whatever its detectors (see TenantMetrics.judged)


def detector_config(metrics: MetricsConfig, metric: str) -> tuple[Kind, MetricDetectorConfig]:
    """The shipped default for `metric`, overridden by the fields the tenant set.

    Merged once per (metric, override) in a process and shared: a config is frozen, and the job keeps a
    detector's config as its fields (pulse.job.kept), so sharing changes nothing kept.

    >>> from pulse.tenants.config import MetricsConfig
    >>> kind, config = detector_config(MetricsConfig(detectors={"orders": {"min_z": 7.0}}), "orders")
    >>> kind, config.min_z, config.window_minutes, config is detector_config(MetricsConfig(), "orders")[1]
    ('count', 7.0, 15, False)
    >>> detector_config(MetricsConfig(), "orders")[1] is detector_config(MetricsConfig(), "orders")[1]
    True
    """
    return DEFAULTS[metric][0], _merged(metric, metrics.detectors.get(metric))


@lru_cache(maxsize=4096)  # distinct overrides of all tenants; a config update adds one
def _merged(metric: str, override: MetricDetectorConfig | None) -> MetricDetectorConfig:
    """BASE, then the shipped default for `metric`, then the tenant's `override` (frozen: hashable)."""
    merged = BASE.model_copy(update=DEFAULTS[metric][1].model_dump(exclude_none=True))
    if override is not None:
        merged = merged.model_copy(update=override.model_dump(exclude_none=True))
    return merged


@dataclass
class Minute:
    """Counts of one event-time minute."""

    orders: int = 0
    revenue: float = 0.0
    page_views: int = 0
    payments_ok: int = 0
    payments_failed: int = 0
    sessions: int = 0  # sessions whose first event falls in this minute
    checkouts: int = 0  # checkouts started
    view_ips: set[str] = field(default_factory=set)
    clicks: dict[str, int] = field(default_factory=dict)
    conversions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricPoint:
    metric: str  # e.g. "orders" or "campaign_clicks:spring-sale"
    verdict: Verdict
    planned: tuple[PlannedEvent, ...] = ()  # the planned events under way for this metric (nothing was learned)


class TenantMetrics:
    """One tenant's open minutes and detectors; `add` events, `close` minutes as event time passes."""

    def __init__(self, config: MetricsConfig):
        self.config = config
        self.open: dict[int, Minute] = {}
        self.closed_until = 0  # every minute before this is closed
        self.last_active = 0  # the last closed minute that had events
        self.detectors: dict[str, SeriesDetector] = {}
        self.session_campaign: OrderedDict[str, str] = OrderedDict()
        self.seen_sessions: OrderedDict[str, str] = OrderedDict()
        self.campaigns: set[str] = set()

    def add(self, event: dict[str, Any]) -> int:
        """Count an event into its minute (a late one into the oldest open minute); return that minute."""
        minute = max(event["ts"] // MINUTE * MINUTE, self.closed_until)
        bucket = self.open.setdefault(minute, Minute())
        kind, session = event["event_type"], event.get("session_id")
        if session and session not in self.seen_sessions:
            bucket.sessions += 1
            self._remember(self.seen_sessions, session, "")
        if kind == "order_placed":
            bucket.orders += 1
            campaign = self.session_campaign.get(session) if session else None
            if campaign:
                bucket.conversions[campaign] = bucket.conversions.get(campaign, 0) + 1
        elif kind == "checkout_started":
            bucket.checkouts += 1
        elif kind == "payment_succeeded":
            bucket.payments_ok += 1
            bucket.revenue += event.get("amount") or 0.0
        elif kind == "payment_failed":
            bucket.payments_failed += 1
        elif kind == "page_view":
            bucket.page_views += 1
            bucket.view_ips.add(event.get("ip") or "")
        elif kind == "campaign_click" and event.get("campaign_id"):
            self._click(bucket, event["campaign_id"], session)
        return minute

    def close(self, until: int, planned: tuple[PlannedEvent, ...] = ()) -> list[MetricPoint]:
        """Judge every minute that ends at or before `until`. A minute without events counts as zeros
        (an outage) while the silence is `judged`; beyond that it is a gap. A metric's minute inside one of the
        `planned` events is judged, not learned."""
        points: list[MetricPoint] = []
        minute = self.closed_until or min(self.open, default=until // MINUTE * MINUTE)
        while minute + MINUTE <= until:
            bucket = self.open.pop(minute, None)
            if bucket is None and not self.judged(minute):
                minute = min(self.open, default=until // MINUTE * MINUTE)
                continue
            if bucket is not None:
                self.last_active = minute
            points.extend(self._judge(minute, bucket or Minute(), planned))
            minute += MINUTE
        self.closed_until = max(self.closed_until, minute)
        return points

    def judged(self, minute: int) -> bool:
        """Whether a `minute` without events counts as zeros: the first SILENT_BATCH minutes after the last active
        one do, and later ones up to SILENCE_MINUTES while a detector minds the silence (an open incident, or a
        drop it could flag: `SeriesDetector.minds_silence`). A shop too small or too new for its silence to be an
        outage is not judged until its next event: no detector updates, rows or state writes for it."""
        silent = minute - self.last_active
        if silent <= SILENT_BATCH * MINUTE:
            return True
        return silent <= SILENCE_MINUTES * MINUTE and any(d.minds_silence() for d in self.detectors.values())

    def next_tick(self) -> int | None:
        """When `close` has work next: the end of the oldest open minute; while nothing is open, the end of the
        next SILENT_BATCH silent minutes (closed in one call: each keeps its own minute, so an outage's alert
        carries its time, but is raised up to SILENT_BATCH - 1 minutes of event time later); None once the
        silence is no longer `judged`.

        A new shop's page view: its first five silent minutes are judged, then nothing (it is warming up).

        >>> from pulse.tenants.config import MetricsConfig
        >>> metrics = TenantMetrics(MetricsConfig())
        >>> metrics.add({"event_type": "page_view", "ts": 0}), metrics.next_tick()
        (0, 60000)
        >>> len({p.verdict.ts for p in metrics.close(60_000)}), metrics.next_tick() // MINUTE
        (1, 6)
        >>> len({p.verdict.ts for p in metrics.close(6 * MINUTE)}), metrics.next_tick() is None
        (5, True)

        A warm shop of 20 page views a minute: its silence is judged for an hour (an outage), then no more.

        >>> metrics = TenantMetrics(MetricsConfig(warmup_minutes=5))
        >>> for ts in range(0, 30 * MINUTE, 3_000):
        ...     _ = metrics.add({"event_type": "page_view", "ts": ts, "session_id": f"s{ts // 30_000}"})
        >>> _ = metrics.close(30 * MINUTE); metrics.next_tick() // MINUTE
        35
        >>> _ = metrics.close(85 * MINUTE); metrics.next_tick() // MINUTE  # the silence's last minute ends at 90
        90
        >>> _ = metrics.close(90 * MINUTE); metrics.next_tick() is None
        True
        """
        if self.open:
            return min(self.open) + MINUTE
        if not self.judged(self.closed_until):
            return None
        silence_ends = self.last_active + (SILENCE_MINUTES + 1) * MINUTE  # the end of its last minute judged
        return min(self.closed_until + SILENT_BATCH * MINUTE, silence_ends)

    def _click(self, bucket: Minute, campaign: str, session: str | None) -> None:
        if campaign not in self.campaigns:
            if len(self.campaigns) >= self.config.max_campaigns:
                return
            self.campaigns.add(campaign)
        bucket.clicks[campaign] = bucket.clicks.get(campaign, 0) + 1
        if session:
            self._remember(self.session_campaign, session, campaign)

    @staticmethod
    def _remember(memory: OrderedDict[str, str], session: str, value: str) -> None:
        """Remember a session, forgetting the least recent beyond SESSION_MEMORY."""
        memory[session] = value
        memory.move_to_end(session)
        if len(memory) > SESSION_MEMORY:
            memory.popitem(last=False)

    def _judge(self, minute: int, bucket: Minute, planned: tuple[PlannedEvent, ...]) -> list[MetricPoint]:
        values: dict[str, tuple[float, float | None]] = {
            "orders": (bucket.orders, None),
            "revenue": (round(bucket.revenue, 2), None),
            "traffic": (bucket.page_views, None),
            "sessions": (bucket.sessions, None),
            "conversion": (bucket.orders, bucket.sessions),
            "checkout_completion": (bucket.orders, bucket.checkouts),
            "payment_failures": (bucket.payments_failed, None),
            "payment_failure_rate": (bucket.payments_failed, bucket.payments_failed + bucket.payments_ok),
            "views_per_ip": (bucket.page_views, len(bucket.view_ips)),
        }
        for campaign in sorted(self.campaigns):
            values[f"campaign_clicks:{campaign}"] = (bucket.clicks.get(campaign, 0), None)
            values[f"campaign_conversions:{campaign}"] = (bucket.conversions.get(campaign, 0), None)
        points = []
        for name, (value, denominator) in values.items():
            detector = self._detector(name, started=bool(value or denominator))
            if detector is not None:
                during = tuple(under_way(list(planned), minute, name.split(":")[0])) if planned else ()
                verdict = detector.update(minute, float(value), denominator, learn=not during)
                points.append(MetricPoint(name, verdict, during))
        return points

    def _detector(self, name: str, started: bool) -> SeriesDetector | None:
        """The metric's detector; a metric's series starts at its first minute with something in it (`started`), so
        a shop that never had a payment failure keeps no detector, state or rows for them. A detector that starts
        after its shop's first minute starts from the minutes its shop has been judged (`begin_after_zeros`)."""
        detector = self.detectors.get(name)
        if detector is None:
            kind, config = detector_config(self.config, name.split(":")[0])
            if not config.enabled or not started:
                return None
            minutes_seen = max((d.seen for d in self.detectors.values()), default=0)
            detector = self.detectors[name] = SeriesDetector(kind, config, MINUTE, self.config.warmup_minutes)
            if minutes_seen:
                detector.begin_after_zeros(minutes_seen)
        return detector
