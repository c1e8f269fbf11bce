"""Online anomaly detectors for one metric series at a regular interval (a minute in the job).

Each interval's expected value comes from a seasonal baseline learned online: an hour-of-day profile
times an hour-of-week factor (before an hour of day has been seen, the recent level). The detector
compares the sums of the last 1, 2, 4 ... intervals (up to four times `window`, and a slow window), observed
against expected, as z-scores of their tail probabilities under a spread learned from the series itself (for
counts never below Poisson noise, and starting from it; for gauges per hour of day); it alerts when the largest z-score
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
('drop', True, 2.0, 21)
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass
from operator import itemgetter
from typing import Literal

from river import stats
from scipy.special import cython_special as special  # the ufuncs' own C functions, without numpy's overhead per call

from pulse.tenants.config import MetricDetectorConfig

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
Kind = Literal["count", "sum", "gauge", "ratio", "share"]
PAIRS = ("ratio", "share")  # kinds judged as numerator/denominator pairs
MEMORY_DAYS = 7.0  # how long the daily profile remembers
WEEKS_REMEMBERED = 3.0  # how long the hour-of-week factors remember
LEVEL_MINUTES = 30.0  # how fast the recent level follows the series
DEVIATING = 1.0  # |z| above which a run of deviation counts towards "since"
LONG_WINDOW = 4  # the long window, in short windows: low-volume changes show there
SLOW_HORIZON = 4 * 60 * 60_000  # ... but at most four hours
RECENT_VOLUME = 50.0  # expected volume of the last hours needed to trust today's ratio to the profile
WEEK_PRIOR = 20.0  # expected volume an hour of the week's factor is shrunk towards 1 by (a once quiet hour)
SLOW_WINDOWS = 16  # the horizon of the exponentially weighted slow window, in short windows: slow degradation
MAX_THRESHOLD = 2.0  # the calibrated threshold stays between min_z and this many times min_z
RELEARN_AFTER = 120  # intervals of an open incident after which the baseline accepts the new level
NOISE_CLIP = 3.0  # a window's squared error counts towards its noise up to this many spreads (counts, sums)
GAUGE_CLIP = 6.0  # ... and for gauges, whose errors have heavier tails than their spread tells
EXACT_FROM = 2.0  # |z| of the normal approximation from which a window's tail probability is computed exactly
POISSON_PRIOR = 20.0  # counts: expected volume of Poisson noise (dispersion 1) the learned dispersion starts from
SHARE_PRIOR = 100.0  # shares: trials of the intervals' own variance that a window's learned variance starts from
HOUR_PRIOR = 10.0  # gauges: an hour of day's own variance starts from a day of its intervals (at least this many) of
# the whole day's variance


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
        # arrays, not lists: a tenant's state is pickled at every write, and an array pickles as one bytes object
        self.hourly = array("d", [0.0]) * 24
        self.hourly_n = array("I", [0]) * 24
        self.week_obs = array("d", [0.0]) * 168
        self.week_base = array("d", [0.0]) * 168
        self.week_n = array("I", [0]) * 168
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
        """The daily profile at the middle of the interval from `ts`, interpolated between the middles of adjacent hours
        once both are known (an hour's interval is the hour's own)."""
        hour = _hour(ts)
        offset = (ts % HOUR + HOUR / self.per_hour / 2) / HOUR - 0.5
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
        """This hour of the week relative to the daily profile, once seen in an earlier week; shrunk towards 1 by
        WEEK_PRIOR of expected volume, so one quiet or busy hour of a low-volume series is no factor of 20."""
        week_hour = _week_hour(ts)
        if self.week_n[week_hour] < self.per_hour / 2 or self.week_base[week_hour] <= 0:
            return None
        if self.week_n[week_hour] < self.per_hour and ts % HOUR >= HOUR // 2:
            return None  # seen only earlier in this very hour: not a week's knowledge yet
        return (self.week_obs[week_hour] + WEEK_PRIOR) / (self.week_base[week_hour] + WEEK_PRIOR)


class SeriesDetector:
    """Detector for one metric: `count`, `sum` and `gauge` series take values, `ratio` and `share` series take
    (numerator, denominator) pairs and compare numerator/denominator with its usual level. A `share` is a fraction
    of trials (orders of started checkouts): its noise is never below binomial, p(1 - p) per trial, where a ratio's
    is never below Poisson, p (the two agree for a small share such as failed payments)."""

    def __init__(self, kind: Kind, config: MetricDetectorConfig, interval_ms: int, warmup_intervals: int):
        self.kind = kind
        self.config = config
        self.interval_ms = interval_ms
        self.warmup_intervals = warmup_intervals
        self.window_n = max(1, round(config.window_minutes * MINUTE / interval_ms))
        self.window: deque[tuple[float, float]] = deque(maxlen=self.window_n * LONG_WINDOW)
        self.lengths = window_lengths(self.window_n, self.window_n * LONG_WINDOW)
        self.noise = [[0.0, 0.0] for _ in range(len(self.lengths) + 1)]  # per window and the slow one: see _noise
        self.baseline = SeasonalBaseline(interval_ms)
        self.variance: float | None = None  # per interval; for counts and sums relative to the level (dispersion)
        hours = 24 if kind == "gauge" else 0  # gauges, per hour of day: exponentially weighted Σ squared error, Σ 1
        self.hour_squared, self.hour_weight = array("d", [0.0]) * hours, array("d", [0.0]) * hours
        self.dispersion = [0.0, 0.0]  # counts and sums: exponentially weighted Σ squared error, Σ expected
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
        self.unlearnt: list[tuple[int, float, float | None]] = []  # the latest incident's minutes not learned
        self.unlearnt_of: tuple[int, str] | None = None  # that incident: when it opened, its direction
        self.accepting = False  # the open incident was accepted (expected): its intervals are learned as calm ones
        self.whole = True  # every value so far a whole number: a count of events, never below Poisson noise

    def begin_after_zeros(self, intervals: int) -> None:
        """Start as a detector that has judged `intervals` of nothing: past the same warm-up, from a level of zero (a
        shop's first payment failures, after its warm-up, are judged at once and against none expected).

        >>> config = MetricDetectorConfig(direction="spike", window_minutes=10, min_z=5.0, alert_quantile=0.99)
        >>> detector = SeriesDetector("count", config, interval_ms=MINUTE, warmup_intervals=60)
        >>> detector.begin_after_zeros(300)
        >>> verdict = detector.update(300 * MINUTE, 12.0)
        >>> verdict.warming_up, verdict.expected_value, verdict.opens_incident
        (False, 0.0, True)
        """
        self.seen = intervals
        self.baseline.level = 0.0

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
        if self.kind in PAIRS:
            self.window.append((value, denominator or 0.0))
            values = list(self.window)
            sums = [_sums(values[-self.window_n :])] + ([_sums(values)] if len(values) > self.window_n else [])
            z, observed, expected, expected_value, band = self._ratio_z(*sums[0], 0)
            short_z, length, judged = z, self.window_n, []
            if len(sums) > 1:
                long = self._ratio_z(*sums[1], 1)
                if abs(long[0]) > abs(z):
                    z, observed, expected, length = long[0], long[1], long[2], len(self.window)
        else:
            sums = []
            self.whole = self.whole and value % 1.0 == 0.0
            self.window.append((value, self.baseline.expected(ts)))
            judged = self._windows(value)
            expected_value, band = self.window[-1][1], self._band(self.window[-1][1])
            short_z = judged[min(self.lengths.index(self.window_n), len(judged) - 1)][1]  # the metric's own window
            _, z, observed, expected, length = max(judged, key=_abs_z)
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
            self.unlearnt, self.unlearnt_of, self.accepting = [], (ts, direction), False
        elif self.incident_since is not None and abs(z) < DEVIATING:
            self.incident_since, self.accepting = None, False
        self.incident_age = self.incident_age + 1 if self.incident_since is not None else 0
        calm = self.incident_since is None and not anomalous
        if learn:
            self._learn_from(ts, value, denominator, expected_value, calm, warming_up, z, judged)
            if calm and self.kind == "share":
                self._learn_share_noise(sums)
        self.seen += 1
        if self.kind in PAIRS:
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
            window_minutes=round(length * self.interval_ms / MINUTE),
        )

    def accept(self, opened: int, direction: str) -> int:
        """Take the incident that opened at `opened` in `direction` as normal (a label said it was expected): the
        baseline learns the incident's intervals it did not learn as calm ones (their level; their deviation is no
        noise), and so the rest of the incident's intervals if it is still open. Only
        the latest incident, and once: the number of intervals learned (0 for another or an accepted incident).

        Two weeks of hours at about 20, then a Monday at 60 from 10:00: accepted, next Monday's 10:00 expects more.

        >>> config = MetricDetectorConfig(direction="both", window_minutes=60, min_z=4.0, alert_quantile=0.99,
        ...                               min_volume=5)
        >>> def shop():
        ...     detector = SeriesDetector("count", config, interval_ms=HOUR, warmup_intervals=24)
        ...     for ts in range(0, 14 * DAY + 10 * HOUR, HOUR):
        ...         detector.update(ts + 4 * DAY, 20.0 + ts // HOUR % 3)  # from Monday 1970-01-05
        ...     return detector, [detector.update(18 * DAY + hour * HOUR, 60.0) for hour in (10, 11, 12)]
        >>> (taught, verdicts), (twin, _) = shop(), shop()
        >>> verdicts[0].opens_incident, taught.accept(verdicts[0].ts, "spike"), taught.accept(verdicts[0].ts, "spike")
        (True, 3, 0)
        >>> round(taught.baseline.expected(25 * DAY + 10 * HOUR)), round(twin.baseline.expected(25 * DAY + 10 * HOUR))
        (45, 21)
        """
        if self.unlearnt_of != (opened, direction):
            return 0
        for ts, value, denominator in self.unlearnt:
            self._learn_level(ts, value, denominator)
        learned = len(self.unlearnt)
        self.unlearnt, self.unlearnt_of = [], None
        self.accepting = self.incident_since is not None  # still open: this one (a later one would have replaced it)
        return learned

    def _learn_level(self, ts: int, value: float, denominator: float | None) -> None:
        """Learn an interval of an accepted change as a calm one: the baseline (a ratio's usual level) moves towards
        it; the spread does not learn its deviation from what was expected, which was the change, not noise."""
        if self.kind not in PAIRS:
            self.baseline.learn(ts, value, calm=True)
        elif denominator:
            self._learn_ratio(value, denominator, max(1.0 / (self.seen + 1), 1.0 / (self.baseline.per_hour * 24)))

    def _windows(self, value: float) -> list[tuple[int, float, float, float, int]]:
        """(noise index, z, observed, expected, intervals) of every window the series has filled: the last 1, 2, 4 ...
        intervals up to the long window, and (not for gauges: their profile's errors add up there) the exponentially
        weighted slow window once the long one is full."""
        values = list(self.window)
        filled, scale, excesses = len(values), self._scale(), self._excesses()
        judged, observed, expected, summed = [], 0.0, 0.0, 0
        for index, length in enumerate(self.lengths):
            if length > filled:
                break
            for v, e in values[filled - length : filled - summed]:
                observed, expected = observed + v, expected + e
            summed = length
            z = self._z(index, observed, expected, length, scale, excesses[index])
            judged.append((index, z, observed, expected, length))
        obs, exp, w1, w2 = self._slide(value, values[-1][1])
        if filled == self.window.maxlen and self.kind != "gauge":
            index = len(self.lengths)
            z = self._z(index, obs, exp, w2, self._scale(index), excesses[index])
            judged.append((index, z, obs, exp, round(w1)))
        return judged

    def _slide(self, value: float, expected_value: float) -> list[float]:
        """The exponentially weighted sums (recent intervals weigh most) moved on by one interval."""
        keep = self.slow_keep
        obs, exp, w1, w2 = self.slow
        self.slow = [obs * keep + value, exp * keep + expected_value, w1 * keep + 1.0, w2 * keep * keep + 1.0]
        return self.slow

    def _z(self, index: int, observed: float, expected: float, length: float, scale: float, excess: float) -> float:
        """z of a window's sum against its expected sum, with that window's own learned noise: for counts and sums
        a scaled negative binomial (the interval's dispersion, as `scale`, and the window's relative error of the
        expected sum, `excess`), its tail probability as a z; for gauges the window's learned squared error."""
        variance = self._variance(index, expected, length, scale, excess)
        if not math.isfinite(variance):
            return 0.0
        z = (observed - expected) / math.sqrt(1e-12 if variance < 1e-12 else variance)  # max(variance, 1e-12)
        if self.kind == "gauge" or abs(z) < EXACT_FROM:
            return z
        # counts: no rate below one per long window is known; sums: their units (payments) vary in size, a window
        # expects at least one
        least = min(1.0, length / self.window.maxlen) if self._events() else 1.0
        return tail_z(observed, expected, scale, excess, least)

    def _variance(self, index: int, expected: float, length: float, scale: float, excess: float) -> float:
        """Variance of a window's sum (`length`: its intervals, for the slow window the sum of squared weights;
        `scale` and `excess`: the window's `_scale` and `_excesses`; a gauge uses only `scale`)."""
        if self.kind == "gauge":  # the interval's variance at this hour (`scale`) times the window's learned relative
            squared, n = self.noise[index]  # squared error, never below independent intervals' (`length`)
            relative = squared / n if n > 0 else 0.0
            return scale * (relative if relative > length else length)  # max(relative, length)
        return scale * (scale if scale > expected else expected) + excess * expected * expected  # max(expected, scale)

    def _scale(self, index: int | None = None) -> float:
        """Variance of counts and sums per unit of the expected level (compound Poisson): for counts never below
        Poisson; for sums inf (no judgement) until learned. The slow window's weights shrink it by Σw² / Σw. For
        gauges: the variance of an interval at the latest interval's hour of day (`_hour_variance`)."""
        if self.kind == "gauge":
            return self._hour_variance()
        dispersion = self.variance or 0.0
        scale = max(dispersion, 1.0) if self._events() else (dispersion if dispersion > 0 else math.inf)
        if index == len(self.lengths) and self.slow[2] > 0:
            scale *= self.slow[3] / self.slow[2]
        return scale

    def _events(self) -> bool:
        """Whether the series counts events: a `count` of whole numbers only. A count series with a fraction in it (a
        gauge or a ratio judged as counts) learns its noise as a sum does, with no Poisson floor."""
        return self.kind == "count" and self.whole

    def _excesses(self) -> list[float]:
        """Each window's learned squared relative error of its expected sum, beyond the interval's noise."""
        excesses = []
        for excess, weight in self.noise:
            relative = excess / weight if weight > 0 else 0.0
            excesses.append(relative if relative > 0.0 else 0.0)  # max(0.0, relative)
        return excesses

    def _band(self, expected_value: float) -> float:
        """Half the band drawn around an interval's expected value: `min_z` of its spreads."""
        scale = self._scale()
        if self.kind == "gauge":
            return self.config.min_z * math.sqrt(scale)
        return self.config.min_z * math.sqrt(scale * max(expected_value, scale))

    def _ratio_z(self, num: float, den: float, index: int) -> tuple[float, float, float, float, float]:
        """z, observed and expected ratio, the expected value and half its band, of the short (`index` 0) or long (1)
        window, from its sums; its variance per unit of denominator never below binomial (shares) or Poisson (ratios)
        noise."""
        p = self._usual_ratio()
        if den <= 0:
            return 0.0, 0.0, p, p, 0.0
        least, learned = (p * (1.0 - p), self._share_unit(index)) if self.kind == "share" else (p, self.variance or 0.0)
        unit = max(learned, least, 3.0 / max(self.ratio_den, 1.0))  # rule of three while p is unseen
        z = (num - den * p) / math.sqrt(den * unit)
        if self.kind == "share" and abs(z) >= EXACT_FROM and 0 < p < 1:
            z = share_tail_z(num, den, p, unit)
        last_den = self.window[-1][1]
        band = self.config.min_z * math.sqrt(unit / last_den) if last_den > 0 else 0.0
        return z, num / den, p, p, band

    def _usual_ratio(self) -> float:
        return self.ratio_num / self.ratio_den if self.ratio_den > 0 else 0.0

    def _share_unit(self, index: int) -> float:
        """A share's variance per trial over its short (0) or long (1) window, learned from the window itself and
        starting from SHARE_PRIOR trials of the intervals' own variance: numerators that fall in the interval after
        their denominators (an order a few seconds after its checkout started, in the next minute) make the
        intervals noisier than the windows they add up to."""
        squared, trials = self.noise[index]
        interval = self.variance if self.variance is not None else 0.25  # 0.25: the largest binomial variance
        return (squared + SHARE_PRIOR * interval) / (trials + SHARE_PRIOR)

    def _learn_share_noise(self, sums: list[tuple[float, float]]) -> None:
        """Each window of a share (its numerator and denominator `sums`, short then long) learns its squared error per
        trial (clipped at NOISE_CLIP spreads), exponentially weighted over about MEMORY_DAYS."""
        keep = 1.0 - 1.0 / (self.baseline.per_hour * 24 * MEMORY_DAYS)
        p = self._usual_ratio()
        for index, (num, den) in enumerate(sums):
            if den > 0:
                squared = min((num - den * p) ** 2, NOISE_CLIP**2 * den * self._share_unit(index))
                noise = self.noise[index]
                noise[0], noise[1] = noise[0] * keep + squared, noise[1] * keep + den

    def minds_silence(self) -> bool:
        """Whether intervals of nothing could raise or end an alert here: an incident is open, or the detector is past
        its warm-up, looks for drops and its windows expected the volume a drop needs (`min_volume`)."""
        if self.incident_since is not None:
            return True
        if self.warming_up or self.config.direction == "spike":
            return False
        if self.kind in PAIRS:  # a ratio's volume is its window's denominators
            return self._enough_volume("drop", 0.0)
        return self._enough_volume("drop", max(sum([e for _, e in self.window]), self.slow[1]))

    def _enough_volume(self, direction: str, expected: float) -> bool:
        """A ratio needs `min_volume` in its denominator; a drop needs `min_volume` expected."""
        if self.kind in PAIRS:
            return sum([d for _, d in list(self.window)[-self.window_n :]]) >= self.config.min_volume
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
        z: float, judged: list[tuple[int, float, float, float, int]],
    ) -> None:  # fmt: skip
        """The baseline follows the interval, learns from it when calm (or long after an incident began), and the
        alert threshold's calibration takes its score."""
        clipped = value
        if self.kind not in PAIRS:
            clipped = self._clipped(value, expected_value)
            unusual = abs(z) > NOISE_CLIP and self.kind == "count" and not warming_up
            self.baseline.follow(expected_value if unusual else clipped)
        settled = calm or self.incident_age > RELEARN_AFTER  # a change this long is the new normal: learnt as calm
        if self.accepting and not calm:
            self._learn_level(ts, value, denominator)
        elif settled or (self.kind not in PAIRS and not self.baseline.knows(ts)):
            self._learn(ts, value, denominator, expected_value, settled, clipped)
        elif self.unlearnt_of is not None and len(self.unlearnt) < RELEARN_AFTER:
            self.unlearnt.append((ts, value, denominator))
        if settled and self.kind not in PAIRS:  # pairs judge no windows here (a share's learn in _learn_share_noise)
            self._learn_noise(judged)
        if not warming_up and calm:
            self.calibration.update(abs(z))

    def _learn_noise(self, judged: list[tuple[int, float, float, float, int]]) -> None:
        """Each window learns its own noise, exponentially weighted over about MEMORY_DAYS: for counts and sums the
        squared error of its sum beyond the intervals' noise, relative to the expected sum squared (weighted by
        it, so busy hours speak most); for gauges its squared error. Errors are clipped at NOISE_CLIP spreads
        (GAUGE_CLIP for gauges), so a change too slow to alert does not teach its own window that it is noise."""
        keep = 1.0 - 1.0 / (self.baseline.per_hour * 24 * MEMORY_DAYS)
        slow = len(self.lengths)
        scales, excesses = [self._scale()] * slow + [self._scale(slow)], self._excesses()
        for index, _, observed, expected, length in judged:
            length = length if index < slow else self.slow[3]
            spread = self._variance(index, expected, length, scales[index], excesses[index])
            squared = (observed - expected) ** 2
            if self.seen > self.warmup_intervals and math.isfinite(spread):
                clip = (NOISE_CLIP if self.kind != "gauge" else GAUGE_CLIP) ** 2 * (1e-12 if spread < 1e-12 else spread)
                squared = clip if clip < squared else squared  # min(squared, clip)
            noise = self.noise[index]
            if self.kind == "gauge":  # relative to the interval's variance at this hour
                unit = scales[index] if scales[index] > 1e-12 else 1e-12  # max(scales[index], 1e-12)
                noise[0], noise[1] = noise[0] * keep + squared / unit, noise[1] * keep + 1.0
            elif math.isfinite(spread):
                floor = spread - excesses[index] * expected * expected  # the intervals' own noise
                noise[0], noise[1] = noise[0] * keep + squared - floor, noise[1] * keep + expected * expected

    def _learn(
        self, ts: int, value: float, denominator: float | None, expected_value: float, calm: bool, clipped: float
    ) -> None:
        """Move the baseline and the spread towards this interval: a gauge's variance (residuals clipped at 6
        spreads), the dispersion of counts and sums (their squared error over their expected value, a ratio of
        sums: an interval expecting less than one unit, a quiet night's minute, is no outlier of its own; of the
        value as `_clipped`)."""
        alpha = max(1.0 / (self.seen + 1), 1.0 / (self.baseline.per_hour * 24))
        if self.kind in PAIRS:
            den = denominator or 0.0
            if den > 0:
                p = self.ratio_num / self.ratio_den if self.ratio_den > 0 else value / den
                residual = (value - den * p) ** 2 / den
                self._learn_variance(residual, alpha)
                self._learn_ratio(value, den, alpha)
            return
        squared = (clipped - expected_value) ** 2
        if calm and self.kind == "gauge":
            self._learn_variance(squared, alpha)
            self._learn_hour_variance(squared)
        elif calm:
            keep = 1.0 - 1.0 / (self.baseline.per_hour * 24)
            self.dispersion = [self.dispersion[0] * keep + squared, self.dispersion[1] * keep + expected_value]
            self.variance = self._dispersion()
        self.baseline.learn(ts, value, calm)

    def _learn_ratio(self, value: float, denominator: float, alpha: float) -> None:
        """Move a ratio's usual level towards this interval's numerator over denominator."""
        keep = 1.0 - alpha
        self.ratio_num = self.ratio_num * keep + value
        self.ratio_den = self.ratio_den * keep + denominator

    def _clipped(self, value: float, expected_value: float) -> float:
        """A count within NOISE_CLIP spreads of its expected value (its spread from the learned dispersion and an
        expected value of at least one cluster per long window), so a burst below the threshold teaches neither the
        level nor the dispersion that it is usual; other kinds as they are."""
        if self.kind != "count" or self.warming_up:
            return value
        scale = self._scale()
        spread = NOISE_CLIP * math.sqrt(scale * max(expected_value, scale / self.window.maxlen))
        return min(max(value, expected_value - spread), expected_value + spread)

    def _dispersion(self) -> float | None:
        """Counts: the learned dispersion with a prior of POISSON_PRIOR units of Poisson noise, so the clustering of a
        few events (a low-volume series' first hours) is no dispersion yet; sums: as learned (None before any)."""
        squared, volume = self.dispersion
        if self._events():
            return (squared + POISSON_PRIOR) / (volume + POISSON_PRIOR)
        return squared / volume if volume > 0 else None

    def _hour_variance(self) -> float:
        """A gauge's variance per interval in the latest interval's hour of day: that hour's own squared errors,
        starting from one day of that hour's intervals, at least HOUR_PRIOR, of the whole day's variance (an hour
        little seen is judged as the day is).
        A night's ratio of few trials, or a gauge quiet at night, is judged on its own noise, not on the day's."""
        hour, day = _hour(self.last_ts or 0), self.variance or 0.0
        prior = max(HOUR_PRIOR, self.baseline.per_hour)
        return (self.hour_squared[hour] + prior * day) / (self.hour_weight[hour] + prior)

    def _learn_hour_variance(self, squared: float) -> None:
        """The latest interval's hour of day learns a gauge's squared error (after warm-up up to GAUGE_CLIP spreads of
        the hour), exponentially weighted over about MEMORY_DAYS of that hour."""
        hour, keep = _hour(self.last_ts or 0), 1.0 - 1.0 / (self.baseline.per_hour * MEMORY_DAYS)
        if self.seen > self.warmup_intervals:
            squared = min(squared, GAUGE_CLIP**2 * max(self._hour_variance(), 1e-12))
        self.hour_squared[hour] = self.hour_squared[hour] * keep + squared
        self.hour_weight[hour] = self.hour_weight[hour] * keep + 1.0

    def _learn_variance(self, squared: float, alpha: float) -> None:
        if self.variance is None:
            self.variance = squared
            return
        squared = min(squared, 36.0 * max(self.variance, 1e-12)) if self.seen > self.warmup_intervals else squared
        self.variance += alpha * (squared - self.variance)


def window_lengths(window: int, long: int) -> list[int]:
    """The windows judged, in intervals: 1, 2, 4 ... below the long window, the metric's own window, the long one.

    >>> window_lengths(15, 60)
    [1, 2, 4, 8, 15, 16, 32, 60]
    """
    powers = {2**i for i in range(long.bit_length()) if 2**i < long}
    return sorted(powers | {window, long})


def tail_z(observed: float, expected: float, scale: float, excess: float, least: float = 1.0) -> float:
    """Signed z of a sum `observed` against `expected`, whose variance is scale·expected + excess·expected²: the
    tail probability of a negative binomial count observed/scale (mean expected/scale, at least `least`; size
    1/excess; Poisson when excess is 0), as the standard normal quantile of the same tail.

    >>> round(tail_z(0, 15, 1.0, 0.0), 2), round(tail_z(30, 15, 1.0, 0.0), 2), round(tail_z(30, 15, 1.0, 0.05), 2)
    (-4.99, 3.34, 2.44)

    Seven events where a twentieth was expected: judged against a floor of one expected, and of a tenth.

    >>> round(tail_z(7, 0.05, 1.0, 0.0), 2), round(tail_z(7, 0.05, 1.0, 0.0, least=0.1), 2)
    (3.77, 6.62)
    """
    k, mean = observed / scale, max(expected / scale, least)
    spike = k > mean
    if excess * mean < 1e-9:
        p = special.gammainc(k, mean) if spike else special.gammaincc(k + 1, mean)
    else:
        size = 1.0 / excess
        success = size / (size + mean)
        p = special.betainc(k, size, 1 - success) if spike else special.betainc(size, k + 1, success)
    z = -special.ndtri(p) if p > 0 else 38.0
    return max(z, 0.0) if spike else -max(z, 0.0)


def _abs_z(judged: tuple[int, float, float, float, int]) -> float:
    """|z| of a judged window (`SeriesDetector._windows`)."""
    return abs(judged[1])


_NUMERATOR, _DENOMINATOR = itemgetter(0), itemgetter(1)


def _sums(window: list[tuple[float, float]]) -> tuple[float, float]:
    """The numerator and denominator sums of a pair series' window (mapped item getters: no Python frame per item)."""
    return sum(map(_NUMERATOR, window)), sum(map(_DENOMINATOR, window))


def share_tail_z(successes: float, trials: float, p: float, unit: float) -> float:
    """Signed z of `successes` of `trials` against a share `p` whose variance per trial is `unit` (at least
    p(1 - p)): the binomial tail of the same share of fewer trials, trials·p(1 - p)/unit, as the standard normal
    quantile of the same tail. Few trials make a weak case, whatever the share.

    >>> round(share_tail_z(1, 7, 0.69, 0.69 * 0.31), 2), round(share_tail_z(9, 27, 0.66, 0.66 * 0.34), 2)
    (-2.61, -3.27)
    >>> round(share_tail_z(9, 27, 0.66, 0.3), 2)  # noisier than binomial: a weaker case
    -2.78
    """
    scale = min(1.0, p * (1.0 - p) / unit)
    n, k = trials * scale, min(successes * scale, trials * scale)
    spike = k > n * p
    drop_tail = special.betainc(n - k, k + 1.0, 1.0 - p) if k < n else 1.0
    tail = special.betainc(k, n - k + 1.0, p) if spike else drop_tail
    z = -special.ndtri(tail) if tail > 0 else 38.0
    return max(z, 0.0) if spike else -max(z, 0.0)


def _hour(ts: int) -> int:
    return (ts // HOUR) % 24


def _week_hour(ts: int) -> int:
    return ((ts // DAY + 3) % 7) * 24 + _hour(ts)  # 1970-01-01 was a Thursday; Monday 00:00 is 0
