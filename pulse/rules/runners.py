"""One runner per stateful rule type: it updates the rule's state from events (released in event-time
order) and from the watermark, and returns the alerts the rule raises. State is plain data, pruned by
the rule's window, so it stays bounded and pickles cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pulse.rules.durations import describe
from pulse.rules.expressions import Expression, Scope
from pulse.rules.language import (
    DAY_MS,
    AbsenceRule,
    BaselineRule,
    NewValueRule,
    SequenceRule,
    StatefulRule,
    ThresholdRule,
)
from pulse.rules.rates import HourlyRate
from pulse.rules.windows import EMPTY_IS_ZERO, Partial, bucket_start, compare, merged

WEEK_MS = 7 * DAY_MS
HOUR_MS = 3_600_000
Group = tuple[str, ...]


@dataclass
class Alert:
    """One alert of a stateful rule: for which group, at which event time, with the measured value."""

    rule: StatefulRule
    group: Group
    ts: int
    detail: str
    event: dict[str, Any] | None = None
    value: float | None = None
    limit: float | None = None


@dataclass
class WindowState:
    """Per group: open buckets, when a breach began (for `for`), when it last alerted (for `cooldown`)."""

    buckets: dict[Group, dict[int, Partial]] = field(default_factory=dict)
    closed: int | None = None
    breach: dict[Group, int] = field(default_factory=dict)
    alerted: dict[Group, int] = field(default_factory=dict)
    history: dict[Group, list[tuple[int, float]]] = field(default_factory=dict)


class Runner:
    """What every stateful rule does: filter, group, cool-down."""

    def __init__(self, rule: StatefulRule, scope: Scope):
        self.rule = rule
        self.filter = Expression(rule.filter, scope, rule.id) if rule.filter else None

    def new_state(self) -> Any:
        return WindowState()

    def matches(self, event: dict[str, Any]) -> bool:
        return self.filter is None or self.filter.true(event)

    def group(self, event: dict[str, Any]) -> Group | None:
        """The values of the rule's `group_by` fields; None when one is missing (the event is skipped)."""
        values = tuple(event.get(name) for name in self.rule.group_by)
        return None if any(v is None or v == "" for v in values) else tuple(str(v) for v in values)

    def cooled(self, alerted: dict[Group, int], group: Group, ts: int) -> bool:
        """True (and remembered) unless the rule alerted for this group within its cool-down."""
        last = alerted.get(group)
        if last is not None and ts - last < self.rule.cooldown:
            return False
        alerted[group] = ts
        return True

    def prune_alerted(self, alerted: dict[Group, int], watermark: int) -> None:
        for group in [g for g, ts in alerted.items() if watermark - ts >= self.rule.cooldown]:
            del alerted[group]

    def on_event(self, event: dict[str, Any], state: Any) -> list[Alert]:
        return []

    def on_watermark(self, watermark: int, state: Any, final: bool) -> list[Alert]:
        return []

    def next_timer(self, state: Any) -> int | None:
        return None


