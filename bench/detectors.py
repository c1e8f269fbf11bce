"""One metric detector's update: CPU per update of each kind, with full windows, and a digest of what it did.

`python -m bench.detectors [--minutes 20000] [--runs 3] [--profile N]` feeds each shipped default detector kind
(`models.business_metrics.DEFAULTS`: orders a count, revenue a sum, conversion a ratio, checkout completion a
share, and a gauge with the orders config) `--minutes` minutes of a seeded series: a daily and weekly cycle with
noise, and a few incidents (a drop to a fifth for 40 minutes, a spike to three times for 20). Warm-up (60
minutes) and the first long window are over after the first hour, so nearly every update judges full windows.
It prints per kind the CPU microseconds per update (process time, the best of `--runs`) and a digest of every
verdict and of the detector's kept state at the end (`pulse.job.kept.encode`): the same digests in two checkouts
mean a change left the detectors' output and state as they were. `--profile N` ends with the top N functions of
a cProfile of one run of every kind, by internal time.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import math
import pprint
import pstats
import random
import time

from models.business_metrics import detector_config
from models.detectors import MINUTE, SeriesDetector
from pulse.job.kept import encode
from pulse.tenants.config import MetricsConfig

METRICS = {"count": "orders", "sum": "revenue", "ratio": "conversion", "share": "checkout_completion"}
WARMUP = 60
START = 4 * 24 * 60 * MINUTE  # Monday 1970-01-05 00:00
INCIDENTS = ((3_000, 40, 0.2), (7_500, 20, 3.0), (12_000, 40, 0.2), (16_500, 20, 3.0))  # start, minutes, factor


def series(kind: str, minutes: int) -> list[tuple[float, float | None]]:
    """A seeded day-and-week cycle with noise and INCIDENTS: values, with denominators for ratios and shares."""
    rng = random.Random(7)
    points = []
    for minute in range(minutes):
        day = 1.0 + 0.6 * math.sin(2 * math.pi * (minute % 1440) / 1440)
        week = 0.8 if minute // 1440 % 7 >= 5 else 1.0
        factor = next((f for start, span, f in INCIDENTS if start <= minute < start + span), 1.0)
        level = 12.0 * day * week
        if kind in ("ratio", "share"):
            den = float(max(0, round(rng.gauss(level * 3, math.sqrt(level * 3)))))
            share = min(1.0, 0.3 * factor)
            points.append((float(sum(rng.random() < share for _ in range(int(den)))), den))
        elif kind == "sum":
            points.append((round(sum(rng.expovariate(1 / 40) for _ in range(int(level * factor))), 2), None))
        else:
            points.append((float(max(0, round(rng.gauss(level * factor, math.sqrt(level))))), None))
    return points


def detector(kind: str) -> SeriesDetector:
    _, config = detector_config(MetricsConfig(), METRICS.get(kind, "orders"))
    return SeriesDetector(kind, config, MINUTE, WARMUP)


def run(kind: str, points: list[tuple[float, float | None]]) -> tuple[float, str]:
    """CPU seconds of feeding `points` to a new detector of `kind`, and a digest of its verdicts and kept state."""
    metric = detector(kind)
    update = metric.update
    started = time.process_time()
    verdicts = [update(START + i * MINUTE, value, den) for i, (value, den) in enumerate(points)]
    seconds = time.process_time() - started
    kept = pprint.pformat(encode(metric), width=200)
    digest = hashlib.sha256((repr(verdicts) + kept).encode()).hexdigest()[:16]
    return seconds, digest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.detectors", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=20_000, help="minutes fed to each detector")
    parser.add_argument("--runs", type=int, default=3, help="runs per kind; the best is reported")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print a profile's top N functions")
    args = parser.parse_args(argv)
    kinds = ("count", "sum", "gauge", "ratio", "share")
    inputs = {kind: series(kind, args.minutes) for kind in kinds}
    print("| kind | µs per update | digest |\n| --- | --- | --- |")
    for kind in kinds:
        results = [run(kind, inputs[kind]) for _ in range(args.runs)]
        assert len({digest for _, digest in results}) == 1
        print(f"| {kind} | {min(s for s, _ in results) / args.minutes * 1e6:.1f} | {results[0][1]} |")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for kind in kinds:
            run(kind, inputs[kind])
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
