"""Durations as tenants write them: `30s`, `10m`, `1h`, `7d`, `2w`, or combined like `1h30m`.

>>> parse_duration("1h30m"), parse_duration("10m"), parse_duration(0)
(5400000, 600000, 0)
>>> parse_duration("10 minutes")
Traceback (most recent call last):
ValueError: bad duration '10 minutes': write a number and a unit, e.g. 30s, 10m, 1h, 7d, 2w (or 1h30m)
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w))+$")
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> int:
    """Milliseconds of a duration text; a plain 0 means none."""
    if value == 0 and not isinstance(value, bool):
        return 0
    text = str(value).strip().replace(" ", "") if isinstance(value, str) else None
    if not text or not _DURATION.match(text):
        raise ValueError(f"bad duration {value!r}: write a number and a unit, e.g. 30s, 10m, 1h, 7d, 2w (or 1h30m)")
    return sum(int(n) * UNITS_MS[unit] for n, unit in _PART.findall(text))


def describe(ms: int) -> str:
    """A short text for a duration in milliseconds.

    >>> describe(600000), describe(5400000), describe(45000)
    ('10m', '1h30m', '45s')
    """
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        n, ms = divmod(ms, UNITS_MS[unit])
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts) or "0s"


def _duration(value: Any, info: ValidationInfo) -> int:
    """A config field's duration: text as tenants write it, or milliseconds from the job's kept state."""
    if info.context and info.context.get("kept") and type(value) is int:
        return value
    return parse_duration(value)


Duration = Annotated[int, BeforeValidator(_duration)]
