"""The per-tenant event risk model: HalfSpaceTrees over event and context features (models/context.py)
with an online-calibrated alert threshold.

>>> from pulse.tenants.config import RiskModelConfig
>>> model = RiskModel(RiskModelConfig(warmup_events=50, window_size=20))
>>> for i in range(300):
...     event = {"amount": 30.0 + (i * 7) % 40, "ts": (i % 12) * 3_600_000, "event_type": "order_placed"}
...     _ = model.score({**event, "attributes": {}})
>>> result = model.score({"amount": 90000.0, "ts": 36_000_000, "event_type": "order_placed", "attributes": {}})
>>> result.is_alert, result.top_features[0]
(True, 'amount_log')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from river import anomaly, stats

from models import context
from models.features import LIMITS, event_features
from pulse.tenants.config import RiskModelConfig

FEATURE_LIMITS = {**LIMITS, **context.LIMITS}


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: float
    threshold: float
    is_alert: bool
    warming_up: bool
    top_features: tuple[str, ...]
    features: dict[str, float]


class RiskModel:
    """Scores then learns each event; alerts only after warm-up and above a running quantile.

    Two small HalfSpaceTrees, one over the event's own features and one over its context, so neither
    set dilutes the other's splits; the score is the higher of the two."""

    def __init__(self, config: RiskModelConfig):
        self.config = config
        self.trees = self._trees(LIMITS)  # the event itself
        self.context_trees = self._trees(context.LIMITS)  # its recent context: velocity, new country, usual amount
        self.threshold = stats.Quantile(config.alert_quantile)
        self.feature_stats = {name: stats.Var() for name in FEATURE_LIMITS}
        self.context = context.RecentContext()
        self.seen = 0

    @property
    def warming_up(self) -> bool:
        return self.seen < self.config.warmup_events

    def score(self, event: dict[str, Any]) -> RiskScore:
        """Score one event, then learn from it."""
        features = {**event_features(event), **self.context.features(event)}
        event_part = {name: features[name] for name in LIMITS}
        context_part = {name: features[name] for name in context.LIMITS}
        score = max(float(self.trees.score_one(event_part)), float(self.context_trees.score_one(context_part)))
        warming_up = self.warming_up
        threshold = max(self.threshold.get() or 1.0, self.config.min_score)
        is_alert = not warming_up and score > threshold
        top = self._top_features(features)
        self.trees.learn_one(event_part)
        self.context_trees.learn_one(context_part)
        self.threshold.update(score)
        for name, value in features.items():
            self.feature_stats[name].update(value)
        self.seen += 1
        return RiskScore(round(score, 4), round(threshold, 4), is_alert, warming_up, top, features)

    def _trees(self, limits: dict[str, tuple[float, float]]) -> anomaly.HalfSpaceTrees:
        c = self.config
        return anomaly.HalfSpaceTrees(
            n_trees=c.n_trees, height=c.height, window_size=c.window_size, limits=limits, seed=c.seed
        )

    def _top_features(self, features: dict[str, float], k: int = 2) -> tuple[str, ...]:
        """The features furthest from their usual value, in standard deviations."""

        def surprise(name: str) -> float:
            var = self.feature_stats[name]
            spread = max(var.get() ** 0.5, 1e-6)
            return abs(features[name] - var.mean.get()) / spread

        return tuple(sorted(features, key=surprise, reverse=True)[:k])
