"""Online anomaly detectors for one metric series at a regular interval (a minute in the job).

Each interval's expected value comes from a seasonal baseline learned online: an hour-of-day profile
times an hour-of-week factor (before an hour of day has been seen, the recent level). The detector
compares the last `window` intervals, observed against expected, as a z-score whose spread is
learned from the series itself (never below Poisson noise for counts); it alerts when the z-score
passes a threshold calibrated online (a running quantile of the metric's own |z| outside warm-up and
incidents, between `min_z` and twice `min_z`), in an allowed direction, after warm-up. One alert
opens an incident; the next waits until the series is back within one standard deviation. During an
incident only the recent level moves; the profile and the spread learn again after it (or after
RELEARN_AFTER intervals, when the change has become the new normal) — except in an hour of the week
not seen before, which is learnt regardless (a first quiet Sunday night teaches the next one).

>>> from pulse.tenants.config import MetricDetectorConfig
>>> config = MetricDetectorConfig(direction="both", window_minutes=5, min_z=4.0, alert_quantile=0.99, min_volume=5)
>>> detector = SeriesDetector("count", config, interval_ms=MINUTE, warmup_intervals=60)
>>> verdicts = [detector.update(i * MINUTE, 20.0 + (i % 3)) for i in range(300)]
>>> any(v.opens_incident for v in verdicts)
False
>>> drop = [detector.update((300 + i) * MINUTE, 2.0) for i in range(10)]
>>> first = next(v for v in drop if v.opens_incident)
>>> first.direction, first.since == 300 * MINUTE, first.observed, round(first.expected)
('drop', True, 49.0, 103)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

from river import stats

from pulse.tenants.config import MetricDetectorConfig

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
Kind = Literal["count", "sum", "gauge", "ratio"]
MEMORY_DAYS = 7.0  # how long the daily profile remembers
WEEKS_REMEMBERED = 3.0  # how long the hour-of-week factors remember
LEVEL_MINUTES = 30.0  # how fast the recent level follows the series
DEVIATING = 1.0  # |z| above which a run of deviation counts towards "since"
LONG_WINDOW = 4  # the long window, in short windows: low-volume changes show there
SLOW_HORIZON = 4 * 60 * 60_000  # ... but at most four hours
SLOW_BAR = 1.25  # the slow window's z counts this much less: small biases of the profile add up there
RECENT_VOLUME = 50.0  # expected volume of the last hours needed to trust today's ratio to the profile
SLOW_WINDOWS = 16  # the horizon of the exponentially weighted slow window, in short windows: slow degradation
MAX_THRESHOLD = 2.0  # the calibrated threshold stays between min_z and this many times min_z
RELEARN_AFTER = 120  # intervals of an open incident after which the baseline accepts the new level


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the detector concluded about one interval."""

    ts: int
    value: float
    expected_value: float
    lower: float
    upper: float
    observed: float  # over the window: a sum, or a ratio for ratio metrics
    expected: float
    z: float
    score: float  # in [0, 1]: how far outside the usual, two-sided
    threshold: float  # the |z| an interval must pass to be anomalous
    direction: str  # "drop" or "spike"
    is_anomalous: bool
    opens_incident: bool
    warming_up: bool
    since: int  # start of the deviation that this interval belongs to (ts when none)
    window_minutes: int  # the window `observed` and `expected` cover


