"""`pulse run`: the scoring job on Flink's local mini-cluster over bounded files, then a report from ClickHouse.

`pulse run` and `pulse stream` start the job as a process of its own, `python -m jobs.scoring ... --local RUN_DIR`:
the entry point a cluster runs (`flink run --python jobs/scoring.py`), which wires the job in one place and reports
its restarts and, when Flink gives up, the cause (pulse/cli/execution.py). So `pulse` imports nothing of the job's
modules (jobs/ and operators/ import pulse, not the other way round).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.markup import escape

from pulse.cli.common import LATENESS, PROJECT_CONFIGS, console, errors, load_configs_or_report, print_table, with_dsn
from pulse.cli.execution import JobFailed
from pulse.eventtime import ALLOWED_LATENESS_MS
from pulse.job.duplicates import DUPLICATE
from pulse.store.clickhouse import store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the scoring job locally on bounded input files")
    p.add_argument("--input", nargs="+", required=True, help="JSON Lines, CSV or Parquet files")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--tenant", help="the tenant these files belong to; records naming another are rejected")
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--run-id", default=None)
    p.add_argument(
        "--allowed-lateness",
        default=LATENESS,
        help=f"how far behind the newest event an event may be and still count in windows (default {LATENESS}; "
        "later ones are scored and flagged is_late)",
    )
    with_dsn(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from pulse.rules.durations import parse_duration

    try:
        lateness_ms = parse_duration(args.allowed_lateness)
    except ValueError as exc:
        errors.print(f"--allowed-lateness: {exc}", markup=False, highlight=False)
        return 2
    if lateness_ms % 1000:
        errors.print(f"--allowed-lateness: {args.allowed_lateness!r} is not whole seconds: write e.g. 2s", markup=False)
        return 2
    if load_configs_or_report(args.configs) is None:
        return 2
    run_id = args.run_id or datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
    started = time.monotonic()
    report = run_local(
        [Path(p) for p in args.input],
        args.configs,
        args.clickhouse,
        run_id,
        tenant=args.tenant,
        parallelism=args.parallelism,
        allowed_lateness_s=lateness_ms // 1000,
    )
    console.print(f"run {run_id}: {report.counts()} ({time.monotonic() - started:.1f} s)", markup=False)
    _print_summaries(report.summaries[1])
    if report.rejected or report.duplicates:
        print_table("Records not scored, by reason", *report.rejections)
    return conserved(report, run_id)


def conserved(report: RunReport, run_id: str) -> int:
    """0 if every record read is scored, rejected or a duplicate; else say what does not add up and return 1."""
    if report.conserved:
        return 0
    errors.print(report.mismatch(run_id), markup=False, soft_wrap=True)
    return 1


def _print_summaries(rows: list[tuple]) -> None:
    console.print(f"\n[bold]Incident summaries[/bold] ({len(rows)} shown)")
    for tenant, when, severity, cause, summary in rows:
        console.print(f"\n[bold]{escape(tenant)}[/bold] {when} \\[{severity}] {escape(cause)}", highlight=False)
        console.print(f"  {summary}", highlight=False, markup=False)


@dataclass
class RunReport:
    """What one run read and what became of each record: scored, rejected, or a duplicate (pulse/job/duplicates.py)."""

    read: int
    scored: int
    rejected: int
    duplicates: int
    alerts: int
    summaries: tuple[list[str], list[tuple]]
    rejections: tuple[list[str], list[tuple]]

    @property
    def conserved(self) -> bool:
        return self.read == self.scored + self.rejected + self.duplicates

    def counts(self) -> str:
        """E.g. `read 10 records -> 7 scored, 2 rejected, 1 duplicates, 0 alerts`."""
        return (
            f"read {self.read} records -> {self.scored} scored, {self.rejected} rejected, "
            f"{self.duplicates} duplicates, {self.alerts} alerts"
        )

    def mismatch(self, run_id: str) -> str:
        """What is wrong when the counts do not add up, and what to do."""
        found = self.scored + self.rejected + self.duplicates
        counts = (
            f"count mismatch in run {run_id}: read {self.read} records, but scored {self.scored} + rejected "
            f"{self.rejected} + duplicates {self.duplicates} = {found}"
        )
        if found > self.read:
            return f"{counts}: run {run_id} also holds rows of other input; run under a new --run-id"
        return (
            f"{counts}: {self.read - found} records are not in ClickHouse. Look for the job's errors above; an event "
            "repeated beyond the duplicate bounds (README, Counting records) replaces its first row in scored_events"
        )


def stage(inputs: list[Path], staging: Path, tenant: str | None, received: int) -> int:
    """Write every input record as one envelope line (source, index, payload, receive time); return the count."""
    from pulse.inputs import read_records  # pyarrow: imported when a run needs it

    staging.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with staging.open("w") as out:
        for path in inputs:
            for record in read_records(path, tenant=tenant, received=received):
                out.write(record.to_json() + "\n")
                count += 1
    return count


def run_local(
    inputs: list[Path],
    configs_dir: str,
    dsn: str,
    run_id: str,
    tenant: str | None = None,
    parallelism: int | None = None,
    allowed_lateness_s: int = ALLOWED_LATENESS_MS // 1000,
) -> RunReport:
    """Stage the inputs, run the job to completion, and count what landed for this run."""
    for path in inputs:
        if not path.is_file():
            raise FileNotFoundError(f"input file {path} does not exist")
    staging = Path(".run") / run_id / "records.ndjson"
    read = stage(inputs, staging, tenant, received_earlier(dsn, run_id) or time.time_ns() // 1_000_000)
    options = ["--staging", str(staging.resolve()), "--allowed-lateness", str(allowed_lateness_s)]
    run_job(options, configs_dir, dsn, run_id, parallelism)  # checkpoints in .run/RUN_ID/checkpoints
    return report(dsn, run_id, read)


def job_command(options: list[str], configs_dir: str, dsn: str, run_id: str, parallelism: int | None) -> list[str]:
    """The command line of a local job: `python -m jobs.scoring` with `options` and the common ones."""
    local = ["--local", str(Path(".run") / run_id), *(["--parallelism", str(parallelism)] if parallelism else [])]
    common = ["--configs", configs_dir, "--clickhouse", dsn, "--run-id", run_id]
    return [sys.executable, "-m", "jobs.scoring", *options, *common, *local]


def run_job(options: list[str], configs_dir: str, dsn: str, run_id: str, parallelism: int | None) -> None:
    """Run the job to its end, its output on this process's; raise JobFailed if it stopped otherwise (it has
    said why: its restarts, the cause in plain words and where Flink's trace is)."""
    command = job_command(options, configs_dir, dsn, run_id, parallelism)
    exit_code = subprocess.run(command).returncode
    if exit_code != 0:
        raise JobFailed(f"the scoring job of run {run_id} stopped (exit code {exit_code}); the cause is above")


