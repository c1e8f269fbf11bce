"""What a person reads in a notice, whatever the channel: title, severity colour, the numbers, the top
dimensions, the next step and the link to the incident on the dashboard.

>>> n = {"severity": "high", "status": "open", "headline": "Order above 2,000 USD", "cause": "large-order",
...      "unit": "amount", "currency": "USD", "observed": 2500.0, "expected": 200.0, "percent": 1150.0,
...      "alert_count": 2, "opened_at": datetime(2026, 11, 2, 10, tzinfo=UTC), "resolved_at": None,
...      "top_dimensions": {"country": ["NG", "DE"]}, "incident_id": "inc_1"}
>>> title(n)
'HIGH: Order above 2,000 USD (opened)'
>>> dict(numbers(n))  # doctest: +NORMALIZE_WHITESPACE
{'Observed': '2,500.00 USD', 'Expected': '200.00 USD', 'Change': '+1150.0%', 'Alerts': '2',
 'Since': '2026-11-02 10:00 UTC'}
>>> dimensions(n), incident_link(n, "https://pulse.example.com/")
([('Country', 'NG, DE')], 'https://pulse.example.com/dashboard#inc_1')
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pulse.summaries import DIMENSION_NAMES, money, when

SEVERITY_COLOURS = {"critical": "#B3261E", "high": "#E8590C", "medium": "#F2A900", "low": "#1971C2",
                    "info": "#868E96"}  # fmt: skip
RESOLVED_COLOUR = "#2F9E44"
STATUS_WORDS = {"open": "opened", "updated": "updated", "resolved": "resolved"}
MAX_SHOWN = 10  # notices shown one by one in a group's message; the rest are counted


def more_text(notices: list[dict[str, Any]]) -> str | None:
    """The line for the notices of a group past MAX_SHOWN.

    >>> more_text([{}] * 12), more_text([{}] * 3)
    ('and 2 more notices: open the dashboard for all of them', None)
    """
    more = len(notices) - MAX_SHOWN
    return f"and {more} more notice{'s' if more > 1 else ''}: open the dashboard for all of them" if more > 0 else None


def title(notice: dict[str, Any]) -> str:
    """`SEVERITY: headline (opened|updated|resolved)`."""
    headline = notice.get("headline") or notice["cause"]
    return f"{notice['severity'].upper()}: {headline} ({STATUS_WORDS[notice['status']]})"


def colour(notice: dict[str, Any]) -> str:
    """The severity's colour; green once resolved."""
    return RESOLVED_COLOUR if notice["status"] == "resolved" else SEVERITY_COLOURS[notice["severity"]]


def _value(notice: dict[str, Any], value: float) -> str:
    if notice.get("unit") == "amount":
        return money(value, notice.get("currency") or "")
    return f"{value:,.4g}"


def numbers(notice: dict[str, Any]) -> list[tuple[str, str]]:
    """Observed against expected, the change, the alert count and the times, as (name, text) pairs."""
    rows = [("Observed", _value(notice, notice["observed"]))]
    if notice.get("expected") is not None:
        rows.append(("Expected", _value(notice, notice["expected"])))
    if notice.get("percent") is not None:
        rows.append(("Change", f"{notice['percent']:+.1f}%"))
    rows += [("Alerts", str(notice["alert_count"])), ("Since", when(notice["opened_at"]))]
    if notice.get("resolved_at"):
        rows.append(("Resolved", when(notice["resolved_at"])))
    return rows


def dimensions(notice: dict[str, Any]) -> list[tuple[str, str]]:
    """The most involved campaigns, countries, payment methods and products, as (name, text) pairs."""
    top = notice.get("top_dimensions") or {}
    return [(DIMENSION_NAMES.get(d, d).capitalize(), ", ".join(map(str, v))) for d, v in top.items() if v]


def incident_link(notice: dict[str, Any], dashboard_url: str | None) -> str | None:
    """The incident on the dashboard (`pulse dispatch --dashboard-url`), or None when no dashboard is configured."""
    return f"{dashboard_url.rstrip('/')}/dashboard#{notice['incident_id']}" if dashboard_url else None


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`."""
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
