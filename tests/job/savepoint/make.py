"""Take the savepoint that the savepoint-restore tests restore (when, and with which code: README.md here).

From the repository root: `.venv/bin/python tests/job/savepoint/make.py` (PULSE_CLUSTER_PORT_OFFSET as for the
tests). A --watch job on a standalone cluster of its own reads FIRST (tests/savepoint_support.py), is stopped with a
savepoint, and the savepoint replaces tests/job/savepoint/state/.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent.parent


def main() -> None:
    sys.path.insert(0, str(TESTS))
    from savepoint_support import FIRST, FIXTURE, run_from

    from pulse.dev.cluster import Cluster

    folder = Path(tempfile.mkdtemp(prefix="pulse-savepoint-"))
    cluster = Cluster(home=folder / "flink")
    cluster.up()
    try:
        savepoint = Path(run_from(cluster, folder, FIRST, "before").removeprefix("file:"))
    finally:
        cluster.down()
    shutil.rmtree(FIXTURE / "state", ignore_errors=True)
    shutil.copytree(savepoint, FIXTURE / "state")
    shutil.rmtree(folder)
    print(f"savepoint of {len(FIRST)} events -> {FIXTURE / 'state'}")


if __name__ == "__main__":
    main()
