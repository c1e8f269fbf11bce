"""Throughput benchmark: the scoring job on Flink vs the same Python logic without Flink (the ceiling).

`python -m bench.throughput [--runs 3] [--minutes 12] [--tenants 100]` prints, in one run on this machine:
events/s through the whole job on the mini-cluster (`pulse run`'s path) and on a standalone cluster
(JobManager + TaskManager processes, `flink run`), the no-Flink ceiling (the same parse, per-tenant step
and ClickHouse writes in one process), their ratios, the cluster's checkpoint duration and state size per
tenant (REST API), and the end-to-end latency REST accept → alert → webhook at half the max rate
(`bench.latency`, own Kafka path).
Throughput is measured from the rows' `ingested_at` span, so Flink's fixed start-up is not counted. The ceiling
and the mini-cluster job run `--runs` times, alternating (this machine's speed drifts by a fifth within an hour, so
each ratio compares neighbours); the table gives the median ratio and the runs' figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from bench import latency  # first: it keeps the environment from before any Flink job
from pulse.dev.cluster import PROJECT, Cluster
from pulse.dev.generate import Generator
from pulse.inputs import RawRecord
from pulse.job import gc_tuning
from pulse.job.duplicates import Origin
from pulse.job.pipeline import PlainRun
from pulse.store.clickhouse import store
from pulse.store.writer import BatchWriter
from pulse.tenants.config import load_config_dir
from pulse.tenants.plans import PlanWatcher, plans_file_for

CURRENCIES = ("USD", "EUR", "GBP")


def stream(minutes: int, tenants: int) -> list[dict]:
    """A realistic mix: sessions of mostly page views, a few percent orders and payments, many tenants."""
    names = {f"shop{i:03d}": CURRENCIES[i % len(CURRENCIES)] for i in range(tenants)}
    events, _ = Generator(seed=42, minutes=minutes, tenants=names).run()
    return events


def stage(events: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    hidden = path.with_name("." + path.name)
    with hidden.open("w") as out:
        for index, event in enumerate(events):
            out.write(RawRecord("bench", index, json.dumps(event)).to_json() + "\n")
    hidden.rename(path)


def ceiling(events: list[dict], configs: str, dsn: str) -> float:
    """Events/s of the job's Python logic in one process, no Flink: read each envelope and parse it, run every
    tenant's keyed step (`pulse.job.pipeline.PlainRun`) and write the rows to ClickHouse
    (`pulse.store.writer.BatchWriter`)."""
    return ceiling_run(events, configs, dsn)[0]


def ceiling_run(events: list[dict], configs: str, dsn: str) -> tuple[float, PlainRun]:
    """`ceiling`'s events/s and the PlainRun it ran (its tenants' state at the end)."""
    plain = PlainRun(load_config_dir(configs), PlanWatcher(plans_file_for(configs)), "bench-ceiling")
    gc_tuning.tune()  # as the job's worker does
    lines = [RawRecord("bench", index, json.dumps(event)).to_json() for index, event in enumerate(events)]
    with store(dsn) as s:
        s.migrate()
        writer = BatchWriter(s)
        started = time.perf_counter()
        for line in lines:
            record = RawRecord.from_json(line)
            parsed = record.parse()
            origin = Origin(record.source, record.index, record.received or 0)
            for table, row in plain.record("event", parsed.event, origin):
                writer.add(table, row)
        for table, row in plain.finish():
            writer.add(table, row)
        writer.flush()
        return len(events) / (time.perf_counter() - started), plain


def rate_from_clickhouse(dsn: str, run_id: str) -> tuple[int, float]:
    """(rows, events/s) of a run from the span of its rows' ingestion times."""
    with store(dsn, wait_s=120) as s:
        rows, seconds = s.query(
            "SELECT count(), dateDiff('millisecond', min(ingested_at), max(ingested_at)) / 1000 "
            "FROM scored_events FINAL WHERE run_id = {run:String}",
            {"run": run_id},
        )[1][0]
    return rows, rows / max(seconds, 1e-3)


def mini_cluster(staging: Path, configs: str, dsn: str) -> tuple[int, float, float]:
    """Rows, steady events/s and wall seconds (incl. start-up) of the job on the local mini-cluster."""
    from jobs.environment import local_environment
    from jobs.scoring import build_job, options

    started = time.monotonic()
    env = local_environment()
    build_job(
        env, options(["--staging", str(staging), "--configs", configs, "--clickhouse", dsn, "--run-id", "bench-local"])
    )
    env.execute("pulse-bench")
    wall = time.monotonic() - started
    rows, rate = rate_from_clickhouse(dsn, "bench-local")
    return rows, rate, wall


def standalone(events: list[dict], folder: Path, configs: str, dsn: str, parallelism: int) -> dict:
    """Run the job on a standalone cluster over a watched folder; throughput and checkpoint statistics: the
    longest checkpoint while the job works through the input (`busy_ms`; under back-pressure a barrier waits behind
    the events in flight) and the first one after it has caught up."""
    cluster = Cluster(home=folder / "flink")
    landing = folder / "landing"
    landing.mkdir()
    cluster.up()
    try:
        args = ["--watch", str(landing), "--configs", configs, "--clickhouse", dsn, "--run-id", "bench-cluster"]
        job = cluster.submit(args, parallelism=parallelism)
        cluster.wait_job(job, {"RUNNING"})
        stage(events, landing / "events.ndjson")
        busy: dict[int, dict] = {}
        deadline = time.monotonic() + 600
        while cluster.vertex_records(job, "score")[0] < len(events) and time.monotonic() < deadline:
            busy |= completed_checkpoints(cluster, job)
            time.sleep(2)
        stats = caught_up(cluster, job, busy)
        cluster.stop_with_savepoint(job)
    finally:
        cluster.down()
    rows, rate = rate_from_clickhouse(dsn, "bench-cluster")
    longest = max((c["end_to_end_duration"] for c in busy.values()), default=0)
    return {"rows": rows, "rate": rate, "busy_ms": longest, "checkpoint_ms": stats["end_to_end_duration"],
            "state": stats["state_size"]}  # fmt: skip


