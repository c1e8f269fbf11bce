"""River's online anomaly detectors as baselines for `pulse models evaluate --series-folder DIR --detector NAME`.

Each sees a series' values in time order (gaps skipped), scores each value, decides with a River anomaly filter
(which does not learn the values it calls anomalous), then learns it. As for the shipped detectors, a detection
is the first row of a run of anomalous rows: one alert per incident.

- `river-gaussian`: `anomaly.GaussianScorer` over the last `GAUSSIAN_WINDOW` values (NAB's windowed Gaussian
  baseline) and `anomaly.ThresholdFilter` at `GAUSSIAN_THRESHOLD`: a value more than 3 standard deviations out.
- `river-hst`: `anomaly.HalfSpaceTrees` on the value min-max scaled online, and `anomaly.QuantileFilter` at
  `HST_QUANTILE` of its scores so far.

>>> values = [10.0, 11.0, 9.0, 10.5, 9.5] * 20 + [40.0, 41.0] + [10.0] * 5
>>> flags = alerts(values, "river-gaussian")
>>> [i for i, flag in enumerate(flags) if flag]  # one alert for the run of two high values
[100]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from river.anomaly.base import AnomalyFilter

DETECTORS = ("river-gaussian", "river-hst")
GAUSSIAN_WINDOW = 1440  # values: a day at 1 minute
GAUSSIAN_GRACE = 30  # values scored 0 while the Gaussian settles (the shipped detectors' least warm-up)
GAUSSIAN_THRESHOLD = 0.9973  # 2 |CDF - 1/2| of 3 standard deviations
HST_QUANTILE = 0.995
SEED = 7


def detector(name: str) -> AnomalyFilter:
    """A fresh River detector by its name in `DETECTORS`."""
    from river import anomaly, compose, preprocessing  # 2 s to import: not when the CLI lists DETECTORS

    if name == "river-gaussian":
        scorer = anomaly.GaussianScorer(window_size=GAUSSIAN_WINDOW, grace_period=GAUSSIAN_GRACE)
        return anomaly.ThresholdFilter(scorer, threshold=GAUSSIAN_THRESHOLD)
    if name == "river-hst":
        trees = compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(seed=SEED))
        return anomaly.QuantileFilter(trees, q=HST_QUANTILE)
    raise ValueError(f"unknown detector {name!r}; use one of {', '.join(DETECTORS)}")


def alerts(values: Sequence[float | None], name: str) -> list[bool]:
    """Per value: whether River's detector `name` opens an incident there (None: a gap, never)."""
    judge = detector(name)
    supervised = name == "river-gaussian"  # GaussianScorer models the target y, with no features
    flags = []
    before = False
    for value in values:
        if value is None:
            flags.append(False)
            continue
        args = (None, value) if supervised else ({"value": value},)
        anomalous = bool(judge.classify(judge.score_one(*args)))
        judge.learn_one(*args)
        flags.append(anomalous and not before)
        before = anomalous
    return flags
