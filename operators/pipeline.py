"""The keyed operator of the scoring job: per tenant, the whole per-record logic (pulse/job/pipeline.py) in Flink state.

Input: ("event", event, origin) and ("rejected", row) keyed by tenant, and rule updates on a broadcast input.
Output: lists of (table, row) pairs for the ClickHouse writer. An event crosses the JVM/Python boundary once:
its rows wait in keyed state (so a checkpoint holds them) and leave in one list per tenant, at most `flush_s`
seconds later; at once when an alert is among them, when the tenant's last rows left more than `flush_s` ago (so a
quiet tenant's rows need no flush timer), and when a bounded input ends.

Timers, per tenant: an event-time timer by the next moment the pipeline has work (a window end, an absence
deadline, a minute end), registered only when none registered is due earlier; a processing-time timer for the flush
(on the next whole `flush_s`, registered again by the first rows after it fired, and by a restored worker);
and an event-time timer at the end of time, which fires only when a bounded input ends.
Repeated event ids (pulse.job.duplicates): per tenant, the recent ids live in this worker's memory and, for restarts,
in a MapState of chunks of ids, of which only the chunks an event changed are written (at the end of the bundle).
Rule updates (pulse.job.rule_updates): a valid one replaces the tenant's config in broadcast state (checkpointed,
so it survives a restart) on every subtask; rules it did not change keep their state. Label feedback comes on the same
input (pulse.job.feedback): the tenant's lessons are kept in broadcast state too, beside its config.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from pyflink.common import Time, Types
from pyflink.datastream import KeyedBroadcastProcessFunction, RuntimeContext, TimeDomain
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor

from pulse.eventtime import ALLOWED_LATENESS_MS, END_OF_INPUT, END_OF_TIME
from pulse.job import gc_tuning
from pulse.job.duplicates import HORIZON_MS, SeenIds
from pulse.job.feedback import Feedback, feedback_row, is_feedback, read_record
from pulse.job.kept import Kept, read
from pulse.job.pipeline import PipelineState, Rows, TenantPipeline
from pulse.job.rule_updates import RuleUpdate, update_row, validate_update
from pulse.tenants.config import ConfigInvalid, ConfigSet, TenantConfig, load_config_dir
from pulse.tenants.plans import PlanWatcher, plans_file_for

log = logging.getLogger(__name__)
# Tenant → its config from the latest accepted update (tenants without one use the config folder).
UPDATED_CONFIGS = MapStateDescriptor("updated-configs", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
# Tenant → what its labels taught (pulse.job.feedback.Feedback).
FEEDBACK = MapStateDescriptor("label-feedback", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
MINUTES_KEPT_DAYS = 40
SEEN_KEPT_MS = 2 * HORIZON_MS


def kept_after_write(ms: int) -> StateTtlConfig:
    """`ms` after the last write. PyFlink caches a MapState's writes (one call into the JVM per bundle) only when
    its TTL may return an expired entry not yet cleaned up; with the default visibility every put is a blocking
    call (1.2 ms). A usage counter kept a little past 40 days is harmless: it is only read for rows of its minute;
    so is a chunk of event ids, which the pipeline drops itself at its horizon."""
    return (
        StateTtlConfig.new_builder(Time.milliseconds(ms))
        .set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)
        .set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
        .build()
    )


class RunPipeline(KeyedBroadcastProcessFunction):
    """Keyed by tenant; per tenant a ValueState with its PipelineState (with the rows not yet sent), one with its risk
    model, and a MapState with the usage counters of older minutes already sent (kept 40 days after their last
    change). Every state an event changes costs a write into the JVM at the end of the bundle, for each tenant."""

    def __init__(
        self,
        configs_dir: str,
        run_id: str,
        allowed_lateness_ms: int = ALLOWED_LATENESS_MS,
        prior: dict[str, dict[str, int]] | None = None,
        plans_check_s: float = 10.0,
        flush_s: float = 1.0,
        tenant_clock: bool = True,
    ):
        """`prior`: accepted events per tenant and month of earlier runs (`pulse.store.usage.accepted_before`);
        `tenant_clock`: False when the source's watermarks are the only clock (pulse.rules.engine)."""
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.allowed_lateness_ms = allowed_lateness_ms
        self.prior = prior or {}
        self.plans_check_s = plans_check_s
        self.flush_ms = int(flush_s * 1000)
        self.tenant_clock = tenant_clock
        self.configs: ConfigSet | None = None
        self.pipelines: dict[str, TenantPipeline] = {}
        self.live: dict[str, PipelineState] = {}  # tenant → its state as last written (this worker)
        self.scheduled: dict[str, int] = {}  # tenant → the event-time timer registered last (this worker)
        self.flush_at: dict[str, int] = {}  # tenant → the processing-time flush registered last (this worker)
        self.sent_at: dict[str, int] = {}  # tenant → when its rows last left (this worker)
        self.flush_at_end: set[str] = set()  # tenants whose end-of-input flush this worker registered
        self.seen: dict[str, SeenIds] = {}  # tenant → its recent event ids (this worker)

    def open(self, runtime_context: RuntimeContext):
        gc_tuning.tune()  # for the whole worker process
        self.configs = load_config_dir(self.configs_dir)
        self.plans = PlanWatcher(plans_file_for(self.configs_dir), self.plans_check_s)
        self.state = runtime_context.get_state(ValueStateDescriptor("tenant", Types.PICKLED_BYTE_ARRAY()))
        self.model = runtime_context.get_state(ValueStateDescriptor("model", Types.PICKLED_BYTE_ARRAY()))
        minutes = MapStateDescriptor("usage-minutes", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        minutes.enable_time_to_live(kept_after_write(MINUTES_KEPT_DAYS * 86_400_000))
        self.minutes = runtime_context.get_map_state(minutes)
        # Chunks of recent event ids; dropped by the pipeline past the horizon, by Flink if a tenant falls silent.
        seen = MapStateDescriptor("seen-ids", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        seen.enable_time_to_live(kept_after_write(SEEN_KEPT_MS))
        self.seen_chunks = runtime_context.get_map_state(seen)
        self.reports_updates = runtime_context.get_index_of_this_subtask() == 0

    def process_element(self, value: tuple, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        kind, item = value[0], value[1]
        tenant = ctx.get_current_key()
        pipeline = self._pipeline(tenant, ctx)
        scored = kind == "event" and pipeline.scorer.wants_model(item)
        state = self._load(pipeline, with_model=scored)
        timers = ctx.timer_service()
        if kind == "event":
            seen = self._seen(tenant)
            rows = pipeline.event(item, state, timers.current_watermark(), self.minutes.get, value[2], seen)
            if scored:
                self.model.update(Kept(state.scoring.model))
            changed, dropped = seen.changes()
            for number, chunk in changed.items():
                self.seen_chunks.put(number, chunk)
            for number in dropped:
                self.seen_chunks.remove(number)
        else:
            rows = pipeline.rejected(item, state, self.minutes.get)
        self._schedule(tenant, pipeline, state, timers)
        yield from self._hold(pipeline, state, rows, timers)

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext):
        tenant = ctx.get_current_key()
        if tenant not in self.live and self.state.value() is None:
            return
        pipeline = self._pipeline(tenant, ctx)
        state = self._load(pipeline, with_model=False)
        timers = ctx.timer_service()
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:
            self.sent_at[tenant] = timestamp
            yield from self._flush(pipeline, state)
            return
        if self.scheduled.get(tenant) == timestamp:
            del self.scheduled[tenant]
        watermark = timers.current_watermark()
        end = watermark >= END_OF_INPUT
        rows = pipeline.advance(state, max(timestamp, watermark), end, self.minutes.get)
        if not end:
            self._schedule(tenant, pipeline, state, timers)
        yield from self._hold(pipeline, state, rows, timers, flush=timestamp == END_OF_TIME)

    def process_broadcast_element(self, envelope: str, ctx: KeyedBroadcastProcessFunction.Context):
        update = RuleUpdate.from_envelope(envelope)
        if is_feedback(update.text):
            yield from self._learn(update, ctx)
            return
        try:
            config = validate_update(update, self.plans.current(), str(self.plans.path), tenants=self.configs.tenants)
        except (ConfigInvalid, ValueError, OSError) as exc:
            log.error("rule update %s for tenant %r refused, the previous rules stay active:\n%s",
                      update.version, update.tenant, exc)  # fmt: skip
            row = update_row(update, None, str(exc), self.run_id)
        else:
            ctx.get_broadcast_state(UPDATED_CONFIGS).put(update.tenant, Kept(config))
            self.pipelines.pop(update.tenant, None)
            log.info(
                "rule update %s for tenant %r is active (%d rules)", update.version, update.tenant, len(config.rules)
            )
            row = update_row(update, config, "", self.run_id)
        if self.reports_updates:
            yield [("config_updates", row)]

    def _learn(self, update: RuleUpdate, ctx: KeyedBroadcastProcessFunction.Context):
        """Take a label's feedback for the update's tenant (the envelope's, never the record's)."""
        try:
            lesson = read_record(update.text)
        except ValueError as exc:
            log.error("label feedback %s for tenant %r refused: %s", update.version, update.tenant, exc)
            row = feedback_row(update.tenant, update.version, None, str(exc), self.run_id)
        else:
            kept = ctx.get_broadcast_state(FEEDBACK)
            feedback: Feedback = read(kept.get(update.tenant)) or Feedback()
            feedback.learn(lesson)
            kept.put(update.tenant, Kept(feedback))
            if update.tenant in self.pipelines:
                self.pipelines[update.tenant].feedback = feedback
            row = feedback_row(update.tenant, update.version, lesson, "", self.run_id)
        if self.reports_updates:
            yield [("config_updates", row)]

    def _hold(self, pipeline: TenantPipeline, state: PipelineState, rows: Rows, timers, flush: bool = False):
        """Keep `rows` with the tenant's unsent ones; send them all now if asked, if an alert is among them, or if
        the tenant's last rows left more than `flush_s` ago (a quiet tenant's rows need no flush timer)."""
        now = timers.current_processing_time()
        tenant = pipeline.tenant
        state.unsent += rows
        quiet = self.sent_at.get(tenant, -self.flush_ms) <= now - self.flush_ms
        if flush or (rows and quiet) or any(table == "alerts" for table, _ in rows):
            self.sent_at[tenant] = now
            yield from self._flush(pipeline, state)
            return
        if rows and self.flush_at.get(tenant, 0) <= now:  # none registered by this worker yet, or it has fired
            self.flush_at[tenant] = (now // self.flush_ms + 1) * self.flush_ms
            timers.register_processing_time_timer(self.flush_at[tenant])
            if tenant not in self.flush_at_end:
                timers.register_event_time_timer(END_OF_TIME)
                self.flush_at_end.add(tenant)
        self._store(state)

    def _flush(self, pipeline: TenantPipeline, state: PipelineState) -> Iterator[Rows]:
        """Send the unsent rows and the usage rows of the minutes counted since the last flush."""
        rows: Rows = state.unsent + [("usage", row) for row in pipeline.usage(state, time.time_ns())]
        for minute, counters in pipeline.evict_minutes(state).items():
            self.minutes.put(minute, counters)
        state.unsent = []
        self._store(state)
        if rows:
            yield rows

    def _load(self, pipeline: TenantPipeline, with_model: bool) -> PipelineState:
        """The tenant's state, with its risk model if asked. The model has a ValueState of its own: it changes only
        with the events it scores, so only then is it read and serialised (at the end of the bundle)."""
        state = self.live.get(pipeline.tenant)
        if state is None:
            state = self.live[pipeline.tenant] = self._restore(pipeline)
        if with_model:
            state.scoring.model = read(self.model.value())
        return state

    def _restore(self, pipeline: TenantPipeline) -> PipelineState:
        """The state of a tenant new to this worker: from Flink (after a restart or a rescale) or a new one."""
        state: PipelineState | None = read(self.state.value())
        if state is None:
            state = pipeline.new_state()
            self.model.update(Kept(state.scoring.model))
            state.scoring.model = None
        return state

    def _seen(self, tenant: str) -> SeenIds:
        """The tenant's recent event ids: in this worker's memory, or restored from Flink state."""
        seen = self.seen.get(tenant)
        if seen is None:
            seen = self.seen[tenant] = SeenIds()
            seen.restore(self.seen_chunks.items())
        return seen

    def _store(self, state: PipelineState) -> None:
        state.scoring.model = None  # kept in its own state
        self.state.update(Kept(state))

    def _schedule(self, tenant: str, pipeline: TenantPipeline, state: PipelineState, timers) -> None:
        """Make sure an event-time timer fires by the pipeline's next due time. A registered earlier one will do
        (when it fires, the next is registered): registering costs a call into the JVM, and the due time moves
        with almost every event (the oldest event waiting for the watermark)."""
        due = pipeline.next_timer(state)
        registered = self.scheduled.get(tenant)
        if due is not None and due > timers.current_watermark() and (registered is None or due < registered):
            timers.register_event_time_timer(due)
            self.scheduled[tenant] = due

    def _pipeline(self, tenant: str, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext) -> TenantPipeline:
        pipeline = self.pipelines.get(tenant)
        if pipeline is None:
            updated: TenantConfig | None = read(ctx.get_broadcast_state(UPDATED_CONFIGS).get(tenant))
            config = updated or self.configs.for_tenant(tenant)
            feedback: Feedback | None = read(ctx.get_broadcast_state(FEEDBACK).get(tenant))
            pipeline = self.pipelines[tenant] = TenantPipeline(
                tenant,
                config,
                self.plans,
                self.run_id,
                self.allowed_lateness_ms,
                self.prior.get(tenant),
                self.tenant_clock,
                feedback,
            )
        return pipeline
