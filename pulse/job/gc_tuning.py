"""Garbage-collector thresholds for a process that runs the per-tenant step (the Flink Python worker, benchmarks).

The step allocates short-lived objects for every event (the rules' view of it, its rows) in a process that holds
many long-lived ones (tenants' states and River models; in the worker also Flink's and Beam's own). With CPython's
default thresholds (700, 10, 10) the collector keeps scanning the long-lived ones: in `bench/models.py` it took
0.9 s of a 5 s run inside the worker; with these thresholds 0.2 s.

>>> import gc
>>> tune()
>>> gc.get_threshold()
(50000, 20, 20)
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)


def tune() -> None:
    """Collect the youngest generation every 50,000 net allocations, the older ones 20 times less often each."""
    gc.set_threshold(*THRESHOLDS)
