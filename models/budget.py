"""The risk model's alert threshold as a budget: the median over the tenant's last completed days of each day's
k-th highest score.

A day here is 24 hours of the tenant's event time counted from its first scored event. Each day keeps only its k
highest scores; when it ends, its k-th highest is kept, for the last `DAYS` days: a few numbers whatever the tenant's
volume. A day of scores like the days before has its k-th highest above their median about half the time, so a
normal day raises about k alerts or fewer, for 10 events a day or 100,000. The current day's scores play no part,
so an alert does not hide the rest of a fraud burst, and the median is not moved by one day of fraud. Of an even count
it is the higher middle value: with the lower one a tenant's third day was held to the lower of its first two days'
highest scores, and raised up to five alerts. No threshold, so no alert, during the tenant's first day.

>>> budget = AlertBudget(per_day=1)
>>> budget.add(0, 0.5)
>>> budget.threshold(23 * 3_600_000) is None  # the tenant's first day
True
>>> for hour in range(72):
...     budget.add(hour * 3_600_000, 0.5 + (hour // 24) / 10 + (hour % 7) / 100)
>>> round(budget.threshold(72 * 3_600_000), 2)  # the days' highest: 0.56, 0.66 and 0.76
0.66
>>> budget.add(72 * 3_600_000, 0.9)
>>> round(budget.threshold(96 * 3_600_000), 2)  # of 0.56, 0.66, 0.76 and 0.9: the higher middle one
0.76
"""

from __future__ import annotations

import heapq
from collections import deque
from statistics import median_high

DAY_MS = 24 * 3_600_000
DAYS = 7


class AlertBudget:
    """The k-th highest score of each of the tenant's last DAYS days, and the k highest of the current one."""

    def __init__(self, per_day: int):
        self.per_day = per_day
        self.first: int | None = None  # event time of the tenant's first score: its days count from there
        self.day = 0  # the current day, counted from `first`
        self.today: list[float] = []  # min-heap of the current day's highest scores
        self.days: deque[float] = deque(maxlen=DAYS)  # each completed day's k-th highest

    def threshold(self, ts: int) -> float | None:
        """The median (the higher middle one of an even count) of the last days' k-th highest scores as of `ts`,
        None during the first day."""
        self._move_to(ts)
        return median_high(self.days) if self.days else None

    def add(self, ts: int, score: float) -> None:
        """Count the score of the event at `ts` into its day (a late event's into the current day)."""
        if self.first is None:
            self.first = ts
        self._move_to(ts)
        if len(self.today) < self.per_day:
            heapq.heappush(self.today, score)
        elif score > self.today[0]:
            heapq.heapreplace(self.today, score)

    def resize(self, per_day: int) -> None:
        """Count `per_day` scores a day from now on (the completed days' values follow as days end)."""
        if per_day != self.per_day:
            self.per_day = per_day
            self.today = heapq.nlargest(per_day, self.today)
            heapq.heapify(self.today)

    def _move_to(self, ts: int) -> None:
        """End the current day if `ts` is past it; a day with fewer than k scores leaves no value."""
        if self.first is None or (ts - self.first) // DAY_MS <= self.day:
            return
        if len(self.today) == self.per_day:
            self.days.append(self.today[0])
        self.today = []
        self.day = (ts - self.first) // DAY_MS
