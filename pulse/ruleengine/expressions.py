"""Checking and running CEL rule expressions (never Python eval).

>>> check_expression('country in tables.high_risk && amount > 10.0', ("country", "amount", "tables"))
>>> check_expression('amount > "10"', ("amount",))
Traceback (most recent call last):
ValueError: type mismatch in `amount > "10"`: compare a field with a value of its type (amount is a number)
>>> check_expression('event_type == "refund" && 5 != amount', ("event_type", "amount"))
>>> check_expression('event_type == "refund" && amount == "5"', ("event_type", "amount"))
Traceback (most recent call last):
ValueError: type mismatch in `amount == "5"`: compare a field with a value of its type (amount is a number)
"""

from __future__ import annotations

import re
from typing import Any

import cel

from pulse.events import Event

NUMBER_FIELDS = {"amount": 1.5, "ts": 1}
TEXT_FIELDS = tuple(f for f in Event.model_fields if f not in NUMBER_FIELDS and f != "attributes")
STRING_HINT = "a text: put the value in quotes"
_PARTS = re.compile(r"&&|\|\|")
_NUMBER = r"-?\d+(?:\.\d+)?"
_TEXT = r"\"[^\"]*\"|'[^']*'"
# `field == literal` (or the reverse): CEL says false, not an error, when the types differ, so check it apart.
_EQUALITY = re.compile(
    rf"(?P<f1>\w+)\s*(?:==|!=)\s*(?P<v1>{_NUMBER}|{_TEXT})|(?P<v2>{_NUMBER}|{_TEXT})\s*(?:==|!=)\s*(?P<f2>\w+)"
)


def check_expression(expression: str, fields: tuple[str, ...]) -> None:
    """Raise ValueError if `expression` does not parse, names an unknown field, or mixes types."""
    try:
        program = cel.compile(expression)
    except ValueError as exc:
        raise ValueError(f"expression does not parse: {exc}") from None
    unknown = sorted(set(program.variables()) - set(fields))
    if unknown:
        known = ", ".join(f for f in fields if f != "tables")
        raise ValueError(f"unknown field(s) {', '.join(unknown)} in expression; events have: {known}")
    for part in [*_PARTS.split(expression), expression]:
        part = part.strip().strip("()").strip()
        _check_types(part, fields)
        _check_equality(part, fields)


def _check_equality(part: str, fields: tuple[str, ...]) -> None:
    """Raise ValueError for `field == literal` where the literal's type is not the event field's."""
    match = _EQUALITY.fullmatch(part)
    if not match:
        return
    name, literal = match["f1"] or match["f2"], match["v1"] or match["v2"]
    text = literal[0] in "\"'"
    if name in fields and (name in NUMBER_FIELDS and text or name in TEXT_FIELDS and not text):
        what = f"{name} is {'a number' if name in NUMBER_FIELDS else STRING_HINT}"
        raise ValueError(f"type mismatch in `{part}`: compare a field with a value of its type ({what})")


def _check_types(part: str, fields: tuple[str, ...]) -> None:
    """Evaluate `part` on an example event; CEL refuses to compare a text with a number, so that is a mismatch."""
    try:
        program = cel.compile(part)
    except ValueError:
        return
    try:
        program.execute(example_event(fields))
    except TypeError as exc:
        if "No such overload" not in str(exc):
            return
        names = [v for v in program.variables() if v in fields]
        what = ", ".join(f"{n} is {'a number' if n in NUMBER_FIELDS else STRING_HINT}" for n in names)
        raise ValueError(f"type mismatch in `{part}`: compare a field with a value of its type ({what})") from None
    except (RuntimeError, ValueError, KeyError):
        return


def example_event(fields: tuple[str, ...]) -> dict[str, Any]:
    """A made-up event with a value of the right type in every field, for type checks."""
    example: dict[str, Any] = {f: "x" for f in fields}
    example.update({f: v for f, v in NUMBER_FIELDS.items() if f in fields})
    example.update({"attributes": {}, "tags": [], "tables": {}})
    return example


class Expression:
    """A compiled CEL expression; an evaluation error (a missing field, a null) counts as false / no value."""

    def __init__(self, source: str):
        self.source = source
        self.program = cel.compile(source)

    def value(self, activation: dict[str, Any]) -> Any:
        try:
            return self.program.execute(activation)
        except (TypeError, RuntimeError, ValueError, KeyError):
            return None

    def true(self, activation: dict[str, Any]) -> bool:
        return self.value(activation) is True
