"""The kept form of the job's state: a restored tenant goes on exactly as one never stopped, and the form names
no module of this project (moving code cannot break a savepoint)."""

from __future__ import annotations

import array
import io
import json
import pickle

import pytest

from pulse.dev.generate import Generator
from pulse.events import parse_record
from pulse.job import kept
from pulse.job.pipeline import PlainRun
from pulse.tenants.config import load_config_dir
from pulse.tenants.plans import PlanWatcher, plans_file_for

WALL_CLOCK = {"ingested_at", "created_at", "rejected_at", "written_at", "version"}
PROJECT_PACKAGES = ("pulse", "models", "operators", "jobs")


def parsed(minutes: int = 90) -> list[tuple[str, dict]]:
    events, _ = Generator(seed=5, minutes=minutes).run()
    out = []
    for index, payload in enumerate(events):
        record = parse_record(json.dumps(payload, default=str), source="kept", index=index)
        out.append(("event", record.event) if record.event else ("rejected", record.rejected))
    return out


def comparable(rows: list) -> list:
    return [(table, {k: v for k, v in row.items() if k not in WALL_CLOCK}) for table, row in rows]


def stored(value):
    """As Flink stores and restores a state value: pickled (cloudpickle, as PyFlink does), then read."""
    import cloudpickle

    return kept.read(pickle.loads(cloudpickle.dumps(kept.Kept(value))))


class ModulesSeen(pickle.Unpickler):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.modules: set[str] = set()

    def find_class(self, module: str, name: str):
        self.modules.add(module)
        return super().find_class(module, name)


def new_run() -> PlainRun:
    return PlainRun(load_config_dir("configs"), PlanWatcher(plans_file_for("configs")), "kept")


@pytest.fixture(scope="module")
def records() -> list[tuple[str, dict]]:
    return parsed()


def test_a_restored_tenant_goes_on_as_one_never_stopped(records):
    half = len(records) // 2
    uninterrupted, restored = new_run(), new_run()
    for kind, item in records[:half]:
        uninterrupted.record(kind, item)
        restored.record(kind, item)
    restored.states = {tenant: stored(state) for tenant, state in restored.states.items()}
    expected = [row for kind, item in records[half:] for row in uninterrupted.record(kind, item)]
    got = [row for kind, item in records[half:] for row in restored.record(kind, item)]
    expected, got = expected + uninterrupted.finish(), got + restored.finish()
    assert {"alerts", "metric_values", "scored_events", "usage"} <= {table for table, _ in got}
    assert comparable(got) == comparable(expected)


def test_the_kept_form_names_no_module_of_the_project(records):
    run = new_run()
    for kind, item in records[:3000]:
        run.record(kind, item)
    models = [state.scoring.model for state in run.states.values()]
    configs = [run.configs.default, *run.configs.tenants.values()]
    for value in [*run.states.values(), *models, *configs]:
        seen = ModulesSeen(pickle.dumps(kept.Kept(value)))
        seen.load()
        assert not {m for m in seen.modules if m.split(".")[0] in PROJECT_PACKAGES}, seen.modules
    seen = ModulesSeen(pickle.dumps(kept.Kept(models[0])))
    seen.load()
    assert any(module.startswith("river.") for module in seen.modules)  # River's estimators, as River pickles them


def test_a_class_without_a_kept_form_is_refused_with_where_to_add_it():
    class Unknown:
        pass

    with pytest.raises(kept.KeptStateError, match="add it to KINDS in pulse/job/kept.py"):
        kept.encode({"x": [Unknown()]})


def test_older_versions_are_read_through_their_upgrades_and_newer_ones_refused(monkeypatch):
    monkeypatch.setattr(kept, "VERSION", 2)
    monkeypatch.setattr(kept, "UPGRADES", {1: lambda state: {**state, "month_accepted": {"2026-01": 7}}})
    old = {"version": 1, "state": {"~kind": "UsageState", "month_accepted": {}}}
    assert kept.read(old).month_accepted == {"2026-01": 7}
    assert kept.read(old).recent == {}  # a field the old state did not have: its default
    with pytest.raises(kept.KeptStateError, match="newer than this code"):
        kept.read({"version": 3, "state": {}})


def version_1_risk_model() -> dict:
    """A tenant's risk model as version 1 kept it: a quantile threshold, forests over hour of day and payment
    failure, the config's alert_quantile, and each customer's usual (mean log amount, country)."""
    from collections import OrderedDict, deque

    from river import anomaly, stats

    limits = {"amount_log": (0.0, 12.0), "hour_of_day": (0.0, 24.0), "is_payment_failure": (0.0, 1.0)}
    config = {"enabled": True, "event_types": ["order_placed"], "n_trees": 10, "height": 6, "window_size": 20,
              "warmup_events": 5, "alert_quantile": 0.995, "min_score": 0.8, "seed": 42}  # fmt: skip
    recent = {"card": OrderedDict(), "customer": OrderedDict({"c1": deque([(0, "order_placed")], maxlen=50)}),
              "ip": OrderedDict()}  # fmt: skip
    return {
        "~kind": "RiskModel",
        "config": {"~kind": "RiskModelConfig", "~config": config},
        "trees": anomaly.HalfSpaceTrees(window_size=20, limits=limits, seed=42),
        "context_trees": anomaly.HalfSpaceTrees(window_size=20, seed=42),
        "threshold": stats.Quantile(0.995),
        "feature_stats": {name: stats.Var() for name in limits},
        "context": {"~kind": "RecentContext", "recent": recent, "usual": OrderedDict({"c1": (3.2, "DE")})},
        "seen": 7,
    }


