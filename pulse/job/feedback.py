"""What labels teach the scoring job: per tenant, a false alarm makes the detector that raised it less eager in the
conditions it fired in; an expected change makes the level it reached normal for its metric and teaches that
detector's baseline.

A label reaches the job as a feedback record on the rule-updates channel (`pulse serve --rules-topic/--rules-folder`,
as `pulse rules publish` sends configs), whose tenant is the envelope's, the one whose API key labelled it. The record
holds the alert that opened the incident (`lesson_record`); the job keeps one `Lesson` per labelled incident.

An alert of the tenant is held back (not written, so no incident, no notice) when a lesson of the last `FADE_MS`
of event time before it matches it:

- a false alarm of a metric detector: the same metric and direction, in conditions like those it fired in (an expected
  value within a factor of `LEVELS` of the false alarm's; values under 1% of its deviation count as nothing), and a
  deviation |observed - expected| at most `MARGIN` times the false alarm's, each per minute of its window (below);
- a false alarm of the risk model: the same two top features, and a surprise -ln(1 - score) at most `MARGIN` times
  the false alarm's (a score band: 0.88 taught holds back up to 0.96);
- a false alarm of a rule: the same rule and group key (customer, card, window group), within `HOURS` hours of the
  time of day (UTC) it fired at, and for window rules a value at most `MARGIN` times the false alarm's.

A larger deviation alerts: a detector never becomes more than `MARGIN` times harder to trip, whatever the labels.
An expected change of a metric teaches its level instead: later alerts of the same metric and direction, at any
level of traffic, are held back up to the level it reached (a spike to 200 orders accepted: later spikes to 200 are
normal, to 250 alert), and it teaches the baseline of the detector that raised it: the detector learns the minutes of
its latest incident it did not learn as calm ones, once (`SeriesDetector.accept`; the job gives each detector the
tenant's expected incidents when its lessons change, `expected_changes`). On other detectors "expected" is taught as a
false alarm.

A metric's observed and expected values are sums over the window the detector judged, and it judges windows of
different lengths (1, 2, 4 ... minutes up to four times the metric's window): both rules compare them, and the
deviation, per minute of each one's window (the alert's label `window_minutes`), so a lesson taught on 46 orders in 4
minutes holds back a repeat of 684 in 60, both about 11.5 a minute. A ratio metric's values, which do not add up over
a window, and a lesson or alert without the label are compared as they are.

Labelling the incident `true_problem` again removes its lesson (not what a baseline learned from it, which fades as
any learned level does); lessons fade after `FADE_MS`; a tenant keeps at most `MAX_LESSONS` (the oldest go).

>>> from datetime import UTC, datetime
>>> def alert(hour, observed, expected=100.0, minutes=15):
...     labels = {"metric": "orders", "direction": "drop", "observed": f"{observed:g}", "expected": f"{expected:g}"}
...     labels |= {"window_minutes": str(minutes)} if minutes else {}
...     return {"kind": "model", "cause": "metric:orders", "group_key": "orders", "score": 0.99, "threshold": 5.0,
...             "ts": datetime(2026, 11, 3, hour, tzinfo=UTC), "labels": labels}
>>> taught = Feedback()
>>> taught.learn(Lesson.of("inc_1", "false_alarm", alert(3, 60)))  # a drop of 40
>>> [taught.holds_back(alert(4, observed, expected)) is not None
...  for observed, expected in ((65, 100), (20, 100), (60, 400))]
[True, False, False]
>>> [taught.holds_back(alert(4, 240, 400, minutes)) is not None for minutes in (60, None)]  # per minute: the same drop
[True, False]
>>> taught.learn(Lesson.of("inc_1", "true_problem", alert(3, 60)))
>>> taught.holds_back(alert(4, 65)) is None
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000
FADE_MS = 14 * DAY_MS  # a lesson holds for two weeks of event time after the incident it was taught by
MARGIN = 1.5  # a lesson holds back deviations up to 1.5 times its own, never larger ones
HOURS = 2  # a rule's false alarm holds within two hours of its time of day (UTC)
LEVELS = 3.0  # a metric's false alarm holds where the expected value is within a factor of 3 of its own
MAX_LESSONS = 500  # per tenant
FEEDBACK = "feedback"  # the key marking a record of the rule-updates channel as label feedback (its value: the form)
FORM = 1
TAUGHT = ("false_alarm", "expected")  # labels that teach; `true_problem` takes a lesson back


@dataclass(frozen=True)
class Lesson:
    """What one labelled incident taught: its detector, when it opened, how far it deviated."""

    incident_id: str
    label: str  # false_alarm, expected, or true_problem (which unlearns)
    detector: str  # metric:orders:drop, rule:<id>, risk:<feature>,<feature>
    group: str  # a rule's group key ("" for metrics and the risk model)
    at: int  # event time (epoch ms) of the alert that opened the incident
    deviation: float | None  # see the module's docstring; None for condition and absence rules
    observed: float | None  # a metric's observed and expected values (None for rules and the risk model)
    expected: float | None
    window_minutes: int | None = None  # the minutes a metric's observed and expected sums cover (None: not known)

    @staticmethod
    def of(incident_id: str, label: str, alert: dict[str, Any]) -> Lesson:
        """The lesson of `label` on the incident opened by the `alert` row (the job's `alerts` columns)."""
        return Lesson(incident_id, label, *_facts(alert))

    def matches(self, alert: Lesson) -> bool:
        """Whether this lesson holds back an alert with the facts `alert` (a lesson of it, not yet labelled)."""
        if alert.detector != self.detector or alert.group != self.group or not 0 <= alert.at - self.at <= FADE_MS:
            return False
        return self.per_minute(alert).holds(alert.per_minute(self))

    def holds(self, alert: Lesson) -> bool:
        """Whether this lesson holds back an alert of its detector and group with the facts `alert`, in the same
        units (`per_minute`)."""
        if self.observed is not None and self.expected is not None and alert.observed is not None:
            if self.label == "expected":
                spike = self.detector.endswith(":spike")
                return alert.observed <= self.observed if spike else alert.observed >= self.observed
            floor = (self.deviation or 0.0) / 100
            apart = abs(math.log((alert.expected + floor) / (self.expected + floor))) if floor else 0.0
            if apart > math.log(LEVELS):
                return False
        elif self.detector.startswith("rule:") and _hour_apart(alert.at, self.at) > HOURS:
            return False
        return alert.deviation is None or self.deviation is None or alert.deviation <= MARGIN * self.deviation

    def per_minute(self, other: Lesson) -> Lesson:
        """These facts per minute of their window, to compare with `other`'s (as they are unless both know theirs).

        >>> lesson = Lesson("inc_1", "false_alarm", "metric:orders:spike", "", 0, 24.0, 46.0, 22.0, window_minutes=4)
        >>> lesson.per_minute(lesson).observed, lesson.per_minute(replace(lesson, window_minutes=None)).observed
        (11.5, 46.0)
        """
        minutes = self.window_minutes
        if not minutes or not other.window_minutes:
            return self
        values = {"deviation": self.deviation, "observed": self.observed, "expected": self.expected}
        per = {name: None if value is None else value / minutes for name, value in values.items()}
        return replace(self, **per, window_minutes=1)


@dataclass
class Feedback:
    """The lessons of one tenant, by incident id (kept by the job with the tenant's config, see pulse.job.kept)."""

    lessons: dict[str, Lesson] = field(default_factory=dict)
    revision: int = 0  # lessons taken so far: the job's detectors look for new ones to learn when it changes

    def learn(self, lesson: Lesson) -> None:
        """Keep `lesson` in place of any earlier one of its incident (`true_problem`: only drop that one)."""
        self.revision += 1
        self.lessons.pop(lesson.incident_id, None)
        if lesson.label in TAUGHT:
            self.lessons[lesson.incident_id] = lesson
        newest = max((kept.at for kept in self.lessons.values()), default=0)
        kept = [k for k in self.lessons.values() if newest - k.at <= FADE_MS]
        kept = sorted(kept, key=lambda k: k.at)[-MAX_LESSONS:]
        self.lessons = {k.incident_id: k for k in kept}

    def expected_changes(self) -> list[tuple[str, str, int]]:
        """(metric, direction, opened at) of each metric incident labelled expected, for its detector to learn.

        >>> labels = {"direction": "spike", "observed": "90", "expected": "30"}
        >>> row = {"kind": "model", "cause": "metric:campaign_clicks:spring", "group_key": "", "score": 0.99,
        ...        "threshold": 5.0, "ts": 600_000, "labels": labels}
        >>> taught = Feedback()
        >>> taught.learn(Lesson.of("inc_1", "expected", row))
        >>> taught.expected_changes()
        [('campaign_clicks:spring', 'spike', 600000)]
        """
        changes = []
        for lesson in self.lessons.values():
            if lesson.label == "expected" and lesson.observed is not None:
                metric, _, direction = lesson.detector.removeprefix("metric:").rpartition(":")
                changes.append((metric, direction, lesson.at))
        return changes

    def holds_back(self, alert: dict[str, Any]) -> Lesson | None:
        """The lesson that holds back the `alert` row, if any (quota notices never are)."""
        if not self.lessons or alert["kind"] == "usage":
            return None
        facts = Lesson.of("", "", alert)
        return next((k for k in self.lessons.values() if k.matches(facts)), None)


def lesson_record(incident_id: str, label: str, alert: dict[str, Any]) -> str:
    """The feedback record the API publishes for a label: the incident, the label and the alert that opened it.

    >>> from datetime import UTC, datetime
    >>> row = {"kind": "rule", "cause": "large-order", "group_key": "c1", "score": None, "threshold": None,
    ...        "ts": datetime(2026, 11, 3, 10, tzinfo=UTC), "labels": {}}
    >>> read_record(lesson_record("inc_1", "false_alarm", row)) == Lesson.of("inc_1", "false_alarm", row)
    True
    """
    fields = ("kind", "cause", "group_key", "score", "threshold", "labels")
    opened = {name: alert[name] for name in fields} | {"ts": _epoch_ms(alert["ts"])}
    return json.dumps({FEEDBACK: FORM, "incident_id": incident_id, "label": label, "alert": opened})


def is_feedback(text: str) -> bool:
    """Whether a record of the rule-updates channel is label feedback (not a tenant config)."""
    return text.lstrip().startswith("{") and f'"{FEEDBACK}"' in text[:200]


def read_record(text: str) -> Lesson:
    """The lesson of a feedback record; ValueError saying what is wrong with one this code cannot read."""
    try:
        record = json.loads(text)
        if record.get(FEEDBACK) != FORM:
            raise ValueError(f"feedback form {record.get(FEEDBACK)!r}, this job reads form {FORM}")
        alert = dict(record["alert"])
        alert["ts"] = int(alert["ts"])
        alert["labels"] = {str(k): str(v) for k, v in dict(alert["labels"]).items()}
        for name in ("kind", "cause", "group_key"):
            alert[name] = str(alert[name])
        for name in ("score", "threshold"):
            alert[name] = None if alert[name] is None else float(alert[name])
        return Lesson.of(str(record["incident_id"]), str(record["label"]), alert)
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a feedback record: {exc!r}") from None


def feedback_row(tenant: str, version: str, lesson: Lesson | None, error: str, run_id: str) -> dict[str, Any]:
    """The `config_updates` row saying the job took (`lesson` given) or refused (`error`) a label's feedback."""
    taught = f"label {lesson.label} on {lesson.incident_id} ({lesson.detector})" if lesson else "label feedback"
    return {
        "tenant_id": tenant,
        "version": f"{version}: {taught}",
        "accepted": lesson is not None,
        "error": error,
        "rules": 0,
        "run_id": run_id,
        "received_at": datetime.now(UTC),
    }


def _facts(alert: dict[str, Any]) -> tuple[str, str, int, float | None, float | None, float | None, int | None]:
    """An alert row's detector, group, event time, deviation, and (metrics) observed and expected values and the
    minutes of their window."""
    cause, labels, score, at = alert["cause"], alert.get("labels") or {}, alert.get("score"), _epoch_ms(alert["ts"])
    if cause.startswith("metric:") and "observed" in labels:
        observed, expected = float(labels["observed"]), float(labels["expected"])
        minutes = int(labels["window_minutes"]) if "window_minutes" in labels else None
        return f"{cause}:{labels.get('direction', '')}", "", at, abs(observed - expected), observed, expected, minutes
    if alert["kind"] == "model":
        features = ",".join(sorted(labels.get("top_features", "").split(",")))
        surprise = None if score is None else -math.log(max(1e-9, 1.0 - min(float(score), 1.0 - 1e-9)))
        return f"risk:{features}", "", at, surprise, None, None, None
    deviation = None if score is None else abs(float(score))
    return f"rule:{cause}", alert.get("group_key", ""), at, deviation, None, None, None


def _hour_apart(a: int, b: int) -> float:
    """Hours between the times of day of two moments (UTC), at most 12."""
    apart = abs(a - b) % DAY_MS / 3_600_000
    return min(apart, 24 - apart)


def _epoch_ms(ts: datetime | int) -> int:
    if isinstance(ts, int):
        return ts
    return int((ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp() * 1000)