def received_earlier(dsn: str, run_id: str) -> int | None:
    """When an earlier run under `run_id` received its records (epoch ms), if it stored any reject: a re-run under
    the same run id is a replay of that run, so its rejects keep their receive time (and usage minute). Migrates
    the tables first."""
    sql = "SELECT toUnixTimestamp64Milli(min(rejected_at)), count() FROM rejected_events WHERE run_id = {run:String}"
    with store(dsn, wait_s=60) as s:
        s.migrate()
        received, rows = s.query(sql, {"run": run_id})[1][0]
    return int(received) if rows else None


def report(dsn: str, run_id: str, read: int) -> RunReport:
    """Counts, incident summaries and rejection reasons of one run."""
    params = {"run": run_id}
    with store(dsn, wait_s=60) as s:  # the job's Python worker releases chDB as it shuts down
        scored = s.query("SELECT count() FROM scored_events FINAL WHERE run_id = {run:String}", params)[1][0][0]
        rejected, duplicates = s.query(
            "SELECT countIf(reason != {duplicate:String}), countIf(reason = {duplicate:String}) "
            "FROM rejected_events FINAL WHERE run_id = {run:String}",
            {**params, "duplicate": DUPLICATE},
        )[1][0]
        alerts = s.query("SELECT count() FROM alerts FINAL WHERE run_id = {run:String}", params)[1][0][0]
        summaries = s.query(
            "SELECT tenant_id, formatDateTime(ts, '%Y-%m-%d %H:%i') AS time, severity, cause, summary "
            "FROM alerts FINAL WHERE run_id = {run:String} ORDER BY tenant_id, ts LIMIT 30",
            params,
        )
        rejections = s.query(
            "SELECT reason, count() AS records, any(detail) AS example FROM rejected_events FINAL "
            "WHERE run_id = {run:String} GROUP BY reason ORDER BY records DESC",
            params,
        )
    return RunReport(read, scored, rejected, duplicates, alerts, summaries, rejections)
