"""Checking and running CEL rule expressions (never Python eval), within limits one tenant cannot exceed.

At validation: size, bracket nesting and comprehension macros are limited (pulse.tenants.limits) before the
expression is even parsed, so no expression can make the parser recurse without end or build work that
multiplies (a comprehension inside another). In the job: the tenant's lookup tables are converted into CEL
values once per tenant, not per evaluation, and a tenant whose rules keep taking longer than
MAX_EVALUATION_MS per event has its costliest rules suspended (they count as false) and reported.

>>> check_limits("[1, 2].exists(a, tags.exists(b, a == b))")
Traceback (most recent call last):
ValueError: a comprehension (exists) inside another (exists) multiplies the work per event; write it without nesting
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

import functools
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from typing import Any

import cel

from pulse.events import Event
from pulse.tenants.limits import (
    MAX_COMPREHENSIONS,
    MAX_EVALUATION_MS,
    MAX_EXPRESSION_CHARS,
    MAX_EXPRESSION_NESTING,
    SLOW_EVENTS,
    SLOW_WINDOW,
)

log = logging.getLogger(__name__)

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
# A string literal, or what splits an expression at its top level: `&&`, `||`, `?`, brackets.
_TOP = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|&&|\|\||[?()\[\]{}]')
_PLAIN = r"\"[^\"\\]*\"|'[^'\\]*'"  # a string literal without escapes
_TYPE_GUARD = re.compile(
    rf"event_type\s*==\s*(?P<a>{_PLAIN})|(?P<b>{_PLAIN})\s*==\s*event_type"
    rf"|event_type\s+in\s*\[(?P<list>\s*(?:{_PLAIN})(?:\s*,\s*(?:{_PLAIN}))*\s*,?\s*)\]"
)


# A string literal (skipped), a comprehension macro, or a bracket.
_TOKENS = re.compile(
    r'"""[\s\S]*?"""'
    "|"
    r"'''[\s\S]*?'''"
    "|"
    r'"(?:[^"\\\n]|\\.)*"'
    "|"
    r"'(?:[^'\\\n]|\\.)*'"
    r"|\.\s*(?P<macro>all|exists_one|exists|map|filter)\s*\(|(?P<open>[(\[{])|(?P<close>[)\]}])|(?P<tables>\btables\b)"
)
IN_COMPREHENSION = (
    "inside a comprehension ({macro}) is evaluated again for every element, multiplying the work per event: {fix}"
)


def event_types(expression: str) -> frozenset[str] | None:
    """The event types `expression` can be true for, when one of its top-level `&&` terms says so
    (`event_type == "x"`, `event_type in ["x", "y"]`); None when it can be true for any.

    >>> sorted(event_types('event_type == "order_placed" && amount > 5000.0'))
    ['order_placed']
    >>> sorted(event_types("amount > 1.0 && event_type in ['refund', 'order_placed'] && event_type == 'refund'"))
    ['refund']
    >>> event_types('event_type == "order_placed" || amount > 5000.0') is None
    True
    """
    parts, depth, start = [], 0, 0
    for match in _TOP.finditer(expression):
        token = match.group()
        if token in ("(", "[", "{"):
            depth += 1
        elif token in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and token in ("||", "?"):
            return None  # the `&&` terms are not the whole expression's
        elif depth == 0 and token == "&&":
            parts.append(expression[start : match.start()])
            start = match.end()
    parts.append(expression[start:])
    types: frozenset[str] | None = None
    for part in parts:
        guard = _TYPE_GUARD.fullmatch(part.strip())
        if guard is not None:
            literals = re.findall(_PLAIN, guard["list"]) if guard["list"] else [guard["a"] or guard["b"]]
            found = frozenset(literal[1:-1] for literal in literals)
            types = found if types is None else types & found
    return types


def check_limits(expression: str) -> None:
    """Raise ValueError if `expression` is longer or more deeply nested than the limits allow, has too many
    comprehensions, or one whose work per element is not small: another comprehension, a list or map literal or a
    lookup table inside it. Lexical, so it runs before the parser sees the expression. With these limits an
    expression's cost per event is bounded by the size of the lists it ranges over (tables: MAX_TABLE_ENTRIES).

    >>> check_limits("tags.exists(t, t == 'vip') && amount > 10.0")
    >>> check_limits("(" * 30 + "1" + ")" * 30)
    Traceback (most recent call last):
    ValueError: brackets nested 30 deep; the limit is 24
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression has {len(expression):,} characters; the limit is {MAX_EXPRESSION_CHARS:,}")
    stack: list[str | None] = []  # per open bracket: the macro it opens, or None
    macros = 0
    for match in _TOKENS.finditer(expression):
        macro = match["macro"]
        inside = next((m for m in reversed(stack) if m), None)
        if inside and macro:
            raise ValueError(f"a comprehension ({macro}) inside another ({inside}) multiplies the work per event; "
                             "write it without nesting")  # fmt: skip
        if inside and match["tables"]:
            fix = "test membership outside it (`x in tables.name`)"
            raise ValueError("a lookup table " + IN_COMPREHENSION.format(macro=inside, fix=fix))
        if inside and match["open"] in ("[", "{") and _is_literal(expression, match.start()):
            fix = "compare with == and || instead"
            raise ValueError("a list or map literal " + IN_COMPREHENSION.format(macro=inside, fix=fix))
        if macro:
            macros += 1
            if macros > MAX_COMPREHENSIONS:
                raise ValueError(
                    f"more than {MAX_COMPREHENSIONS} comprehensions (all, exists, map, ...) in one expression"
                )
        if macro or match["open"]:
            stack.append(macro)
            if len(stack) > MAX_EXPRESSION_NESTING:
                raise ValueError(f"brackets nested {_depth(expression)} deep; the limit is {MAX_EXPRESSION_NESTING}")
        elif match["close"] and stack:
            stack.pop()


