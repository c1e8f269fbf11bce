"""The rule engine of one tenant: enrichment, then the stateful rules in event time.

Events wait in a buffer until the watermark passes them and are then fed to the rules in (ts, event_id)
order, so events that arrive out of order within the allowed lateness give the same alerts as in-order
ones. A tenant's watermark trails its newest event by the allowed lateness (as Flink's bounded-out-of-
orderness watermarks do), or is Flink's watermark when that is later (the job calls `advance` from
event-time timers, which moves a tenant whose events have stopped). So the buffer holds at most the
events of the last allowed lateness. That tenant clock assumes the tenant's events arrive in one ordered
stream (a file); with `tenant_clock=False` (Kafka: a tenant's events may come from several partitions, read
unevenly) the tenant's time is Flink's watermark alone, kept per partition at the source, and the buffer holds
what the slowest partition has not caught up with yet. Windows close and absences fire when the watermark
passes their end. An event at or behind the watermark is late: it is still enriched and scored, flagged
`is_late`, but not added to windows.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from typing import Any

from pulse.eventtime import ALLOWED_LATENESS_MS, END_OF_INPUT, NO_DEADLINE, NO_WATERMARK
from pulse.rules.expressions import Expression, Scope
from pulse.rules.language import BASE_FIELDS, EnrichmentRule
from pulse.rules.runners import Alert, Runner
from pulse.rules.types import RULE_TYPES


@dataclass
class RuleState:
    fingerprint: str
    data: Any


@dataclass
class EngineState:
    """A tenant's rule state; it lives inside `TenantState`, in the job's one ValueState per tenant."""

    watermark: int = NO_WATERMARK
    newest: int = NO_WATERMARK
    pending: list[tuple[int, str, int, dict]] = field(default_factory=list)
    arrivals: int = 0
    rules: dict[str, RuleState] = field(default_factory=dict)
    cooldowns: dict[tuple[str, str], int] = field(default_factory=dict)


class Enrichment:
    """A compiled enrichment rule: derived fields and tags, set in order."""

    def __init__(self, rule: EnrichmentRule, scope: Scope):
        self.filter = Expression(rule.filter, scope, rule.id) if rule.filter else None
        self.derive = {name: Expression(source, scope, rule.id) for name, source in rule.derive.items()}
        self.tags = {tag: Expression(source, scope, rule.id) for tag, source in rule.tags.items()}

    def apply(self, event: dict[str, Any]) -> None:
        if self.filter is not None and not self.filter.true(event):
            return
        for name, expression in self.derive.items():
            event[name] = expression.value(event)
        event["tags"] = [*event["tags"], *(tag for tag, e in self.tags.items() if e.true(event))]


class RuleEngine:
    """The compiled stateful rules of one tenant config; `scope` holds its tables (for every expression of it)."""

    def __init__(
        self,
        rules: list,
        tables: dict[str, Any],
        allowed_lateness_ms: int = ALLOWED_LATENESS_MS,
        tenant_clock: bool = True,
    ):
        enabled = [rule for rule in rules if rule.enabled]
        derived = [name for rule in enabled if rule.type == "enrichment" for name in rule.derive]
        self.scope = Scope(tables, [f for f in (*BASE_FIELDS, *derived) if f != "tables"])
        self.enrichments = [Enrichment(rule, self.scope) for rule in enabled if rule.type == "enrichment"]
        self.runners: dict[str, Runner] = {
            rule.id: runner(rule, self.scope) for rule in enabled if (runner := RULE_TYPES[rule.type].runner)
        }
        self.fingerprints = {rid: _fingerprint(runner.rule) for rid, runner in self.runners.items()}
        self.cooldowns = {r.id: r.cooldown for r in enabled if r.type == "condition" and r.cooldown}
        self.lateness = allowed_lateness_ms
        self.tenant_clock = tenant_clock
        self.synced: EngineState | None = None  # the state last synced: only `sync` changes which rules it holds

    def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event as rules see it: its fields, derived fields and `tags` (the lookup tables are in the scope)."""
        view = {**event, "tags": []}
        for enrichment in self.enrichments:
            enrichment.apply(view)
        return view

    def observe(
        self, view: dict[str, Any], state: EngineState, watermark: int | None = None
    ) -> tuple[bool, list[Alert]]:
        """Take one enriched event; return whether it is late and the alerts now due.

        `watermark` is Flink's current watermark (None: none yet). With the tenant clock the tenant's event time is
        the later of it and the tenant's newest event less the allowed lateness, so the buffer never holds more than
        the events of the last allowed lateness, however far Flink's watermark lags behind a fast replay, and the
        alerts are the same whenever Flink emits its watermarks; without it, Flink's watermark alone."""
        ts = view["ts"]  # the rules' state is synced by `advance`, below
        late = ts <= max(state.watermark, self._watermark(state), NO_WATERMARK if watermark is None else watermark)
        if not late and self.runners:
            state.arrivals += 1
            heapq.heappush(state.pending, (ts, str(view.get("event_id", "")), state.arrivals, dict(view)))
        state.newest = max(state.newest, ts)
        return late, self.advance(state, max(self._watermark(state), NO_WATERMARK if watermark is None else watermark))

    def advance(self, state: EngineState, watermark: int) -> list[Alert]:
        """Move the tenant's event time to `watermark`: feed the events it passed, close windows, fire absences."""
        self.sync(state)
        final = watermark >= END_OF_INPUT
        if final:
            watermark = max(state.newest, state.watermark)
        if watermark <= state.watermark and not final:
            return []
        alerts: list[Alert] = []
        while True:  # events and rule deadlines in time order, even when the watermark jumps far ahead
            due = self._next_deadline(state)
            if state.pending and state.pending[0][0] <= min(watermark, NO_DEADLINE if due is None else due):
                view = heapq.heappop(state.pending)[3]
                for rule_id, runner in self.runners.items():
                    alerts += runner.on_event(view, state.rules[rule_id].data)
                continue
            if due is None or due >= watermark:
                break
            alerts += self._on_watermark(state, due, final=False)
        alerts += self._on_watermark(state, watermark, final)
        longest = max(self.cooldowns.values(), default=0)
        state.cooldowns = {k: ts for k, ts in state.cooldowns.items() if watermark - ts < longest}
        return alerts

    def next_timer(self, state: EngineState) -> int | None:
        """The next event time at which `advance` has work to do (for an event-time timer)."""
        self.sync(state)
        times = [state.pending[0][0]] if state.pending else []
        due = self._next_deadline(state)
        return min([*times, due], default=None) if due is not None else min(times, default=None)

    def _next_deadline(self, state: EngineState) -> int | None:
        """The earliest window end or absence deadline of any rule (asked after every event fed: kept lean)."""
        rules, earliest = state.rules, None
        for rule_id, runner in self.runners.items():
            due = runner.next_timer(rules[rule_id].data)
            if due is not None and (earliest is None or due < earliest):
                earliest = due
        return earliest

    def _on_watermark(self, state: EngineState, watermark: int, final: bool) -> list[Alert]:
        state.watermark = max(state.watermark, watermark)
        alerts: list[Alert] = []
        for rule_id, runner in self.runners.items():
            alerts += runner.on_watermark(watermark, state.rules[rule_id].data, final)
        return alerts

    def cooled(self, rule_id: str, group: str, ts: int, state: EngineState) -> bool:
        """Apply a condition rule's cool-down: False if it alerted for this group within it."""
        cooldown = self.cooldowns.get(rule_id)
        if not cooldown:
            return True
        last = state.cooldowns.get((rule_id, group))
        if last is not None and abs(ts - last) < cooldown:
            return False
        state.cooldowns[(rule_id, group)] = ts
        return True

    def sync(self, state: EngineState) -> None:
        """Give new or changed rules fresh state and free the state of removed ones (once per state object: a
        tenant's engine sees the same one from event to event, and a new engine for a changed config)."""
        if state is self.synced:
            return
        for rule_id in [r for r, s in state.rules.items() if self.fingerprints.get(r) != s.fingerprint]:
            del state.rules[rule_id]
        for rule_id, runner in self.runners.items():
            if rule_id not in state.rules:
                state.rules[rule_id] = RuleState(self.fingerprints[rule_id], runner.new_state())
        for key in [k for k in state.cooldowns if k[0] not in self.cooldowns]:
            del state.cooldowns[key]
        self.synced = state

    def _watermark(self, state: EngineState) -> int:
        if not self.tenant_clock or state.newest == NO_WATERMARK:
            return NO_WATERMARK
        return state.newest - self.lateness - 1


def _fingerprint(rule: Any) -> str:
    return hashlib.sha256(rule.model_dump_json().encode()).hexdigest()[:16]
