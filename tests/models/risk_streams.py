"""Streams for the risk model's calibration tests: one tenant of a given size with a daily cycle, several days,
and on the last day (at its busy hours) the generator's fraud incidents, or none for a quiet stream."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from models.risk import RiskModel
from pulse.dev.generate import MINUTE, Generator, Incident
from pulse.dev.scenarios import DAY, HOUR, SCENARIO_START, season
from pulse.tenants.config import RiskModelConfig

EVENTS_PER_SESSION = 5.2  # page views, carts, checkouts, orders and payments of the generator's sessions
SCORED = ("order_placed", "payment_succeeded", "payment_failed")
FRAUD = ("large_fraud_order", "card_testing", "high_value_burst")


@dataclass
class SizedStream(Generator):
    """`events_per_minute` on average over the day; fraud on the last day unless `quiet`."""

    events_per_minute: float = 24.0
    days: int = 3
    quiet: bool = False

    def __post_init__(self) -> None:
        self.tenants = {"acme": "USD"}
        self.start = SCENARIO_START
        self.minutes = self.days * 24 * 60
        self.sessions_per_minute = self.events_per_minute / EVENTS_PER_SESSION
        super().__post_init__()

    def _rate(self, tenant: str, ts: int) -> float:
        return self.sessions_per_minute * season(ts)

    def _incidents(self) -> Iterator[Incident]:
        if self.quiet:
            return
        last = self.t0 + (self.days - 1) * DAY
        yield self._large_fraud_order("acme", last + 11 * HOUR)
        yield self._card_testing("acme", last + 15 * HOUR)
        yield self._whale_orders("acme", last + 19 * HOUR + 7 * MINUTE)


def scored(stream: SizedStream, config: RiskModelConfig | None = None) -> tuple[list, list[Incident]]:
    """(event, RiskScore) of every order and payment of `stream`, through one tenant's model, and the incidents."""
    events, incidents = stream.run()
    model = RiskModel(config or RiskModelConfig())
    return [(e, model.score(e)) for e in events if e["event_type"] in SCORED], incidents
