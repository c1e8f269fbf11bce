"""The keyed scoring operator: per tenant, rules and the risk model, with the model in Flink state.

Window and absence rules run in event time: the operator hands the engine Flink's watermark and
registers an event-time timer for the next moment the engine has work (a window end, an absence deadline).
"""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from pulse.config import ConfigSet, load_config_dir
from pulse.scoring import TenantScorer


class ScoreEvents(KeyedProcessFunction):
    """Keyed by tenant: yields ("scored_events", row) for every event and ("alerts", row) per alert."""

    def __init__(self, configs_dir: str, run_id: str, allowed_lateness_ms: int = 60_000):
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.allowed_lateness_ms = allowed_lateness_ms
        self.configs: ConfigSet | None = None
        self.scorers: dict[str, TenantScorer] = {}

    def open(self, runtime_context: RuntimeContext):
        self.configs = load_config_dir(self.configs_dir)
        self.state = runtime_context.get_state(ValueStateDescriptor("tenant", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, event: dict, ctx: KeyedProcessFunction.Context):
        scorer = self._scorer(event["tenant_id"])
        state = self.state.value() or scorer.new_state()
        timers = ctx.timer_service()
        row, alerts = scorer.score(event, state, self.run_id, timers.current_watermark())
        self._schedule(scorer, state, timers)
        self.state.update(state)
        yield "scored_events", row
        for alert in alerts:
            yield "alerts", alert

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        scorer = self._scorer(ctx.get_current_key())
        state = self.state.value() or scorer.new_state()
        timers = ctx.timer_service()
        alerts = scorer.advance(state, max(timestamp, timers.current_watermark()), self.run_id)
        self._schedule(scorer, state, timers)
        self.state.update(state)
        for alert in alerts:
            yield "alerts", alert

    def _schedule(self, scorer: TenantScorer, state, timers) -> None:
        due = scorer.next_timer(state)
        if due is not None and due > timers.current_watermark():  # at the end of the input nothing is due
            timers.register_event_time_timer(due)

    def _scorer(self, tenant: str) -> TenantScorer:
        scorer = self.scorers.get(tenant)
        if scorer is None:
            config = self.configs.for_tenant(tenant)
            scorer = self.scorers[tenant] = TenantScorer(tenant, config, self.allowed_lateness_ms)
        return scorer
