"""How many matching events a group usually sees per hour, by hour of the week: learned from the events
themselves, for absence rules with `min_expected` (pulse.rules.runners).

Every completed hour (one with no event counts 0) moves two smoothed averages: its hour of the week (used
once that slot has been seen in an earlier week) and its hour of the day (used before). Each starts as the
plain mean of its first observations and becomes an EWMA (`WEEKLY_ALPHA`, `DAILY_ALPHA`) after that, so one
odd first day does not stick. Memory is fixed: 168 + 24 numbers. The hour still open is not learned yet, so
during a silence the rates stay those from before it: the silence is judged against what was usual, and
its zeros are learned once it ends.

>>> rates = HourlyRate.since(0)
>>> for minute in range(0, 2 * 24 * 60, 10):  # one event every 10 minutes for two days
...     rates.add(minute * 60_000)
>>> rates.rate(3 * HOUR_MS), rates.expected(0, 90 * 60_000)
(6.0, 9.0)
>>> rates.reaches(0, 9, None) // 60_000, rates.reaches(0, 9, (1, 24)) // 60_000
(90, 150)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

HOUR_MS = 3_600_000
DAY_HOURS = 24
WEEK_HOURS = 7 * DAY_HOURS
DAILY_ALPHA = 0.1  # about the last ten days of an hour of the day
WEEKLY_ALPHA = 0.25  # about the last four weeks of an hour of the week
WEEKS_SEEN = 1  # an hour of the week is used once seen in this many earlier weeks; before, its hour of the day


@dataclass
class HourlyRate:
    """Matching events per hour, learned for the hours from `start` up to the open hour `hour` (epoch ms)."""

    start: int
    hour: int
    count: int = 0  # events in the open hour
    weekly: list[float] = field(default_factory=lambda: [0.0] * WEEK_HOURS)
    daily: list[float] = field(default_factory=lambda: [0.0] * DAY_HOURS)

    @classmethod
    def since(cls, ts: int) -> HourlyRate:
        """Rates learned from the hour of `ts` on."""
        return cls(start=ts - ts % HOUR_MS, hour=ts - ts % HOUR_MS)

    @property
    def learned(self) -> int:
        """Completed hours learned."""
        return (self.hour - self.start) // HOUR_MS

    def add(self, ts: int) -> None:
        """Count one event at `ts` (not before the open hour), learning the hours it closes."""
        while self.hour + HOUR_MS <= ts:
            self._learn(self.hour, self.count)
            self.hour, self.count = self.hour + HOUR_MS, 0
        self.count += 1

    def _learn(self, hour: int, count: int) -> None:
        index, slot = (hour - self.start) // HOUR_MS, hour // HOUR_MS
        for averages, period, alpha in ((self.weekly, WEEK_HOURS, WEEKLY_ALPHA), (self.daily, DAY_HOURS, DAILY_ALPHA)):
            weight = max(alpha, 1 / (index // period + 1))  # the mean of the first observations, then an EWMA
            averages[slot % period] += weight * (count - averages[slot % period])

    def rate(self, ts: int) -> float:
        """Usual events per hour in the hour of `ts`: its hour of the week once seen in `WEEKS_SEEN` weeks."""
        slot = ts // HOUR_MS
        first = (slot - self.start // HOUR_MS) % WEEK_HOURS  # the first learned hour of the same hour of week
        seen = 0 if first >= self.learned else (self.learned - 1 - first) // WEEK_HOURS + 1
        return self.weekly[slot % WEEK_HOURS] if seen >= WEEKS_SEEN else self.daily[slot % DAY_HOURS]

    def expected(self, since: int, until: int, hours: tuple[int, int] | None = None) -> float:
        """Usual events from `since` to `until`, counting only `hours` (opening hours, UTC) if given."""
        total, start = 0.0, since
        while start < until:
            end = min(start - start % HOUR_MS + HOUR_MS, until)
            total += self._open_rate(start, hours) * (end - start) / HOUR_MS
            start = end
        return total

    def reaches(self, since: int, count: float, hours: tuple[int, int] | None) -> int | None:
        """When the usual events since `since` reach `count` (within a week; None: not, or no full day learned)."""
        if self.learned < DAY_HOURS:
            return None
        total, start = 0.0, since
        while start < since + 7 * DAY_HOURS * HOUR_MS:
            end = start - start % HOUR_MS + HOUR_MS
            rate = self._open_rate(start, hours)
            if rate > 0 and total + rate * (end - start) / HOUR_MS >= count:
                return start + math.ceil((count - total) / rate * HOUR_MS)
            total += rate * (end - start) / HOUR_MS
            start = end
        return None

    def _open_rate(self, ts: int, hours: tuple[int, int] | None) -> float:
        """The usual rate at `ts`, or 0 outside the opening hours."""
        if hours is not None and not hours[0] <= (ts // HOUR_MS) % DAY_HOURS < hours[1]:
            return 0.0
        return self.rate(ts)
