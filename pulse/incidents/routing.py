"""Where and when a tenant's notices go: its route tree picks the receivers, notices are grouped per route and
`group_by` values and sent as one notification per group and receiver (after `group_wait`, then at most every
`group_interval`; a group with open incidents and nothing new is sent again after `repeat_interval`), and
inhibition holds back the notices a firing incident explains. Plain logic: time is passed in, nothing sleeps.

Without a `route:` every notice goes to every receiver at once, as one notification of its own.

>>> from datetime import UTC, datetime, timedelta
>>> from pulse.tenants.routes import Route
>>> t = datetime(2026, 11, 2, 10, tzinfo=UTC)
>>> route = Route.model_validate({"receivers": ["risk"], "group_by": ["cause"], "group_wait": "1m"})
>>> router = Router(route, {"risk": "risk"}, [])
>>> for minute, incident in ((0, "inc_1"), (0.5, "inc_2")):
...     router.add(notice(incident, "large-order", t + timedelta(minutes=minute)), t + timedelta(minutes=minute))
>>> router.due(t + timedelta(seconds=59)).notifications
[]
>>> [(n.receiver, len(n.notices)) for n in router.due(t + timedelta(minutes=1)).notifications]
[('risk', 2)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pulse.incidents.matchers import field_value, matches
from pulse.tenants.routes import InhibitRule, Route

Notice = dict[str, Any]
DEFAULTS = {"group_by": [], "group_wait": 30_000, "group_interval": 300_000, "repeat_interval": 14_400_000}
AT_ONCE = Route.model_validate(
    {"group_by": ["incident_id"], "group_wait": 0, "group_interval": "1ms", "repeat_interval": None}
)
"""The route of a tenant without `route:`: each incident its own group, sent at once, never repeated."""


@dataclass(frozen=True)
class Leaf:
    """A matched route with its inherited settings (durations in milliseconds)."""

    path: str  # the route's place in the tree, `{}` for the root, `{}/0/2` below
    matchers: tuple[str, ...]  # the matchers from the root down: the group key's route part
    receivers: tuple[str, ...]
    group_by: tuple[str, ...]
    group_wait: int
    group_interval: int
    repeat_interval: int | None


@dataclass(frozen=True)
class Notification:
    """One message (or batch) for one receiver: the notices of one group, due at `at`."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    notices: list[Notice]
    at: datetime
    repeat: int = 0


@dataclass
class Flush:
    notifications: list[Notification] = field(default_factory=list)
    inhibited: list[tuple[Notice, str]] = field(default_factory=list)  # each held-back notice, and why


@dataclass
class Group:
    leaf: Leaf
    key: str
    labels: dict[str, str]
    pending: list[Notice] = field(default_factory=list)
    pending_since: datetime | None = None
    open: dict[str, Notice] = field(default_factory=dict)  # incident -> its latest notice, for repeats
    first_sent: datetime | None = None
    flushed_at: datetime | None = None
    repeats: int = 0

    def due_at(self) -> datetime | None:
        """When the group is next sent: its first notices after group_wait; later ones on the group's ticks,
        every group_interval from its first notification (at least one interval after the last); else a repeat
        of its open incidents, repeat_interval after the last; None: nothing to send."""
        if self.pending:
            if self.first_sent is None:
                return self.pending_since + _ms(self.leaf.group_wait)
            interval = _ms(self.leaf.group_interval)
            start = max(self.pending_since, self.flushed_at + interval)
            return self.first_sent + math.ceil((start - self.first_sent) / interval) * interval
        if self.open and self.leaf.repeat_interval and self.flushed_at is not None:
            return self.flushed_at + _ms(self.leaf.repeat_interval)
        return None


