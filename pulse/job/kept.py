"""What the scoring job keeps in Flink state, in a form independent of where the code lives.

A savepoint outlives the code that took it. Pickling the job's objects as they are would write their module
paths (`pulse.job.pipeline.PipelineState`) into every savepoint, so moving or renaming a module would make the
savepoints of running jobs unreadable. Kept state is plain data instead: dicts, lists, tuples, sets, numbers,
strings, datetimes, with each of the job's objects as a dict naming its kind (a stable name from `KINDS`, not a
module path) and holding its fields; tenant configs as their validated fields; and a version number.

River's estimators (the risk model's trees and quantiles, the detectors' quantiles) are kept as River's own
objects: their pickles name River's modules, which are stable for the pinned river version. Upgrading River is a
change of the kept form like any other: the savepoint-restore tests (tests/dev/test_cluster.py) tell.

When the form changes (a kind renamed, a field's meaning changed): raise `VERSION` and add to `UPGRADES` a
function that turns plain data of the old version into the new one; `read` applies them in turn, so every older
savepoint stays readable. A new dataclass field with a default needs no upgrade (`decode` fills it in).

The operator stores `Kept(value)`: PyFlink pickles state values when a bundle ends, so the encoding runs then,
not on every update, and `read` takes a state's value as Flink returns it (plain data, or the `Kept` written in
this worker).

>>> from pulse.job.usage import UsageState
>>> usage = UsageState(month_accepted={"2026-11": 3}, notified={("2026-11", "quota_80")})
>>> plain = encode(usage)
>>> plain["~kind"], plain["month_accepted"]
('UsageState', {'2026-11': 3})
>>> read({"version": VERSION, "state": plain}) == usage
True
"""

from __future__ import annotations

import array
import dataclasses
import datetime
import decimal
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from river import stats

from models.budget import AlertBudget
from models.business_metrics import Minute, TenantMetrics
from models.context import RecentContext
from models.detectors import SeasonalBaseline, SeriesDetector, window_lengths
from models.features import TenantUsual
from models.risk import FEATURES, RiskModel
from pulse.job.feedback import Feedback, Lesson
from pulse.job.pipeline import PipelineState
from pulse.job.scoring import TenantState
from pulse.job.usage import UsageState
from pulse.rules.engine import EngineState, RuleState
from pulse.rules.rates import HourlyRate
from pulse.rules.runners import AbsenceState, SeenState, SequenceState, WindowState
from pulse.rules.windows import Partial
from pulse.tenants import config

VERSION = 4
KIND = "~kind"  # the key naming an object's kind in its plain form
CONFIG = "~config"  # the key holding a tenant config's (or config part's) fields
# A metric detector's fields but its config and baseline: written at every write of its tenant's state, so not walked.
DETECTOR_PLAIN = frozenset({
    "kind", "interval_ms", "warmup_intervals", "window_n", "window", "lengths", "noise", "variance", "hour_squared",
    "hour_weight", "dispersion",
    "ratio_num", "ratio_den", "slow_keep", "slow", "seen", "last_ts", "incident_since", "incident_age", "run_sign",
    "run_since", "unlearnt", "unlearnt_of", "accepting", "whole", "calibration",
})  # fmt: skip
# Stable name → the class whose objects the job keeps, and its fields that hold plain data only (kept as they
# are, not walked: big maps of counters or recent keys would cost a walk on every state write).
KINDS: dict[str, tuple[type, frozenset[str]]] = {
    "PipelineState": (PipelineState, frozenset({"unsent"})),
    "TenantState": (TenantState, frozenset()),
    "EngineState": (EngineState, frozenset({"pending", "cooldowns"})),
    "RuleState": (RuleState, frozenset()),
    "WindowState": (WindowState, frozenset({"breach", "alerted", "history"})),
    "Partial": (Partial, frozenset({"values"})),
    "AbsenceState": (AbsenceState, frozenset({"last_seen", "fired", "alerted", "due"})),
    "HourlyRate": (HourlyRate, frozenset({"weekly", "daily"})),
    "SeenState": (SeenState, frozenset({"seen", "alerted"})),
    "SequenceState": (SequenceState, frozenset({"firsts", "alerted"})),
    "UsageState": (UsageState, frozenset({field.name for field in dataclasses.fields(UsageState)})),
    "TenantMetrics": (
        TenantMetrics,
        frozenset({"closed_until", "last_active", "session_campaign", "seen_sessions", "campaigns"}),
    ),
    "Minute": (Minute, frozenset({"view_ips", "clicks", "conversions"})),
    "SeriesDetector": (SeriesDetector, DETECTOR_PLAIN),
    "SeasonalBaseline": (SeasonalBaseline, frozenset(vars(SeasonalBaseline(60_000)))),
    "RiskModel": (RiskModel, frozenset()),
    "RecentContext": (RecentContext, frozenset({"recent", "usual"})),
    "TenantUsual": (TenantUsual, frozenset({"amount", "countries"})),
    "AlertBudget": (AlertBudget, frozenset(vars(AlertBudget(1)))),
    "Feedback": (Feedback, frozenset()),
    "Lesson": (Lesson, frozenset(field.name for field in dataclasses.fields(Lesson))),
}
CONFIGS: dict[str, type[BaseModel]] = {
    name: kind for name, kind in vars(config).items() if isinstance(kind, type) and issubclass(kind, config.Strict)
}
NAMES = {kind: name for name, (kind, _) in KINDS.items()} | {kind: name for name, kind in CONFIGS.items()}
ATOMS = {
    type(None),
    array.array,
    bool,
    int,
    float,
    str,
    bytes,
    datetime.datetime,
    datetime.date,
    datetime.timedelta,
    decimal.Decimal,
}
FOREIGN = ("river", "numpy")  # libraries whose objects are kept as they are (their pickles name their own modules)


