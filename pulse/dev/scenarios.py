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
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
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


# Labelled multi-tenant streams for `pulse models evaluate`: the whole product on tenants of several sizes.
SIZES = {"xs": 2, "s": 10, "m": 40, "l": 200}  # average events per minute (over a week, nights included)
EVENTS_PER_SESSION = 4.7  # what one session of Generator yields on average (views, cart, checkout, payment)
KINDS = (
    "orders_drop_85",
    "orders_drop_50",
    "payment_failures",
    "bot_burst",
    "card_testing",
    "outage",
    "fraud_order",
    "large_orders",
)
INCIDENT_TIMES = (10 * HOUR, 14 * HOUR + 30 * MINUTE, 19 * HOUR)  # of an incident day, when shops are busy
WINDOWED = {  # kinds made by changing the shop's behaviour for a while: (minutes, order factor, failure rate)
    "orders_drop_85": (60, 0.15, 0.03),
    "orders_drop_50": (60, 0.5, 0.03),
    "payment_failures": (45, 1.0, 0.5),
    "outage": (30, 1.0, 0.03),
}
DESCRIPTIONS = {
    "orders_drop_85": "Orders fall to 15% of usual for 60 minutes",
    "orders_drop_50": "Orders fall to 50% of usual for 60 minutes",
    "payment_failures": "Half of all payments fail for 45 minutes",
    "outage": "No event at all arrives for 30 minutes (the storefront is down)",
}


WEEK_MEAN = statistics.fmean(season(m * MINUTE) for m in range(7 * 24 * 60))  # `season` averages to this


def tenant_name(size: str, seed: int) -> str:
    """The tenant of a size in the stream of a seed (one name per stream, so streams can be judged together)."""
    return f"shop-{size}-{seed}"


@dataclass
class LabelledStream(Generator):
    """Tenants of the given sizes in one stream starting on a Monday: the first day is history only, then
    each tenant has a quiet day every third day and otherwise an incident at 10:00, 14:30 and 19:00 UTC,
    its kinds taken in turn from `kinds` (offset by seed and tenant, so seeds cover different pairings).

    >>> stream = LabelledStream(seed=1, days=2, sizes=("xs", "s"), kinds=("outage",))
    >>> events, incidents = stream.run()
    >>> [(i.tenant_id, i.kind, i.start - stream.t0 == DAY + 10 * HOUR) for i in incidents]  # shop-s-1: a quiet day
    [('shop-xs-1', 'outage', True), ('shop-xs-1', 'outage', False), ('shop-xs-1', 'outage', False)]
    >>> [e for e in events if e["tenant_id"] == "shop-xs-1" and incidents[0].start <= e["ts"] < incidents[0].end]
    []
    """

    days: float = 4
    sizes: tuple[str, ...] = tuple(SIZES)
    kinds: tuple[str, ...] = KINDS
    start: datetime = SCENARIO_START
    size_days: dict[str, float] = field(default_factory=dict)  # fewer days for a size, e.g. {"l": 2}

    def __post_init__(self) -> None:
        unknown = [s for s in self.sizes if s not in SIZES] + [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown size or kind {unknown}; sizes: {', '.join(SIZES)}; kinds: {', '.join(KINDS)}")
        self.tenants = {tenant_name(size, self.seed): "USD" for size in self.sizes}
        self.size_of = {tenant_name(size, self.seed): size for size in self.sizes}
        self.minutes = round(self.days * 24 * 60)
        super().__post_init__()
        self.plan = self._schedule()

    def days_of(self, tenant: str) -> float:
        """How many days of the stream `tenant` has events in."""
        return min(self.days, self.size_days.get(self.size_of[tenant], self.days))

    def end_of(self, tenant: str) -> int:
        """When `tenant`'s events end (epoch ms).

        >>> stream = LabelledStream(seed=1, days=3, sizes=("l",), size_days={"l": 2})
        >>> stream.end_of("shop-l-1") == stream.t0 + 2 * DAY
        True
        """
        return self.t0 + round(self.days_of(tenant) * DAY)

    def _schedule(self) -> list[tuple[str, str, int]]:
        """(tenant, kind, start) of every incident."""
        plan = []
        for j, tenant in enumerate(self.tenants):
            turn = self.seed + j
            end = self.t0 + round(self.days_of(tenant) * DAY)
            for day in range(1, math.ceil(self.days_of(tenant))):
                if (day + j + self.seed) % 3 == 0:
                    continue  # a quiet day
                for offset in INCIDENT_TIMES:
                    at = self.t0 + day * DAY + offset
                    if at + 2 * HOUR <= end:
                        plan.append((tenant, self.kinds[turn % len(self.kinds)], at))
                        turn += 1
        return plan

    def _window(self, tenant: str, ts: int) -> tuple[int, float, float]:
        for name, kind, at in self.plan:
            if name == tenant and kind in WINDOWED and at <= ts < at + WINDOWED[kind][0] * MINUTE:
                return WINDOWED[kind]
        return (0, 1.0, 0.03)

    def _rate(self, tenant: str, ts: int) -> float:
        if ts >= self.t0 + self.days_of(tenant) * DAY:
            return 0.0
        return SIZES[self.size_of[tenant]] / EVENTS_PER_SESSION * season(ts) / WEEK_MEAN

    def _order_factor(self, tenant: str, ts: int) -> float:
        return self._window(tenant, ts)[1]

    def _failure_rate(self, tenant: str, ts: int) -> float:
        return self._window(tenant, ts)[2]

    def _incidents(self) -> Iterator[Incident]:
        for n, (tenant, kind, at) in enumerate(self.plan):
            if kind in WINDOWED:
                incident = Incident(tenant, kind, at, at + WINDOWED[kind][0] * MINUTE, DESCRIPTIONS[kind])
                incident.events = []  # type: ignore[attr-defined]
                yield incident
            elif kind == "bot_burst":
                yield self._one_ip_burst(tenant, at, n)
            elif kind == "card_testing":
                yield self._card_test(tenant, at, n)
            else:
                made = self._large_fraud_order(tenant, at) if kind == "fraud_order" else self._whale_orders(tenant, at)
                made.kind = kind
                yield made

    def _one_ip_burst(self, tenant: str, ts: int, n: int) -> Incident:
        per_minute = max(20, 2 * SIZES[self.size_of[tenant]])
        base = {"session_id": f"s-bot-{n}", "ip": f"203.0.113.{n % 250}", "country": "US"}
        events = [
            self._event(tenant, "page_view", ts + i * MINUTE // per_minute, product_id=f"p{i % 300:04d}", **base)
            for i in range(20 * per_minute)
        ]
        return _incident(tenant, "bot_burst", events, f"{len(events)} page views from one IP in 20 minutes")

    def _card_test(self, tenant: str, ts: int, n: int) -> Incident:
        base = {"customer_id": f"c8{n:04d}", "session_id": f"s-cardtest-{n}", "ip": "198.51.100.7", "country": "BR"}
        events = []
        for i in range(12):
            amount = round(1.0 + i * 0.13, 2)
            events += self._checkout(tenant, ts + i * 25_000, amount, base, items=1, card=f"card-t{n}", failed=i < 11)
        return _incident(tenant, "card_testing", events, "12 tiny payments on one card in 5 minutes, 11 failed")
