"""Benchmark: what a new tenant's risk forests cost, built from scratch against copied from the per-process template.

    .venv/bin/python -m bench.risk_forests [--runs 5] [--forests 100]

A tenant's two HalfSpaceTrees forests (shipped settings: 10 trees of height 6) come into being with its first full
window of scored events (models/risk.py). Built from scratch, HalfSpaceTrees draws every split of its random trees;
the model instead unpickles an empty forest built once per process for each configuration. Each run times
`--forests` of each way, alternating (this machine's speed drifts), and prints both and their ratio; also
`copy.deepcopy` and River's `clone(include_attributes=True)` of the same empty forest, the other ways to copy it.
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
from models.risk import _empty_forest
from pulse.tenants.config import RiskModelConfig


def per_forest_ms(make: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        make()
    return (time.perf_counter() - started) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--forests", type=int, default=100)
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
    times: dict[str, list[float]] = {name: [] for name in ways}
    print(f"{'run':4} " + " ".join(f"{name:>31}" for name in ways) + "   ms per forest, first event learned")
    for run in range(1, args.runs + 1):
        for name, make in ways.items():
            times[name].append(per_forest_ms(make, args.forests))
        print(f"{run:<4} " + " ".join(f"{times[name][-1]:31.2f}" for name in ways), flush=True)
    ratios = [b / u for b, u in zip(times["built"], times["unpickled (the model)"], strict=True)]
    print(f"median ratio built / unpickled over {args.runs} runs: {statistics.median(ratios):.1f}")


if __name__ == "__main__":
    main()