def _walk(plain: Any, change: Callable[[dict], dict]) -> Any:
    """`plain` with `change` applied to each kept object (a dict naming its kind), innermost first."""
    kind = type(plain)
    if kind in (dict, OrderedDict):
        walked = kind((key, _walk(item, change)) for key, item in plain.items())
        return change(walked) if KIND in walked else walked
    if kind in (list, tuple):
        return kind(_walk(item, change) for item in plain)
    if kind is deque:
        return deque((_walk(item, change) for item in plain), maxlen=plain.maxlen)
    return plain


def _risk_v2(kept: dict) -> dict:
    """Version 2 of the risk model: features in [0, 1] relative to the tenant (no hour of day, no payment-failure
    flag), a daily alert budget instead of a running quantile (config `alerts_per_day`, not `alert_quantile`).
    A model of version 1 keeps its count of scored events (so its warm-up stays over) and its recent context; its
    forests, learned on other features, start again (built with the next full window), and its budget too (no risk
    alert during the day after the upgrade)."""
    name = kept[KIND]
    if name == "RiskModelConfig":
        return {**kept, CONFIG: _without_quantile(kept[CONFIG])}
    if name in ("ModelsConfig", "TenantConfig"):
        models = kept[CONFIG] if name == "ModelsConfig" else kept[CONFIG].get("models", {})
        models = {**models, "risk": _without_quantile(models.get("risk", {}))}
        return {**kept, CONFIG: models if name == "ModelsConfig" else {**kept[CONFIG], "models": models}}
    if name == "RecentContext":
        usual = OrderedDict((customer, mean) for customer, (mean, _country) in kept["usual"].items())
        return {**kept, "usual": usual}
    if name != "RiskModel":
        return kept
    per_day = kept["config"][CONFIG].get("alerts_per_day", 1)
    return {
        KIND: "RiskModel",
        "config": kept["config"],
        "trees": None,
        "context_trees": None,
        "pending": [],
        "budget": encode(AlertBudget(per_day)),
        "feature_stats": {name: stats.Var() for name in FEATURES},
        "usual": encode(TenantUsual()),
        "context": kept["context"],
        "seen": kept["seen"],
    }


def _without_quantile(risk: dict) -> dict:
    return {key: value for key, value in risk.items() if key != "alert_quantile"}


def _detector_v3(kept: dict) -> dict:
    """Version 3 of a metric detector: windows of 1, 2, 4 ... intervals up to the long one, each learning its own
    noise. A detector of version 2 keeps its baseline, spread and calibration; its windows' noise starts at none
    (the intervals' own spread) and is learned again over the next day, as is a count's dispersion (one unit of
    volume against the prior of Poisson noise)."""
    if kept[KIND] != "SeriesDetector":
        return kept
    lengths = window_lengths(kept["window_n"], kept["window"].maxlen)
    dispersion = [kept["variance"] or 0.0, 1.0]  # the old dispersion, as if learned from one unit of volume
    noise = [[0.0, 0.0] for _ in range(len(lengths) + 1)]
    return {**kept, "lengths": lengths, "noise": noise, "dispersion": dispersion}


# A seasonal baseline's profiles (arrays since version 4) → their type codes.
BASELINE_ARRAYS = {"hourly": "d", "hourly_n": "I", "week_obs": "d", "week_base": "d", "week_n": "I"}


def _detector_v4(kept: dict) -> dict:
    """Version 4 of a metric detector: it keeps the intervals of its latest incident that it did not learn, for a
    label `expected` to teach, whether an open incident was accepted, whether its values were all whole numbers, and
    (gauges) the squared errors of each hour of day. A detector of version 3 has none kept: a label on an incident it
    opened before the upgrade holds back later alerts as before, and teaches its baseline nothing; its values were
    whole (the job's counts are); a gauge's hours start from its whole day's variance. Its seasonal baseline's
    profiles become arrays, with the same values."""
    if kept[KIND] == "SeasonalBaseline":
        return {**kept, **{name: array.array(code, kept[name]) for name, code in BASELINE_ARRAYS.items()}}
    if kept[KIND] != "SeriesDetector":
        return kept
    hours = 24 if kept["kind"] == "gauge" else 0
    return {
        **kept, "unlearnt": [], "unlearnt_of": None, "accepting": False, "whole": True,
        "hour_squared": array.array("d", [0.0]) * hours, "hour_weight": array.array("d", [0.0]) * hours,
    }  # fmt: skip