class WindowRunner(Runner):
    """Aggregates events into aligned buckets per group and evaluates each window when the watermark passes it."""

    rule: ThresholdRule | BaselineRule

    @property
    def size(self) -> int:
        return self.rule.window if isinstance(self.rule.window, int) else self.rule.window.size

    @property
    def slide(self) -> int:
        return self.rule.window if isinstance(self.rule.window, int) else self.rule.window.slide

    def on_event(self, event: dict[str, Any], state: WindowState) -> list[Alert]:
        group = self.group(event)
        if group is None or not self.matches(event):
            return []
        start = bucket_start(event["ts"], self.slide)
        if state.closed is None:
            state.closed = start
        partial = state.buckets.setdefault(group, {}).setdefault(start, Partial())
        partial.add(event.get(self.rule.field) if self.rule.field else 1)
        return []

    def on_watermark(self, watermark: int, state: WindowState, final: bool) -> list[Alert]:
        alerts: list[Alert] = []
        while state.closed is not None and (state.closed + self.slide - 1 <= watermark or self._flush(state, final)):
            end = state.closed + self.slide
            if not state.buckets and not self.evaluates_empty():
                state.closed = max(end, bucket_start(watermark + 1, self.slide))
                break
            alerts += self.close(end, state)
            state.closed = end
            for group in [g for g, b in state.buckets.items() if not b]:
                del state.buckets[group]
        self.prune_alerted(state.alerted, watermark)
        return alerts

    def _flush(self, state: WindowState, final: bool) -> bool:
        """At the end of the input, windows that hold events still count when reaching the limit can fire."""
        return final and bool(state.buckets) and getattr(self.rule, "op", "") in (">", ">=")

    def evaluates_empty(self) -> bool:
        """An ungrouped rule also evaluates windows without events (a count of 0 can be a breach)."""
        return not self.rule.group_by

    def groups(self, state: WindowState) -> list[Group]:
        """The groups to evaluate: those with events, those in a breach (to end it), and () when ungrouped."""
        groups = list(dict.fromkeys([*state.buckets, *state.breach]))
        return groups if self.rule.group_by or () in groups else [*groups, ()]

    def value(self, state: WindowState, group: Group, end: int) -> float | None:
        partial = merged(state.buckets.get(group, {}), end - self.size, end)
        if not partial.count and self.rule.aggregate not in EMPTY_IS_ZERO:
            return None
        return partial.result(self.rule.aggregate)

    def held(self, state: WindowState, group: Group, end: int, breached: bool) -> bool:
        """Whether the breach has lasted the rule's `for` (hold) time; remembers when it began."""
        if not breached:
            state.breach.pop(group, None)
            return False
        since = state.breach.setdefault(group, end)
        return end - since >= self.rule.hold

    def drop_old_buckets(self, state: WindowState, end: int) -> None:
        oldest = end + self.slide - self.size
        for buckets in state.buckets.values():
            for start in [s for s in buckets if s < oldest]:
                del buckets[start]

    def close(self, end: int, state: WindowState) -> list[Alert]:
        raise NotImplementedError

    def next_timer(self, state: WindowState) -> int | None:
        if state.closed is None or not (state.buckets or self.evaluates_empty()):
            return None
        return state.closed + self.slide - 1


class ThresholdRunner(WindowRunner):
    rule: ThresholdRule

    def close(self, end: int, state: WindowState) -> list[Alert]:
        alerts = []
        rule = self.rule
        for group in self.groups(state):
            value = self.value(state, group, end)
            breached = value is not None and compare(value, rule.op, rule.limit)
            if self.held(state, group, end, breached) and self.cooled(state.alerted, group, end - 1):
                measure = f"{rule.aggregate} of {rule.field}" if rule.field else rule.aggregate
                detail = f"{measure} = {value:g} {rule.op} {rule.limit:g}"
                detail += f" in the {describe(self.size)} up to {_clock(end)}"
                alerts.append(Alert(rule, group, end - 1, detail, value=value, limit=rule.limit))
        self.drop_old_buckets(state, end)
        return alerts


class BaselineRunner(WindowRunner):
    rule: BaselineRule

    def groups(self, state: WindowState) -> list[Group]:
        return list(dict.fromkeys([*super().groups(state), *state.history]))

    def close(self, end: int, state: WindowState) -> list[Alert]:
        alerts = []
        rule = self.rule
        for group in self.groups(state):
            value = self.value(state, group, end)
            if value is None:
                continue
            history = state.history.setdefault(group, [])
            usual = self.usual(history, end - self.size)
            breached = usual is not None and self.changed(value, usual)
            if self.held(state, group, end, breached) and self.cooled(state.alerted, group, end - 1):
                detail = f"{rule.aggregate} = {value:g} in the {describe(self.size)} up to {_clock(end)}"
                detail += f", usually {usual:g} ({rule.change} {rule.direction} {rule.limit:g})"
                alerts.append(Alert(rule, group, end - 1, detail, value=value, limit=usual))
            history.append((end - self.size, value))
            self.trim(state, group, end)
        self.drop_old_buckets(state, end)
        return alerts

    def usual(self, history: list[tuple[int, float]], start: int) -> float | None:
        """The mean of the recent windows, or of the same window in previous weeks."""
        if self.rule.compare_to == "recent":
            values = [v for _, v in history[-self.rule.history :]]
        else:
            values = [v for s, v in history if (start - s) % WEEK_MS == 0]
        return sum(values) / len(values) if len(values) >= self.rule.min_history else None

    def changed(self, value: float, usual: float) -> bool:
        rule = self.rule
        if rule.change == "ratio":
            if usual <= 0:
                return False
            return value < rule.limit * usual if rule.direction == "below" else value > rule.limit * usual
        return usual - value >= rule.limit if rule.direction == "below" else value - usual >= rule.limit

    def trim(self, state: WindowState, group: Group, end: int) -> None:
        history = state.history[group]
        if self.rule.compare_to == "recent":
            del history[: -self.rule.history]
        else:
            history[:] = [(s, v) for s, v in history if s >= end - self.size - self.rule.history * WEEK_MS]
        if group not in state.buckets and self.rule.group_by and not any(v for _, v in history):
            del state.history[group]


