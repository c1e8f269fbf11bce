"""Backtesting a metric detector on a user's own series: points at a regular interval, read by models/series.py.

Missing intervals are gaps (not zeros); an empty value is a gap too. The detector is the one the job runs.

>>> from models.series import read_rows
>>> rows = [("2026-11-02T00:00:00Z", "10"), ("2026-11-02T00:01:00Z", ""), ("2026-11-02T00:03:00Z", "12")]
>>> [(r.timestamp, r.is_alert) for r in backtest(read_rows(rows, "example").points, "orders", MetricsConfig())]
[('2026-11-02T00:00:00Z', False), ('2026-11-02T00:01:00Z', False), ('2026-11-02T00:03:00Z', False)]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from models.business_metrics import detector_config
from models.detectors import MINUTE, PAIRS, SeriesDetector, Verdict
from models.series import Point
from pulse.tenants.config import MetricsConfig


@dataclass(frozen=True, slots=True)
class BacktestRow:
    timestamp: str
    value: str
    anomaly_score: float | None
    is_alert: bool  # the row opens an incident: the job raises one alert for a run of anomalous intervals
    verdict: Verdict | None = None  # None: a gap

    @property
    def is_anomalous(self) -> bool:
        return self.verdict is not None and self.verdict.is_anomalous


def backtest(points: Sequence[Point], metric: str, config: MetricsConfig) -> Iterator[BacktestRow]:
    """Run the configured detector of `metric` over the points of a series (in time order), one result per point."""
    steps = [b.ts - a.ts for a, b in zip(points, points[1:], strict=False)]
    interval = int(statistics.median(steps)) if steps else MINUTE
    kind, settings = detector_config(config, metric)
    warmup = max(30, math.ceil(config.warmup_minutes * MINUTE / interval))
    detector = SeriesDetector("gauge" if kind in PAIRS else kind, settings, interval, warmup)
    for text, ts, raw, value in points:
        if value is None:
            yield BacktestRow(text, raw, None, False)
            continue
        verdict = detector.update(ts, value)
        yield BacktestRow(text, raw, verdict.score, verdict.opens_incident, verdict)
