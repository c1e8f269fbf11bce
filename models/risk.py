"""The per-tenant event risk model: HalfSpaceTrees over the event's features (models/features.py) and its recent
context (models/context.py), alerting within a daily budget (models/budget.py).

The forests are built once the tenant's first window of events is full (until then HalfSpaceTrees scores 0 and
the model keeps only those events' features), so a shop with a few orders a day carries no forest for days. A
tenant's forest is a copy of an empty one built once per process for each distinct forest configuration
(unpickling a forest costs a fraction of building its random trees).

>>> from pulse.tenants.config import RiskModelConfig
>>> model = RiskModel(RiskModelConfig(warmup_events=50, window_size=20))
>>> for i in range(600):  # two days of orders, one every 5 minutes
...     event = {"amount": 30.0 + (i * 7) % 40, "ts": i * 300_000, "event_type": "order_placed", "country": "US"}
...     _ = model.score({**event, "attributes": {}})
>>> big = {"amount": 9000.0, "ts": 600 * 300_000, "event_type": "order_placed", "country": "NG", "attributes": {}}
>>> result = model.score(big)
>>> result.is_alert, result.top_features
(True, ('country_rarity', 'amount_vs_tenant'))
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from typing import Any

from river import anomaly, stats

from models import context, features
from models.budget import AlertBudget
from models.context import RecentContext
from models.features import TenantUsual, event_features
from pulse.tenants.config import RiskModelConfig

FEATURES = features.NAMES + context.NAMES


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: float
    threshold: float | None  # None while the alert budget has less than a day of scores
    is_alert: bool
    warming_up: bool
    top_features: tuple[str, ...]
    features: dict[str, float]


class RiskModel:
    """Scores then learns each event; alerts after warm-up, above the tenant's daily budget and `min_score`.

    Two small HalfSpaceTrees, one over the event's own features and one over its context, so neither set dilutes
    the other's splits; the score is the higher of the two."""

    def __init__(self, config: RiskModelConfig):
        self.config = config
        self.trees: anomaly.HalfSpaceTrees | None = None  # the event itself; built with the first full window
        self.context_trees: anomaly.HalfSpaceTrees | None = None  # its recent context
        self.pending: list[tuple[float, ...]] = []  # features (FEATURES order) learned before the forests exist
        self.budget = AlertBudget(config.alerts_per_day)
        self.feature_stats = {name: stats.Var() for name in FEATURES}
        self.usual = TenantUsual()
        self.context = RecentContext()
        self.seen = 0

    def configure(self, config: RiskModelConfig) -> None:
        """Take the tenant's current settings: the alert ones apply at once, the forests' to forests built later."""
        if config is not self.config:
            self.config = config
            self.budget.resize(config.alerts_per_day)

    @property
    def warming_up(self) -> bool:
        return self.seen < self.config.warmup_events

    def score(self, event: dict[str, Any]) -> RiskScore:
        """Score one event, then learn from it."""
        values = {**event_features(event, self.usual), **self.context.features(event)}
        score = self._score(values)
        warming_up = self.warming_up
        budget = self.budget.threshold(event["ts"])
        threshold = None if budget is None else max(budget, self.config.min_score)
        is_alert = not warming_up and threshold is not None and score > threshold
        top = self._top_features(values)
        self._learn(values)
        self.budget.add(event["ts"], score)
        for name, value in values.items():
            self.feature_stats[name].update(value)
        self.seen += 1
        rounded = None if threshold is None else round(threshold, 4)
        return RiskScore(round(score, 4), rounded, is_alert, warming_up, top, values)

    def _score(self, values: dict[str, float]) -> float:
        if self.trees is None or self.context_trees is None:
            return 0.0  # what HalfSpaceTrees scores during its first window
        event_part, context_part = _parts(values)
        return max(float(self.trees.score_one(event_part)), float(self.context_trees.score_one(context_part)))

    def _learn(self, values: dict[str, float]) -> None:
        if self.trees is None or self.context_trees is None:
            self.pending.append(tuple(values[name] for name in FEATURES))
            if len(self.pending) < self.config.window_size:
                return
            self.trees, self.context_trees = self._forest(features.NAMES), self._forest(context.NAMES)
            learned, self.pending = [dict(zip(FEATURES, row, strict=True)) for row in self.pending], []
        else:
            learned = [values]
        for row in learned:
            event_part, context_part = _parts(row)
            self.trees.learn_one(event_part)
            self.context_trees.learn_one(context_part)

    def _forest(self, names: tuple[str, ...]) -> anomaly.HalfSpaceTrees:
        c = self.config
        return pickle.loads(_empty_forest(c.n_trees, c.height, c.window_size, c.seed, names))

    def _top_features(self, values: dict[str, float], k: int = 2) -> tuple[str, ...]:
        """The features furthest from their usual value, in standard deviations."""

        def surprise(name: str) -> float:
            var = self.feature_stats[name]
            spread = max(var.get() ** 0.5, 1e-6)
            return abs(values[name] - var.mean.get()) / spread

        return tuple(sorted(values, key=surprise, reverse=True)[:k])


@functools.lru_cache(maxsize=32)
def _empty_forest(n_trees: int, height: int, window_size: int, seed: int, names: tuple[str, ...]) -> bytes:
    """A HalfSpaceTrees forest over `names`, pickled, with its trees built as its first `learn_one` builds them and
    nothing learned: what a forest of these settings is before its first event, whichever tenant it is for."""
    forest = anomaly.HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed)
    forest.learn_one(dict.fromkeys(names, 0.0))  # builds the trees (they depend on the names and the seed only)
    for tree in forest.trees:
        for node in tree.iter_dfs():
            node.l_mass = 0  # and forgets that one event
    forest.counter = 0
    return pickle.dumps(forest)


def _parts(values: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """The event's own features and its context features (every feature in [0, 1], HalfSpaceTrees' default)."""
    return {n: values[n] for n in features.NAMES}, {n: values[n] for n in context.NAMES}
