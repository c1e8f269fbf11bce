"""Plain-language incident summaries, rendered from Jinja2 templates inside Jinja2's sandbox.

Tenants may override templates in their config; the sandbox keeps a template away from Python
internals, files and the network, and a template that fails renders a plain fallback instead.

>>> render("Big order: {{ event.amount | money('EUR') }}", {"event": {"amount": 2500.0}})
'Big order: 2,500.00 EUR'
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SUMMARY_CHARS = 2000


def _money(amount: float | None, currency: str = "") -> str:
    return "an unknown amount" if amount is None else f"{amount:,.2f} {currency}".strip()


def _when(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["money"] = _money
    env.filters["when"] = _when
    return env


@lru_cache(maxsize=256)
def _compile(source: str):
    return _environment().from_string(source)


def default_template(name: str) -> str:
    """The shipped template `name` (rule_alert or risk_alert)."""
    return resources.files("pulse.templates").joinpath(f"{name}.j2").read_text()


def render(source: str, context: dict[str, Any]) -> str:
    """Render a template in the sandbox; on any template error return a fallback that says so."""
    try:
        text = _compile(source).render(**context)
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        return f"(summary template failed: {type(exc).__name__}: {exc}) {context.get('headline', '')}".strip()
    return " ".join(text.split())[:MAX_SUMMARY_CHARS]
