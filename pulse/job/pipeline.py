"""One tenant's whole per-record logic in the scoring job: rules and risk model, metric detectors, usage.

The job's keyed operator (operators/pipeline.py) is a thin adapter over `TenantPipeline`; benchmarks and
tests run the same object without Flink. Every output row passes the usage meter on its way out, so the
`usage` counts are the row counts of the other tables by construction.

>>> from pulse.tenants.config import TenantConfig
>>> from pulse.tenants.plans import plans_file_for
>>> pipeline = TenantPipeline("t", TenantConfig(), PlanWatcher(plans_file_for("configs")), "r1")
>>> state = pipeline.new_state()
>>> event = {"event_id": "e1", "tenant_id": "t", "event_type": "page_view", "ts": 60_000, "amount": None,
...          "session_id": "s1"}
>>> [table for table, _ in pipeline.event(event, state, watermark=0)]
['scored_events']
>>> print(*sorted({row["metric"] for table, row in pipeline.advance(state, 120_000) if table == "metric_values"}))
conversion sessions traffic views_per_ip
>>> [(row["accepted"], row["minute"].minute) for row in pipeline.usage(state, version=1)]
[(1, 1)]
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from models.business_metrics import TenantMetrics
from models.detectors import MINUTE
from pulse.eventtime import ALLOWED_LATENESS_MS, END_OF_TIME, NO_WATERMARK
from pulse.job.duplicates import DUPLICATE, Origin, Repeat, SeenIds
from pulse.job.feedback import Feedback, Lesson
from pulse.job.metric_alerts import MetricRows
from pulse.job.rule_updates import suspension_row
from pulse.job.scoring import TenantScorer, TenantState, rejected_row
from pulse.job.usage import Stored, UsageState, evict_flushed, held_back, meter, nothing_stored, usage_rows
from pulse.tenants.config import ConfigSet, TenantConfig
from pulse.tenants.plans import PlanWatcher

Rows = list[tuple[str, dict[str, Any]]]


@dataclass
class PipelineState:
    """What the job remembers about one tenant (kept in Flink keyed state)."""

    scoring: TenantState
    metrics: TenantMetrics | None
    usage: UsageState = field(default_factory=UsageState)
    unsent: Rows = field(default_factory=list)  # rows the job's operator holds until its next flush


class TenantPipeline:
    """The compiled config of one tenant: scores its events, closes its metric minutes, meters every row."""

    def __init__(
        self,
        tenant: str,
        config: TenantConfig,
        plans: PlanWatcher,
        run_id: str,
        allowed_lateness_ms: int = ALLOWED_LATENESS_MS,
        prior: dict[str, int] | None = None,
        tenant_clock: bool = True,
        feedback: Feedback | None = None,
    ):
        """`prior`: accepted events per month ("YYYY-MM") of earlier runs, the start of the quota count;
        `tenant_clock`: see pulse.rules.engine; `feedback`: what the tenant's labels taught (pulse.job.feedback)."""
        self.tenant = tenant
        self.config = config
        self.plans = plans
        self.run_id = run_id
        self.prior = prior or {}
        self.scorer = TenantScorer(tenant, config, allowed_lateness_ms, tenant_clock)
        self.metric_rows = MetricRows(tenant, config, run_id)
        self.feedback = feedback or Feedback()
        self.looked_at = -1  # the revision of the feedback whose expected changes the detectors were given

    def new_state(self) -> PipelineState:
        """The state of a tenant seen for the first time."""
        metrics = self.config.models.metrics
        usage = UsageState(month_accepted=dict(self.prior), prior=dict(self.prior))
        return PipelineState(self.scorer.new_state(), TenantMetrics(metrics) if metrics.enabled else None, usage)

    def event(
        self,
        event: dict[str, Any],
        state: PipelineState,
        watermark: int | None,
        stored: Stored = nothing_stored,
        origin: Origin | None = None,
        seen: SeenIds | None = None,
    ) -> Rows:
        """The metered rows of one valid event: its scored row and the alerts it raises or that are now due; or,
        when `seen` (the tenant's recent ids) already holds its event id, the `rejected_events` row saying so."""
        repeat = seen.check(event, origin) if seen is not None and origin is not None else None
        if repeat is not None:
            return self.rejected(self._repeat_row(event, origin, repeat), state, stored)
        row, alerts = self.scorer.score(event, state.scoring, self.run_id, watermark)
        if state.metrics is not None:
            state.metrics.add(event)
        rows = [("scored_events", row), *(("alerts", alert) for alert in alerts), *self._suspensions()]
        return self._meter(state, self._taught(rows, state, stored), stored)

    def rejected(self, row: dict[str, Any], state: PipelineState, stored: Stored = nothing_stored) -> Rows:
        """The metered `rejected_events` row of a record that failed validation."""
        return self._meter(state, [("rejected_events", row)], stored)

    def advance(
        self, state: PipelineState, event_time: int, end_of_input: bool = False, stored: Stored = nothing_stored
    ) -> Rows:
        """The metered rows due when event time reaches `event_time`: window and absence alerts, and the
        metric values and alerts of every minute that ended. At the end of a bounded input no silent
        minutes are added after the last event."""
        rows: Rows = []
        due = self.scorer.next_timer(state.scoring)
        if due is not None and due <= event_time:
            rows += [("alerts", alert) for alert in self.scorer.advance(state.scoring, event_time, self.run_id)]
            rows += self._suspensions()
        if state.metrics is not None:
            self._accept_expected(state.metrics)
            until = max(state.metrics.open, default=-MINUTE) + MINUTE if end_of_input else event_time
            for point in state.metrics.close(until, tuple(self.config.planned)):
                rows += self.metric_rows.rows(point.metric, point.verdict, point.planned)
        return self._meter(state, self._taught(rows, state, stored), stored)

    def next_timer(self, state: PipelineState) -> int | None:
        """The next event time at which `advance` has work: a window end, an absence deadline, a minute end."""
        times = [self.scorer.next_timer(state.scoring)]
        if state.metrics is not None:
            times.append(state.metrics.next_tick())
        return min((t for t in times if t is not None), default=None)

    def usage(self, state: PipelineState, version: int) -> list[dict[str, Any]]:
        """The `usage` rows of the minutes counted since the last call (`pulse.job.usage.usage_rows`)."""
        return usage_rows(state.usage, self.tenant, self.run_id, version)

    def evict_minutes(self, state: PipelineState) -> dict[int, dict[str, Any]]:
        """The usage counters of older flushed minutes, dropped from the state, to be stored (`stored`)."""
        return evict_flushed(state.usage)

    def _repeat_row(self, event: dict[str, Any], origin: Origin, repeat: Repeat) -> dict[str, Any]:
        """The `rejected_events` row of a repeated event id; `raw` is the event as read (JSON)."""
        where = f"record {origin.index} of {origin.source}"
        first = f"record {repeat.index} of {repeat.source}"
        if repeat.reason == DUPLICATE:
            detail = f"{where} repeats {first} (event_id {event['event_id']!r}, the same event): counted once"
        else:
            detail = (
                f"{where}: event_id {event['event_id']!r} was already used by {first} for a different event, "
                "which is kept: give every event an event_id of its own"
            )
        return rejected_row(
            self.tenant, origin.source, origin.index, repeat.reason, detail, event, self.run_id, origin.received
        )

    def _suspensions(self) -> Rows:
        """A `config_updates` row for each rule suspended since the last call (too slow), for the tenant to see."""
        suspended = self.scorer.engine.scope.take_suspensions()
        return [("config_updates", suspension_row(self.tenant, rule, why, self.run_id)) for rule, why in suspended]

    def learn(self, lesson: Lesson) -> None:
        """Take a label's lesson (pulse.job.feedback) from now on."""
        self.feedback.learn(lesson)

    def _accept_expected(self, metrics: TenantMetrics) -> None:
        """Let each metric detector learn its latest incident if a label said it was expected (once: a detector forgets
        the incident's minutes when it learns them), looking again only when the tenant's lessons changed."""
        if self.feedback.revision == self.looked_at:
            return
        self.looked_at = self.feedback.revision
        for metric, direction, opened in self.feedback.expected_changes():
            detector = metrics.detectors.get(metric)
            if detector is not None:
                detector.accept(opened, direction)

    def _taught(self, rows: Rows, state: PipelineState, stored: Stored) -> Rows:
        """`rows` without the alerts the tenant's labels hold back (their scored and metric rows stay), each
        counted in the tenant's usage as `alerts_held_back`."""
        if not self.feedback.lessons:  # most tenants have labelled nothing: no new list per event
            return rows
        kept: Rows = []
        for table, row in rows:
            if table == "alerts" and self.feedback.holds_back(row) is not None:
                held_back(state.usage, row, self.run_id, stored)
            else:
                kept.append((table, row))
        return kept

    def _meter(self, state: PipelineState, rows: Rows, stored: Stored) -> Rows:
        name, plan = self.plans.of(self.tenant)
        out: Rows = []
        for table, row in rows:
            out += meter(state.usage, self.tenant, name, plan, table, row, self.run_id, stored)
        return out


