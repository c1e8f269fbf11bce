"""Recently accepted event ids per tenant, so a client's retry is accepted once (idempotent ingestion).

Bounded twice: an id is remembered for `ttl_s` seconds, and at most `max_per_tenant` ids per tenant
(the oldest are forgotten first). This is memory of one API process; ClickHouse's tables are keyed on
(tenant, ts, event_id), so a duplicate that gets past it (another replica, a restart) is still stored once.

>>> clock = [0.0]
>>> seen = RecentIds(ttl_s=10, max_per_tenant=2, clock=lambda: clock[0])
>>> seen.remember("acme", ["a", "b"]); seen.contains("acme", "a"), seen.contains("globex", "a")
(True, False)
>>> seen.remember("acme", ["c"]); seen.contains("acme", "a")
False
>>> clock[0] = 11.0; seen.contains("acme", "c")
False
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable


class RecentIds:
    def __init__(
        self, ttl_s: float = 3600.0, max_per_tenant: int = 200_000, clock: Callable[[], float] = time.monotonic
    ):
        self.ttl_s = ttl_s
        self.max_per_tenant = max_per_tenant
        self.clock = clock
        self.ids: dict[str, OrderedDict[str, float]] = {}
        self.lock = threading.Lock()

    def contains(self, tenant: str, event_id: str) -> bool:
        with self.lock:
            ids = self.ids.get(tenant)
            if ids is None:
                return False
            self._expire(ids)
            return event_id in ids

    def remember(self, tenant: str, event_ids: Iterable[str]) -> None:
        with self.lock:
            ids = self.ids.setdefault(tenant, OrderedDict())
            expires = self.clock() + self.ttl_s
            for event_id in event_ids:
                ids[event_id] = expires
                ids.move_to_end(event_id)
            while len(ids) > self.max_per_tenant:
                ids.popitem(last=False)

    def _expire(self, ids: OrderedDict[str, float]) -> None:
        now = self.clock()
        while ids and next(iter(ids.values())) <= now:
            ids.popitem(last=False)
