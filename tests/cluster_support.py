"""Helpers of the tests that run the scoring job on a standalone cluster (pulse.dev.cluster)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from pulse.dev.cluster import Cluster
from pulse.inputs import RawRecord

PROJECT = Path(__file__).resolve().parent.parent


def drop(folder: Path, name: str, events: list[dict]) -> None:
    """Land a file of raw-record envelopes atomically (written under a hidden name, then renamed), stamped with the
    time they were received, as `pulse run` stages files: a reject replayed after the restart keeps its minute."""
    hidden = folder / f".{name}"
    received = time.time_ns() // 1_000_000
    with hidden.open("w") as out:
        for index, event in enumerate(events):
            out.write(RawRecord(name, index, json.dumps(event), received=received).to_json() + "\n")
    hidden.rename(folder / name)


def wait_checkpoints(cluster: Cluster, job_id: str, count: int) -> None:
    latest = (cluster.checkpoints(job_id).get("latest") or {}).get("completed") or {}
    last = latest.get("id", 0)
    for _ in range(count):
        last = cluster.wait_checkpoint(job_id, after=last, timeout_s=120)


def wait_quiet(cluster: Cluster, job_id: str) -> None:
    """Wait until the ClickHouse writer's count of rows received stays the same over three checkpoints (10 s
    apart; the REST metrics lag by up to 10 s): the input is processed and every row is written (usage rows
    trail the others by their 1 s flush timer, the writer flushes within 1 s), so a savepoint leaves none unwritten."""
    wait_checkpoints(cluster, job_id, 2)
    readings = [cluster.vertex_records(job_id, "clickhouse")[0]]
    while len(readings) < 3 or len(set(readings[-3:])) > 1:
        wait_checkpoints(cluster, job_id, 1)
        readings.append(cluster.vertex_records(job_id, "clickhouse")[0])
