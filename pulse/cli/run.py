"""Running the scoring job on Flink's local mini-cluster over bounded files, then reporting from ClickHouse.

`pulse run` and `pulse stream` start the job as a process of its own, `python -m jobs.scoring ... --local RUN_DIR`:
the entry point a cluster runs (`flink run --python jobs/scoring.py`), which wires the job in one place and reports
its restarts and, when Flink gives up, the cause (pulse/cli/execution.py). So `pulse` imports nothing of the job's
modules (jobs/ and operators/ import pulse, not the other way round).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pulse.cli.execution import JobFailed
from pulse.eventtime import ALLOWED_LATENESS_MS
from pulse.inputs import read_records
from pulse.job.duplicates import DUPLICATE
from pulse.store.clickhouse import store


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
