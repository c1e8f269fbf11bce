"""Plain-language incident summaries, rendered from Jinja2 templates inside Jinja2's sandbox.

Tenants may override templates in their config; the sandbox keeps a template away from Python
internals, files and the network, and a template that fails renders a plain fallback instead.

>>> render("Big order: {{ event.amount | money('EUR') }}", {"event": {"amount": 2500.0}})
'Big order: 2,500.00 EUR'
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache, wraps
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SUMMARY_CHARS = 2000
MAX_SIZE = 10_000  # the largest number a template may pass to anything that sizes output
MAX_RENDER_S = 0.5
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


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, also refusing output-size bombs (`'x' * 10**9`, `center(10**9)`)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        if operator == "**" and (abs(right) > 100 or abs(left) > 10**12):
            raise SecurityError("powers in a summary template are limited to exponents of 100 and bases of 10^12")
        if operator == "*":
            sequence, count = (left, right) if isinstance(left, str | list | tuple) else (right, left)
            if isinstance(sequence, str | list | tuple) and len(sequence) * count > MAX_SIZE:
                raise SecurityError("a summary template may not build sequences longer than 10,000")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's signature)
        if getattr(__obj, "__name__", "") not in ("format", "format_map"):  # str.format: checked on access
            _check_sizes(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

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
        return function(*args, **kwargs)

    return guarded


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Stop a render that runs longer than `seconds` (CPU-bound loops); only possible on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise SecurityError(f"summary template took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _money(amount: float | None, currency: str = "") -> str:
    return "an unknown amount" if amount is None else f"{amount:,.2f} {currency}".strip()


def _when(moment: int | datetime) -> str:
    """Epoch milliseconds or a datetime, as `2026-11-02 10:00 UTC`."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment / 1000, tz=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    env.filters = {name: _guarded(f) for name, f in env.filters.items()}
    env.globals = {"range": env.globals["range"]}
    env.filters["money"] = _money
    env.filters["when"] = _when
    return env


@lru_cache(maxsize=256)
def _compile(source: str):
    return _environment().from_string(source)


def default_template(name: str) -> str:
    """The shipped template `name` (rule_alert, risk_alert or incident)."""
    return resources.files("pulse.templates").joinpath(f"{name}.j2").read_text()


def render(source: str, context: dict[str, Any]) -> str:
    """Render a template in the sandbox; on any template error return a fallback that says so."""
    try:
        with _deadline(MAX_RENDER_S):
            text = _compile(source).render(**context)
    except (TemplateError, ArithmeticError, TypeError, ValueError, MemoryError, RecursionError) as exc:
        return f"(summary template failed: {type(exc).__name__}: {exc}) {context.get('headline', '')}".strip()
    return " ".join(text.split())[:MAX_SUMMARY_CHARS]


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
