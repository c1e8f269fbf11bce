"""Shared fixtures: one real Flink run of the scoring job, reused by every end-to-end test."""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pulse.clickhouse import store
from pulse.generate import Generator, write

# The shared job run's stream is history dated long before any day the tests run: a backfill, which must keep every
# row (retention counts from arrival), also of the free-plan tenant initech.
STREAM_START = datetime(2025, 3, 3, 8, tzinfo=UTC)


@dataclass
class JobRun:
    dsn: str
    run_id: str
    inputs: list[Path]
    truth: list[dict]
    stdout: str

    def query(self, sql: str, **params) -> list[tuple]:
        with store(self.dsn) as s:
            return s.query(sql, {"run": self.run_id, **params})[1]


@pytest.fixture(scope="session")
def job_run(tmp_path_factory) -> JobRun:
    """Generate a stream with broken records in three formats and run the real job on the mini-cluster."""
    folder = tmp_path_factory.mktemp("job")
    events, incidents = Generator(seed=11, start=STREAM_START).run()
    main = folder / "events.jsonl"
    write(events[:-200], incidents, main, broken_rate=0.03, seed=11)
    write(events[-200:-100], [], folder / "tail.csv")
    write(events[-100:], [], folder / "tail.parquet")
    with (folder / "tail.csv").open("a") as f:
        f.write('"bad-1","acme","order_placed","not a time",10.0,,,,,,,,,,,"{}"\n')
    inputs = [main, folder / "tail.csv", folder / "tail.parquet"]
    dsn = f"chdb://{folder / 'clickhouse'}"
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "run", "--input", *map(str, inputs), "--clickhouse", dsn, "--run-id", "e2e"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    truth = json.loads((folder / "events.jsonl.truth.json").read_text())
    return JobRun(dsn, "e2e", inputs, truth, result.stdout)


@dataclass
class IncidentsRun:
    dsn: str
    folder: Path

    def query(self, sql: str, **params) -> list[tuple]:
        with store(self.dsn, wait_s=60) as s:
            return s.query(sql, params)[1]


@pytest.fixture(scope="session")
def incidents_run(job_run, tmp_path_factory) -> IncidentsRun:
    """A copy of the job run's ClickHouse with incidents made by `pulse dispatch --once` (for read-only views)."""
    folder = tmp_path_factory.mktemp("incidents-run")
    with store(job_run.dsn, wait_s=60):  # copied while no process writes it
        shutil.copytree(job_run.dsn.removeprefix("chdb://"), folder / "clickhouse", symlinks=True)
    dsn = f"chdb://{folder / 'clickhouse'}"
    command = [sys.executable, "-m", "pulse", "dispatch", "--once", "--clickhouse", dsn]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return IncidentsRun(dsn, folder)