class PlainRun:
    """The job's keyed step for every tenant in one process, without Flink (benchmarks and test oracles):
    one watermark trailing the newest event by the allowed lateness, and a queue of the tenants' timers."""

    def __init__(
        self, configs: ConfigSet, plans: PlanWatcher, run_id: str, allowed_lateness_ms: int = ALLOWED_LATENESS_MS
    ):
        self.configs = configs
        self.plans = plans
        self.run_id = run_id
        self.lateness = allowed_lateness_ms
        self.pipelines: dict[str, TenantPipeline] = {}
        self.states: dict[str, PipelineState] = {}
        self.seen: dict[str, SeenIds] = {}
        self.timers: list[tuple[int, str]] = []
        self.scheduled: dict[str, int] = {}
        self.feedback: dict[str, Feedback] = {}
        self.watermark = NO_WATERMARK

    def learn(self, tenant: str, lesson: Lesson) -> None:
        """A label of `tenant`'s (pulse.job.feedback), as the job takes it from the rule-updates channel."""
        self.feedback.setdefault(tenant, Feedback()).learn(lesson)

    def record(self, kind: str, item: dict[str, Any], origin: Origin | None = None) -> Rows:
        """The rows of one parsed record, ("event", event, origin) or ("rejected", row), and of the timers now due.
        Repeated event ids are found only among events given with their origin."""
        tenant = item["tenant_id"]
        pipeline, state = self._tenant(tenant)
        if kind != "event":
            return pipeline.rejected(item, state)
        self.watermark = max(self.watermark, item["ts"] - self.lateness - 1)
        rows = pipeline.event(item, state, self.watermark, origin=origin, seen=self.seen.setdefault(tenant, SeenIds()))
        self._schedule(tenant)
        while self.timers and self.timers[0][0] <= self.watermark:
            due, name = heapq.heappop(self.timers)
            if self.scheduled.get(name) == due:
                del self.scheduled[name]
            rows += self.pipelines[name].advance(self.states[name], self.watermark)
            self._schedule(name)
        return rows

    def finish(self) -> Rows:
        """The rows due when the input ends, and every tenant's usage rows."""
        rows: Rows = []
        for tenant, pipeline in self.pipelines.items():
            rows += pipeline.advance(self.states[tenant], END_OF_TIME, end_of_input=True)
            rows += [("usage", row) for row in pipeline.usage(self.states[tenant], version=1)]
        return rows

    def _tenant(self, tenant: str) -> tuple[TenantPipeline, PipelineState]:
        if tenant not in self.pipelines:
            config = self.configs.for_tenant(tenant)
            feedback = self.feedback.setdefault(tenant, Feedback())
            self.pipelines[tenant] = TenantPipeline(
                tenant, config, self.plans, self.run_id, self.lateness, feedback=feedback
            )
            self.states[tenant] = self.pipelines[tenant].new_state()
        return self.pipelines[tenant], self.states[tenant]

    def _schedule(self, tenant: str) -> None:
        due = self.pipelines[tenant].next_timer(self.states[tenant])
        registered = self.scheduled.get(tenant)
        if due is not None and due > self.watermark and (registered is None or due < registered):
            heapq.heappush(self.timers, (due, tenant))
            self.scheduled[tenant] = due
