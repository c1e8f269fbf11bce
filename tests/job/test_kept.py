"""The kept form of the job's state: a restored tenant goes on exactly as one never stopped, and the form names
no module of this project (moving code cannot break a savepoint)."""

from __future__ import annotations

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
