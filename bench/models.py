"""Benchmark: events/s of the keyed model operators inside Flink against the same code in plain Python.

    .venv/bin/python bench/models.py [--minutes 360] [--sessions-per-minute 4]

Both sides get the same parsed events (the default synthetic stream: 3 tenants). Inside Flink the
operator runs at parallelism 1 on the mini-cluster, fed from a collection of JSON lines (decoded by
a map before keying) and keyed by tenant; its
rate is measured inside the operator, from its first to its last event (so Flink's ~10 s start-up is
left out, and reported apart). Plain Python runs the same per-tenant objects in a loop. Printed per
operator: both rates and their ratio (goal: at least 0.5).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyflink.common import Types  # noqa: E402
from pyflink.datastream.connectors.base import Sink  # noqa: E402

from jobs.environment import local_environment  # noqa: E402
from jobs.scoring import ALLOWED_LATENESS, DISCARD  # noqa: E402
from models.business_metrics import TenantMetrics  # noqa: E402
from operators.metrics import DetectMetricAnomalies  # noqa: E402
from operators.scoring import ScoreEvents  # noqa: E402
from operators.time import event_time  # noqa: E402
from pulse.cli import PROJECT_CONFIGS  # noqa: E402
from pulse.config import load_config_dir  # noqa: E402
from pulse.events import parse_record  # noqa: E402
from pulse.generate import Generator  # noqa: E402
from pulse.scoring import TenantScorer  # noqa: E402


class Timed:
    """Mixin: records the operator's first and last event time and count, written out at close."""

    def _tick(self) -> None:
        now = time.perf_counter()
        if not getattr(self, "count", 0):
            self.first = now
            self.count = 0
        self.count += 1
        self.last = now

    def _report(self) -> None:
        if getattr(self, "count", 0):
            with open(self.report_to, "a") as f:
                f.write(json.dumps({"events": self.count, "seconds": self.last - self.first}) + "\n")


class TimedScore(Timed, ScoreEvents):
    def process_element(self, event, ctx):
        self._tick()
        yield from super().process_element(event, ctx)

    def close(self):
        self._report()


class PassThrough(Timed, ScoreEvents):
    """The floor: the same keyed operator touching its state, doing no work, yielding the event."""

    def process_element(self, event, ctx):
        self._tick()
        self.state.update(self.state.value() or self._scorer(event["tenant_id"]).new_state())
        yield "scored_events", event

    def close(self):
        self._report()


class TimedMetrics(Timed, DetectMetricAnomalies):
    def process_element(self, event, ctx):
        self._tick()
        yield from super().process_element(event, ctx) or ()

    def close(self):
        self._report()


def flink_rate(operator, events: list[dict], report: Path) -> tuple[float, float]:
    """(events/s inside the operator, wall seconds of the whole job)."""
    operator.report_to = str(report)
    env = local_environment(1)
    lines = env.from_collection([json.dumps(e) for e in events], type_info=Types.STRING())
    stream = lines.map(json.loads, output_type=Types.PICKLED_BYTE_ARRAY())
    stream = stream.assign_timestamps_and_watermarks(event_time(ALLOWED_LATENESS))
    keyed = stream.key_by(lambda e: e["tenant_id"], key_type=Types.STRING()).process(operator)
    keyed.sink_to(Sink(DISCARD))
    started = time.perf_counter()
    env.execute("bench-models")
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    return sum(r["events"] for r in rows) / max(r["seconds"] for r in rows), wall


def plain_score_rate(events: list[dict]) -> float:
    configs = load_config_dir(PROJECT_CONFIGS)
    scorers = {t: TenantScorer(t, configs.for_tenant(t)) for t in {e["tenant_id"] for e in events}}
    states = {t: s.new_state() for t, s in scorers.items()}
    started = time.perf_counter()
    for event in events:
        scorers[event["tenant_id"]].score(event, states[event["tenant_id"]], "bench")
    return len(events) / (time.perf_counter() - started)


def plain_metrics_rate(events: list[dict]) -> float:
    configs = load_config_dir(PROJECT_CONFIGS)
    tenants: dict[str, TenantMetrics] = defaultdict(lambda: None)
    started = time.perf_counter()
    for event in events:
        metrics = tenants[event["tenant_id"]] or TenantMetrics(configs.for_tenant(event["tenant_id"]).models.metrics)
        tenants[event["tenant_id"]] = metrics
        metrics.add(event)
        metrics.close(event["ts"] - 60_000)
    return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=360)
    parser.add_argument("--sessions-per-minute", type=float, default=4.0)
    args = parser.parse_args()
    raw, _ = Generator(minutes=args.minutes, sessions_per_minute=args.sessions_per_minute).run()
    events = [parse_record(e, source="bench", index=i).event for i, e in enumerate(raw)]
    scored = sum(1 for e in events if e["event_type"] in ("order_placed", "payment_succeeded", "payment_failed"))
    print(f"{len(events)} events, 3 tenants, {scored} of them orders and payments (the risk model scores those)")
    with tempfile.TemporaryDirectory() as folder:
        results = []
        for name, operator, plain in (
            ("scoring (rules + risk model)", TimedScore(str(PROJECT_CONFIGS), "bench"), plain_score_rate),
            ("metrics (per-minute detectors)", TimedMetrics(str(PROJECT_CONFIGS), "bench"), plain_metrics_rate),
        ):
            python = plain(events)
            inside, wall = flink_rate(operator, events, Path(folder) / f"{len(results)}.jsonl")
            results.append((name, inside, python, wall))
        floor, floor_wall = flink_rate(PassThrough(str(PROJECT_CONFIGS), "bench"), events, Path(folder) / "floor.jsonl")
    print(f"{'operator':34} {'Flink ev/s':>11} {'Python ev/s':>12} {'ratio':>6}  job wall time")
    for name, inside, python, wall in results:
        print(f"{name:34} {inside:11,.0f} {python:12,.0f} {inside / python:6.2f}  {wall:.1f} s")
    print(f"{'keyed pass-through (Flink floor)':34} {floor:11,.0f} {'':>12} {'':>6}  {floor_wall:.1f} s")


if __name__ == "__main__":
    main()
