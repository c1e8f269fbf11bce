"""A folder of synthetic labelled series for `pulse models evaluate --series-folder`: counts, sums, gauges and
ratios at intervals from 1 minute to 1 hour, with and without a daily cycle, each with one level shift (`shift`), spike,
drop or flatline (or none), and the `labels.json` that marks its anomaly window.

Each CSV is `timestamp,value` with ISO 8601 timestamps with a UTC offset. `labels.json` maps a file name to
`{"metric": M, "windows": [[start, end], ...]}`: `metric` names the shipped detector to judge it with (one of the
kind of series it is), the windows are ISO 8601 times. An anomaly starts after 60% of the series; its window
runs from its start for its duration, but at least a twentieth of the series.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> len(write_folder(folder, seed=1, intervals=(60,)))  # 16 kinds of series, each with and without a daily cycle
32
>>> labels = json.loads((folder / "labels.json").read_text())
>>> labels["count_60m_daily_drop.csv"]["metric"], len(labels["count_60m_daily_drop.csv"]["windows"])
('orders', 1)
>>> (folder / "count_60m_daily_drop.csv").read_text().splitlines()[1][:26]
'2026-11-02T00:00:00+00:00,'
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

START = datetime(2026, 11, 2, tzinfo=UTC)
SERIES = {  # kind of series: (metric whose detector judges it, anomalies it gets)
    "count": ("orders", ("shift", "spike", "drop", "flatline", "none")),
    "sum": ("revenue", ("shift", "spike", "drop", "flatline", "none")),
    "gauge": ("views_per_ip", ("spike", "shift", "none")),  # page views per IP: bots push it up
    "ratio": ("payment_failure_rate", ("spike", "shift", "none")),  # failed share of payments
}
INTERVALS = (1, 5, 15, 60)  # minutes
MAX_ROWS = 4000
MAX_DAYS = 21


def daily(minutes: np.ndarray) -> np.ndarray:
    """Busy afternoons, quiet nights: about 0.15 at 04:00 to 1.6 at 15:00."""
    hour = (minutes % 1440) / 60
    return 0.15 + 1.45 * np.maximum(0.0, np.sin(np.pi * (hour - 6) / 18)) ** 1.5


def base_series(kind: str, minutes: np.ndarray, interval: int, seasonal: bool, rng: np.random.Generator) -> np.ndarray:
    """Normal behaviour: counts of about 2 a minute, sums of their amounts, a gauge near 3, a ratio near 3%."""
    level = daily(minutes) if seasonal else np.ones_like(minutes, dtype=float)
    if kind == "count":
        return rng.poisson(2.0 * interval * level).astype(float)
    if kind == "sum":
        counts = rng.poisson(2.0 * interval * level)
        return np.array([rng.lognormal(4.0, 0.6, n).sum() for n in counts]).round(2)
    if kind == "gauge":
        return (3.0 * level + rng.normal(0.0, 0.3, len(minutes))).clip(1.0).round(3)
    payments = np.maximum(rng.poisson(20.0 * interval * level), 1)
    return (rng.binomial(payments, 0.03) / payments).round(4)


def inject(values: np.ndarray, kind: str, anomaly: str, start: int, interval: int) -> int:
    """Change `values` in place from row `start`; return the anomaly's length in rows."""
    length = max(1, math.ceil(60 / interval))  # an hour
    stop = start + length
    if anomaly == "shift":
        values[start:] = values[start:] * (0.4 if kind in ("count", "sum") else 2.5)
        return length
    if anomaly == "spike":
        values[start:stop] = values[start:stop] * 4 + (0.3 if kind == "ratio" else 0)
    elif anomaly == "drop":
        values[start:stop] = values[start:stop] * 0.15
    elif anomaly == "flatline":
        values[start:stop] = 0.0
    return length


def write_folder(folder: Path, seed: int = 7, intervals: tuple[int, ...] = INTERVALS) -> list[Path]:
    """Write every series and `labels.json` into `folder`; return the CSV paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels: dict[str, dict] = {}
    paths = []
    for kind, (metric, anomalies) in SERIES.items():
        for interval in intervals:
            rows = min(MAX_ROWS, MAX_DAYS * 1440 // interval)
            minutes = np.arange(rows) * interval
            for seasonal in (True, False):
                for anomaly in anomalies:
                    name = f"{kind}_{interval}m_{'daily' if seasonal else 'flat'}_{anomaly}.csv"
                    values = base_series(kind, minutes, interval, seasonal, rng)
                    windows = []
                    if anomaly != "none":
                        start = int(rows * 0.6)
                        length = max(inject(values, kind, anomaly, start, interval), rows // 20)
                        windows.append([_time(minutes[start]), _time(minutes[min(start + length, rows - 1)])])
                    lines = ["timestamp,value"] + [f"{_time(m)},{v:g}" for m, v in zip(minutes, values, strict=True)]
                    (folder / name).write_text("\n".join(lines) + "\n")
                    labels[name] = {"metric": metric, "windows": windows}
                    paths.append(folder / name)
    (folder / "labels.json").write_text(json.dumps(labels, indent=1))
    return paths


def _time(minute: int) -> str:
    return (START + timedelta(minutes=int(minute))).isoformat()
