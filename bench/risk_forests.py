"""Benchmark: what a new tenant's risk forests cost, built from scratch against copied from the per-process template.

    .venv/bin/python -m bench.risk_forests [--runs 5] [--forests 100]

A tenant's two HalfSpaceTrees forests (shipped settings: 10 trees of height 6) come into being with its first full
window of scored events (models/risk.py). Built from scratch, HalfSpaceTrees draws every split of its random trees;
the model instead unpickles an empty forest built once per process for each configuration. Each run calls
each way in turn `--forests` times and prints each way's median CPU time per call (so the other processes of a
shared machine do not count) and the ratio; also
`copy.deepcopy` and River's `clone(include_attributes=True)` of the same empty forest, the other ways to copy it.
Then a new tenant's first window as the job meets it: a RiskModel scoring its first 101 orders and payments (its
forests come with the 100th), with copied forests against forests built from scratch, `--tenants` of each per run.
"""

from __future__ import annotations

import argparse
import copy
import pickle
import statistics
import time
from collections.abc import Callable

from river import anomaly

from models import features
from models.risk import RiskModel, _empty_forest
from pulse.dev.generate import Generator
from pulse.tenants.config import RiskModelConfig


class BuildingModel(RiskModel):
    """The risk model with each tenant's forests built from scratch."""

    def _forest(self, names: tuple[str, ...]) -> anomaly.HalfSpaceTrees:
        c = self.config
        return anomaly.HalfSpaceTrees(n_trees=c.n_trees, height=c.height, window_size=c.window_size, seed=c.seed)


def interleaved_ms(ways: dict[str, Callable[[], object]], count: int) -> dict[str, float]:
    """Median CPU milliseconds of one call of each way, over `count` rounds that call each way once in turn (CPU
    time of this process, so other processes on a shared machine do not count)."""
    spent: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(count):
        for name, make in ways.items():
            started = time.process_time()
            make()
            spent[name].append((time.process_time() - started) * 1000)
    return {name: statistics.median(times) for name, times in spent.items()}


def table(ways: dict[str, Callable[[], object]], runs: int, count: int, what: str) -> list[dict[str, float]]:
    """Print each run's medians of `ways` and return them."""
    print(f"{'run':4} " + " ".join(f"{name:>31}" for name in ways) + f"   {what}")
    medians = []
    for run in range(1, runs + 1):
        medians.append(interleaved_ms(ways, count))
        print(f"{run:<4} " + " ".join(f"{medians[-1][name]:31.2f}" for name in ways), flush=True)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--forests", type=int, default=100)
    parser.add_argument("--tenants", type=int, default=20)
    args = parser.parse_args()
    c = RiskModelConfig()
    settings = (c.n_trees, c.height, c.window_size, c.seed, features.NAMES)
    template = pickle.loads(_empty_forest(*settings))
    row = dict.fromkeys(features.NAMES, 0.5)

    def built() -> object:
        forest = anomaly.HalfSpaceTrees(n_trees=c.n_trees, height=c.height, window_size=c.window_size, seed=c.seed)
        forest.learn_one(row)  # HalfSpaceTrees builds its trees on its first event
        return forest

    def unpickled() -> object:
        forest = pickle.loads(_empty_forest(*settings))
        forest.learn_one(row)
        return forest

    ways = {
        "built": built,
        "unpickled (the model)": unpickled,
        "copy.deepcopy": lambda: copy.deepcopy(template).learn_one(row),
        "clone(include_attributes=True)": lambda: template.clone(include_attributes=True).learn_one(row),
    }
    medians = table(ways, args.runs, args.forests, "CPU ms per forest, its first event learned")
    ratios = [run["built"] / run["unpickled (the model)"] for run in medians]
    print(f"median ratio built / unpickled over {args.runs} runs: {statistics.median(ratios):.1f}")
    scored = ("order_placed", "payment_succeeded", "payment_failed")
    events = [e for e in Generator(seed=5, minutes=240).run()[0] if e["event_type"] in scored][: c.window_size + 1]

    def first_window(kind: type[RiskModel]) -> Callable[[], object]:
        def run() -> object:
            model = kind(c)
            return [model.score(event) for event in events]

        return run

    kinds = {"forests built": first_window(BuildingModel), "forests copied (the model)": first_window(RiskModel)}
    medians = table(kinds, args.runs, args.tenants, "CPU ms per new tenant's first 101 events")
    ratios = [run["forests built"] / run["forests copied (the model)"] for run in medians]
    print(f"median ratio built / copied over {args.runs} runs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
