"""What people do with an incident: acknowledge, assign, note, resolve by hand, reopen, label. Each action is a
row of `incident_actions` (who, when, through what), the incident's audit history; its work state
(acknowledged by whom, assignee, resolved by hand, label) is folded from that history.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 11, 2, 10, tzinfo=UTC)
>>> history = [{"action": "acknowledge", "actor": "ana", "value": "", "at": t},
...            {"action": "assign", "actor": "ana", "value": "bo", "at": t},
...            {"action": "label", "actor": "bo", "value": "false_alarm", "at": t}]
>>> state = work_state(history)
>>> state["acknowledged_by"], state["assignee"], state["label"], state["resolved_by_hand"]
('ana', 'bo', 'false_alarm', False)
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pulse.store.clickhouse import Store
from pulse.store.tables import INCIDENT_ACTIONS
from pulse.store.writer import BatchWriter

Action = Literal["acknowledge", "assign", "note", "resolve", "reopen", "label", "silence"]
Label = Literal["true_problem", "false_alarm", "expected"]
LABELS: tuple[str, ...] = ("true_problem", "false_alarm", "expected")


def incident_exists(s: Store, tenant: str, incident_id: str) -> bool:
    sql = "SELECT count() FROM incidents WHERE tenant_id = {t:String} AND incident_id = {id:String}"
    return s.query(sql, {"t": tenant, "id": incident_id})[1][0][0] > 0


def last_update(s: Store, tenant: str, incident_id: str) -> datetime | None:
    """The event time of the incident's latest alert, or None if the tenant has no such incident."""
    sql = "SELECT max(updated_at), count() FROM incidents WHERE tenant_id = {t:String} AND incident_id = {id:String}"
    latest, count = s.query(sql, {"t": tenant, "id": incident_id})[1][0]
    return (latest.replace(tzinfo=UTC) if latest.tzinfo is None else latest) if count else None


def opening_alert(s: Store, tenant: str, incident_id: str) -> dict[str, Any] | None:
    """The `alerts` row that opened the tenant's incident (the first of its cause and group at its opening time)."""
    sql = (
        "SELECT a.kind, a.cause, a.group_key, a.ts, a.score, a.threshold, a.labels FROM alerts a "
        "INNER JOIN (SELECT cause, group_key, opened_at FROM incidents WHERE tenant_id = {t:String} "
        "AND incident_id = {id:String} LIMIT 1) i ON a.cause = i.cause AND a.group_key = i.group_key "
        "AND a.ts = i.opened_at WHERE a.tenant_id = {t:String} ORDER BY a.created_at LIMIT 1"
    )
    _, rows = s.query(sql, {"t": tenant, "id": incident_id})
    if not rows:
        return None
    row = dict(zip(("kind", "cause", "group_key", "ts", "score", "threshold", "labels"), rows[0], strict=True))
    row["ts"] = row["ts"].replace(tzinfo=UTC) if row["ts"].tzinfo is None else row["ts"]
    return row


def record_action(
    s: Store, tenant: str, incident_id: str, action: Action, actor: str, value: str = "", via: str = "api"
) -> dict[str, Any]:
    """Append one action to the incident's history; return it."""
    values = (tenant, incident_id, "act_" + secrets.token_hex(8), action, actor, value, via, datetime.now(UTC))
    row = dict(zip(INCIDENT_ACTIONS, values, strict=True))
    BatchWriter(s, attempts=5).insert("incident_actions", [row])
    return row


def history(s: Store, tenant: str, incident_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The actions on each incident, oldest first."""
    _, rows = s.query(
        "SELECT incident_id, action, actor, value, via, at FROM incident_actions FINAL "
        "WHERE tenant_id = {t:String} AND incident_id IN {ids:Array(String)} ORDER BY at, action_id",
        {"t": tenant, "ids": incident_ids},
    )
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    for incident_id, action, actor, value, via, at in rows:
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        found[incident_id].append({"action": action, "actor": actor, "value": value, "via": via, "at": at})
    return found


def work_state(actions: list[dict[str, Any]]) -> dict[str, Any]:
    """Acknowledgement, assignee, hand resolve and label as the history leaves them (latest action wins)."""
    state: dict[str, Any] = {"acknowledged_by": None, "acknowledged_at": None, "assignee": None,
                             "resolved_by_hand": False, "label": None, "notes": 0}  # fmt: skip
    for a in actions:
        if a["action"] == "acknowledge":
            state["acknowledged_by"], state["acknowledged_at"] = a["actor"], a["at"]
        elif a["action"] == "assign":
            state["assignee"] = a["value"] or None
        elif a["action"] in ("resolve", "reopen"):
            state["resolved_by_hand"] = a["action"] == "resolve"
        elif a["action"] == "label":
            state["label"] = a["value"]
        elif a["action"] == "note":
            state["notes"] += 1
    return state


def precision(s: Store, tenant: str) -> list[dict[str, Any]]:
    """Per rule or detector (kind, cause): incidents, how many are labelled each way, and precision (true problems
    among the labelled ones; None before any label)."""
    _, rows = s.query(
        "WITH labels AS (SELECT incident_id, argMax(value, (at, action_id)) AS label FROM incident_actions "
        "WHERE tenant_id = {t:String} AND action = 'label' GROUP BY incident_id), "
        "seen AS (SELECT DISTINCT incident_id, kind, cause FROM incidents WHERE tenant_id = {t:String}) "
        "SELECT seen.kind, seen.cause, count(), countIf(labels.label = 'true_problem'), "
        "countIf(labels.label = 'false_alarm'), countIf(labels.label = 'expected') "
        "FROM seen LEFT JOIN labels ON seen.incident_id = labels.incident_id "
        "GROUP BY seen.kind, seen.cause ORDER BY seen.kind, seen.cause",
        {"t": tenant},
    )
    result = []
    for kind, cause, incidents, true, false, expected in rows:
        labelled = true + false + expected
        result.append({"kind": kind, "cause": cause, "incidents": incidents, "labelled": labelled,
                       "true_problem": true, "false_alarm": false, "expected": expected,
                       "precision": round(true / labelled, 3) if labelled else None})  # fmt: skip
    return result
