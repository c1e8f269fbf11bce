"""Matchers over the tenant-owned fields of an incident: `field=value`, `field!=value`, with `a|b` for any of
several values. Fields: cause, severity, kind, group_key, incident_id, and `labels.NAME` for a rule's label.

>>> incident = {"cause": "large-order", "severity": "high", "labels": {"team": "risk"}}
>>> matches(["cause=large-order", "severity=high|critical", "labels.team!=growth"], incident)
True
>>> matches(["severity=low"], incident)
False
"""

from __future__ import annotations

import re
from typing import Any

FIELDS = ("cause", "severity", "kind", "group_key", "incident_id")
MATCHER = re.compile(r"^(?P<field>[a-z_]+(?:\.[A-Za-z0-9_.-]+)?)\s*(?P<op>!=|=)\s*(?P<value>.*)$")


def check_matcher(text: str) -> tuple[str, str, set[str]]:
    """(field, operator, values) of a matcher, or ValueError saying how to write it."""
    found = MATCHER.match(text.strip())
    field = found["field"] if found else ""
    if not found or not (field in FIELDS or field.startswith("labels.")):
        raise ValueError(
            f"matcher {text!r}: write FIELD=VALUE or FIELD!=VALUE (VALUE may be a|b), FIELD one of "
            f"{', '.join(FIELDS)} or labels.NAME"
        )
    return field, found["op"], {v.strip() for v in found["value"].split("|")}


def valid_matcher(text: str) -> str:
    """A matcher as written, once `check_matcher` accepts it (a pydantic `AfterValidator`)."""
    check_matcher(text)
    return text


def field_value(incident: dict[str, Any], field: str) -> str:
    if field.startswith("labels."):
        return str((incident.get("labels") or {}).get(field.removeprefix("labels."), ""))
    return str(incident.get(field) or "")


def matches(matchers: list[str], incident: dict[str, Any]) -> bool:
    """True when every matcher holds for the incident (no matchers: every incident)."""
    for text in matchers:
        field, op, values = check_matcher(text)
        if (field_value(incident, field) in values) != (op == "="):
            return False
    return True
