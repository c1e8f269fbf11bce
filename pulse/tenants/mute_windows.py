"""Recurring mute windows in a tenant's config: notices of matching incidents whose event time falls on the
listed weekdays and inside the hours (in the window's time zone) are recorded, not sent.

>>> w = MuteWindow(name="nightly", matchers=["cause=payment-failures"], weekdays=["mon"], hours="22:00-06:00",
...                timezone="Europe/Berlin")
>>> from datetime import UTC, datetime
>>> w.covers(datetime(2026, 11, 2, 22, 30, tzinfo=UTC)), w.covers(datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
(True, False)
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from pulse.incidents.matchers import valid_matcher

HOURS = re.compile(r"^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def valid_zone(zone: str) -> str:
    """An IANA time zone name, or ValueError saying what to write."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}: use an IANA name such as Europe/Berlin") from None
    return zone


class MuteWindow(BaseModel):
    """`hours` is `HH:MM-HH:MM`; a window that ends before it starts (`22:00-06:00`) spans midnight, and the
    weekday is that of the moment itself (local time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    matchers: list[Annotated[str, AfterValidator(valid_matcher)]] = Field(default_factory=list)
    weekdays: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    hours: str = "00:00-24:00"
    timezone: Annotated[str, AfterValidator(valid_zone)] = "UTC"

    @field_validator("hours")
    @classmethod
    def _hours(cls, hours: str) -> str:
        if not HOURS.match(hours) or hours.split("-")[0] == "24:00":
            raise ValueError(f"hours {hours!r}: write HH:MM-HH:MM in 24-hour local time, e.g. 22:00-06:00")
        return hours

    def covers(self, moment: datetime) -> bool:
        """Whether `moment` (aware) is inside this window."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        if WEEKDAYS[local.weekday()] not in self.weekdays:
            return False
        start, end = (_clock(t) for t in self.hours.split("-"))
        now = local.time()
        return start <= now < end if start < end else now >= start or now < end


def _clock(text: str) -> time:
    hour, minute = map(int, text.split(":"))
    return time.max if hour == 24 else time(hour, minute)
