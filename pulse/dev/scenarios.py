"""Labelled synthetic streams for evaluating the metric detectors: one tenant, daily and weekly
seasonality, and one kind of incident per scenario (or none, for `seasonal_quiet`).

Each scenario starts on a Monday at midnight; incidents fall after two days of history, at an hour
when the shop is busy. The truth file lists every incident with its start and end.

>>> events, incidents = ScenarioGenerator(scenario="drop", minutes=60 * 24 * 2 + 600).run()
>>> [(i.kind, i.tenant_id) for i in incidents]
[('orders_drop', 'acme')]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from pulse.dev.generate import MINUTE, Generator, Incident, _incident

SCENARIOS = ("drop", "spike", "slow_degradation", "bot_burst", "card_testing", "seasonal_quiet")
SCENARIO_START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday
DAY = 24 * 60 * MINUTE
HOUR = 60 * MINUTE
WEEKDAY = [1.0, 1.0, 1.05, 1.0, 1.1, 0.85, 0.6]  # Monday .. Sunday


def season(ts: int) -> float:
    """Traffic relative to the average: quiet nights (Sunday night quietest), busy evenings."""
    hour = (ts % DAY) / HOUR
    day = (ts // DAY + 3) % 7
    daily = 0.12 + 1.5 * max(0.0, math.sin(math.pi * (hour - 6) / 18)) ** 1.5
    return daily * WEEKDAY[day] * (0.5 if day == 6 and hour >= 20 else 1.0)


@dataclass
class ScenarioGenerator(Generator):
    scenario: str = "drop"
    minutes: int = 0  # 0: the scenario's own length (three days; fifteen for seasonal_quiet)
    start: datetime = SCENARIO_START

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
        self.tenants = {"acme": "USD"}
        self.minutes = self.minutes or (15 if self.scenario == "seasonal_quiet" else 3) * 24 * 60
        super().__post_init__()
        self.incident_at = self.t0 + 2 * DAY + 14 * HOUR  # Wednesday 14:00

    def _rate(self, tenant: str, ts: int) -> float:
        return self.sessions_per_minute * season(ts)

    def _order_factor(self, tenant: str, ts: int) -> float:
        since = ts - self.incident_at
        if self.scenario == "drop" and 0 <= since < HOUR:
            return 0.1  # checkout broken for an hour
        if self.scenario == "slow_degradation" and 0 <= since < 6 * HOUR:
            return 1.0 - 0.8 * since / (6 * HOUR)  # orders fade to a fifth over six hours
        return 1.0

    def _incidents(self) -> Iterator[Incident]:
        at = self.incident_at
        if self.scenario == "drop":
            yield _quiet_incident("orders_drop", at, at + HOUR, "Checkout broken: 90% fewer orders for an hour")
        elif self.scenario == "slow_degradation":
            yield _quiet_incident("slow_degradation", at, at + 6 * HOUR, "Orders fade to a fifth over six hours")
        elif self.scenario == "spike":
            yield self._order_spike(at)
        elif self.scenario == "bot_burst":
            yield self._bot_burst(at)
        elif self.scenario == "card_testing":
            yield self._card_testing("acme", at)
            yield self._card_testing("acme", at + 7 * HOUR)

    def _order_spike(self, ts: int) -> Incident:
        events = []
        for i in range(120):  # about 4 extra orders a minute for 30 minutes
            base = {"customer_id": f"c6{i:04d}", "session_id": f"s-spike-{i}", "ip": f"10.9.{i}.1", "country": "US"}
            events += self._checkout("acme", ts + i * 15_000, 35.0 + i % 20, base, items=1)
        return _incident("acme", "orders_spike", events, "Duplicated orders: 120 extra orders in 30 minutes")

    def _bot_burst(self, ts: int) -> Incident:
        events = []
        for i in range(1200):  # 60 page views a minute from 3 IPs for 20 minutes
            base = {"session_id": f"s-bot-{i // 10}", "ip": f"203.0.113.{i % 3}", "country": "US"}
            events.append(self._event("acme", "page_view", ts + i * 1000, product_id=f"p{i % 300:04d}", **base))
        return _incident("acme", "bot_burst", events, "1,200 page views from 3 IP addresses in 20 minutes")


def _quiet_incident(kind: str, start: int, end: int, description: str) -> Incident:
    """An incident made of missing events: nothing is added to the stream."""
    incident = Incident("acme", kind, start, end, description)
    incident.events = []  # type: ignore[attr-defined]
    return incident
