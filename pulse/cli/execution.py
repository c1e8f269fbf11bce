"""Running a job on the local mini-cluster to its end, and saying why in plain words when it fails for good.

Flink restarts a failed job from its last checkpoint, a bounded number of times (the restart strategy in
flink-conf/config.yaml). `execute` reports each restart on the terminal as it happens; when Flink gives up, it
raises JobFailed with the root cause and what to do, and writes Flink's whole trace to a file beside the run.

>>> print(explain([Cause("org.apache.flink.runtime.JobException", "Recovery is suppressed"),
...                Cause("java.lang.NoClassDefFoundError", "com/github/luben/zstd/BufferPool")]))
a Java class the job needs is missing: com/github/luben/zstd/BufferPool (java.lang.NoClassDefFoundError).
What to do: run `make jars`; on a cluster, give `flink run` every jar of .jars/flink (README "Cluster").
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLL_S = 0.5
PROJECT_DIRS = ("pulse/", "operators/", "models/", "jobs/")
RETRY = "the same input or setting fails it again on every restart: fix the cause, then run again"
RESUME = " (a Kafka job resumes from its consumer group's committed offsets)"


class JobFailed(RuntimeError):
    """The job stopped for good; the message says why and what to do."""


@dataclass(frozen=True)
class Cause:
    """One link of a Java exception chain: its class and message."""

    java_class: str
    message: str


def execute(env: Any, name: str, trace_file: Path, restart_limit: int | None = None) -> None:
    """Run the job of `env` until it ends; report restarts on stderr; raise JobFailed when Flink gives up.

    `restart_limit`: the restart strategy's bound, for the messages (None: not known)."""
    from py4j.protocol import Py4JJavaError

    try:
        client = env.execute_async(name)
        result = client._j_job_client.getJobExecutionResult()
        _watch(client, result, restart_limit)
        result.get()
    except Py4JJavaError as exc:
        trace_file.parent.mkdir(parents=True, exist_ok=True)
        trace_file.write_text(str(exc))
        raise JobFailed(f"{explain(causes(exc.java_exception))}\nFlink's full trace: {trace_file}") from None


def _watch(client: Any, result: Any, restart_limit: int | None) -> None:
    """Poll the job's status until it ends, printing a line each time it starts a restart."""
    restarts, restarting = 0, False
    while not result.isDone():
        try:
            status = client._j_job_client.getJobStatus().get().name()
        except Exception:  # the mini-cluster shuts down as the job ends
            status = ""
        if status == "RESTARTING" and not restarting:
            restarts += 1
            bound = f" of at most {restart_limit}" if restart_limit is not None else ""
            print(f"the job failed; restart {restarts}{bound} from its last checkpoint", file=sys.stderr, flush=True)
        restarting = status == "RESTARTING"
        time.sleep(POLL_S)


def causes(throwable: Any) -> list[Cause]:
    """The chain of a Java throwable (a py4j object), outermost first."""
    chain: list[Cause] = []
    while throwable is not None and len(chain) < 100:
        chain.append(Cause(throwable.getClass().getName(), throwable.getMessage() or ""))
        throwable = throwable.getCause()
    return chain


def explain(chain: list[Cause]) -> str:
    """The root cause of a failed job in plain words, then what to do.

    >>> print(explain([Cause("java.lang.RuntimeException", "Error received from SDK harness for instruction 7: "
    ...     'Traceback (most recent call last):\\n  File "/x/pulse/tenants/plans.py", line 9, in load\\n'
    ...     "    raise ValueError(...)\\nValueError: plans.yaml: no plan 'gold'\\n")]))
    a Python step of the job failed: ValueError: plans.yaml: no plan 'gold' (pulse/tenants/plans.py, line 9, in load).
    What to do: the same input or setting fails it again on every restart: fix the cause, then run again.
    """
    for cause in chain:
        if "Traceback (most recent call last)" in cause.message:
            return _python_error(cause.message)
    for cause in chain:
        corrupt = re.search(r"partition (\S+) at offset (\d+) is invalid", cause.message)
        if corrupt:
            partition, offset = corrupt.groups()
            topic, number = partition.rsplit("-", 1)
            return (
                f"the Kafka record batch at offset {offset} of partition {partition} is corrupt on the broker "
                "(its checksum does not match its bytes), so the job cannot read past it.\nWhat to do: restore "
                "the partition from a replica or a backup; or, giving up the records of that batch, move the "
                f"consumer group past it (kafka-consumer-groups.sh --group GROUP --topic {topic}:{number} "
                "--reset-offsets --to-offset NEXT --execute, NEXT the first offset after the batch), then run "
                f"again{RESUME}."
            )
    for cause in chain:
        if cause.java_class in ("java.lang.NoClassDefFoundError", "java.lang.ClassNotFoundException"):
            return (
                f"a Java class the job needs is missing: {cause.message} ({cause.java_class}).\nWhat to do: run "
                '`make jars`; on a cluster, give `flink run` every jar of .jars/flink (README "Cluster").'
            )
    root = next((c for c in reversed(chain) if c.message), chain[-1] if chain else Cause("unknown", ""))
    return f"{root.java_class.rsplit('.', 1)[-1]}: {root.message.strip()}.\nWhat to do: {RETRY}{RESUME}."


def _python_error(message: str) -> str:
    """The exception line and the deepest project frame of a Python traceback inside a Java message."""
    lines = message[message.index("Traceback (most recent call last)") :].splitlines()
    error = next((line for line in reversed(lines) if line.strip() and not line.startswith(" ")), "").strip()
    frames = [m for line in lines if (m := re.match(r'\s*File "([^"]+)", line (\d+), in (\S+)', line))]
    ours = [m for m in frames if any(d in m.group(1) for d in PROJECT_DIRS)]
    where = ""
    if ours:
        path, line, function = ours[-1].groups()
        start = min(path.find(d) for d in PROJECT_DIRS if d in path)
        where = f" ({path[start:]}, line {line}, in {function})"
    return f"a Python step of the job failed: {error}{where}.\nWhat to do: {RETRY}."
