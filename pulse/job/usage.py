"""Metering one tenant's output rows against its plan: per-minute usage counts, quota alerts, overage.

The scoring job passes every (table, row) pair it is about to write through `meter` (keyed by tenant, just
before the ClickHouse sink), so the counts are, by construction, the row counts of the other tables:

- accepted:   `scored_events` rows                      (minute of the event's `ts`, event time)
- scored:     `scored_events` rows with a risk_score
- over_quota: `scored_events` rows marked over_quota
- alerts:     `alerts` rows, usage alerts included      (minute of the alert's `ts`, event time)
- rejected:   `rejected_events` rows but duplicates     (minute of `rejected_at`, when the record was received)
- duplicates: `rejected_events` rows of reason `duplicate_event_id` (a repeat of an event, see pulse/job/duplicates.py)
- alerts_suppressed: rule/model alerts not written because their event was stored unscored (over quota)
- alerts_held_back: alerts not written because a label of the tenant's holds them back (pulse/job/feedback.py;
              minute of the alert's `ts`)

The monthly quota counts accepted events by the calendar month (UTC) of their event time. At 80% and 100%
the tenant gets one `alerts` row of kind `usage` (so `pulse dispatch` makes an incident and webhook), dated
at the start of the month it is about (deterministic, so a replay replaces it instead of adding one);
beyond 100% the plan's `overage` decides: `flag` scores as usual and marks the row over_quota,
`store_unscored` writes the event without scores, rule hits or alerts, marked over_quota. Nothing is dropped.

>>> from pulse.tenants.plans import Plan
>>> plan = Plan(events_per_second=1, events_per_month=5, overage="flag")
>>> state = UsageState()
>>> rows = []
>>> for i in range(6):
...     event = {"tenant_id": "t", "event_id": f"e{i}", "ts": datetime(2026, 11, 2, 10, tzinfo=UTC), "risk_score": None}
...     rows += meter(state, "t", "growth", plan, "scored_events", event, "r1")
>>> [(table, row.get("cause") or row["over_quota"]) for table, row in rows if table == "alerts" or row["over_quota"]]
[('alerts', 'quota_80'), ('alerts', 'quota_100'), ('scored_events', True)]
>>> [(u["minute"].isoformat(), u["accepted"], u["alerts"], u["over_quota"]) for u in usage_rows(state, "t", "r1", 1)]
[('2026-11-01T00:00:00+00:00', 0, 2, 0), ('2026-11-02T10:00:00+00:00', 6, 0, 1)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pulse.job.alerts import alert_row
from pulse.job.duplicates import DUPLICATE
from pulse.tenants.plans import Plan

COUNTERS = (
    "accepted", "rejected", "duplicates", "scored", "alerts", "over_quota", "alerts_suppressed", "alerts_held_back"
)  # fmt: skip
THRESHOLDS = ((80, "quota_80", "medium"), (100, "quota_100", "high"))
RECENT_MINUTES = 5  # flushed minutes whose counters the state keeps


@dataclass
class UsageState:
    """What the usage operator remembers about one tenant besides the per-minute counters it has flushed
    (those live in Flink MapState, read through `stored`); one Flink ValueState per tenant."""

    minutes: dict[int, dict[str, Any]] = field(default_factory=dict)  # epoch minute → counters, changed ones
    month_accepted: dict[str, int] = field(default_factory=dict)  # "YYYY-MM" → accepted events so far
    prior: dict[str, int] = field(default_factory=dict)  # "YYYY-MM" → accepted by earlier runs (quota alerts sent)
    notified: set[tuple[str, str]] = field(default_factory=set)  # (month, cause) quota alerts raised
    unscored_event: str | None = None  # the last event stored unscored: its alerts are suppressed
    # Changed minutes of an earlier run id, displaced by the same minute of this run (a job restored from a
    # savepoint under a new run id): their rows are still to be emitted, under their own run id.
    earlier_runs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # The counters of the last minutes flushed: counting on in them needs no look-up in `stored` (Flink MapState,
    # a round trip to the JVM), which the current minute would otherwise need after every flush.
    recent: dict[int, dict[str, Any]] = field(default_factory=dict)
    newest_flushed: int = -1  # the newest minute flushed so far: a newer one has no stored counters to look up

    def __setstate__(self, saved: dict[str, Any]) -> None:
        """Unpickle state saved by an older version (checkpoints and savepoints outlive code changes)."""
        self.__dict__.update({"earlier_runs": [], "recent": {}, "newest_flushed": 2**62, **saved})


Stored = Callable[[int], dict[str, Any] | None]


def nothing_stored(minute: int) -> None:
    """For a tenant whose earlier minutes are not kept anywhere (tests, a first run)."""
    return None


def meter(
    state: UsageState,
    tenant: str,
    plan_name: str,
    plan: Plan,
    table: str,
    row: dict[str, Any],
    run_id: str,
    stored: Stored = nothing_stored,
) -> list[tuple[str, dict[str, Any]]]:
    """Count one output row; return the rows to write instead (the row, possibly changed, and any quota alerts).
    Raw rows (scored and rejected events) get the plan's retention. `stored(minute)` gives the counters of a
    minute flushed before, or None."""
    count = _counter(state, stored, run_id)
    if table == "scored_events":
        row["retention_days"] = plan.kept_days
        return _scored(state, count, tenant, plan_name, plan, row, run_id)
    if table == "alerts":
        if row["event_id"] == state.unscored_event and row["kind"] != "usage":
            count(row["ts"], "alerts_suppressed")
            return []
        count(row["ts"], "alerts")
    elif table == "rejected_events":
        row["retention_days"] = plan.kept_days
        count(row["rejected_at"], "duplicates" if row["reason"] == DUPLICATE else "rejected")
    return [(table, row)]


def held_back(state: UsageState, row: dict[str, Any], run_id: str, stored: Stored = nothing_stored) -> None:
    """Count an `alerts` row that the tenant's labels hold back (not written), in the minute of its `ts`.

    >>> state = UsageState()
    >>> held_back(state, {"ts": datetime(2026, 11, 2, 10, 7, 30, tzinfo=UTC)}, "r1")
    >>> [(u["minute"].strftime("%H:%M"), u["alerts"], u["alerts_held_back"]) for u in usage_rows(state, "t", "r1", 1)]
    [('10:07', 0, 1)]
    """
    _counter(state, stored, run_id)(row["ts"], "alerts_held_back")


def _scored(
    state: UsageState,
    count: Callable[[datetime, str], None],
    tenant: str,
    plan_name: str,
    plan: Plan,
    row: dict[str, Any],
    run_id: str,
) -> list[tuple[str, dict[str, Any]]]:
    month = row["ts"].strftime("%Y-%m")
    used = state.month_accepted[month] = state.month_accepted.get(month, 0) + 1
    quota = plan.events_per_month
    row["over_quota"] = quota is not None and used > quota
    state.unscored_event = None
    if row["over_quota"]:
        count(row["ts"], "over_quota")
        if plan.overage == "store_unscored":
            _unscore(row)
            state.unscored_event = row["event_id"]
    count(row["ts"], "accepted")
    if row["risk_score"] is not None:
        count(row["ts"], "scored")
    out = [("scored_events", row)]
    for percent, cause, severity in THRESHOLDS if quota is not None else ():
        limit = math.ceil(quota * percent / 100)
        if used >= limit > state.prior.get(month, 0) and (month, cause) not in state.notified:
            state.notified.add((month, cause))
            alert = quota_alert(tenant, plan_name, plan, month, used, percent, cause, severity, row, run_id)
            count(alert["ts"], "alerts")
            out.append(("alerts", alert))
    return out


def _unscore(row: dict[str, Any]) -> None:
    """Store the event as it came: no score, no rule hits (the model's and rules' results are discarded)."""
    row.update(risk_score=None, risk_threshold=None, top_features=[], model_warming_up=False, rule_hits=[])


def quota_alert(
    tenant: str,
    plan_name: str,
    plan: Plan,
    month: str,
    used: int,
    percent: int,
    cause: str,
    severity: str,
    row: dict[str, Any],
    run_id: str,
) -> dict[str, Any]:
    """The `alerts` row telling a tenant it has used `percent`% of its monthly quota."""
    quota = plan.events_per_month
    beyond = (
        "Events beyond the quota are still scored and marked over_quota."
        if plan.overage == "flag"
        else "Events beyond the quota are stored unscored (no risk scores, rules or alerts), marked over_quota."
    )
    summary = (
        f"{tenant} has used {percent}% of the {quota:,} events per month of plan {plan_name!r} "
        f"for {month} ({used:,} events). {beyond if percent >= 100 else 'At 100%: ' + beyond}"
    )
    return alert_row(
        tenant,
        key=("usage", cause, month),
        ts=month_bounds(month)[0],
        kind="usage",
        cause=cause,
        severity=severity,
        group_key=f"quota-{month}",
        event_id=row["event_id"],
        score=used,
        threshold=quota,
        summary=summary,
        labels={"plan": plan_name, "month": month, "overage": plan.overage},
        run_id=run_id,
        created_at=datetime.now(UTC),
    )


def _counter(state: UsageState, stored: Stored, run_id: str) -> Callable[[datetime, str], None]:
    """Counts of one minute carry their run id: a job restored under a new run id starts the minutes that the
    restored state counted for the earlier run from zero, as the tables' rows of each run are counted apart."""

    def count(moment: datetime, counter: str) -> None:
        minute = int(moment.timestamp() // 60)
        counters = state.minutes.get(minute)
        if counters is not None and counters.get("run_id", run_id) != run_id:
            state.earlier_runs.append((minute, counters))
            counters = None
        if counters is None:
            before = state.recent.pop(minute, None)
            if before is None and minute <= state.newest_flushed:
                before = stored(minute)
            if before is None or before.get("run_id", run_id) != run_id:
                before = dict.fromkeys(COUNTERS, 0)
            counters = state.minutes[minute] = {**before, "run_id": run_id}
        counters[counter] = counters.get(counter, 0) + 1  # counters saved by an older version may lack one

    return count


def usage_rows(state: UsageState, tenant: str, run_id: str, version: int) -> list[dict[str, Any]]:
    """The `usage` rows of the minutes changed since the last call (cumulative counts of their run); their
    counters move to `state.recent` (see `evict_flushed`). `version` must grow with
    every call (the operator passes the time in ns): the newest row of a (tenant, minute, run) replaces the
    older ones, also those written before a failure and replayed from restored state."""
    rows = []
    for minute, counters in [*state.earlier_runs, *sorted(state.minutes.items())]:
        moment = datetime.fromtimestamp(minute * 60, tz=UTC)
        counts = {c: counters.get(c, 0) for c in COUNTERS}
        rows.append({"tenant_id": tenant, "minute": moment, "run_id": counters.get("run_id", run_id), **counts,
                     "version": version})  # fmt: skip
    state.newest_flushed = max([state.newest_flushed, *state.minutes, *(m for m, _ in state.earlier_runs)])
    state.recent.update(state.minutes)
    state.minutes.clear()
    state.earlier_runs.clear()
    return rows


def evict_flushed(state: UsageState) -> dict[int, dict[str, Any]]:
    """Remove the flushed minutes beyond the RECENT_MINUTES newest from `state` and return their counters, for
    the caller to store (they come back through `stored` if a late row counts in them again)."""
    return {minute: state.recent.pop(minute) for minute in sorted(state.recent)[:-RECENT_MINUTES]}


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """First instant of a "YYYY-MM" month and of the next, in UTC.

    >>> [moment.isoformat() for moment in month_bounds("2026-12")]
    ['2026-12-01T00:00:00+00:00', '2027-01-01T00:00:00+00:00']
    """
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    return start, (start + timedelta(days=32)).replace(day=1)