@dataclass
class AbsenceState:
    last_seen: dict[Group, int] = field(default_factory=dict)
    fired: set[Group] = field(default_factory=set)
    alerted: dict[Group, int] = field(default_factory=dict)
    rates: dict[Group, HourlyRate] = field(default_factory=dict)  # with `min_expected`: each group's usual rate
    due: dict[Group, int] = field(default_factory=dict)  # with `min_expected`: when each group's silence alerts


class AbsenceRunner(Runner):
    """Fires when the watermark passes a group's deadline: its last matching event plus `for` (with
    `min_expected`, also not before the events it usually sees since then reach `min_expected`)."""

    rule: AbsenceRule

    def new_state(self) -> AbsenceState:
        return AbsenceState()

    @property
    def learns(self) -> bool:
        return self.rule.min_expected is not None

    def on_event(self, event: dict[str, Any], state: AbsenceState) -> list[Alert]:
        ts = event["ts"]
        if not self.rule.group_by:
            state.last_seen.setdefault((), ts)  # silence counts from the tenant's first event
            if self.learns:
                state.rates.setdefault((), HourlyRate.since(ts))
        group = self.group(event)
        if group is not None and self.matches(event):
            state.last_seen[group] = max(ts, state.last_seen.get(group, ts))
            state.fired.discard(group)
            if self.learns:
                self.learn(state, group, ts)
        return []

    def learn(self, state: AbsenceState, group: Group, ts: int) -> None:
        """Count the event in the group's rates and work out when its silence from now on would alert."""
        rates = state.rates.setdefault(group, HourlyRate.since(ts))
        rates.add(ts)
        seen = state.last_seen[group]
        usual = rates.reaches(seen, self.rule.min_expected or 0, self.rule.active_hours)
        if usual is None:
            state.due.pop(group, None)
        else:
            state.due[group] = max(usual, deadline(seen, self.rule.after, self.rule.active_hours))

    def deadline(self, state: AbsenceState, group: Group) -> int | None:
        """When the group's current silence alerts (None: it does not, the usual rate is too low or unknown)."""
        if self.learns:
            return state.due.get(group)
        return deadline(state.last_seen[group], self.rule.after, self.rule.active_hours)

    def on_watermark(self, watermark: int, state: AbsenceState, final: bool) -> list[Alert]:
        alerts = []
        for group in list(state.last_seen):
            due = self.deadline(state, group)
            if group in state.fired or due is None or due > watermark:
                if self.stale(state, group, watermark, due):
                    self.forget(state, group)
                continue
            state.fired.add(group)
            if self.cooled(state.alerted, group, due):
                alerts.append(Alert(self.rule, group, due, self.detail(state, group, due), value=0, limit=None))
            if self.rule.group_by and not self.learns:
                self.forget(state, group)
        self.prune_alerted(state.alerted, watermark)
        return alerts

    def detail(self, state: AbsenceState, group: Group, due: int) -> str:
        seen = state.last_seen[group]
        if not self.learns:
            return f"no matching event for {describe(self.rule.after)} since {_clock(seen)}"
        expected = state.rates[group].expected(seen, due, self.rule.active_hours)
        silence = due - seen if due - seen < 60_000 else due - seen - (due - seen) % 60_000
        return f"no matching event for {describe(silence)} since {_clock(seen)}; about {expected:.0f} were expected"

    def stale(self, state: AbsenceState, group: Group, watermark: int, due: int | None) -> bool:
        """A learning rule forgets a group silent for a week that will not alert (again); if it comes back, it
        learns afresh. (Without `min_expected` a group is forgotten when it alerts.)"""
        done = due is None or group in state.fired
        return self.learns and bool(self.rule.group_by) and done and watermark - state.last_seen[group] >= WEEK_MS

    def forget(self, state: AbsenceState, group: Group) -> None:
        for kept in (state.last_seen, state.rates, state.due):
            kept.pop(group, None)
        state.fired.discard(group)

    def next_timer(self, state: AbsenceState) -> int | None:
        """The earliest deadline of a group not yet fired (asked after every event fed: one pass, no lists)."""
        earliest = None
        for group in state.last_seen:
            if group not in state.fired:
                due = self.deadline(state, group)
                if due is not None and (earliest is None or due < earliest):
                    earliest = due
        return earliest


