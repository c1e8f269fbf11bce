"""Failed authentication, counted per client: past a burst of failures, the client's attempts are refused for a while.

An unknown API key or a failed dashboard sign-in costs the client one token of a bucket of `burst`, refilled
at `per_minute` tokens a minute. While its bucket is empty, every attempt of that client is answered 429
before its key is even checked, so a list of guessed or leaked keys cannot be tried faster than that; a
client that does not fail is never slowed. A client is its IP address; an IPv6 client its /64 network (one
subscriber's addresses).

>>> clock = [0.0]
>>> failures = AuthFailures(burst=2, per_minute=6, clock=lambda: clock[0])
>>> failures.failed("10.0.0.1"); failures.failed("10.0.0.1")
>>> failures.retry_after("10.0.0.1"), failures.retry_after("10.0.0.2")
(10.0, 0.0)
>>> clock[0] = 10.0
>>> failures.retry_after("10.0.0.1")
0.0
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from pulse.api.ratelimit import RateLimiter

FAILURE_BURST = 10
FAILURES_PER_MINUTE = 10.0
MAX_CLIENTS = 100_000  # buckets kept; past it, those refilled to full are dropped (and all, if that is not enough)


class AuthFailures:
    """The failure buckets of every client that failed lately."""

    def __init__(
        self,
        burst: int = FAILURE_BURST,
        per_minute: float = FAILURES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.burst = burst
        self.per_second = per_minute / 60
        self.buckets = RateLimiter(clock)

    def retry_after(self, client: str | None) -> float:
        """Seconds until `client` may try to authenticate again (0.0: now)."""
        return self.buckets.wait(client_key(client), self.per_second, self.burst, 1)

    def failed(self, client: str | None) -> None:
        """Count one failed attempt of `client`."""
        if len(self.buckets.buckets) > MAX_CLIENTS:
            self.buckets.forget_full(self.per_second, self.burst)
            if len(self.buckets.buckets) > MAX_CLIENTS // 2:
                with self.buckets.lock:  # so many addresses failing: per-address limits slow no one
                    self.buckets.buckets.clear()
        self.buckets.admit(client_key(client), self.per_second, self.burst, 1)


def client_key(host: str | None) -> str:
    """What a client is counted as: its IPv4 address, or the /64 network of its IPv6 address.

    >>> client_key("203.0.113.9"), client_key("2001:db8:1:2:3:4:5:6"), client_key("::ffff:203.0.113.9")
    ('203.0.113.9', '2001:db8:1:2::/64', '203.0.113.9')
    """
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
