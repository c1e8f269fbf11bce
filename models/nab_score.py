"""The scoring of the Numenta Anomaly Benchmark (NAB), standard profile, written from its published description:
a detection inside a labelled anomaly window earns a scaled sigmoid of how early in the window it came (only the
first detection in a window counts), a detection outside every window costs up to the false-positive weight
(less just after a window), a window without a detection costs the false-negative weight, and detections in
the probationary first 15% of a series (at most 750 rows) are not scored. The total is normalised so that a
detector that never fires scores 0 and one that fires once at the start of every window scores 100.

>>> times = list(range(100))
>>> windows = [(50, 59)]
>>> perfect = [t == 50 for t in times]
>>> late = [t == 59 for t in times]
>>> [round(normalised([file_score(times, alerts, windows)], 1), 1) for alerts in (perfect, late, [False] * 100)]
[100.0, 50.0, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """The weight of a true positive, a false positive and a false negative."""

    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0


STANDARD = Profile()
PROBATION_SHARE = 0.15
PROBATION_MAX_ROWS = 750


def scaled_sigmoid(position: float) -> float:
    """From about 1 at a window's start (-1) through 0 at its end (0) to -1 well after it (over 3 window lengths)."""
    return -1.0 if position > 3.0 else 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_rows(rows: int) -> int:
    """How many leading rows of a series are not scored."""
    return min(math.floor(PROBATION_SHARE * rows), PROBATION_MAX_ROWS)


def file_score(
    times: list[int], alerts: list[bool], windows: list[tuple[int, int]], profile: Profile = STANDARD
) -> float:
    """The raw score of one series: `alerts[i]` says whether the detector fired at `times[i]` (sorted);
    `windows` are the labelled (start, end) anomaly windows, in the same unit as `times`."""
    windows = sorted(windows)
    best = scaled_sigmoid(-1.0)
    detected: set[int] = set()
    score = 0.0
    for index, (at, alert) in enumerate(zip(times, alerts, strict=True)):
        if not alert or index < probation_rows(len(times)):
            continue
        inside = next((i for i, (start, end) in enumerate(windows) if start <= at <= end), None)
        if inside is not None:
            if inside not in detected:
                detected.add(inside)
                start, end = windows[inside]
                position = (at - end) / (end - start) if end > start else -1.0
                score += profile.tp * scaled_sigmoid(position) / best
            continue
        before = [(start, end) for start, end in windows if end < at]
        if not before:
            score -= profile.fp
        else:
            start, end = before[-1]
            score += profile.fp * scaled_sigmoid((at - end) / max(end - start, 1))
    return score - profile.fn * (len(windows) - len(detected))


def normalised(raw_scores: list[float], windows: int, profile: Profile = STANDARD) -> float:
    """The NAB score of a set of series: 0 for a detector that never fires, 100 for a perfect one."""
    null = -profile.fn * windows
    perfect = profile.tp * windows
    return 100.0 * (sum(raw_scores) - null) / (perfect - null)
