"""The keyed metrics operator: per tenant, per event-time minute business metrics and their anomaly detectors.

Events are counted into their minute; an event-time timer at the end of each minute closes it once
the watermark passes, judges every metric and yields ("metric_values", row) per metric and
("alerts", row) per new incident. While the input runs, a silent tenant keeps ticking (its minutes
count as zeros: an outage) for up to an hour; at the end of a bounded input no zero minutes are added.
"""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from models.business_metrics import TenantMetrics
from pulse.config import ConfigSet, load_config_dir
from pulse.metric_alerts import MetricRows

END_OF_INPUT = 2**62  # the watermark jumps to Long.MAX_VALUE when a bounded input ends


class DetectMetricAnomalies(KeyedProcessFunction):
    """Keyed by tenant; one ValueState per tenant holds its TenantMetrics (open minutes and detectors)."""

    def __init__(self, configs_dir: str, run_id: str):
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.configs: ConfigSet | None = None
        self.rows: dict[str, MetricRows] = {}

    def open(self, runtime_context: RuntimeContext):
        self.configs = load_config_dir(self.configs_dir)
        self.state = runtime_context.get_state(ValueStateDescriptor("metrics", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, event: dict, ctx: KeyedProcessFunction.Context):
        config = self.configs.for_tenant(event["tenant_id"]).models.metrics
        if not config.enabled:
            return
        metrics = self.state.value() or TenantMetrics(config)
        minute = metrics.add(event)
        self.state.update(metrics)
        ctx.timer_service().register_event_time_timer(minute + 60_000)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        metrics: TenantMetrics | None = self.state.value()
        if metrics is None:
            return
        tenant = ctx.get_current_key()
        rows = self._rows(tenant)
        for point in metrics.close(timestamp):
            yield from rows.rows(point.metric, point.verdict)
        self.state.update(metrics)
        tick = metrics.next_tick()
        if tick is not None and ctx.timer_service().current_watermark() < END_OF_INPUT:
            ctx.timer_service().register_event_time_timer(tick)

    def _rows(self, tenant: str) -> MetricRows:
        rows = self.rows.get(tenant)
        if rows is None:
            rows = self.rows[tenant] = MetricRows(tenant, self.configs.for_tenant(tenant), self.run_id)
        return rows
