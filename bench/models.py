"""Benchmark: events/s of the job's keyed operator inside Flink against the same code in plain Python.

    .venv/bin/python bench/models.py [--runs 5] [--minutes 360] [--sessions-per-minute 4]

The keyed operator (operators/pipeline.py) runs the per-tenant logic of pulse/job/pipeline.py: rules, the River
risk model on orders and payments, the per-minute metric detectors and usage metering. Both sides get the
same parsed events (the default synthetic stream: 3 tenants). Inside Flink the operator runs at parallelism 1
on the mini-cluster, fed from a collection of JSON lines (decoded by a map before keying); its rate is
measured inside the operator from its first to its last event, so Flink's ~10 s start-up is left out and
reported apart. Plain Python runs the same TenantPipeline objects in a loop, advancing event time as the
job's watermark would. A keyed pass-through that does no work gives Flink's floor. Each side runs `--runs`
times, alternating (this machine's speed drifts by a fifth within an hour, so each ratio compares neighbours).
Printed: both rates and their ratio per run, and the median ratio (goal: at least 0.5).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyflink.common import Duration, Types  # noqa: E402
from pyflink.datastream import KeyedBroadcastProcessFunction  # noqa: E402
from pyflink.datastream.connectors.base import Sink  # noqa: E402

from jobs.environment import local_environment  # noqa: E402
from jobs.scoring import DISCARD, rule_updates  # noqa: E402
from operators.pipeline import UPDATED_CONFIGS, RunPipeline  # noqa: E402
from operators.time import event_time  # noqa: E402
from pulse.cli.common import PROJECT_CONFIGS  # noqa: E402
from pulse.dev.generate import Generator  # noqa: E402
from pulse.events import parse_record  # noqa: E402
from pulse.eventtime import ALLOWED_LATENESS_MS  # noqa: E402
from pulse.job import gc_tuning  # noqa: E402
from pulse.job.pipeline import PlainRun  # noqa: E402
from pulse.tenants.config import load_config_dir  # noqa: E402
from pulse.tenants.plans import PlanWatcher, plans_file_for  # noqa: E402


class Timed:
    """Mixin: records the operator's first and last event time and count, written out at close."""

    def _tick(self) -> None:
        now = time.perf_counter()
        if not getattr(self, "count", 0):
            self.first = now
            self.count = 0
        self.count += 1
        self.last = now

    def close(self) -> None:
        if getattr(self, "count", 0):
            with open(self.report_to, "a") as f:
                f.write(json.dumps({"events": self.count, "seconds": self.last - self.first}) + "\n")


class TimedPipeline(Timed, RunPipeline):
    def process_element(self, value, ctx):
        self._tick()
        yield from super().process_element(value, ctx)


class PassThrough(Timed, KeyedBroadcastProcessFunction):
    """The floor: a keyed operator of the same shape that only counts the event in its state."""

    def open(self, runtime_context):
        from pyflink.datastream.state import ValueStateDescriptor

        self.state = runtime_context.get_state(ValueStateDescriptor("n", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value, ctx):
        self._tick()
        self.state.update((self.state.value() or 0) + 1)
        return ()

    def process_broadcast_element(self, value, ctx):
        return ()


def flink_rate(operator, events: list[dict], report: Path) -> tuple[float, float]:
    """(events/s inside the operator, wall seconds of the whole job)."""
    operator.report_to = str(report)
    env = local_environment(1)
    lines = env.from_collection([json.dumps(e) for e in events], type_info=Types.STRING())
    pairs = lines.map(lambda line: ("event", json.loads(line)), output_type=Types.PICKLED_BYTE_ARRAY())
    pairs = pairs.assign_timestamps_and_watermarks(event_time(Duration.of_millis(ALLOWED_LATENESS_MS)))
    keyed = pairs.key_by(lambda pair: pair[1]["tenant_id"], key_type=Types.STRING())
    out = keyed.connect(rule_updates(env).broadcast(UPDATED_CONFIGS)).process(operator)
    out.sink_to(Sink(DISCARD))
    started = time.perf_counter()
    env.execute("bench-models")
    wall = time.perf_counter() - started
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    return sum(r["events"] for r in rows) / max(r["seconds"] for r in rows), wall


def plain_rate(events: list[dict]) -> float:
    """Events/s of the same TenantPipeline objects in one loop (pulse.job.pipeline.PlainRun), no Flink."""
    plain = PlainRun(load_config_dir(PROJECT_CONFIGS), PlanWatcher(plans_file_for(PROJECT_CONFIGS)), "bench")
    gc_tuning.tune()  # as the job's worker does
    started = time.perf_counter()
    for event in events:
        plain.record("event", event)
    plain.finish()
    return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (default 5)")
    parser.add_argument("--minutes", type=int, default=360)
    parser.add_argument("--sessions-per-minute", type=float, default=4.0)
    args = parser.parse_args()
    raw, _ = Generator(minutes=args.minutes, sessions_per_minute=args.sessions_per_minute).run()
    events = [parse_record(e, source="bench", index=i).event for i, e in enumerate(raw)]
    scored = sum(1 for e in events if e["event_type"] in ("order_placed", "payment_succeeded", "payment_failed"))
    print(f"{len(events)} events, 3 tenants, {scored} of them orders and payments (the risk model scores those)")
    name = "pipeline (rules, risk, metrics, usage)"
    print(f"{'run':4} {'operator':40} {'Flink ev/s':>11} {'Python ev/s':>12} {'ratio':>6}  job wall time")
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, args.runs + 1):
            python = plain_rate(events)
            operator = TimedPipeline(str(PROJECT_CONFIGS), "bench", ALLOWED_LATENESS_MS)
            inside, wall = flink_rate(operator, events, Path(folder) / f"pipeline-{run}.jsonl")
            ratios.append(inside / python)
            print(f"{run:<4} {name:40} {inside:11,.0f} {python:12,.0f} {ratios[-1]:6.2f}  {wall:.1f} s", flush=True)
        floor, floor_wall = flink_rate(PassThrough(), events, Path(folder) / "floor.jsonl")
    print(f"{'':4} {'keyed pass-through (Flink floor)':40} {floor:11,.0f} {'':>12} {'':>6}  {floor_wall:.1f} s")
    print(f"median ratio of {args.runs} runs: {statistics.median(ratios):.2f} (goal: at least 0.5)")


if __name__ == "__main__":
    main()
