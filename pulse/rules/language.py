"""The rule types of the tenant YAML, as pydantic models (pulse.rules.types lists them for validation and the engine).

Expressions are CEL, checked against the fields events have plus the fields enrichment rules derive
(passed in the validation context as `fields`), the matched `tags` and the tenant's lookup `tables`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pulse.events import Event
from pulse.rules.durations import Duration
from pulse.rules.expressions import check_expression
from pulse.tenants.limits import MAX_TEMPLATE_CHARS

Severity = Literal["info", "low", "medium", "high", "critical"]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Aggregate = Literal["count", "sum", "avg", "min", "max", "distinct_count"]
Comparison = Literal[">", ">=", "<", "<="]
BASE_FIELDS = (*Event.model_fields, "tags", "tables")
DAY_MS = 86_400_000
TemplateText = Annotated[str, Field(max_length=MAX_TEMPLATE_CHARS)]  # a Jinja2 summary template


def known_fields(info: ValidationInfo) -> tuple[str, ...]:
    """The fields an expression may name: event fields, derived fields (from the context), tags, tables."""
    context = info.context or {}
    return (*BASE_FIELDS, *context.get("fields", ()))


def checked(expression: str | None, info: ValidationInfo) -> str | None:
    if expression is not None:
        check_expression(expression, known_fields(info))
    return expression


def checked_fields(names: list[str], info: ValidationInfo) -> list[str]:
    fields = [f for f in known_fields(info) if f not in ("tags", "tables")]
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; events have: {', '.join(fields)}")
    return names


class ConditionRule(BaseModel):
    """A per-event rule: fires when the CEL expression `when` is true for an event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId
    type: Literal["condition"] = "condition"
    description: Annotated[str, Field(min_length=1)]
    severity: Severity = "medium"
    when: Annotated[str, Field(min_length=1)]
    labels: dict[str, str] = Field(default_factory=dict)
    summary: TemplateText | None = None
    enabled: bool = True
    cooldown: Duration = 0

    @field_validator("when")
    @classmethod
    def _compiles(cls, expression: str, info: ValidationInfo) -> str:
        return checked(expression, info)


class StatefulRule(BaseModel):
    """What every rule has; `cooldown`: no repeat alert for the same rule and group within this time."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: RuleId
    description: Annotated[str, Field(min_length=1)]
    severity: Severity = "medium"
    labels: dict[str, str] = Field(default_factory=dict)
    summary: TemplateText | None = None
    enabled: bool = True
    cooldown: Duration = 0
    filter: str | None = None
    group_by: list[str] = Field(default_factory=list)

    @field_validator("filter")
    @classmethod
    def _filter(cls, expression: str | None, info: ValidationInfo) -> str | None:
        return checked(expression, info)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, names: list[str], info: ValidationInfo) -> list[str]:
        return checked_fields(names, info)


def _window(value: Any) -> Any:
    return {"size": value} if isinstance(value, str) else value


class Window(BaseModel):
    """An event-time window: tumbling (`size` only) or sliding (`size` and `every`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: Duration
    every: Duration | None = None

    @model_validator(mode="after")
    def _fits(self) -> Window:
        if self.size <= 0:
            raise ValueError("window size must be above 0")
        if self.every is not None and (self.every <= 0 or self.size % self.every):
            raise ValueError("`every` must divide the window size (e.g. size 10m, every 1m)")
        return self

    @property
    def slide(self) -> int:
        return self.every or self.size


class Aggregated(StatefulRule):
    """A rule over an aggregate (count, sum, avg, min, max, distinct_count) of a field in a window."""

    aggregate: Aggregate = "count"
    field: str | None = None
    hold: Duration = Field(0, alias="for")

    @field_validator("field")
    @classmethod
    def _field(cls, name: str | None, info: ValidationInfo) -> str | None:
        return None if name is None else checked_fields([name], info)[0]

    @model_validator(mode="after")
    def _needs_field(self) -> Aggregated:
        if self.aggregate != "count" and self.field is None:
            raise ValueError(f"aggregate {self.aggregate} needs a `field` (e.g. field: amount)")
        return self


class ThresholdRule(Aggregated):
    """Fires when a window's aggregate compares true with `limit` (card testing: count >= 5 in 10m per card)."""

    type: Literal["threshold"]
    window: Annotated[Window, BeforeValidator(_window)]
    op: Comparison = ">="
    limit: float


class BaselineRule(Aggregated):
    """Fires when a window's aggregate moves away from its usual level (recent windows or same hour of past weeks)."""

    type: Literal["baseline"]
    window: Duration
    compare_to: Literal["recent", "same_hour_last_weeks"] = "recent"
    history: Annotated[int, Field(ge=1, le=52)] = 4
    min_history: Annotated[int, Field(ge=1)] = 2
    change: Literal["ratio", "difference"] = "ratio"
    direction: Literal["below", "above"] = "below"
    limit: float


class AbsenceRule(StatefulRule):
    """Fires on time when no matching event arrived for `for` (during `active_hours`, UTC, if given); with
    `min_expected`, only once the events the group usually sees in that silence reach it (pulse.rules.rates)."""

    type: Literal["absence"]
    after: Duration = Field(alias="for")
    active_hours: tuple[Annotated[int, Field(ge=0, le=24)], Annotated[int, Field(ge=0, le=24)]] | None = None
    # left out of the rule's dump when not set, so rules without it keep their fingerprint (and state)
    min_expected: float | None = Field(None, exclude_if=lambda value: value is None)

    @field_validator("min_expected")
    @classmethod
    def _expected(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < math.inf:
            raise ValueError(
                "must be above 0: how many matching events usually come in a silence before it alerts "
                "(e.g. min_expected: 10)"
            )
        return value

    @model_validator(mode="after")
    def _positive(self) -> AbsenceRule:
        if self.after <= 0:
            raise ValueError("`for` must be above 0 (e.g. for: 20m)")
        if self.active_hours and self.active_hours[0] >= self.active_hours[1]:
            raise ValueError("active_hours is [opening hour, closing hour] in UTC, e.g. [8, 20]")
        return self


class NewValueRule(StatefulRule):
    """Fires the first time a group sees a value of `field` (a customer's new country)."""

    type: Literal["new_value"]
    field: str
    remember: Duration = 90 * DAY_MS
    alert_on_first_event: bool = False

    @field_validator("field")
    @classmethod
    def _field(cls, name: str, info: ValidationInfo) -> str:
        return checked_fields([name], info)[0]


class SequenceRule(StatefulRule):
    """Fires when an event matching `first` is followed by one matching `then` within `within`, same group."""

    type: Literal["sequence"]
    first: str
    then: str
    within: Duration

    @field_validator("first", "then")
    @classmethod
    def _steps(cls, expression: str, info: ValidationInfo) -> str:
        return checked(expression, info)


class EnrichmentRule(StatefulRule):
    """Adds derived fields (`set`) and tags (`tags`) to events before every other rule sees them."""

    type: Literal["enrichment"]
    derive: dict[str, str] = Field(default_factory=dict, alias="set")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("derive", "tags")
    @classmethod
    def _expressions(cls, expressions: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for expression in expressions.values():
            checked(expression, info)
        return expressions


def derived_fields(data: Any) -> tuple[str, ...]:
    """The field names the enrichment rules of raw config data derive (read before validation)."""
    rules = data.get("rules") if isinstance(data, dict) else None
    names: list[str] = []
    for rule in rules if isinstance(rules, list) else []:
        if isinstance(rule, dict) and rule.get("type") == "enrichment" and isinstance(rule.get("set"), dict):
            names.extend(str(name) for name in rule["set"])
    return tuple(names)
