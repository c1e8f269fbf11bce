"""Event-time window arithmetic and the partial aggregates kept per window bucket.

>>> a = Partial(); [a.add(v) for v in (3.0, 5.0, 5.0)] and None
>>> a.result("count"), a.result("sum"), a.result("avg"), a.result("max"), a.result("distinct_count")
(3, 13.0, 4.333333333333333, 5.0, 2)
>>> bucket_start(125_000, 60_000)
120000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EMPTY_IS_ZERO = ("count", "sum", "distinct_count")


@dataclass
class Partial:
    """Count, sum, min, max and distinct values of the events in one bucket (mergeable)."""

    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    values: set = field(default_factory=set)

    def add(self, value: Any) -> None:
        self.count += 1
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.total += value
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        if value is not None:
            self.values.add(value if isinstance(value, int | float | str | bool) else str(value))

    def merge(self, other: Partial) -> None:
        self.count += other.count
        self.total += other.total
        self.low = other.low if self.low is None else self.low if other.low is None else min(self.low, other.low)
        self.high = other.high if self.high is None else self.high if other.high is None else max(self.high, other.high)
        self.values |= other.values

    def result(self, aggregate: str) -> float | None:
        """The aggregate's value; None for avg/min/max of no numbers."""
        if aggregate == "count":
            return self.count
        if aggregate == "distinct_count":
            return len(self.values)
        if aggregate == "sum":
            return self.total
        if aggregate == "avg":
            return self.total / self.count if self.count and self.low is not None else None
        return self.low if aggregate == "min" else self.high


def bucket_start(ts: int, width: int) -> int:
    """The start of the aligned bucket of `width` ms that holds `ts` (aligned to the Unix epoch)."""
    return ts - ts % width


def merged(buckets: dict[int, Partial], start: int, end: int) -> Partial:
    """The partial aggregate of the buckets starting in [start, end)."""
    total = Partial()
    for begin, partial in buckets.items():
        if start <= begin < end:
            total.merge(partial)
    return total


def compare(value: float, op: str, limit: float) -> bool:
    """`value op limit` for the comparisons rules allow."""
    return {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}[op]