def test_a_version_1_risk_model_is_upgraded_warm_with_new_forests_and_budget():
    tenant_config = {
        "~kind": "TenantConfig",
        "~config": {"tenant": "acme", "models": {"risk": {"alert_quantile": 0.99}}},
    }
    old = {"version": 1, "state": {"model": version_1_risk_model(), "config": tenant_config}}
    state = kept.read(old)
    model = state["model"]
    assert model.seen == 7 and not model.warming_up  # its warm-up of 5 stays over
    assert model.trees is None and model.pending == []  # forests over other features start again
    assert model.context.usual == {"c1": 3.2} and "c1" in model.context.recent["customer"]
    assert model.config.alerts_per_day == 1 and state["config"].models.risk.alerts_per_day == 1
    order = {"event_type": "order_placed", "amount": 40.0, "country": "DE", "customer_id": "c1", "attributes": {}}
    scores = [model.score({**order, "ts": minute * 60_000}) for minute in range(0, 2 * 24 * 60, 30)]
    assert all(s.threshold is None and not s.is_alert for s in scores[:48])  # the budget's first day
    assert scores[-1].threshold is not None and model.trees is not None
    again = kept.read(pickle.loads(pickle.dumps(kept.Kept(model))))
    assert vars(again.budget) == vars(model.budget) and again.seen == model.seen


def test_a_version_2_metric_detector_is_upgraded_warm_and_learns_its_windows_noise():
    from models.business_metrics import detector_config
    from models.detectors import MINUTE, SeriesDetector
    from pulse.tenants.config import MetricsConfig

    kind, config = detector_config(MetricsConfig(), "orders")
    detector = SeriesDetector(kind, config, MINUTE, warmup_intervals=60)
    for minute in range(3 * 60):
        detector.update(minute * MINUTE, 10.0 + minute % 3)
    plain = kept.encode(detector)
    version_2 = {key: item for key, item in plain.items() if key not in ("lengths", "noise", "dispersion")}
    upgraded = kept.read({"version": 2, "state": version_2})
    assert upgraded.lengths == detector.lengths and upgraded.variance == detector.variance
    assert upgraded.dispersion == [detector.variance, 1.0] and all(noise == [0.0, 0.0] for noise in upgraded.noise)
    verdicts = [upgraded.update(minute * MINUTE, 10.0 + minute % 3) for minute in range(3 * 60, 4 * 60)]
    assert not upgraded.warming_up and not any(v.is_anomalous for v in verdicts)
    assert upgraded.update(4 * 60 * MINUTE, 0.0).z < -2 and upgraded.noise[-2][1] > 0


def test_a_version_3_metric_detector_is_upgraded_with_no_incident_to_accept_and_keeps_its_own():
    from models.business_metrics import detector_config
    from models.detectors import MINUTE, SeriesDetector
    from pulse.tenants.config import MetricsConfig

    kind, config = detector_config(MetricsConfig(), "orders")
    detector = SeriesDetector(kind, config, MINUTE, warmup_intervals=60)
    for minute in range(3 * 60):
        detector.update(minute * MINUTE, 10.0 + minute % 3)
    new = ("unlearnt", "unlearnt_of", "accepting")
    version_3 = {key: item for key, item in kept.encode(detector).items() if key not in new}
    profiles = ("hourly", "hourly_n", "week_obs", "week_base", "week_n")
    version_3["baseline"] = version_3["baseline"] | {name: list(vars(detector.baseline)[name]) for name in profiles}
    upgraded = kept.read({"version": 3, "state": version_3})
    assert upgraded.unlearnt == [] and upgraded.unlearnt_of is None and not upgraded.accepting
    assert vars(upgraded.baseline) == vars(detector.baseline)  # its profiles (lists then) as arrays
    assert {type(vars(upgraded.baseline)[name]) for name in profiles} == {array.array}
    assert upgraded.accept(0, "spike") == 0
    verdicts = (upgraded.update(minute * MINUTE, 60.0) for minute in range(3 * 60, 3 * 60 + 30))
    opened = next(v for v in verdicts if v.opens_incident)
    again = kept.read(pickle.loads(pickle.dumps(kept.Kept(upgraded))))
    assert again.unlearnt_of == (opened.ts, "spike") and again.unlearnt == upgraded.unlearnt
