"""Planned events in a tenant's config: a sale, a campaign launch, a maintenance window, with its times.

While one is under way the metric detectors treat the change it announces as expected: no alert in its
direction for its metrics, and nothing learned from those minutes, so the baseline is not poisoned. A change the
other way still alerts, and its summary names the event. A maintenance window that expects a drop also holds
back absence rules (no order for 20 minutes is what maintenance means).

Times are local to `timezone` when written without an offset.

>>> sale = PlannedEvent(name="Black Friday", kind="sale", start="2026-11-27 00:00", end="2026-11-30 00:00",
...                     timezone="America/New_York")
>>> sale.direction, sale.expects("orders", "spike", sale.start_ms), sale.expects("orders", "drop", sale.start_ms)
('spike', True, False)
>>> sale.covers(sale.end_ms), sale.describe()
(False, 'planned sale Black Friday (2026-11-27 05:00 UTC to 2026-11-30 05:00 UTC)')
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pulse.tenants.metric_names import METRIC_NAMES
from pulse.tenants.mute_windows import valid_zone

Direction = Literal["spike", "drop", "both"]
KIND_DIRECTIONS: dict[str, Direction] = {"sale": "spike", "campaign": "spike", "maintenance": "drop"}
MAX_LENGTH = timedelta(days=62)


class PlannedEvent(BaseModel):
    """`direction`: the change expected (by default a spike for a sale or campaign, a drop for maintenance);
    `metrics`: the metrics it changes (empty: all of them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["sale", "campaign", "maintenance", "other"]
    start: datetime
    end: datetime
    timezone: Annotated[str, AfterValidator(valid_zone)] = "UTC"
    metrics: list[str] = Field(default_factory=list)
    direction: Direction | None = None

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, metrics: list[str]) -> list[str]:
        if unknown := sorted(set(metrics) - set(METRIC_NAMES)):
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; metrics are: {', '.join(METRIC_NAMES)}")
        return metrics

    @model_validator(mode="after")
    def _times(self) -> PlannedEvent:
        zone = ZoneInfo(self.timezone)
        start, end = (t if t.tzinfo else t.replace(tzinfo=zone) for t in (self.start, self.end))
        if end <= start:
            raise ValueError(f"planned event {self.name!r} ends before it starts: give an end after {self.start}")
        if end - start > MAX_LENGTH:
            raise ValueError(f"planned event {self.name!r} lasts over {MAX_LENGTH.days} days: split it or shorten it")
        object.__setattr__(self, "start", start.astimezone(UTC))
        object.__setattr__(self, "end", end.astimezone(UTC))
        if self.direction is None:
            object.__setattr__(self, "direction", KIND_DIRECTIONS.get(self.kind, "both"))
        return self

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    def covers(self, ts: int, metric: str | None = None) -> bool:
        """Whether event time `ts` (epoch ms) is inside the event and, if given, `metric` is one it changes."""
        return self.start_ms <= ts < self.end_ms and (metric is None or not self.metrics or metric in self.metrics)

    def expects(self, metric: str, direction: Literal["spike", "drop"], ts: int) -> bool:
        """Whether a `direction` change of `metric` at `ts` is what this event announced."""
        return self.covers(ts, metric) and self.direction in (direction, "both")

    def describe(self) -> str:
        when = f"{self.start:%Y-%m-%d %H:%M} UTC to {self.end:%Y-%m-%d %H:%M} UTC"
        return f"planned {self.kind} {self.name} ({when})"


def under_way(planned: list[PlannedEvent], ts: int, metric: str | None = None) -> list[PlannedEvent]:
    """The planned events covering `ts` (and `metric`)."""
    return [p for p in planned if p.covers(ts, metric)]
