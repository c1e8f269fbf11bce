"""The keyed scoring operator: per tenant, rules and the risk model, with the model in Flink state."""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from pulse.config import ConfigSet, load_config_dir
from pulse.scoring import TenantScorer


class ScoreEvents(KeyedProcessFunction):
    """Keyed by tenant: yields ("scored_events", row) for every event and ("alerts", row) per alert."""

    def __init__(self, configs_dir: str, run_id: str):
        self.configs_dir = configs_dir
        self.run_id = run_id
        self.configs: ConfigSet | None = None
        self.scorers: dict[str, TenantScorer] = {}

    def open(self, runtime_context: RuntimeContext):
        self.configs = load_config_dir(self.configs_dir)
        self.state = runtime_context.get_state(ValueStateDescriptor("tenant", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, event: dict, ctx: KeyedProcessFunction.Context):
        scorer = self._scorer(event["tenant_id"])
        state = self.state.value() or scorer.new_state()
        row, alerts = scorer.score(event, state, self.run_id)
        self.state.update(state)
        yield "scored_events", row
        for alert in alerts:
            yield "alerts", alert

    def _scorer(self, tenant: str) -> TenantScorer:
        scorer = self.scorers.get(tenant)
        if scorer is None:
            scorer = self.scorers[tenant] = TenantScorer(tenant, self.configs.for_tenant(tenant))
        return scorer