def completed_checkpoints(cluster: Cluster, job: str) -> dict[int, dict]:
    """The job's completed checkpoints in the REST API's history (the latest ten), by id."""
    return {c["id"]: c for c in cluster.checkpoints(job)["history"] if c["status"] == "COMPLETED"}


def caught_up(cluster: Cluster, job: str, busy: dict[int, dict]) -> dict:
    """The first checkpoint after the keyed step's output stood still over two checkpoints (every event scored,
    every row sent; the REST API's figures lag by seconds); the ones before it go into `busy`."""
    latest, written, still = cluster.wait_checkpoint(job), -1, 0
    while still < 2:
        latest = cluster.wait_checkpoint(job, after=latest)
        busy |= completed_checkpoints(cluster, job)
        now = cluster.vertex_records(job, "score")[1]
        still, written = (still + 1 if now == written else 0), now
    latest = cluster.wait_checkpoint(job, after=latest)
    return completed_checkpoints(cluster, job)[latest]


def figures(values: Iterable[float], spec: str = ",.0f") -> str:
    """The runs' figures of one measure, in run order."""
    return ", ".join(format(value, spec) for value in values)


def latency_rest_to_alert_and_webhook(seconds: float) -> dict:
    """p50/p95/p99 of REST accept → alert detected and → webhook delivered at half the max rate (`bench.latency`)."""
    return latency.main(["--seconds", str(seconds)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=12, help="minutes of synthetic traffic per tenant")
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3, help="of the ceiling and the mini-cluster job (default 3)")
    parser.add_argument("--parallelism", type=int, default=2, help="of the standalone-cluster job")
    parser.add_argument("--latency-seconds", type=float, default=60.0, help="measured phase of bench.latency (0: skip)")
    args = parser.parse_args(argv)
    configs = str(PROJECT / "configs")
    events = stream(args.minutes, args.tenants)
    kinds = {k: sum(e["event_type"] == k for e in events) / len(events) for k in ("page_view", "order_placed")}
    folder = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    try:
        staged = folder / "staging" / "events.ndjson"
        stage(events, staged)
        runs = []  # (ceiling, mini-cluster rows, steady rate, wall seconds)
        for run in range(args.runs):
            top = ceiling(events, configs, f"chdb://{folder / f'ch-ceiling-{run}'}")
            runs.append((top, *mini_cluster(staged, configs, f"chdb://{folder / f'ch-local-{run}'}")))
        remote = standalone(events, folder, configs, f"chdb://{folder / 'ch-cluster'}", args.parallelism)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{len(events)} events, {args.tenants} tenants; page views {kinds['page_view']:.0%}, "
        f"orders {kinds['order_placed']:.1%}"
    )
    ratio = statistics.median(rate / top for top, _, rate, _ in runs)
    top, local_rows, _, local_wall = runs[-1]  # the standalone job's ratio: to the ceiling run next to it
    print("| measure | value |\n| --- | --- |")
    print(f"| no-Flink ceiling (same Python logic and writes, 1 process) | {figures(r[0] for r in runs)} events/s |")
    print(f"| mini-cluster job, steady state | {figures(r[2] for r in runs)} events/s |")
    ratios = figures((r[2] / r[0] for r in runs), ".0%")
    print(f"| mini-cluster job / ceiling, median of {len(runs)} runs | {ratio:.0%} (runs: {ratios}) |")
    print(
        f"| mini-cluster job, wall clock incl. start-up | {local_rows / local_wall:,.0f} events/s "
        f"({local_wall:.1f} s) |"
    )
    print(
        f"| standalone cluster job (p={args.parallelism}), steady state | {remote['rate']:,.0f} events/s "
        f"({remote['rate'] / top:.0%} of ceiling) |"
    )
    print(f"| checkpoint duration (end to end), longest while busy | {remote['busy_ms']} ms |")
    print(f"| checkpoint duration (end to end), caught up | {remote['checkpoint_ms']} ms |")
    print(
        f"| checkpoint state size | {remote['state'] / 1024:,.0f} KiB, "
        f"{remote['state'] / args.tenants / 1024:,.1f} KiB per tenant |"
    )
    assert {rows for _, rows, _, _ in runs} == {remote["rows"]} == {len(events)}, (runs, remote["rows"], len(events))
    lat = latency_rest_to_alert_and_webhook(args.latency_seconds) if args.latency_seconds else None  # prints its table
    if lat:
        print("\n| measure | value |\n| --- | --- |")
        for name, label in (("accept → alert detected (alerts.created_at)", "alert detected"),
                            ("accept → webhook delivered", "webhook delivered")):  # fmt: skip
            f = lat[name]
            print(
                f"| REST accept → {label} p50/p95/p99 (at {lat['rate']:,.0f} events/s, half the max) | "
                f"{f['p50']:.2f} / {f['p95']:.2f} / {f['p99']:.2f} s ({f['n']} probes) |"
            )


if __name__ == "__main__":
    main()
