"""Per-tenant rate limits: a token bucket per tenant that refills at the plan's events per second.

A request is let in while the bucket is not empty and costs one token per record, so the bucket may go
into debt: a tenant gets its plan's rate on average, and a request larger than the bucket still passes.

>>> clock = [0.0]
>>> limiter = RateLimiter(burst_seconds=1.0, clock=lambda: clock[0])
>>> limiter.admit("acme", 10.0, 15), limiter.admit("acme", 10.0, 1)
(0.0, 0.6)
>>> clock[0] = 0.6
>>> limiter.admit("acme", 10.0, 1)
0.0
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`admit` returns 0 when a request may pass (and charges it), else the seconds to wait before retrying."""

    def __init__(self, burst_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.burst_seconds = burst_seconds
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)
        self.lock = threading.Lock()

    def admit(self, tenant: str, per_second: float, records: int) -> float:
        with self.lock:
            now = self.clock()
            capacity = per_second * self.burst_seconds
            tokens, at = self.buckets.get(tenant, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * per_second)
            if tokens < 1:
                self.buckets[tenant] = (tokens, now)
                return round((1 - tokens) / per_second, 3)
            self.buckets[tenant] = (tokens - records, now)
            return 0.0


def retry_after_header(seconds: float) -> str:
    """HTTP's Retry-After takes whole seconds: round up, at least 1."""
    return str(max(1, math.ceil(seconds)))
