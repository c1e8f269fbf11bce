"""Rate limits: a token bucket per key (a tenant, a client address), `burst` tokens big, refilled at `per_second`
tokens a second.

A request of n records passes when the bucket holds at least n tokens and takes them; otherwise it is refused
and nothing is taken, with the seconds until the bucket will hold n tokens. A full bucket takes a burst of
`burst` records at once; after that a tenant gets `per_second` on average. A request of more than `burst`
records can never pass (the caller refuses it first). The rate and size may change from one call to the next
(a plan change): the bucket keeps its tokens, capped at the new size.

>>> clock = [0.0]
>>> limiter = RateLimiter(clock=lambda: clock[0])
>>> limiter.admit("acme", 10.0, 20, 15), limiter.admit("acme", 10.0, 20, 8)
(0.0, 0.3)
>>> clock[0] = 0.3
>>> limiter.admit("acme", 10.0, 20, 8)
0.0
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """`admit` returns 0 when a request may pass (and charges it), else the seconds to wait before retrying."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self.lock = threading.Lock()

    def admit(self, key: str, per_second: float, burst: int, records: int) -> float:
        """Charge `records` tokens to `key`'s bucket if it holds them (0.0), else the seconds until it will."""
        if records > burst:
            raise ValueError(f"a request of {records} records can never fit a bucket of {burst}: refuse it first")
        with self.lock:
            tokens, now = self._refilled(key, per_second, burst)
            if tokens < records:
                self.buckets[key] = (tokens, now)
                return (records - tokens) / per_second
            self.buckets[key] = (tokens - records, now)
            return 0.0

    def wait(self, key: str, per_second: float, burst: int, records: int) -> float:
        """The seconds until `key`'s bucket holds `records` tokens (0.0: it does now); charges nothing."""
        with self.lock:
            tokens, _ = self._refilled(key, per_second, burst)
            return max(0.0, (records - tokens) / per_second)

    def forget_full(self, per_second: float, burst: int) -> None:
        """Drop the buckets that have refilled to full since their last use: a new bucket starts full anyway."""
        with self.lock:
            for key in [k for k in self.buckets if self._refilled(k, per_second, burst)[0] >= burst]:
                del self.buckets[key]

    def _refilled(self, key: str, per_second: float, burst: int) -> tuple[float, float]:
        now = self.clock()
        tokens, at = self.buckets.get(key, (float(burst), now))
        return min(float(burst), tokens + (now - at) * per_second), now


def retry_after_header(seconds: float) -> str:
    """HTTP's Retry-After takes whole seconds: round up, at least 1."""
    return str(max(1, math.ceil(seconds)))
