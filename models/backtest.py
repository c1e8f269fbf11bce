"""Backtesting a metric detector on a user's own series: `timestamp,value` rows at a regular interval.

Timestamps may be RFC 3339 (`2026-11-02T10:00:00Z`) or epoch seconds or milliseconds; missing
intervals are gaps (not zeros); an empty value is a gap too. The detector is the one the job runs.

>>> rows = [("2026-11-02T00:00:00Z", "10"), ("2026-11-02T00:01:00Z", ""), ("2026-11-02T00:03:00Z", "12")]
>>> [(r.timestamp, r.is_alert) for r in backtest(rows, "orders", MetricsConfig())]
[('2026-11-02T00:00:00Z', False), ('2026-11-02T00:01:00Z', False), ('2026-11-02T00:03:00Z', False)]
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from models.business_metrics import detector_config
from models.detectors import MINUTE, SeriesDetector
from pulse.tenants.config import MetricsConfig


@dataclass(frozen=True, slots=True)
class BacktestRow:
    timestamp: str
    value: str
    anomaly_score: float | None
    is_alert: bool


class SeriesError(ValueError):
    """A row of the input series that cannot be read."""


def parse_timestamp(text: str, row: int) -> int:
    """Epoch milliseconds of an RFC 3339 time or of epoch seconds/milliseconds."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SeriesError(
                f"row {row}: timestamp {text!r} is neither RFC 3339 (2026-11-02T10:00:00Z) nor epoch seconds/ms"
            ) from None
        if moment.tzinfo is None:
            raise SeriesError(f"row {row}: timestamp {text!r} has no UTC offset; add Z or +01:00") from None
        return int(moment.timestamp() * 1000)
    return int(number if number > 1e11 else number * 1000)


def parse_value(text: str, row: int) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise SeriesError(f"row {row}: value {text!r} is not a number") from None
    return None if math.isnan(value) else value


def backtest(rows: Iterable[tuple[str, str]], metric: str, config: MetricsConfig) -> Iterator[BacktestRow]:
    """Run the configured detector of `metric` over (timestamp, value) rows in order, one result per row."""
    parsed = [
        (text, parse_timestamp(text, i + 1), value, parse_value(value, i + 1)) for i, (text, value) in enumerate(rows)
    ]
    for i in range(1, len(parsed)):
        if parsed[i][1] <= parsed[i - 1][1]:
            raise SeriesError(f"row {i + 1}: timestamp {parsed[i][0]!r} is not after the row before; sort the file")
    steps = [b[1] - a[1] for a, b in zip(parsed, parsed[1:], strict=False)]
    interval = int(statistics.median(steps)) if steps else MINUTE
    kind, settings = detector_config(config, metric)
    warmup = max(30, math.ceil(config.warmup_minutes * MINUTE / interval))
    detector = SeriesDetector("gauge" if kind == "ratio" else kind, settings, interval, warmup)
    for text, ts, raw, value in parsed:
        if value is None:
            yield BacktestRow(text, raw, None, False)
            continue
        verdict = detector.update(ts, value)
        yield BacktestRow(text, raw, verdict.score, verdict.is_anomalous)
