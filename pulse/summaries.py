"""Plain-language incident summaries, rendered from Jinja2 templates inside Jinja2's sandbox.

Tenants may override templates in their config; the sandbox keeps a template away from Python
internals, files and the network, and a template that fails renders a plain fallback instead. A render
is bounded on any thread (the job renders on PyFlink's worker threads): no text or list it builds may
exceed MAX_TEMPLATE_VALUE_CHARS (checked before joins, replacements, indents and concatenations build
it), and a trace function stops it after MAX_RENDER_S (signals only reach the main thread).

>>> render("Big order: {{ event.amount | money('EUR') }}", {"event": {"amount": 2500.0}})
'Big order: 2,500.00 EUR'
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, lru_cache, wraps
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pulse.tenants.limits import MAX_RENDER_S, MAX_SUMMARY_CHARS, MAX_TEMPLATE_CHARS, MAX_TEMPLATE_VALUE_CHARS

MAX_SIZE = 10_000  # the largest number a template may pass to anything that sizes output
_LARGE_SPEC = re.compile(r"%[^a-zA-Z%]*(\d{4,}|\*)|\{[^}]*:[^}]*(\d{4,}|\{)")


def _check_sizes(args: tuple, kwargs: dict) -> None:
    """Refuse numbers that could size output (widths, counts, repetitions) above MAX_SIZE."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
            raise SecurityError(f"number {value} is too large for a summary template (limit {MAX_SIZE})")
        if isinstance(value, str):
            _check_format(value)


def _check_format(text: str) -> None:
    """Refuse format strings with widths above 999 or widths taken from arguments (`%*d`, `{:{}}`)."""
    if _LARGE_SPEC.search(text):
        raise SecurityError("format widths above 999 (or taken from arguments) are not allowed in summary templates")


def _check_built(size: int) -> None:
    """Refuse to build a text or list of `size` characters or items above MAX_TEMPLATE_VALUE_CHARS."""
    if size > MAX_TEMPLATE_VALUE_CHARS:
        raise SecurityError(
            f"a summary template may not build texts or lists longer than {MAX_TEMPLATE_VALUE_CHARS:,} "
            f"(this one: {size:,})"
        )


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _check_growth(name: str, value: Any, args: tuple, kwargs: dict) -> None:
    """Refuse, before it runs, a join, replace, indent or expandtabs that would build too much."""
    if not isinstance(value, str) and name != "join":
        return
    if name == "join":  # the filter (value: the items) or str.join (value: the separator, args[0]: the items)
        items, separator = (args[0], value) if isinstance(value, str) and args else (value, "")
        items = list(items) if not isinstance(items, list | tuple | str) else items
        size = sum(len(str(item)) for item in items) + len(str(separator)) * len(items)
    elif name == "replace" and len(args) >= 2:
        size = len(value) + value.count(str(args[0])) * max(0, len(str(args[1])) - len(str(args[0])))
    elif name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        size = len(value) + (value.count("\n") + 1) * (len(width) if isinstance(width, str) else int(width))
    elif name == "expandtabs":
        size = len(value) + value.count("\t") * int(args[0] if args else kwargs.get("tabsize", 8))
    else:
        return
    _check_built(size)


