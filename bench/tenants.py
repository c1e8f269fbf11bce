"""Tenant scaling: the same events spread over 100, 1,000 and 10,000 shops, most small and a few large.

`python -m bench.tenants [--tenants 100 1000 10000] [--sessions 12000] [--minutes 12] [--cluster] [--profile N]`
generates, per tenant count, `--sessions` sessions over `--minutes` minutes of traffic, shared among the shops by
a Zipf law (the k-th shop's share proportional to 1/k, at least one session each: `pulse.dev.generate.zipf_sessions`),
so every count sees about the same events. It prints per tenant count: the no-Flink ceiling (`bench.throughput`'s:
parse, every tenant's keyed step in `pulse.job.pipeline.PlainRun`, ClickHouse writes, in one process), the
tenants' kept state at the end (`pulse.job.kept` encode + pickle of each tenant's PipelineState with its risk
model: mean and largest per tenant, and the total), the largest tenant's share of the events and the busiest
keyed subtask's share at parallelism 2 (Flink's key-group assignment, `pulse.dev.key_groups`); with `--cluster`
also the standalone job's steady rate (parallelism 2), its last checkpoint's duration and size. Ratios are to the
first tenant count, measured in the same run. `--profile N` ends with the top N functions of a cProfile of
PlainRun (no writes) at the largest tenant count, by cumulative time, as call counts and shares of the run.
`--digest` prints instead, per tenant count, a digest of PlainRun's rows and of the tenants' kept state at the end
(`rows_digest`): the same in two checkouts means a change left the job's output and state as they were.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pickle
import pprint
import pstats
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import throughput  # first: bench.latency keeps the environment from before any Flink job
from pulse.dev.cluster import PROJECT
from pulse.dev.generate import Generator, zipf_sessions
from pulse.dev.key_groups import subtask
from pulse.inputs import RawRecord
from pulse.job.duplicates import Origin
from pulse.job.kept import Kept, encode
from pulse.job.pipeline import PlainRun
from pulse.tenants.config import load_config_dir
from pulse.tenants.plans import PlanWatcher, plans_file_for

CURRENCIES = ("USD", "EUR", "GBP")
PARALLELISM = 2
CLOCK = frozenset({"ingested_at", "written_at", "created_at"})  # wall-clock columns of the rows
SEEDED = {"PYTHONHASHSEED": "0"}  # digests: the same string hashes, so the same order of kept sets


def shops(count: int, sessions: int, minutes: int) -> list[dict]:
    """`sessions` sessions over `count` shops of Zipf-like sizes (shop00000 the largest), in event-time order."""
    names = [f"shop{i:05d}" for i in range(count)]
    tenants = {name: CURRENCIES[i % len(CURRENCIES)] for i, name in enumerate(names)}
    events, _ = Generator(seed=42, minutes=minutes, tenants=tenants, sessions=zipf_sessions(names, sessions)).run()
    return events


def kept_sizes(plain: PlainRun) -> list[int]:
    """Bytes of each tenant's kept state (its PipelineState with the risk model, as the job pickles it)."""
    return [len(pickle.dumps(Kept(state))) for state in plain.states.values()]


def shares(events: list[dict]) -> tuple[float, float]:
    """The largest tenant's share of the events, and the busiest keyed subtask's at parallelism 2."""
    per_tenant = Counter(event["tenant_id"] for event in events)
    per_subtask = Counter()
    for tenant, count in per_tenant.items():
        per_subtask[subtask(tenant, PARALLELISM)] += count
    return max(per_tenant.values()) / len(events), max(per_subtask.values()) / len(events)


def plain_run(events: list[dict], configs: str, profiler: cProfile.Profile | None = None) -> tuple[PlainRun, list]:
    """PlainRun over `events` (parsed first) and all its rows, the run profiled by `profiler` if given."""
    plain = PlainRun(load_config_dir(configs), PlanWatcher(plans_file_for(configs)), "bench-plain")
    records = [RawRecord("bench", index, json.dumps(event)).parse() for index, event in enumerate(events)]
    if profiler is not None:
        profiler.enable()
    rows = []
    for index, parsed in enumerate(records):
        rows += plain.record("event", parsed.event, Origin("bench", index, 0))
    rows += plain.finish()
    if profiler is not None:
        profiler.disable()
    return plain, rows