def _is_literal(expression: str, at: int) -> bool:
    """Whether the bracket at `at` opens a literal (`[1, 2]`) rather than an index (`attributes["k"]`)."""
    before = expression[:at].rstrip()
    return (
        not before
        or re.search(r"(^|[^\w.])in$", before) is not None
        or not (before[-1].isalnum() or before[-1] in "_)]")
    )


def _depth(expression: str) -> int:
    """The deepest bracket nesting of `expression` (string literals skipped)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(expression):
        depth += 1 if match["macro"] or match["open"] else -1 if match["close"] else 0
        deepest = max(deepest, depth)
    return deepest


@functools.lru_cache(maxsize=4096)
def _compile(expression: str) -> cel.Program:
    """`cel.compile`, with a Rust panic (a BaseException) turned into the ValueError a bad expression gives.

    Compiled once per expression text in a process and shared by every tenant that has it: a program holds no
    state of its own (the tenant's tables and the event are the context it is executed with)."""
    try:
        return cel.compile(expression)
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise ValueError(f"the CEL parser failed on it ({exc})") from None


def check_expression(expression: str, fields: tuple[str, ...]) -> None:
    """Raise ValueError if `expression` exceeds a limit, does not parse, names an unknown field, or mixes types."""
    check_limits(expression)
    try:
        program = _compile(expression)
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
        check_limits(part)
        program = _compile(part)
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


class Scope:
    """What the expressions of one tenant see besides the event: its lookup `tables` (converted into CEL values
    once, here) and null for every field an event lacks. It also meters them: the time each rule's expressions
    take per event (or timer). When they take over MAX_EVALUATION_MS in all on SLOW_EVENTS of the tenant's last
    SLOW_WINDOW events, its costliest rules of that event are suspended until the rest fit (a suspended rule
    counts as false until the tenant publishes a new config)."""

    def __init__(self, tables: dict[str, Any] | None = None, fields: Iterable[str] = ()):
        self.context = cel.Context()
        for name in fields:
            self.context.add_variable(name, None)
        self.context.add_variable("tables", tables or {})
        self.suspended: dict[str, str] = {}  # rule id → why
        self.unreported: list[tuple[str, str]] = []
        self.spent: dict[str, float] = defaultdict(float)  # rule id → seconds in the current event
        self.events = 0
        self.over: deque[int] = deque()  # the numbers of the recent events over the budget
        self.metering = False  # whether an event is metered (start_event), so its CPU time is known
        self.cpu_started: float | None = None  # the thread's CPU clock when the event's first expression started

    def charge(self, rule_id: str, seconds: float) -> None:
        self.spent[rule_id] += seconds

    def start_event(self) -> None:
        self.metering, self.cpu_started = True, None

    def started(self) -> None:
        """An expression of the current event starts: read the thread's CPU clock if it is the event's first (the
        clock costs a system call, 10-15 µs here, and most events run no expression at all)."""
        if self.metering and self.cpu_started is None:
            self.cpu_started = time.thread_time()

    def end_event(self) -> None:
        """Close the current event's meter; suspend rules if the tenant keeps going over its budget.

        Expressions are timed by the wall clock (cheap), but an event is over the budget only if the thread's CPU
        time from its first expression on is too: a busy machine that preempts the job mid-evaluation suspends
        nothing."""
        self.events += 1
        if not self.spent:
            return
        spent, self.spent = self.spent, defaultdict(float)
        total_ms = sum(spent.values()) * 1000
        if total_ms > MAX_EVALUATION_MS and self.metering:
            cpu_s = 0.0 if self.cpu_started is None else time.thread_time() - self.cpu_started
            total_ms = min(total_ms, cpu_s * 1000)
        if total_ms <= MAX_EVALUATION_MS:
            return
        self.over.append(self.events)
        while self.over[0] <= self.events - SLOW_WINDOW:
            self.over.popleft()
        if len(self.over) < SLOW_EVENTS:
            return
        left_ms = total_ms
        for rule_id, seconds in sorted(spent.items(), key=lambda item: -item[1]):
            if left_ms <= MAX_EVALUATION_MS:
                break
            why = (
                f"its expressions took {seconds * 1000:.0f} ms of the {total_ms:.0f} ms the tenant's rules took on "
                f"one event, over the limit of {MAX_EVALUATION_MS} ms on {len(self.over)} of its last {SLOW_WINDOW} "
                "events; it counts as false until a cheaper version is published"
            )
            self.suspend(rule_id, why)
            left_ms -= seconds * 1000
        self.over.clear()

    def suspend(self, rule_id: str, why: str) -> None:
        if rule_id not in self.suspended:
            self.suspended[rule_id] = why
            self.unreported.append((rule_id, why))
            log.error("rule %s suspended: %s", rule_id, why)

    def take_suspensions(self) -> list[tuple[str, str]]:
        """The suspensions since the last call (to report once each)."""
        taken, self.unreported = self.unreported, []
        return taken


class Expression:
    """A compiled CEL expression of rule `rule_id`; an evaluation error (a missing field, a null) counts as false /
    no value. Its time is charged to the rule in the scope's meter; a suspended rule's expressions are not run.

    >>> in_table = Expression("country in tables.x", Scope({"x": ["NG"]}))
    >>> Expression("amount > 10.0").true({"amount": 12.5}), in_table.true({"country": "NG"})
    (True, True)
    """

    def __init__(self, source: str, scope: Scope | None = None, rule_id: str = ""):
        self.source = source
        self.program = _compile(source)
        self.types = event_types(source)
        self.scope = scope or Scope()
        self.rule_id = rule_id

    def value(self, activation: dict[str, Any]) -> Any:
        if self.rule_id in self.scope.suspended:
            return None
        context = self.scope.context
        context.set_variable_resolver(activation.get)  # None falls through to the scope's null
        self.scope.started()
        started = time.perf_counter()
        try:
            return self.program.execute(context)
        except (TypeError, RuntimeError, ValueError, KeyError):
            return None
        finally:
            self.scope.charge(self.rule_id, time.perf_counter() - started)

    def true(self, activation: dict[str, Any]) -> bool:
        """Whether the expression is true; false without running it for an event of a type it cannot be true for
        (most events are page views, most rules are about orders and payments)."""
        kind = activation.get("event_type")
        if self.types is not None and isinstance(kind, str) and kind not in self.types:
            return False
        return self.value(activation) is True