class _Codegen(CodeGenerator):
    """Compiles `a ~ b` to a checked join (Jinja2 offers no hook for it, unlike binary operators)."""

    def visit_Concat(self, node, frame) -> None:  # noqa: N802 (Jinja's visitor naming)
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, also refusing output-size bombs (`'x' * 10**9`, `center(10**9)`, joins and
    replacements that grow without end)."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _Codegen

    def concat(self, parts: tuple) -> str:
        texts = [str(part) for part in parts]
        _check_built(sum(map(len, texts)))
        return "".join(texts)

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        if operator == "**" and (abs(right) > 100 or abs(left) > 10**12):
            raise SecurityError("powers in a summary template are limited to exponents of 100 and bases of 10^12")
        if operator == "*":
            sequence, count = (left, right) if isinstance(left, str | list | tuple) else (right, left)
            if isinstance(sequence, str | list | tuple) and len(sequence) * count > MAX_SIZE:
                raise SecurityError("a summary template may not build sequences longer than 10,000")
        if operator == "+":
            _check_built(_size(left) + _size(right))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        name = getattr(__obj, "__name__", "")
        if name not in ("format", "format_map"):  # str.format: checked on access
            _check_sizes(args, kwargs)
        _check_growth(name, getattr(__obj, "__self__", None), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_built(_size(result))
        return result

    def wrap_str_format(self, value):
        if isinstance(getattr(value, "__self__", None), str):
            _check_format(value.__self__)
        return super().wrap_str_format(value)


def _guarded(function):
    """A built-in filter that refuses size arguments above MAX_SIZE (the filtered value itself is free)."""
    skip = 2 if getattr(function, "jinja_pass_arg", None) else 1

    @wraps(function)
    def guarded(*args, **kwargs):
        if function.__name__ == "do_format":  # the format string is checked; its values are free
            _check_format(args[skip - 1])
        else:
            _check_sizes(args[skip:], kwargs)
        _check_growth(function.__name__.removeprefix("do_"), args[skip - 1], args[skip:], kwargs)
        result = function(*args, **kwargs)
        _check_built(_size(result))
        return result

    return guarded


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Stop a render that runs longer than `seconds`, on whichever thread it runs: a trace function (set for
    this thread only) checks the clock at every line of the template's own code. Work inside one call (a join,
    a replace) is bounded by the size checks instead."""
    ends = time.monotonic() + seconds

    def on_line(frame, event, arg):
        if time.monotonic() > ends:
            raise SecurityError(f"summary template took longer than {seconds} s")
        return on_line

    def on_call(frame, event, arg):  # only the template's own code is traced line by line (its loops)
        return on_line if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)


def money(amount: float | None, currency: str = "") -> str:
    return "an unknown amount" if amount is None else f"{amount:,.2f} {currency}".strip()


def when(moment: int | datetime) -> str:
    """Epoch milliseconds or a datetime, as `2026-11-02 10:00 UTC`."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment / 1000, tz=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    env.filters = {name: _guarded(f) for name, f in env.filters.items()}
    env.globals = {"range": env.globals["range"]}
    env.filters["money"] = money
    env.filters["when"] = when
    return env


@lru_cache(maxsize=256)
def _compile(source: str):
    return _environment().from_string(source)


@cache
def default_template(name: str) -> str:
    """The shipped template `name` (rule_alert, risk_alert or incident), read once per process."""
    return resources.files("pulse.templates").joinpath(f"{name}.j2").read_text()


def render(source: str, context: dict[str, Any]) -> str:
    """Render a template in the sandbox; on any template error return a fallback that says so."""
    try:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise SecurityError(f"the template has {len(source):,} characters; the limit is {MAX_TEMPLATE_CHARS:,}")
        with _deadline(MAX_RENDER_S):
            text = _bounded(_compile(source).generate(**context))
    except (TemplateError, ArithmeticError, TypeError, ValueError, MemoryError, RecursionError) as exc:
        return f"(summary template failed: {type(exc).__name__}: {exc}) {context.get('headline', '')}".strip()
    return " ".join(text.split())[:MAX_SUMMARY_CHARS]


def _bounded(parts: Iterator[str]) -> str:
    """The rendered text, stopped once it grows past MAX_TEMPLATE_VALUE_CHARS."""
    kept, size = [], 0
    for part in parts:
        size += len(part)
        _check_built(size)
        kept.append(part)
    return "".join(kept)


DIMENSION_NAMES = {"campaign_id": "campaign", "country": "country", "payment_method": "payment method",
                   "product_id": "product"}  # fmt: skip
EVENT_NOUNS = {"order_placed": "orders", "payment_succeeded": "payments", "payment_failed": "failed payments",
               "refund": "refunds", "checkout_started": "checkouts", "add_to_cart": "cart additions"}  # fmt: skip
DEFAULT_PLAYBOOK = {
    "risk_score": "hold the affected orders and verify the customers before fulfilment.",
    "default": "review the affected orders and payments before they are fulfilled.",
}


def next_step(cause: str, playbooks: dict[str, str], shipped: str | None = None) -> str:
    """The tenant's playbook entry for this cause, else its `default`, else the shipped one (`shipped`, given
    by the detector that raised it, or the generic playbook)."""
    fallback = shipped or DEFAULT_PLAYBOOK.get(cause) or DEFAULT_PLAYBOOK["default"]
    return playbooks.get(cause) or playbooks.get("default") or fallback


def incident_summary(
    incident: dict[str, Any],
    headline: str,
    tenant_name: str,
    currency: str,
    template: str,
    playbooks: dict[str, str],
    shipped_step: str | None = None,
) -> str:
    """The plain-language summary of one incident notice."""
    context = {
        "incident": incident,
        "headline": headline,
        "tenant_name": tenant_name,
        "currency": currency,
        "dimension_names": DIMENSION_NAMES,
        "event_nouns": EVENT_NOUNS,
        "next_step": next_step(incident["cause"], playbooks, shipped_step),
    }
    return render(template, context)
