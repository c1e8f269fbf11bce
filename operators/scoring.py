"""The keyed scoring operator: per tenant, rules and the risk model, with the model in Flink state.

Window and absence rules run in event time: the operator hands the engine Flink's watermark and
registers an event-time timer for the next moment the engine has work (a window end, an absence deadline).
Rule updates arrive on a second, broadcast input (pulse.ruleupdates): a valid one replaces the tenant's
config in broadcast state (checkpointed, so it survives a restart) on every subtask.
"""

from __future__ import annotations

import logging

from pyflink.common import Types
from pyflink.datastream import KeyedBroadcastProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from pulse.config import ConfigInvalid, ConfigSet, TenantConfig, load_config_dir
from pulse.plans import load_plans, plans_file_for
from pulse.ruleupdates import RuleUpdate, update_row, validate_update
from pulse.scoring import TenantScorer

log = logging.getLogger(__name__)
# Tenant → its config from the latest accepted update (tenants without one use the config folder).
UPDATED_CONFIGS = MapStateDescriptor("updated-configs", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


class ScoreEvents(KeyedBroadcastProcessFunction):
    """Keyed by tenant: yields ("scored_events", row) for every event and ("alerts", row) per alert; on the
    broadcast side, one ("config_updates", row) per rule update (from the first subtask only)."""

    def __init__(self, configs_dir: str, run_id: str, allowed_lateness_ms: int = 60_000):
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.allowed_lateness_ms = allowed_lateness_ms
        self.configs: ConfigSet | None = None
        self.scorers: dict[str, TenantScorer] = {}

    def open(self, runtime_context: RuntimeContext):
        self.configs = load_config_dir(self.configs_dir)
        self.state = runtime_context.get_state(ValueStateDescriptor("tenant", Types.PICKLED_BYTE_ARRAY()))
        self.reports_updates = runtime_context.get_index_of_this_subtask() == 0

    def process_element(self, event: dict, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext):
        scorer = self._scorer(event["tenant_id"], ctx)
        state = self.state.value() or scorer.new_state()
        timers = ctx.timer_service()
        row, alerts = scorer.score(event, state, self.run_id, timers.current_watermark())
        self._schedule(scorer, state, timers)
        self.state.update(state)
        yield "scored_events", row
        for alert in alerts:
            yield "alerts", alert

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext):
        scorer = self._scorer(ctx.get_current_key(), ctx)
        state = self.state.value() or scorer.new_state()
        timers = ctx.timer_service()
        alerts = scorer.advance(state, max(timestamp, timers.current_watermark()), self.run_id)
        self._schedule(scorer, state, timers)
        self.state.update(state)
        for alert in alerts:
            yield "alerts", alert

    def process_broadcast_element(self, envelope: str, ctx: KeyedBroadcastProcessFunction.Context):
        update = RuleUpdate.from_envelope(envelope)
        plans_file = plans_file_for(self.configs_dir)
        try:
            config = validate_update(update, load_plans(plans_file), str(plans_file))
        except (ConfigInvalid, ValueError, OSError) as exc:
            log.error("rule update %s for tenant %r refused, the previous rules stay active:\n%s",
                      update.version, update.tenant, exc)  # fmt: skip
            row = update_row(update, None, str(exc), self.run_id)
        else:
            ctx.get_broadcast_state(UPDATED_CONFIGS).put(update.tenant, config)
            self.scorers.pop(update.tenant, None)
            log.info(
                "rule update %s for tenant %r is active (%d rules)", update.version, update.tenant, len(config.rules)
            )
            row = update_row(update, config, "", self.run_id)
        if self.reports_updates:
            yield "config_updates", row

    def _schedule(self, scorer: TenantScorer, state, timers) -> None:
        due = scorer.next_timer(state)
        if due is not None and due > timers.current_watermark():  # at the end of the input nothing is due
            timers.register_event_time_timer(due)

    def _scorer(self, tenant: str, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext) -> TenantScorer:
        scorer = self.scorers.get(tenant)
        if scorer is None:
            updated: TenantConfig | None = ctx.get_broadcast_state(UPDATED_CONFIGS).get(tenant)
            config = updated or self.configs.for_tenant(tenant)
            scorer = self.scorers[tenant] = TenantScorer(tenant, config, self.allowed_lateness_ms)
        return scorer
