"""A standalone Flink cluster on 127.0.0.1 from the distribution inside the pinned PyFlink package.

`python -m pulse.dev.cluster up|down|status` (also `make cluster-up` / `make cluster-down`): a JobManager and a
TaskManager as separate processes, configured from `flink-conf/config.yaml`, with logs, pid files,
checkpoints and savepoints under `.run/cluster/`. `submit` runs the scoring job there with `flink run`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyflink
import yaml

PROJECT = Path(__file__).resolve().parent.parent.parent
FLINK_HOME = Path(pyflink.__file__).resolve().parent
PROJECT_PACKAGES = ("pulse", "models", "operators", "jobs")
TASKMANAGER_PORTS = ("taskmanager.rpc.port", "taskmanager.data.port")
PORTS = (
    "jobmanager.rpc.port",
    "rest.port",
    "blob.server.port",
    *TASKMANAGER_PORTS,
    "metrics.internal.query-service.port",
)


class ClusterError(RuntimeError):
    """The cluster did not start, did not answer, or refused a job."""


@dataclass
class Cluster:
    """One standalone cluster: its folder (conf, logs, pids, checkpoints, savepoints) and its REST address."""

    home: Path = PROJECT / ".run" / "cluster"
    python: str = sys.executable

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def settings(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in yaml.safe_load((self.conf_dir / "config.yaml").read_text()).items()}

    @property
    def rest_url(self) -> str:
        settings = self.settings
        return f"http://{settings['rest.address']}:{settings['rest.port']}"

    def configure(self) -> None:
        """Write the cluster's conf folder: the project's settings plus absolute checkpoint/savepoint folders."""
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for name in ("log4j.properties", "log4j-cli.properties", "log4j-console.properties", "logback.xml"):
            shutil.copy(FLINK_HOME / "conf" / name, self.conf_dir / name)
        settings = yaml.safe_load((PROJECT / "flink-conf" / "config.yaml").read_text())
        settings["execution.checkpointing.dir"] = (self.home / "checkpoints").resolve().as_uri()
        settings["execution.checkpointing.savepoint-dir"] = (self.home / "savepoints").resolve().as_uri()
        settings["python.executable"] = self.python
        settings["python.client.executable"] = self.python
        _shift_ports(settings, int(os.environ.get("PULSE_CLUSTER_PORT_OFFSET", "0")))
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))

    def env(self) -> dict[str, str]:
        """Environment of the Flink scripts: this cluster's conf, log and pid folders."""
        return {
            **os.environ,
            "FLINK_HOME": str(FLINK_HOME),
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.home / "log"),
            "FLINK_PID_DIR": str(self.home / "pids"),
            "FLINK_IDENT_STRING": "pulse",
        }

    def up(self, timeout_s: float = 120) -> None:
        """Start the JobManager and a TaskManager unless they already run; wait until a TaskManager is registered."""
        if self.pids("standalonesession") and self.pids("taskexecutor") and self.ready():
            return
        self.configure()
        (self.home / "log").mkdir(parents=True, exist_ok=True)
        if not self.pids("standalonesession"):
            self._script("jobmanager.sh", "start")
        if not self.pids("taskexecutor"):
            self.start_taskmanager()
        self.wait_ready(timeout_s)

    def down(self) -> None:
        """Stop every TaskManager and the JobManager of this cluster (idempotent)."""
        for daemon in ("taskexecutor", "standalonesession"):
            pids = self.pids(daemon)
            workers = [child for pid in pids for child in _descendants(pid)]
            for pid in pids:
                _signal(pid, signal.SIGTERM)
            for pid in pids:
                if not _wait_gone(pid, 30):
                    _signal(pid, signal.SIGKILL)
            for pid in workers:  # Python workers that outlived their TaskManager
                _signal(pid, signal.SIGKILL)
            self._pidfile(daemon).unlink(missing_ok=True)

    def start_taskmanager(self, generation: int = 0) -> None:
        """Start a TaskManager; a replacement for a killed one takes the next `generation` of ports, because
        the JobManager quarantines the address of a TaskManager that vanished."""
        settings = self.settings
        ports = {key: int(str(settings[key]).split("-")[0]) + generation for key in TASKMANAGER_PORTS}
        self._script("taskmanager.sh", "start", *(f"-D{key}={port}" for key, port in ports.items()))

    def kill_taskmanager(self) -> int:
        """SIGKILL the (first) TaskManager and its Python workers at once, as a crashed machine or container
        would; return its pid. (Killing the JVM alone can leave its Python worker running, holding chDB.)"""
        pid = self.pids("taskexecutor")[0]
        doomed = [pid, *_descendants(pid)]
        for victim in doomed:
            _signal(victim, signal.SIGKILL)
        for victim in doomed:
            _wait_gone(victim, 10)
        self._forget(pid, "taskexecutor")
        return pid

    def pids(self, daemon: str) -> list[int]:
        """Live pids of `daemon` (standalonesession or taskexecutor) from this cluster's pid file."""
        pidfile = self._pidfile(daemon)
        if not pidfile.exists():
            return []
        return [int(p) for p in pidfile.read_text().split() if p.strip() and _alive(int(p))]

    def _forget(self, pid: int, daemon: str) -> None:
        pidfile = self._pidfile(daemon)
        pidfile.write_text("".join(f"{p}\n" for p in pidfile.read_text().split() if int(p) != pid))

    def _pidfile(self, daemon: str) -> Path:
        return self.home / "pids" / f"flink-{self.env()['FLINK_IDENT_STRING']}-{daemon}.pid"

    def _script(self, name: str, *args: str) -> None:
        result = subprocess.run(
            [str(FLINK_HOME / "bin" / name), *args], env=self.env(), capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise ClusterError(f"{name} {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def rest(self, path: str, method: str = "GET", body: dict | None = None) -> Any:
        """Call the JobManager's REST API and return the decoded JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.rest_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def ready(self) -> bool:
        """A TaskManager is registered and has offered its slots (it registers before it reports them)."""
        try:
            overview = self.rest("/overview")
            return overview["taskmanagers"] >= 1 and overview["slots-total"] >= 1
        except OSError:
            return False

    def wait_ready(self, timeout_s: float = 120) -> None:
        """Wait until the REST API answers and a TaskManager is registered with its slots."""
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster not ready after {timeout_s:.0f} s; see logs in {self.home / 'log'}")
            time.sleep(0.5)

    def submit(
        self,
        job_args: list[str],
        savepoint: str | None = None,
        parallelism: int | None = None,
        jars: Sequence[Path] = (),
    ) -> str:
        """Submit jobs/scoring.py with `flink run` (detached), with `jars` (a Kafka job: jobs.environment.KAFKA_JARS);
        return the job id."""
        command = self.run_command(job_args, savepoint, parallelism, jars)
        result = subprocess.run(command, env=self.env(), capture_output=True, text=True, timeout=300, cwd=PROJECT)
        found = re.search(r"JobID ([0-9a-f]{32})", result.stdout + result.stderr)
        if result.returncode != 0 or not found:
            output = result.stdout[-3000:] + result.stderr[-3000:]
            raise ClusterError(f"flink run failed ({result.returncode}): {output}")
        return found.group(1)

    def run_command(
        self,
        job_args: list[str],
        savepoint: str | None = None,
        parallelism: int | None = None,
        jars: Sequence[Path] = (),
    ) -> list:
        """The `flink run` command line that submits the scoring job (what the README shows): the first of `jars` as
        the job's jar file, shipped to the cluster, the others on every node's classpath (file URLs: on one machine,
        or at the same path on every node)."""
        command = [str(FLINK_HOME / "bin" / "flink"), "run", "--detached"]
        if savepoint:
            command += ["--fromSavepoint", savepoint]
        if parallelism:
            command += ["--parallelism", str(parallelism)]
        for index, jar in enumerate(jars):
            command += ["--jarfile", str(jar)] if index == 0 else ["--classpath", jar.resolve().as_uri()]
        command += [
            "--python",
            str(PROJECT / "jobs" / "scoring.py"),
            "--pyFiles",
            ",".join(str(PROJECT / p) for p in PROJECT_PACKAGES),
            "-pyexec",
            self.python,
            "-pyclientexec",
            self.python,
        ]
        return command + ["--", *job_args]

    def stop_with_savepoint(self, job_id: str) -> str:
        """`flink stop --savepointPath`: take a savepoint, finish the job, return the savepoint's path."""
        target = (self.home / "savepoints").resolve().as_uri()
        result = subprocess.run(
            [str(FLINK_HOME / "bin" / "flink"), "stop", "--savepointPath", target, job_id],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        found = re.search(r"Savepoint completed\. Path: (\S+)", result.stdout)
        if result.returncode != 0 or not found:
            raise ClusterError(f"flink stop failed: {result.stdout[-3000:]}{result.stderr[-3000:]}")
        return found.group(1)

    def job_state(self, job_id: str) -> str:
        return self.rest(f"/jobs/{job_id}")["state"]

    def cancel_unfinished(self) -> None:
        """Cancel every job that has not ended, so that the next user of the cluster finds its slots free."""
        for job in self.rest("/jobs")["jobs"]:
            if job["status"] not in {"FINISHED", "CANCELED", "FAILED"}:
                self.rest(f"/jobs/{job['id']}", method="PATCH")
                self.wait_job(job["id"], {"FINISHED", "CANCELED", "FAILED"})

    def wait_job(self, job_id: str, states: set[str], timeout_s: float = 120) -> str:
        """Wait until the job is in one of `states`; return it."""
        deadline = time.monotonic() + timeout_s
        while (state := self.job_state(job_id)) not in states:
            if time.monotonic() > deadline:
                raise ClusterError(f"job {job_id} still {state} after {timeout_s:.0f} s, expected {states}")
            time.sleep(0.5)
        return state

    def checkpoints(self, job_id: str) -> dict:
        """The job's checkpoint statistics (counts, latest completed, durations, sizes)."""
        return self.rest(f"/jobs/{job_id}/checkpoints")

    def wait_checkpoint(self, job_id: str, after: int = 0, timeout_s: float = 120) -> int:
        """Wait for a completed checkpoint with an id greater than `after`; return its id."""
        deadline = time.monotonic() + timeout_s
        while True:
            latest = (self.checkpoints(job_id).get("latest") or {}).get("completed") or {}
            if latest.get("id", 0) > after:
                return latest["id"]
            if time.monotonic() > deadline:
                raise ClusterError(f"no checkpoint after {after} within {timeout_s:.0f} s for job {job_id}")
            time.sleep(0.5)

    def vertex_records(self, job_id: str, name: str) -> tuple[int, int]:
        """(records read, records written) by the job vertex whose name contains `name`."""
        for vertex in self.rest(f"/jobs/{job_id}")["vertices"]:
            if name in vertex["name"]:
                metrics = vertex["metrics"]
                return metrics["read-records"], metrics["write-records"]
        raise ClusterError(f"job {job_id} has no vertex named like {name!r}")


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` in the process tree."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(") ", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulse.dev.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "command"])
    parser.add_argument("job_args", nargs="*", help="for `command`: the job's arguments")
    args = parser.parse_args(argv)
    cluster = Cluster()
    if args.action == "up":
        cluster.up()
        print(f"Flink cluster up: {cluster.rest_url} (logs in {cluster.home / 'log'})")
    elif args.action == "down":
        cluster.down()
        print("Flink cluster stopped")
    elif args.action == "status":
        if not cluster.ready():
            print("Flink cluster: not running")
            return 1
        print(json.dumps(cluster.rest("/overview"), indent=2))
    else:
        print(" ".join(cluster.run_command(args.job_args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _shift_ports(settings: dict[str, Any], offset: int) -> None:
    """Move every explicit port (and port range) by `offset`, so two clusters can run on one machine."""
    for key in PORTS:
        bounds = [int(port) + offset for port in str(settings[key]).split("-")]
        settings[key] = bounds[0] if len(bounds) == 1 else "-".join(map(str, bounds))
