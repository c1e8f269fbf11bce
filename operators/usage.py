"""The usage operator: keyed by tenant, just before the ClickHouse sink, it meters every row (pulse/usage.py).

Per tenant, a ValueState holds the month totals and the counters changed since the last flush (small,
pickled once per bundle); a MapState holds every flushed minute's counters (only the minutes touched are
read or written), kept 40 days after their last change. The `usage` rows of changed minutes are emitted on
a processing-time timer (at most every `flush_s` seconds per tenant) and, for bounded input, on an
event-time timer at the end of time, which fires when the input ends.
"""

from __future__ import annotations

import time

from pyflink.common import Time, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor

from pulse.config import ConfigSet, load_config_dir
from pulse.plans import PlanWatcher, plans_file_for
from pulse.usage import UsageState, meter, usage_rows

END_OF_TIME = 2**63 - 1
MINUTES_KEPT_DAYS = 40


class MeterUsage(KeyedProcessFunction):
    """Keyed by tenant: passes (table, row) pairs on (with quota alerts and overage applied) and emits
    ("usage", row) pairs of per-minute counts."""

    def __init__(
        self,
        configs_dir: str,
        run_id: str,
        prior: dict[str, dict[str, int]] | None = None,
        plans_check_s: float = 10.0,
        flush_s: float = 1.0,
    ):
        """`prior`: accepted events per tenant and month of earlier runs (`pulse.usage_report.accepted_before`)."""
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.prior = prior or {}
        self.plans_check_s = plans_check_s
        self.flush_ms = int(flush_s * 1000)
        self.configs: ConfigSet | None = None

    def open(self, runtime_context: RuntimeContext):
        self.configs = load_config_dir(self.configs_dir)
        self.plans = PlanWatcher(plans_file_for(self.configs_dir), self.plans_check_s)
        for config in [self.configs.default, *self.configs.tenants.values()]:
            self.plans.plan(config.plan)  # refuse to start on a plan the plans file does not have
        self.state = runtime_context.get_state(ValueStateDescriptor("usage", Types.PICKLED_BYTE_ARRAY()))
        minutes = MapStateDescriptor("usage-minutes", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        minutes.enable_time_to_live(StateTtlConfig.new_builder(Time.days(MINUTES_KEPT_DAYS)).build())
        self.minutes = runtime_context.get_map_state(minutes)

    def process_element(self, value: tuple[str, dict], ctx: KeyedProcessFunction.Context):
        table, row = value
        tenant = ctx.get_current_key()
        state = self.state.value() or self._new_state(tenant)
        was_clean = not state.minutes
        plan_name = self.configs.for_tenant(tenant).plan
        plan = self.plans.plan(plan_name)
        out = meter(state, tenant, plan_name, plan, table, row, self.run_id, self.minutes.get)
        if was_clean and state.minutes:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.flush_ms)
            timers.register_event_time_timer(END_OF_TIME)
        self.state.update(state)
        yield from out

    def _new_state(self, tenant: str) -> UsageState:
        prior = self.prior.get(tenant, {})
        return UsageState(month_accepted=dict(prior), prior=dict(prior))

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        state = self.state.value()
        if state is None or not state.minutes:
            return
        for minute, counters in state.minutes.items():
            self.minutes.put(minute, counters)
        rows = usage_rows(state, ctx.get_current_key(), self.run_id, time.time_ns())
        self.state.update(state)
        for row in rows:
            yield "usage", row
