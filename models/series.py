"""Reading a user's series (a CSV export: a timestamp column and value columns) for a backtest, as real exports are.

- Timestamps: RFC 3339 with an offset (`2026-11-02T10:00:00Z`), local times without one (`2014-04-01 00:00:00`,
  `2014-04-01T00:00:00`, a date `2014-04-01`) read as UTC or in a given time zone, or epoch seconds (10 digits)
  or milliseconds (13 digits). At a clock change back the repeated local hour is told apart by file order: the
  first occurrence of a local time is the earlier instant, the next one the later.
- A header row or not; the timestamp is the first column, the value the `value` column, else the second, or one
  named by `column`. Empty and NaN values are gaps, counted.
- Rows in any order: sorted by time. Rows with the same timestamp become one, by a rule: `sum` (counts and sums
  arrive in parts), `mean` (gauges, ratios) or `last` (a later row corrects an earlier one), never a silent drop.
- Missing intervals (the interval is the median step) are gaps, counted.

>>> series = read_rows([["ts", "orders"], ["2014-04-01 00:10:00", "3"], ["2014-04-01 00:00:00", "4"],
...                     ["2014-04-01 00:10:00", "1"], ["2014-04-01 00:20:00", "2"], ["2014-04-01 00:40:00", ""]],
...                    "orders.csv")
>>> [(p.timestamp[11:], p.value) for p in series.points]
[('00:00:00', 4.0), ('00:10:00', 4.0), ('00:20:00', 2.0), ('00:40:00', None)]
>>> series.repeated, series.unsorted  # (row, timestamp) sharing a timestamp; rows out of order
([(2, '2014-04-01 00:10:00'), (4, '2014-04-01 00:10:00')], [3])
>>> series.summary()
'5 rows, 4 timestamps at a 10 min interval, 1 gap (1 missing interval), 1 empty value skipped'
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Literal, NamedTuple

Duplicates = Literal["sum", "last", "mean"]
DUPLICATES: tuple[Duplicates, ...] = ("sum", "last", "mean")
TIME_FORMS = (
    "RFC 3339 (2026-11-02T10:00:00Z), a local time (2026-11-02 10:00:00, read as UTC or in --timezone), "
    "a date (2026-11-02) or epoch seconds/milliseconds"
)


class SeriesError(ValueError):
    """A row of the input series that cannot be read."""


class Point(NamedTuple):
    """One timestamp of the series: as written, in epoch ms, its value as written and as a number (None: a gap)."""

    timestamp: str
    ts: int
    raw: str
    value: float | None


@dataclass
class Series:
    """The points in time order, one per timestamp, and what reading them did to the rows."""

    source: str
    points: list[Point]
    rows: int
    duplicates: Duplicates
    zoned: bool
    empty: int = 0
    repeated: list[tuple[int, str]] = field(default_factory=list)  # (row, timestamp) of rows sharing a timestamp
    unsorted: list[int] = field(default_factory=list)  # rows earlier than the row before them

    @property
    def interval_ms(self) -> int | None:
        steps = [b.ts - a.ts for a, b in zip(self.points, self.points[1:], strict=False)]
        return int(statistics.median(steps)) if steps else None

    def missing(self) -> tuple[int, int]:
        """The gaps (steps longer than the interval) and how many intervals they miss in all."""
        interval = self.interval_ms
        if not interval:
            return 0, 0
        spans = [round((b.ts - a.ts) / interval) for a, b in zip(self.points, self.points[1:], strict=False)]
        return sum(span > 1 for span in spans), sum(span - 1 for span in spans if span > 1)

    def warnings(self) -> list[str]:
        """One line per thing reading changed: timestamps shared by several rows, rows out of order."""
        lines = []
        if self.repeated:
            row, text = self.repeated[0]
            how = {"sum": "the sum of", "last": "the last row of", "mean": "the mean of"}[self.duplicates]
            hint = "" if self.zoned else "; a file in local time needs --timezone"
            lines.append(
                f"{self.source}: {counted(len(self.repeated), 'row')} share a timestamp with another row (first: row "
                f"{row}, {text!r}): {how} each timestamp's values is used (--duplicates sum|last|mean){hint}"
            )
        if self.unsorted:
            lines.append(
                f"{self.source}: {counted(len(self.unsorted), 'row')} {'is' if len(self.unsorted) == 1 else 'are'} "
                f"earlier than the row before it (first: row {self.unsorted[0]}): rows are sorted by time"
            )
        return lines

    def summary(self) -> str:
        interval = self.interval_ms
        gaps, missing = self.missing()
        text = f"{counted(self.rows, 'row')}, {counted(len(self.points), 'timestamp')}"
        if interval:
            text += (
                f" at a {_duration(interval)} interval, {counted(gaps, 'gap')} ({counted(missing, 'missing interval')})"
            )
        return text + f", {counted(self.empty, 'empty value')} skipped"


def default_duplicates(kind: str) -> Duplicates:
    """The rule for rows sharing a timestamp: counts and sums add up, gauges and ratios average."""
    return "sum" if kind in ("count", "sum") else "mean"


def read_series(
    path: Path, column: str | None = None, zone: tzinfo | None = None, duplicates: Duplicates = "sum"
) -> Series:
    """The series in a CSV file (see the module's docstring)."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        return read_rows(csv.reader(f), str(path), column, zone, duplicates)


def read_rows(
    rows: Iterable[Sequence[str]],
    source: str,
    column: str | None = None,
    zone: tzinfo | None = None,
    duplicates: Duplicates = "sum",
) -> Series:
    """The series in CSV rows; row numbers in errors count every row from 1, the header too."""
    numbered = [
        (n, [cell.strip() for cell in row]) for n, row in enumerate(rows, start=1) if any(c.strip() for c in row)
    ]
    header = numbered[0][1] if numbered and _is_header(numbered[0][1]) else None
    index = _value_column(header, column, source)
    seen_local: dict[datetime, int] = {}
    parsed: list[tuple[int, Point]] = []
    for n, row in numbered[1:] if header else numbered:
        raw = row[index] if len(row) > index else ""
        point = Point(row[0], parse_timestamp(row[0], f"{source}, row {n}", zone, seen_local), raw, None)
        parsed.append((n, point._replace(value=parse_value(raw, f"{source}, row {n}"))))
    series = Series(source, [], len(parsed), duplicates, zone is not None)
    series.empty = sum(p.value is None for _, p in parsed)
    series.unsorted = [n for (_, a), (n, b) in zip(parsed, parsed[1:], strict=False) if b.ts < a.ts]
    parsed.sort(key=lambda item: item[1].ts)  # stable: rows of one timestamp stay in file order
    groups: dict[int, list[tuple[int, Point]]] = {}
    for n, point in parsed:
        groups.setdefault(point.ts, []).append((n, point))
    for group in groups.values():
        if len(group) > 1:
            series.repeated += [(n, p.timestamp) for n, p in group]
        series.points.append(_combine([p for _, p in group], duplicates))
    series.repeated.sort()
    return series


def parse_timestamp(text: str, where: str, zone: tzinfo | None = None, seen: dict[datetime, int] | None = None) -> int:
    """Epoch milliseconds of `text`; a local time is in `zone` (default UTC), repeated ones counted in `seen`.

    >>> from zoneinfo import ZoneInfo
    >>> berlin, seen = ZoneInfo("Europe/Berlin"), {}
    >>> [parse_timestamp("2026-10-25 02:30", "row", berlin, seen) for _ in range(2)]  # the clocks went back at 3:00
    [1792888200000, 1792891800000]
    >>> parse_timestamp("1700000000", "row") == parse_timestamp("1700000000000", "row") == 1_700_000_000_000
    True
    """
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if 1e8 <= number < 1e11:
            return round(number * 1000)
        if 1e11 <= number < 1e14:
            return round(number)
        raise SeriesError(f"{where}: timestamp {text!r} is a number but not epoch seconds (10 digits) or "
                          f"milliseconds (13 digits); write {TIME_FORMS}")  # fmt: skip
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SeriesError(f"{where}: timestamp {text!r} is not a time; write {TIME_FORMS}") from None
    if moment.tzinfo is not None:
        return round(moment.timestamp() * 1000)
    return round(_localize(moment, zone or UTC, text, where, seen).timestamp() * 1000)


def _localize(moment: datetime, zone: tzinfo, text: str, where: str, seen: dict[datetime, int] | None) -> datetime:
    """`moment` in `zone`; of a local time that occurs twice (clocks going back), the n-th sighting is the n-th."""
    local = moment.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        raise SeriesError(f"{where}: timestamp {text!r} does not exist in {zone} (the clocks skipped it): is the "
                          "file in another time zone? Check --timezone")  # fmt: skip
    if local.utcoffset() == local.replace(fold=1).utcoffset() or seen is None:
        return local
    sightings = seen[moment] = seen.get(moment, 0) + 1
    return local.replace(fold=1) if sightings > 1 else local


def parse_value(text: str, where: str) -> float | None:
    """The value of a row; None for an empty cell or NaN (a gap)."""
    if not text or text.lower() in ("nan", "null", "na"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise SeriesError(
            f"{where}: value {text!r} is not a number; write a number, or leave it empty for a gap"
        ) from None
    if math.isnan(value):
        return None
    if math.isinf(value):
        raise SeriesError(f"{where}: value {text!r} is not finite; write a number, or leave it empty for a gap")
    return value


def _is_header(row: list[str]) -> bool:
    """A first row of names: no cell is a number and the first is not a time."""
    try:
        datetime.fromisoformat(row[0])
    except ValueError:
        return not any(_is_number(cell) for cell in row)
    return False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _value_column(header: list[str] | None, column: str | None, source: str) -> int:
    if column is None:
        return header.index("value") if header and "value" in header else 1
    if header is None:
        raise SeriesError(f"{source} has no header row, so --column {column} names no column; "
                          "leave --column out to use the second column")  # fmt: skip
    if column not in header[1:]:
        raise SeriesError(
            f"{source}: no column {column!r} after the timestamp column; its columns: {', '.join(header)}"
        )
    return header.index(column, 1)


def _combine(points: list[Point], rule: Duplicates) -> Point:
    """One point for the rows of one timestamp, by `rule`; values that are gaps do not count."""
    valued = [p for p in points if p.value is not None]
    if len(valued) <= 1 or rule == "last":
        return valued[-1] if valued else points[-1]
    values = [p.value for p in valued]
    value = math.fsum(values) if rule == "sum" else statistics.fmean(values)
    return points[0]._replace(raw=f"{value:.15g}", value=value)


def counted(n: int, noun: str) -> str:
    """`n` and the noun, plural unless one: `counted(2, "gap")` is '2 gaps'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _duration(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size} {unit}"
    return f"{ms} ms"