class SeasonalBaseline:
    """Expected value of an interval: hour-of-day profile × hour-of-week factor, learned online.

    Until an hour of day has been seen for half an hour it expects the recent level; until an hour of
    the week has been seen for half an hour (so, in the first week) its factor is how the last three
    hours compared with the profile (1, the average day, while they were too quiet to tell)."""

    def __init__(self, interval_ms: int):
        self.per_hour = max(1.0, HOUR / interval_ms)  # intervals per hour of one day
        self.hourly = [0.0] * 24
        self.hourly_n = [0] * 24
        self.week_obs = [0.0] * 168
        self.week_base = [0.0] * 168
        self.week_n = [0] * 168
        self.level: float | None = None
        self.trend = 0.0
        self.recent_obs = 0.0  # the last hours, observed and as the profile expected them
        self.recent_base = 0.0
        self.level_alpha = min(1.0, interval_ms / (LEVEL_MINUTES * MINUTE))

    def expected(self, ts: int) -> float:
        hour = _hour(ts)
        if self.hourly_n[hour] < self.per_hour / 2:
            return max(0.0, (self.level or 0.0) + self.trend)
        factor = self._weekly(ts)
        if factor is None:
            factor = self.recent_obs / self.recent_base if self.recent_base >= RECENT_VOLUME else 1.0
        return self._daily(ts) * factor

    def _daily(self, ts: int) -> float:
        """The daily profile at `ts`, interpolated between the middles of adjacent hours once both are known."""
        hour = _hour(ts)
        offset = (ts % HOUR) / HOUR - 0.5
        neighbour = (hour + (1 if offset > 0 else -1)) % 24
        if self.hourly_n[neighbour] < self.per_hour / 2:
            return self.hourly[hour]
        weight = abs(offset)
        return (1 - weight) * self.hourly[hour] + weight * self.hourly[neighbour]

    def follow(self, value: float) -> None:
        """Move the recent level (Holt: with a trend, so a morning ramp is no spike before the profile)."""
        if self.level is None:
            self.level = value
            return
        level = self.level + self.trend + self.level_alpha * (value - self.level - self.trend)
        self.trend += self.level_alpha / 2 * (level - self.level - self.trend)
        self.level = level

    def learn(self, ts: int, value: float, calm: bool = True) -> None:
        """Move the hour-of-week factors towards this interval and, when `calm` (outside incidents), the
        daily profile and the ratio of the last hours to it."""
        hour, week_hour = _hour(ts), _week_hour(ts)
        factor = max(self._weekly(ts) or 1.0, 0.05)
        if self.hourly_n[hour] >= self.per_hour / 2:
            base = self.hourly[hour]
            keep = 1.0 - 1.0 / (self.per_hour * WEEKS_REMEMBERED)
            self.week_obs[week_hour] = self.week_obs[week_hour] * keep + value
            self.week_base[week_hour] = self.week_base[week_hour] * keep + base
            self.week_n[week_hour] += 1
            if calm:
                recent_keep = 1.0 - 1.0 / (self.per_hour * 3)
                self.recent_obs = self.recent_obs * recent_keep + value
                self.recent_base = self.recent_base * recent_keep + base
        if calm or self.hourly_n[hour] < self.per_hour / 2:
            self.hourly_n[hour] += 1
            alpha = max(1.0 / self.hourly_n[hour], 1.0 / (self.per_hour * MEMORY_DAYS))
            self.hourly[hour] += alpha * (value / factor - self.hourly[hour])  # the profile of an average day

    def knows(self, ts: int) -> bool:
        """Whether this hour of the week has been seen before (else it is still learning, even in incidents)."""
        return self.hourly_n[_hour(ts)] >= self.per_hour / 2 and self._weekly(ts) is not None

    def _weekly(self, ts: int) -> float | None:
        """This hour of the week relative to the daily profile, once seen in an earlier week."""
        week_hour = _week_hour(ts)
        if self.week_n[week_hour] < self.per_hour / 2 or self.week_base[week_hour] <= 0:
            return None
        if self.week_n[week_hour] < self.per_hour and ts % HOUR >= HOUR // 2:
            return None  # seen only earlier in this very hour: not a week's knowledge yet
        return self.week_obs[week_hour] / self.week_base[week_hour]