# Version n → a function turning plain state of version n into version n + 1.
UPGRADES: dict[int, Callable[[Any], Any]] = {
    1: lambda state: _walk(state, _risk_v2),
    2: lambda state: _walk(state, _detector_v3),
    3: lambda state: _walk(state, _detector_v4),
}


class KeptStateError(ValueError):
    """A value the kept form cannot hold, or kept state this code cannot read."""


class Kept:
    """A state value as the job stores it: pickled as its plain form (`encode`), with the version."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __reduce__(self) -> tuple:
        return dict, ({"version": VERSION, "state": encode(self.value)},)


def read(stored: Any) -> Any:
    """The value of a state as Flink returns it: None, a `Kept` written by this worker, or kept plain data of
    this or an older version."""
    if stored is None:
        return None
    if isinstance(stored, Kept):
        return stored.value
    if not isinstance(stored, dict) or "version" not in stored:
        raise KeptStateError(f"not kept state of this job (a {type(stored).__name__}); take the savepoint again")
    version, state = stored["version"], stored["state"]
    if version > VERSION:
        raise KeptStateError(f"kept state of version {version} is newer than this code ({VERSION}): upgrade it")
    while version < VERSION:
        state = UPGRADES[version](state)
        version += 1
    return decode(state)


def encode(value: Any) -> Any:
    """The plain form of `value`."""
    kind = type(value)
    if kind in ATOMS:
        return value
    if kind is dict:
        return {key: encode(item) for key, item in value.items()}
    if kind is list:
        return [encode(item) for item in value]
    if kind is tuple:
        return tuple(encode(item) for item in value)
    if kind in (set, frozenset):
        return value
    if kind is OrderedDict:
        return OrderedDict((key, encode(item)) for key, item in value.items())
    if kind is deque:
        return deque((encode(item) for item in value), maxlen=value.maxlen)
    name = NAMES.get(kind)
    if name in CONFIGS:
        return {KIND: name, CONFIG: value.model_dump()}
    if name is not None:
        plain = KINDS[name][1]
        fields = _fields(value)
        return {KIND: name, **{key: item if key in plain else encode(item) for key, item in fields.items()}}
    if kind.__module__.split(".")[0] in FOREIGN:
        return value
    raise KeptStateError(
        f"{kind.__module__}.{kind.__qualname__} has no kept form: add it to KINDS in pulse/job/kept.py"
    )


def decode(plain: Any) -> Any:
    """The value whose plain form is `plain` (`encode`)."""
    kind = type(plain)
    if kind is dict:
        name = plain.get(KIND)
        if name is None:
            return {key: decode(item) for key, item in plain.items()}
        if name in CONFIGS:
            return CONFIGS[name].model_validate(plain[CONFIG], context={"kept": True})
        if name not in KINDS:
            raise KeptStateError(f"kept state names an unknown kind {name!r}: add an upgrade in pulse/job/kept.py")
        cls, as_is = KINDS[name]
        fields = {key: item if key in as_is else decode(item) for key, item in plain.items() if key != KIND}
        return _build(cls, fields)
    if kind is list:
        return [decode(item) for item in plain]
    if kind is tuple:
        return tuple(decode(item) for item in plain)
    if kind is OrderedDict:
        return OrderedDict((key, decode(item)) for key, item in plain.items())
    if kind is deque:
        return deque((decode(item) for item in plain), maxlen=plain.maxlen)
    return plain


def _fields(value: Any) -> dict[str, Any]:
    if hasattr(value, "__dict__"):
        return vars(value)
    return {name: getattr(value, name) for name in value.__slots__}


def _build(cls: type, fields: dict[str, Any]) -> Any:
    """An object of `cls` with `fields`; a dataclass field missing from older state gets its default."""
    value = cls.__new__(cls)
    if dataclasses.is_dataclass(cls):
        for field in dataclasses.fields(cls):
            if field.name not in fields and field.default is not dataclasses.MISSING:
                fields[field.name] = field.default
            elif field.name not in fields and field.default_factory is not dataclasses.MISSING:
                fields[field.name] = field.default_factory()
    setstate = getattr(cls, "__setstate__", None)  # a class's own reader of older fields (UsageState)
    if setstate is not None:
        setstate(value, fields)
    elif hasattr(value, "__dict__"):
        value.__dict__.update(fields)
    else:
        for name, item in fields.items():
            object.__setattr__(value, name, item)
    return value
