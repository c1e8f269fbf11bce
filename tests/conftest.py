"""Shared fixtures: one real Flink run of the scoring job, reused by every end-to-end test, one standalone Flink
cluster for the tests that submit jobs to it, a migrated chDB, a headless Chromium; and the check that every test
starting Flink carries the `flink` marker (so `-m "not flink"` leaves none).

The check: a test without the marker runs with $JAVA_TOOL_OPTIONS asking every JVM it starts (in any process
below pytest) to log its start to a folder of the test's; a JVM with Flink on its class path fails the test, and
so does asking for a fixture that starts Flink (it may have been started by an earlier test already).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, OUTPUT
from playwright.sync_api import Browser, sync_playwright

from pulse.dev.cluster import Cluster
from pulse.dev.generate import Generator, write
from pulse.events import parse_record
from pulse.store.clickhouse import Store, store

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
    repeats: dict[str, int]  # the repeated event ids put into the input: "duplicates" and "conflicts"

    def query(self, sql: str, **params) -> list[tuple]:
        with store(self.dsn) as s:
            return s.query(sql, {"run": self.run_id, **params})[1]


def add_repeats(path: Path, every: int = 400, later: int = 50) -> dict[str, int]:
    """Repeat event ids within the stream: the valid record of every `every`th line comes again `later` lines on,
    as it was (a producer's retry), or, one time in four, with another amount under the same id (a conflict)."""
    lines = path.read_text().splitlines()
    out, pending, counts = [], {}, {"duplicates": 0, "conflicts": 0}
    for number, line in enumerate(lines):
        out.append(line)
        out += pending.pop(number, [])
        if number % every == 0 and parse_record(line, source=path.name, index=number).ok:
            record = json.loads(line)
            conflict = number // every % 4 == 3
            again = {**record, "amount": (record.get("amount") or 0) + 1} if conflict else record
            pending.setdefault(number + later, []).append(json.dumps(again))
            counts["conflicts" if conflict else "duplicates"] += 1
    out += [line for rest in pending.values() for line in rest]
    path.write_text("\n".join(out) + "\n")
    return counts


@pytest.fixture(scope="session")
def job_run(tmp_path_factory) -> JobRun:
    """Generate a stream with broken records and repeated event ids in three formats, with the parquet tail sent
    again as JSON Lines, and run the real job on the mini-cluster."""
    folder = tmp_path_factory.mktemp("job")
    events, incidents = Generator(seed=11, start=STREAM_START).run()
    main = folder / "events.jsonl"
    write(events[:-200], incidents, main, broken_rate=0.03, seed=11)
    repeats = add_repeats(main)
    write(events[-200:-100], [], folder / "tail.csv")
    write(events[-100:], [], folder / "tail.parquet")
    write(events[-100:], [], folder / "again.jsonl")  # the same events in another format: 100 duplicates
    repeats["duplicates"] += 100
    with (folder / "tail.csv").open("a") as f:
        f.write('"bad-1","acme","order_placed","not a time",10.0,,,,,,,,,,,"{}"\n')
    inputs = [main, folder / "tail.csv", folder / "tail.parquet", folder / "again.jsonl"]
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
    return JobRun(dsn, "e2e", inputs, truth, result.stdout, repeats)


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


@pytest.fixture(scope="session")
def flink_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """A standalone JobManager and TaskManager, started for the first test module that submits to it and stopped
    after the last: each module's jobs end (stopped with a savepoint or finished) before its fixture returns."""
    cluster = Cluster(home=tmp_path_factory.mktemp("flink"))
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture
def db(tmp_path) -> Iterator[Store]:
    """An embedded ClickHouse (chDB) of the test's own, with every table (migrated), open for the test."""
    with store(f"chdb://{tmp_path / 'ch'}") as s:
        s.migrate()
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, for one test module of the dashboard (helpers in tests/browser_support.py)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


FLINK_FIXTURES = {"job_run", "incidents_run", "flink_cluster"}  # session fixtures that run Flink
JAVA_TOOL_OPTIONS = "JAVA_TOOL_OPTIONS"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """A test without the `flink` marker: refuse the fixtures that run Flink; log the JVMs it starts."""
    if item.get_closest_marker("flink") is None:
        starting = sorted(FLINK_FIXTURES & set(getattr(item, "fixturenames", ())))
        if starting:
            pytest.fail(f"{item.nodeid} uses {', '.join(starting)}, which runs Flink: mark it flink", pytrace=False)
        folder = item.stash[JVM_LOGS] = Path(tempfile.mkdtemp(prefix="pulse-jvms-"))
        item.stash[JVM_OPTIONS] = os.environ.get(JAVA_TOOL_OPTIONS)
        logging = f"-XX:+UnlockDiagnosticVMOptions -XX:+LogVMOutput -XX:LogFile={folder}/jvm-%p.log"
        os.environ[JAVA_TOOL_OPTIONS] = " ".join(filter(None, [item.stash[JVM_OPTIONS], logging]))
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """Fail a test without the `flink` marker that started a JVM running Flink."""
    result = yield
    folder = item.stash.get(JVM_LOGS, None)
    if folder is not None:
        previous = item.stash[JVM_OPTIONS]
        if previous is None:
            os.environ.pop(JAVA_TOOL_OPTIONS, None)
        else:
            os.environ[JAVA_TOOL_OPTIONS] = previous
        flink = [log.name for log in folder.glob("jvm-*.log") if "flink" in log.read_text(errors="replace")]
        shutil.rmtree(folder, ignore_errors=True)
        if flink:
            pytest.fail(f"{item.nodeid} started Flink ({len(flink)} JVMs) without the flink marker", pytrace=False)
    return result


JVM_LOGS = pytest.StashKey[Path]()
JVM_OPTIONS = pytest.StashKey[str | None]()