def deadline(seen: int, after: int, hours: tuple[int, int] | None) -> int:
    """When silence since `seen` has lasted `after`, counting only time inside the opening hours (UTC).

    >>> deadline(0, 600_000, None), deadline(7 * HOUR_MS, 600_000, (8, 20)) // 60_000
    (600000, 490)
    """
    if hours is None:
        return seen + after
    day = bucket_start(seen, DAY_MS)
    start = seen
    while True:
        opening, closing = day + hours[0] * HOUR_MS, day + hours[1] * HOUR_MS
        start = max(start, opening)
        if start + after <= closing:
            return start + after
        day += DAY_MS
        start = day


@dataclass
class SeenState:
    seen: dict[Group, dict[str, int]] = field(default_factory=dict)
    alerted: dict[Group, int] = field(default_factory=dict)


class NewValueRunner(Runner):
    """Remembers, per group, the values of `field` seen within `remember`; a value not among them alerts."""

    rule: NewValueRule

    def new_state(self) -> SeenState:
        return SeenState()

    def on_event(self, event: dict[str, Any], state: SeenState) -> list[Alert]:
        group = self.group(event)
        value = event.get(self.rule.field)
        if group is None or value is None or value == "" or not self.matches(event):
            return []
        value, ts = str(value), event["ts"]
        known = state.seen.get(group)
        fires = value not in known if known is not None else self.rule.alert_on_first_event
        alerts = []
        if fires and self.cooled(state.alerted, group, ts):
            before = ", ".join(sorted(known or {})[:5]) or "nothing"
            detail = f"first {self.rule.field} {value} (seen before: {before})"
            alerts.append(Alert(self.rule, group, ts, detail, event=event))
        state.seen.setdefault(group, {})[value] = ts
        return alerts

    def on_watermark(self, watermark: int, state: SeenState, final: bool) -> list[Alert]:
        oldest = watermark - self.rule.remember
        for group, values in list(state.seen.items()):
            for value in [v for v, ts in values.items() if ts < oldest]:
                del values[value]
            if not values:
                del state.seen[group]
        self.prune_alerted(state.alerted, watermark)
        return []


@dataclass
class SequenceState:
    firsts: dict[Group, list[int]] = field(default_factory=dict)
    alerted: dict[Group, int] = field(default_factory=dict)


class SequenceRunner(Runner):
    """Remembers `first` matches per group for `within`; a `then` match after one of them alerts."""

    rule: SequenceRule

    def __init__(self, rule: SequenceRule, scope: Scope):
        super().__init__(rule, scope)
        self.first, self.then = Expression(rule.first, scope, rule.id), Expression(rule.then, scope, rule.id)

    def new_state(self) -> SequenceState:
        return SequenceState()

    def on_event(self, event: dict[str, Any], state: SequenceState) -> list[Alert]:
        group = self.group(event)
        if group is None or not self.matches(event):
            return []
        ts, alerts = event["ts"], []
        firsts = [t for t in state.firsts.get(group, []) if ts - t <= self.rule.within]
        if firsts and self.then.true(event):
            began = firsts.pop(0)
            if self.cooled(state.alerted, group, ts):
                detail = f"`{self.rule.then}` {(ts - began) // 1000} s after `{self.rule.first}`"
                alerts.append(Alert(self.rule, group, ts, detail, event=event))
        if self.first.true(event):
            firsts.append(ts)
        if firsts:
            state.firsts[group] = firsts
        else:
            state.firsts.pop(group, None)
        return alerts

    def on_watermark(self, watermark: int, state: SequenceState, final: bool) -> list[Alert]:
        for group, firsts in list(state.firsts.items()):
            firsts[:] = [t for t in firsts if watermark - t <= self.rule.within]
            if not firsts:
                del state.firsts[group]
        self.prune_alerted(state.alerted, watermark)
        return []


def _clock(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
