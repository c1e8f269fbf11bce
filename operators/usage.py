"""The usage operator: keyed by tenant, just before the ClickHouse sink, it meters every row (pulse/usage.py).

Counters live in one ValueState per tenant. The `usage` rows of changed minutes are emitted on a
processing-time timer (at most every `flush_s` seconds per tenant) and, for bounded input, on an
event-time timer at the end of time, which fires when the input ends.
"""

from __future__ import annotations

import time

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from pulse.config import ConfigSet, load_config_dir
from pulse.plans import PlanWatcher, plans_file_for
from pulse.usage import UsageState, meter, usage_rows

END_OF_TIME = 2**63 - 1


class MeterUsage(KeyedProcessFunction):
    """Keyed by tenant: passes (table, row) pairs on (with quota alerts and overage applied) and emits
    ("usage", row) pairs of per-minute counts."""

    def __init__(self, configs_dir: str, run_id: str, plans_check_s: float = 10.0, flush_s: float = 1.0):
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.plans_check_s = plans_check_s
        self.flush_ms = int(flush_s * 1000)
        self.configs: ConfigSet | None = None

    def open(self, runtime_context: RuntimeContext):
        self.configs = load_config_dir(self.configs_dir)
        self.plans = PlanWatcher(plans_file_for(self.configs_dir), self.plans_check_s)
        for config in [self.configs.default, *self.configs.tenants.values()]:
            self.plans.plan(config.plan)  # refuse to start on a plan the plans file does not have
        self.state = runtime_context.get_state(ValueStateDescriptor("usage", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value: tuple[str, dict], ctx: KeyedProcessFunction.Context):
        table, row = value
        tenant = ctx.get_current_key()
        state = self.state.value() or UsageState()
        was_clean = not state.dirty
        plan_name = self.configs.for_tenant(tenant).plan
        out = meter(state, tenant, plan_name, self.plans.plan(plan_name), table, row, self.run_id)
        if was_clean and state.dirty:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.flush_ms)
            timers.register_event_time_timer(END_OF_TIME)
        self.state.update(state)
        yield from out

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        state = self.state.value()
        if state is None or not state.dirty:
            return
        rows = usage_rows(state, ctx.get_current_key(), self.run_id, time.time_ns())
        self.state.update(state)
        for row in rows:
            yield "usage", row