class Router:
    """One tenant's routing, grouping and inhibition. `receivers` maps a route's receiver name to the receiver
    key the dispatcher knows (every enabled receiver: the default route's receivers when it names none)."""

    def __init__(self, route: Route | None, receivers: dict[str, str], inhibit_rules: list[InhibitRule]):
        self.route = route or AT_ONCE
        self.receivers = receivers
        self.inhibit_rules = inhibit_rules
        self.groups: dict[str, Group] = {}
        self.firing: dict[str, Notice] = {}  # open incidents, for inhibition
        self.reached: dict[str, set[str]] = defaultdict(set)  # incident -> receivers that got a notice of it
        self.muted: set[str] = set()  # incidents held back (silenced): not repeated

    def leaves(self, notice: Notice) -> list[Leaf]:
        """The routes a notice takes: the deepest matching routes, first match only unless `continue`."""
        return _walk(self.route, notice, "{}", (), _settings(self.route, DEFAULTS)) or [
            _leaf(self.route, "{}", (), _settings(self.route, DEFAULTS))
        ]

    def add(self, notice: Notice, at: datetime) -> None:
        """Queue a notice (event time `at`) in its groups: the groups its routes give, and those its incident
        is open in (so a resolve goes where the open went, even if the routes now differ)."""
        incident = notice["incident_id"]
        self._track(notice)
        self.muted.discard(incident)
        keys = {key for key, group in self.groups.items() if incident in group.open}
        for leaf in self.leaves(notice):
            labels = {f: field_value(notice, f) for f in leaf.group_by}
            key = f"{leaf.path}:{sorted(labels.items())}"
            if key not in self.groups:
                self.groups[key] = Group(leaf, _group_key(leaf, labels), labels)
            keys.add(key)
        for key in keys:
            group = self.groups[key]
            group.pending.append(notice)
            group.pending_since = group.pending_since or at
            if notice["status"] == "resolved":
                group.open.pop(incident, None)
            else:
                group.open[incident] = notice

    def mute(self, notice: Notice) -> None:
        """A notice was held back (silenced): its incident still inhibits others, but is not repeated."""
        self._track(notice)
        self.muted.add(notice["incident_id"])

    def _track(self, notice: Notice) -> None:
        if notice["status"] == "resolved":
            self.firing.pop(notice["incident_id"], None)
        else:
            self.firing[notice["incident_id"]] = notice

    def due(self, now: datetime) -> Flush:
        """The notifications due by `now`, in time order; inhibited notices are left out and listed."""
        flush = Flush()
        for key, group in sorted(self.groups.items(), key=lambda kv: kv[1].due_at() or now):
            while (at := group.due_at()) is not None and at <= now:  # a long gap: every repeat it spans
                self._send(group, at, flush)
            if not group.pending and not group.open:
                del self.groups[key]
        flush.notifications.sort(key=lambda n: n.at)
        return flush

    def close(self, now: datetime) -> Flush:
        """At the end of the input: send every pending notice now (what would have gone once time ran on)."""
        flush = Flush()
        for group in self.groups.values():
            if group.pending:
                self._send(group, max(now, group.due_at() or now), flush)
        self.groups.clear()
        return flush

    def _send(self, group: Group, at: datetime, flush: Flush) -> None:
        repeat = not group.pending
        notices = [n for n in group.open.values() if n["incident_id"] not in self.muted] if repeat else group.pending
        group.repeats = group.repeats + 1 if repeat else 0
        group.pending, group.pending_since, group.flushed_at = [], None, at
        group.first_sent = group.first_sent or at
        kept = []
        for notice in notices:
            reason = self.inhibition(notice) if notice["status"] != "resolved" else None
            if reason is None:
                kept.append(notice)
            elif not repeat:
                flush.inhibited.append((notice, reason))
        names = group.leaf.receivers
        keys = dict.fromkeys(self.receivers.values() if names == ("*",) else (self.receivers.get(n) for n in names))
        for key in filter(None, keys):
            sent = []
            for n in kept:  # in order: a resolve goes where the incident went before (in this batch too)
                if n["status"] != "resolved" or key in self.reached[n["incident_id"]]:
                    sent.append(n)
                    self.reached[n["incident_id"]].add(key)
            if sent:
                flush.notifications.append(Notification(key, group.key, group.labels, sent, at, group.repeats))

    def inhibition(self, notice: Notice) -> str | None:
        """Why a notice is inhibited (the firing incident that explains it), or None."""
        for i, rule in enumerate(self.inhibit_rules):
            if not matches(rule.target_matchers, notice):
                continue
            for source in self.firing.values():
                if source["incident_id"] == notice["incident_id"] or not matches(rule.source_matchers, source):
                    continue
                if all(field_value(source, f) == field_value(notice, f) for f in rule.equal):
                    return f"inhibited by {source['incident_id']} ({source['cause']}, inhibit_rules[{i}])"
        return None


def receiver_names(configs: Iterable[Any], key: Any) -> dict[str, str]:
    """Name → receiver key of a tenant's enabled receivers; an unnamed webhook is known by its key only."""
    return {(getattr(c, "name", None) or key(c)): key(c) for c in configs if c.enabled}


def _settings(route: Route, parent: dict[str, Any]) -> dict[str, Any]:
    own = {k: getattr(route, k) for k in DEFAULTS if k in route.model_fields_set}
    return parent | own | ({"receivers": route.receivers} if route.receivers is not None else {})


def _leaf(route: Route, path: str, matchers: tuple[str, ...], settings: dict[str, Any]) -> Leaf:
    receivers = settings.get("receivers")
    return Leaf(
        path=path,
        matchers=matchers,
        receivers=tuple(receivers) if receivers is not None else ("*",),
        group_by=tuple(settings["group_by"]),
        group_wait=settings["group_wait"],
        group_interval=settings["group_interval"],
        repeat_interval=settings["repeat_interval"],
    )


def _walk(route: Route, notice: Notice, path: str, matchers: tuple[str, ...], settings: dict[str, Any]) -> list[Leaf]:
    """The leaves below `route` (which matches) for `notice`: its matching children's, else itself."""
    found: list[Leaf] = []
    for i, child in enumerate(route.routes):
        if not matches(child.matchers, notice):
            continue
        below = (*matchers, *child.matchers)
        child_settings = _settings(child, settings)
        found += _walk(child, notice, f"{path}/{i}", below, child_settings) or [
            _leaf(child, f"{path}/{i}", below, child_settings)
        ]
        if not child.continue_:
            break
    return found


def _group_key(leaf: Leaf, labels: dict[str, str]) -> str:
    """As Alertmanager writes it: the route's matchers from the root, then the group's labels."""
    route = "{}" + "".join("/{" + m + "}" for m in leaf.matchers)
    return route + ":{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def notice(incident: str, cause: str, at: datetime, status: str = "open", **fields: Any) -> Notice:
    """A notice as the tracker makes it, with only what routing reads (for examples and tests)."""
    base = {"tenant_id": "acme", "incident_id": incident, "version": 1, "status": status, "cause": cause,
            "severity": "high", "kind": "rule", "group_key": "c1", "labels": {}, "updated_at": at,
            "resolved_at": at if status == "resolved" else None}  # fmt: skip
    return base | fields


def _ms(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)
