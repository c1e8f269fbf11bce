"""What the dashboard and the incident report show of ONE tenant, read from ClickHouse.

Every query filters on the tenant given by the caller (the dashboard takes it from the signed session,
never from the request). Sources: `metric_values` (per-minute value and expected band of the metric
models), the rollups `tenant_minute_metrics` and `tenant_minute_alerts`, and `incidents`.
The window ends at the tenant's latest data minute (or now, if that is earlier), so a replayed or
historical stream is shown where its data is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pulse.incidents.actions import history, precision, work_state
from pulse.store.clickhouse import Store
from pulse.store.usage import alerts_held_back

CHART_METRICS = ("orders", "revenue", "conversion", "payment_failures", "traffic")
INCIDENT_FIELDS = (
    "incident_id", "status", "severity", "kind", "cause", "opened_at", "updated_at", "resolved_at", "alert_count",
    "summary",
)  # fmt: skip
WINDOW = "tenant_id = {tenant:String} AND minute >= {start:DateTime('UTC')} AND minute < {end:DateTime('UTC')}"


def snapshot(s: Store, tenant: str, hours: float, now: datetime | None = None) -> dict[str, Any]:
    """Everything one dashboard refresh or one report needs, as JSON-ready values."""
    start, end = window(s, tenant, hours, now or datetime.now(UTC))
    tables = existing_tables(s)
    listed = incidents(s, tenant, start)
    return {
        "tenant": tenant,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "series": series(s, tenant, start, end) if "metric_values" in tables else {},
        "totals": totals(s, tenant, start, end),
        "top_rules": top_rules(s, tenant, start, end),
        "incidents": with_work(s, tenant, listed) if "incident_actions" in tables else listed,
        "usage": usage(s, tenant, end) if "usage" in tables else None,
        "precision": precision(s, tenant) if "incident_actions" in tables else [],
        "alerts_held_back": alerts_held_back(s, tenant) if "usage" in tables else 0,
    }


def with_work(s: Store, tenant: str, listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each incident with its work state (acknowledged, assignee, resolved by hand, label)."""
    actions = history(s, tenant, [i["incident_id"] for i in listed])
    return [i | {"work": {k: _json(v) for k, v in work_state(actions[i["incident_id"]]).items()}} for i in listed]


def window(s: Store, tenant: str, hours: float, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of `hours` ending at the tenant's latest data minute, or now if that is earlier."""
    _, rows = s.query("SELECT max(minute), count() FROM tenant_minute_metrics WHERE tenant_id = {t:String}",
                      {"t": tenant})  # fmt: skip
    latest, count = rows[0]
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if count and _utc(latest) + timedelta(minutes=1) < end:
        end = _utc(latest) + timedelta(minutes=1)
    return end - timedelta(hours=hours), end


def existing_tables(s: Store) -> set[str]:
    _, rows = s.query("SELECT name FROM system.tables WHERE database = currentDatabase()")
    return {r[0] for r in rows}


def series(s: Store, tenant: str, start: datetime, end: datetime) -> dict[str, dict[str, list]]:
    """Per chart metric: minute (epoch s), value and the expected band (null while the model warms up)."""
    sql = (
        "SELECT metric, toUnixTimestamp(minute), value, expected, lower, upper, warming_up FROM metric_values FINAL "
        f"WHERE {WINDOW} AND metric IN {{metrics:Array(String)}} ORDER BY metric, minute"
    )
    _, rows = s.query(sql, _params(tenant, start, end) | {"metrics": list(CHART_METRICS)})
    result = {m: {"t": [], "value": [], "expected": [], "lower": [], "upper": []} for m in CHART_METRICS}
    for metric, t, value, expected, lower, upper, warming in rows:
        points = result[metric]
        points["t"].append(t)
        points["value"].append(_num(value))
        for key, v in (("expected", expected), ("lower", lower), ("upper", upper)):
            points[key].append(None if warming else _num(v))
    return result


def totals(s: Store, tenant: str, start: datetime, end: datetime) -> dict[str, float]:
    sql = (
        "SELECT sum(events), sum(orders), sum(revenue), sum(payment_failures), uniqMerge(sessions) "
        f"FROM tenant_minute_metrics WHERE {WINDOW}"
    )
    _, rows = s.query(sql, _params(tenant, start, end))
    names = ("events", "orders", "revenue", "payment_failures", "sessions")
    return {n: _num(v) or 0 for n, v in zip(names, rows[0], strict=True)}


def top_rules(s: Store, tenant: str, start: datetime, end: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """The rules and models that fired most in the window."""
    sql = (
        "SELECT kind, cause, sum(alerts) AS n, max(minute) FROM tenant_minute_alerts "
        f"WHERE {WINDOW} GROUP BY kind, cause ORDER BY n DESC, cause LIMIT {int(limit)}"
    )
    _, rows = s.query(sql, _params(tenant, start, end))
    return [{"kind": k, "cause": c, "alerts": int(n), "last": _utc(t).isoformat()} for k, c, n, t in rows]


def incidents(s: Store, tenant: str, start: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Open incidents (whenever opened) and those opened in the window, open ones first, newest first."""
    sql = (
        f"SELECT {', '.join(INCIDENT_FIELDS)} FROM incidents FINAL WHERE tenant_id = {{tenant:String}} "
        "AND (status != 'resolved' OR opened_at >= {start:DateTime('UTC')}) "
        f"ORDER BY status = 'resolved', opened_at DESC LIMIT {int(limit)}"
    )
    _, rows = s.query(sql, {"tenant": tenant, "start": start})
    return [{f: _json(v) for f, v in zip(INCIDENT_FIELDS, row, strict=True)} for row in rows]


def usage(s: Store, tenant: str, end: datetime) -> list[dict[str, Any]]:
    """The tenant's metered usage for the calendar month the window ends in (sums of the usage minutes)."""
    month_start = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    sql = (
        "SELECT sum(accepted), sum(rejected), sum(scored), sum(alerts), sum(over_quota) FROM usage FINAL "
        "WHERE tenant_id = {tenant:String} AND minute >= {start:DateTime('UTC')} AND minute <= {end:DateTime('UTC')}"
    )
    _, rows = s.query(sql, _params(tenant, month_start, end))
    counts = dict(zip(("accepted", "rejected", "scored", "alerts", "over_quota"), rows[0], strict=True))
    return [{"month": month_start.strftime("%Y-%m"), **{k: int(v or 0) for k, v in counts.items()}}]


def _params(tenant: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {"tenant": tenant, "start": start, "end": end}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _num(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
