"""The rule types of the tenant YAML, each declared once: its name, its model (fields and validation), what runs
it and what it does in one line. Validation (pulse.tenants.config), the engine (pulse.rules.engine) and
docs/rules.md (checked by tests/rules/test_types.py) take the types from here.

>>> RULE_TYPES["threshold"].runner.__name__, RULE_TYPES["condition"].runner
('ThresholdRunner', None)
>>> type_error({"id": "x", "type": "treshold"})[:48]
"unknown rule type 'treshold'; use one of: condit"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Tag

from pulse.rules.language import (
    AbsenceRule,
    BaselineRule,
    ConditionRule,
    EnrichmentRule,
    NewValueRule,
    SequenceRule,
    ThresholdRule,
)
from pulse.rules.runners import AbsenceRunner, BaselineRunner, NewValueRunner, Runner, SequenceRunner, ThresholdRunner


@dataclass(frozen=True)
class RuleType:
    """One rule type. `runner` runs a stateful type in event time; None: a condition is judged per event
    (pulse.rules.conditions), an enrichment is applied before every other rule (pulse.rules.engine)."""

    name: str
    model: type[BaseModel]
    runner: type[Runner] | None
    description: str  # how docs/rules.md introduces the type


RULE_TYPES: dict[str, RuleType] = {
    kind.name: kind
    for kind in (
        RuleType("condition", ConditionRule, None, "one event at a time."),
        RuleType(
            "threshold",
            ThresholdRule,
            ThresholdRunner,
            "count, sum, avg, min, max or distinct_count of a field over a window, per group.",
        ),
        RuleType("baseline", BaselineRule, BaselineRunner, "a window's aggregate against its usual level"),
        RuleType("absence", AbsenceRule, AbsenceRunner, "no matching event for a duration."),
        RuleType("new_value", NewValueRule, NewValueRunner, "the first time a group sees a value"),
        RuleType(
            "sequence",
            SequenceRule,
            SequenceRunner,
            "an event matching `first` followed by one matching `then`, same group, within a time.",
        ),
        RuleType(
            "enrichment",
            EnrichmentRule,
            None,
            "derived fields (`set`) and `tags`, added before every other rule sees the event",
        ),
    )
}
DEFAULT_TYPE = "condition"  # the type of a rule without `type`


def type_error(rule: Any) -> str:
    """What to tell the author of a rule whose type is not known (or that is no mapping at all)."""
    if not isinstance(rule, dict):
        return f"a rule is a mapping of keys (id: ..., description: ..., when: ...), not {rule!r}"
    return f"unknown rule type {rule.get('type')!r}; use one of: {', '.join(RULE_TYPES)}"


def _rule_type(value: Any) -> str | None:
    """The tag of a rule for the union below: its `type` (condition when absent), None when unknown."""
    kind = value.get("type", DEFAULT_TYPE) if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in RULE_TYPES else None


# A rule of any type, as a tenant config's `rules` holds it; an unknown type fails as `unknown_rule_type`.
Rule = Annotated[
    Union[tuple(Annotated[kind.model, Tag(kind.name)] for kind in RULE_TYPES.values())],  # noqa: UP007
    Discriminator(
        _rule_type,
        custom_error_type="unknown_rule_type",
        custom_error_message=f"unknown rule type; use one of: {', '.join(RULE_TYPES)}",
    ),
]
