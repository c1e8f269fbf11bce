"""The savepoint fixture (tests/job/savepoint/, see its README.md): the events before and after it, and the
restore of it into this code's job, run beside another test's job on that test's standalone cluster."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from cluster_support import drop, wait_quiet

from pulse.dev.cluster import Cluster
from pulse.store.clickhouse import store

FIXTURE = Path(__file__).resolve().parent / "job" / "savepoint"
# chDB runs one engine, on one data folder, per process: the restore thread and the test beside it, each reading
# a folder of its own, take turns.
CHDB_TURN = threading.Lock()
T0 = 1793613600000  # 2026-11-02 10:00 UTC


def event(name: str, seconds: int, event_type: str, customer: str = "c1", amount: float | None = None) -> dict:
    return {"event_id": name, "tenant_id": "acme", "event_type": event_type, "ts": T0 + seconds * 1000,
            "customer_id": customer, "amount": amount}  # fmt: skip


# Before the savepoint: three orders of c1 (the rule wants four in 10 minutes), three page views: 6 accepted
# events of the month (the plan's quota is 10), 3 learned by the risk model (its warm-up is 5).
FIRST = [
    event("a1", 0, "order_placed", amount=20.0),
    event("v1", 10, "page_view"),
    event("a2", 60, "order_placed", amount=25.0),
    event("v2", 70, "page_view"),
    event("a3", 120, "order_placed", amount=30.0),
    event("v3", 130, "page_view"),
]
# After the restore: c1's fourth order within 10 minutes, two more orders (the model's 5th and 6th), and a page view
# that moves event time past the window: 10 accepted events of the month with the 6 before the savepoint.
SECOND = [
    event("b1", 180, "order_placed", amount=22.0),
    event("b2", 190, "order_placed", customer="c2", amount=24.0),
    event("b3", 195, "order_placed", customer="c3", amount=26.0),
    event("v4", 1200, "page_view"),
]


def run_from(cluster: Cluster, folder: Path, events: list[dict], run_id: str, savepoint: Path | None = None) -> str:
    """A --watch job of the fixture's configs (one subtask: two of the cluster's slots) that reads `events`,
    started from `savepoint` if given, stopped with a savepoint once everything is written; return that path."""
    landing = folder / "landing"
    landing.mkdir()
    args = ["--watch", str(landing), "--configs", str(FIXTURE / "configs"), "--clickhouse",
            f"chdb://{folder / 'clickhouse'}", "--run-id", run_id]  # fmt: skip
    job = cluster.submit(args, savepoint=str(savepoint) if savepoint else None, parallelism=1)
    cluster.wait_job(job, {"RUNNING"})
    drop(landing, f"{run_id}.ndjson", events)
    wait_quiet(cluster, job)
    return cluster.stop_with_savepoint(job)


class Restore(threading.Thread):
    """The fixture's savepoint restored into this code's job, which then reads SECOND: in a thread, so that it
    runs while another test's job waits on the same cluster. `join` it, then read `alerts` and `warming`."""

    def __init__(self, cluster: Cluster, folder: Path):
        super().__init__(name="savepoint-restore")
        self.cluster, self.folder = cluster, folder
        self.error: BaseException | None = None
        self.alerts: list[tuple] = []
        self.warming: dict[str, bool] = {}

    def run(self) -> None:
        try:
            savepoint = self.folder / "savepoint"
            shutil.copytree(FIXTURE / "state", savepoint)
            run_from(self.cluster, self.folder, SECOND, "after", savepoint)
            with CHDB_TURN, store(f"chdb://{self.folder / 'clickhouse'}", wait_s=60) as s:
                self.alerts = s.query("SELECT cause, group_key FROM alerts FINAL ORDER BY cause")[1]
                self.warming = dict(s.query("SELECT event_id, model_warming_up FROM scored_events FINAL")[1])
        except BaseException as exc:  # re-raised by the tests that read the result
            self.error = exc