def rows_digest(events: list[dict], configs: str) -> tuple[int, str, str]:
    """PlainRun's rows over `events`: how many, a digest of them sorted (without their wall-clock columns), and
    a digest of every tenant's kept state at the end (`pulse.job.kept.encode`, printed with sorted keys and sets)."""
    plain, rows = plain_run(events, configs)
    lines = sorted(
        json.dumps([table, {k: v for k, v in row.items() if k not in CLOCK}], sort_keys=True, default=str)
        for table, row in rows
    )
    kept = pprint.pformat({tenant: encode(state) for tenant, state in plain.states.items()}, width=200)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return len(rows), digest[:16], hashlib.sha256(kept.encode()).hexdigest()[:16]


def profile(events: list[dict], configs: str, top: int) -> None:
    """Print the top functions of PlainRun over `events` by cumulative time: calls and share of the run."""
    profiler = cProfile.Profile()
    plain_run(events, configs, profiler)
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][3], reverse=True)[:top]
    print("\n| calls | cumulative share | function |\n| --- | --- | --- |")
    for (file, line, name), (_, calls, _, cumulative, _) in rows:
        where = f"{Path(file).relative_to(PROJECT)}:{line}" if file.startswith(str(PROJECT)) else Path(file).name
        print(f"| {calls:,} | {cumulative / total:.0%} | {name} ({where}) |")


def kib(size: float) -> str:
    return f"{size / 1024:,.1f} KiB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tenants", description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, nargs="+", default=[100, 1000, 10000], help="the first: the baseline")
    parser.add_argument("--sessions", type=int, default=12000, help="sessions in all, for every tenant count")
    parser.add_argument("--minutes", type=int, default=12, help="minutes of traffic")
    parser.add_argument("--cluster", action="store_true", help="also run the job on a standalone cluster (p=2)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print a profile's top N functions")
    parser.add_argument("--digest", action="store_true", help="print digests of PlainRun's rows and state only")
    args = parser.parse_args(argv)
    configs = str(PROJECT / "configs")
    if args.digest and os.environ.get("PYTHONHASHSEED") != "0":  # kept sets are kept in their hash order
        os.execve(sys.executable, sys.orig_argv, os.environ | SEEDED)  # the same command, seeded
    if args.digest:
        print("| shops | rows | rows digest | kept state digest |\n| --- | --- | --- | --- |")
        for count in args.tenants:
            print(
                "| {:,} | {:,} | {} | {} |".format(
                    count, *rows_digest(shops(count, args.sessions, args.minutes), configs)
                )
            )
        return
    folder = Path(tempfile.mkdtemp(prefix="pulse-bench-tenants-"))
    results = []
    try:
        for count in args.tenants:
            events = shops(count, args.sessions, args.minutes)
            rate, plain = throughput.ceiling_run(events, configs, f"chdb://{folder / f'ch-ceiling-{count}'}")
            sizes = kept_sizes(plain)
            largest, busiest = shares(events)
            result = {"tenants": count, "events": len(events), "rate": rate, "sizes": sizes}
            result |= {"largest": largest, "busiest": busiest}
            if args.cluster:
                run = folder / f"cluster-{count}"
                run.mkdir()
                dsn = f"chdb://{folder / f'ch-cluster-{count}'}"
                result["cluster"] = throughput.standalone(events, run, configs, dsn, PARALLELISM)
            results.append(result)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(results)
    if args.profile:
        profile(shops(max(args.tenants), args.sessions, args.minutes), configs, args.profile)


def print_table(results: list[dict]) -> None:
    base = results[0]
    cluster = "cluster" in base
    head = "| shops | events | ceiling, events/s | × base | kept state per tenant, mean / max | in all |"
    head += " largest shop | busiest subtask (p=2) |"
    if cluster:
        head += " cluster job (p=2), events/s | × base | checkpoint busy, longest | caught up | checkpoint size |"
    print(head + "\n|" + " --- |" * (head.count("|") - 1))
    for r in results:
        sizes = r["sizes"]
        line = (
            f"| {r['tenants']:,} | {r['events']:,} | {r['rate']:,.0f} | {r['rate'] / base['rate']:.2f} | "
            f"{kib(sum(sizes) / len(sizes))} / {kib(max(sizes))} | {sum(sizes) / 2**20:,.1f} MiB | "
            f"{r['largest']:.1%} | {r['busiest']:.0%} |"
        )
        if cluster:
            c, b = r["cluster"], base["cluster"]
            line += (
                f" {c['rate']:,.0f} | {c['rate'] / b['rate']:.2f} | {c['busy_ms'] / 1000:.1f} s | "
                f"{c['checkpoint_ms'] / 1000:.1f} s | "
                f"{c['state'] / 2**20:,.1f} MiB |"
            )
        print(line)


if __name__ == "__main__":
    main()