class SeriesDetector:
    """Detector for one metric: `count`, `sum` and `gauge` series take values, `ratio` series take
    (numerator, denominator) pairs and compare numerator/denominator with its usual level."""

    def __init__(self, kind: Kind, config: MetricDetectorConfig, interval_ms: int, warmup_intervals: int):
        self.kind = kind
        self.config = config
        self.interval_ms = interval_ms
        self.warmup_intervals = warmup_intervals
        self.window_n = max(1, round(config.window_minutes * MINUTE / interval_ms))
        self.window: deque[tuple[float, float]] = deque(maxlen=self.window_n * LONG_WINDOW)
        self.baseline = SeasonalBaseline(interval_ms)
        self.variance: float | None = None  # per interval; for counts and sums relative to the level (dispersion)
        self.ratio_num = 0.0
        self.ratio_den = 0.0
        self.calibration = stats.Quantile(config.alert_quantile)
        self.slow_keep = 1.0 - 1.0 / max(1.0, min(self.window_n * SLOW_WINDOWS, SLOW_HORIZON / interval_ms))
        self.slow = [0.0, 0.0, 0.0, 0.0]  # exponentially weighted: observed, expected, Σw, Σw²
        self.seen = 0
        self.last_ts: int | None = None
        self.incident_since: int | None = None
        self.incident_age = 0
        self.run_sign = 0
        self.run_since = 0

    @property
    def warming_up(self) -> bool:
        return self.seen < self.warmup_intervals

    def update(self, ts: int, value: float, denominator: float | None = None, learn: bool = True) -> Verdict:
        """Judge one interval, then learn from it (not from intervals of an open incident; nothing with `learn`
        False: an interval of a planned sale or maintenance must not move the baseline)."""
        if self.last_ts is not None and ts - self.last_ts > self.interval_ms:
            self.window.clear()  # a gap is missing data, not zeros
            self.slow = [0.0, 0.0, 0.0, 0.0]
        self.last_ts = ts
        if self.kind == "ratio":
            den = denominator or 0.0
            self.window.append((value, den))
            judge = self._ratio_z
        else:
            self.window.append((value, self.baseline.expected(ts)))
            judge = self._series_z
        short = list(self.window)[-self.window_n :]
        z, observed, expected, expected_value, band = judge(short)
        short_z = z
        if len(self.window) > self.window_n:
            long = judge(list(self.window))
            if abs(long[0]) > abs(z):
                z, observed, expected, _, _ = long
                short = self.window
        if self.kind != "ratio":
            slow_z, slow_minutes = self._slow_z(value, self.window[-1][1])
            if abs(slow_z) > SLOW_BAR * abs(z) and len(self.window) == self.window.maxlen:
                z, observed, expected, short = slow_z / SLOW_BAR, self.slow[0], self.slow[1], range(slow_minutes)
        threshold = min(max(self.config.min_z, self.calibration.get() or 0.0), MAX_THRESHOLD * self.config.min_z)
        direction = "spike" if z > 0 else "drop"
        warming_up = self.warming_up
        anomalous = (
            not warming_up
            and abs(z) > threshold
            and self.config.direction in (direction, "both")
            and self._enough_volume(direction, expected)
            and short_z * z > 0
            and abs(short_z) >= DEVIATING  # the recent intervals themselves still deviate, not only the long memory
        )
        since = self._track_run(ts, z)
        opens = anomalous and self.incident_since is None
        if opens:
            self.incident_since = since
        elif self.incident_since is not None and abs(z) < DEVIATING:
            self.incident_since = None
        self.incident_age = self.incident_age + 1 if self.incident_since is not None else 0
        calm = self.incident_since is None and not anomalous
        if learn:
            self._learn_from(ts, value, denominator, expected_value, calm, warming_up, z)
        self.seen += 1
        if self.kind == "ratio":
            value = value / denominator if denominator else 0.0
        band = band if math.isfinite(band) else 0.0  # no spread learned yet: no band to draw
        return Verdict(
            ts=ts,
            value=round(value, 6),
            expected_value=round(expected_value, 6),
            lower=round(max(0.0, expected_value - band), 6),
            upper=round(expected_value + band, 6),
            observed=round(observed, 6),
            expected=round(expected, 6),
            z=round(z, 3),
            score=round(math.erf(abs(z) / math.sqrt(2)), 4),
            threshold=round(threshold, 3),
            direction=direction,
            is_anomalous=anomalous,
            opens_incident=opens,
            warming_up=warming_up,
            since=self.incident_since if self.incident_since is not None else since,
            window_minutes=round(len(short) * self.interval_ms / MINUTE),
        )

    def _series_z(self, window: list[tuple[float, float]]) -> tuple[float, float, float, float, float]:
        """z of the window's sum against its expected sum (and the last interval's expected value and band)."""
        observed = sum(v for v, _ in window)
        expected = sum(e for _, e in window)
        last = window[-1][1]
        if self.kind == "gauge":
            spread, band = len(window) * (self.variance or 0.0), self.variance or 0.0
        else:
            spread, band = self._relative_spread(expected), self._relative_spread(last)
        z = (observed - expected) / math.sqrt(max(spread, 1e-12))
        return z, observed, expected, last, self.config.min_z * math.sqrt(band)

    def _slow_z(self, value: float, expected_value: float) -> tuple[float, int]:
        """z of the exponentially weighted sums (recent intervals weigh most) and their span in intervals."""
        keep = self.slow_keep
        obs, exp, w1, w2 = self.slow
        self.slow = [obs * keep + value, exp * keep + expected_value, w1 * keep + 1.0, w2 * keep * keep + 1.0]
        obs, exp, w1, w2 = self.slow
        spread = w2 * (self.variance or 0.0) if self.kind == "gauge" else self._relative_spread(w2 / w1 * exp)
        return (obs - exp) / math.sqrt(max(spread, 1e-12)), round(w1)

    def _relative_spread(self, expected: float) -> float:
        """Variance of counts and sums, proportional to the expected level (compound Poisson): never below
        one event's worth, and for counts never below Poisson."""
        dispersion = self.variance or 0.0
        if self.kind == "count":
            return max(dispersion, 1.0) * max(expected, 1.0)
        if dispersion <= 0:
            return math.inf  # nothing seen yet: no judgement
        return dispersion * max(expected, dispersion)

    def _ratio_z(self, window: list[tuple[float, float]]) -> tuple[float, float, float, float, float]:
        num = sum(n for n, _ in window)
        den = sum(d for _, d in window)
        p = self.ratio_num / self.ratio_den if self.ratio_den > 0 else 0.0
        if den <= 0:
            return 0.0, 0.0, p, p, 0.0
        unit = max(self.variance or 0.0, p, 3.0 / max(self.ratio_den, 1.0))  # rule of three while p is unseen
        z = (num - den * p) / math.sqrt(den * unit)
        last_den = window[-1][1]
        band = self.config.min_z * math.sqrt(unit / last_den) if last_den > 0 else 0.0
        return z, num / den, p, p, band

    def _enough_volume(self, direction: str, expected: float) -> bool:
        """A ratio needs `min_volume` in its denominator; a drop needs `min_volume` expected."""
        if self.kind == "ratio":
            return sum(d for _, d in list(self.window)[-self.window_n :]) >= self.config.min_volume
        return direction == "spike" or expected >= self.config.min_volume

    def _track_run(self, ts: int, z: float) -> int:
        """Start of the current run of same-direction deviation (|z| above 1)."""
        sign = (z > 0) - (z < 0) if abs(z) > DEVIATING else 0
        if sign == 0 or sign != self.run_sign:
            self.run_since = ts
        self.run_sign = sign
        return self.run_since

    def _learn_from(
        self, ts: int, value: float, denominator: float | None, expected_value: float, calm: bool, warming_up: bool,
        z: float,
    ) -> None:  # fmt: skip
        """The baseline follows the interval, learns from it when calm (or long after an incident began), and the
        alert threshold's calibration takes its score."""
        if self.kind != "ratio":
            self.baseline.follow(value)
        if calm or self.incident_age > RELEARN_AFTER or (self.kind != "ratio" and not self.baseline.knows(ts)):
            self._learn(ts, value, denominator, expected_value, calm)
        if not warming_up and calm:
            self.calibration.update(abs(z))

    def _learn(self, ts: int, value: float, denominator: float | None, expected_value: float, calm: bool) -> None:
        """Move the baseline and the spread towards this interval (residuals clipped at 4 spreads)."""
        alpha = max(1.0 / (self.seen + 1), 1.0 / (self.baseline.per_hour * 24))
        if self.kind == "ratio":
            den = denominator or 0.0
            if den > 0:
                p = self.ratio_num / self.ratio_den if self.ratio_den > 0 else value / den
                residual = (value - den * p) ** 2 / den
                self._learn_variance(residual, alpha)
                keep = 1.0 - alpha
                self.ratio_num = self.ratio_num * keep + value
                self.ratio_den = self.ratio_den * keep + den
            return
        squared = (value - expected_value) ** 2
        if calm:
            relative = self.kind in ("count", "sum")
            self._learn_variance(squared / max(expected_value, 1.0) if relative else squared, alpha)
        self.baseline.learn(ts, value, calm)

    def _learn_variance(self, squared: float, alpha: float) -> None:
        if self.variance is None:
            self.variance = squared
            return
        squared = min(squared, 36.0 * max(self.variance, 1e-12)) if self.seen > self.warmup_intervals else squared
        self.variance += alpha * (squared - self.variance)


def _hour(ts: int) -> int:
    return (ts // HOUR) % 24


def _week_hour(ts: int) -> int:
    return ((ts // DAY + 3) % 7) * 24 + _hour(ts)  # 1970-01-01 was a Thursday; Monday 00:00 is 0
