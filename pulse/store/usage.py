"""A tenant's usage for a month against its plan, from the ClickHouse `usage` table (for the CLI and API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pulse.job.usage import COUNTERS, month_bounds
from pulse.store.clickhouse import Store, store
from pulse.tenants.plans import Plan

DAYS_SQL = f"""
SELECT toDate(minute) AS day, {", ".join(f"sum({c}) AS {c}" for c in COUNTERS)}
FROM usage FINAL
WHERE tenant_id = {{tenant:String}} AND minute >= {{start:DateTime('UTC')}} AND minute < {{end:DateTime('UTC')}}
GROUP BY day ORDER BY day
"""


def accepted_before(dsn: str, run_id: str) -> dict[str, dict[str, int]]:
    """Accepted events per tenant and month ("YYYY-MM") of every run but `run_id`, for the job to start its
    quota counts from (a new job, e.g. each bounded `pulse run`, would otherwise start the month at zero)."""
    sql = """SELECT tenant_id, formatDateTime(minute, '%Y-%m') AS month, sum(accepted) FROM usage FINAL
             WHERE run_id != {run:String} GROUP BY tenant_id, month"""
    with store(dsn, wait_s=60) as s:
        s.migrate()
        rows = s.query(sql, {"run": run_id})[1]
    totals: dict[str, dict[str, int]] = {}
    for tenant, month, accepted in rows:
        totals.setdefault(tenant, {})[month] = int(accepted)
    return totals


def alerts_held_back(store: Store, tenant: str) -> int:
    """How many alerts the tenant's labels have held back (pulse/job/feedback.py), over every run of the job."""
    sql = "SELECT sum(alerts_held_back) FROM usage FINAL WHERE tenant_id = {tenant:String}"
    return int(store.query(sql, {"tenant": tenant})[1][0][0] or 0)


def current_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


def usage_report(store: Store, tenant: str, month: str, plan_name: str, plan: Plan) -> dict[str, Any]:
    """Per-day and month totals of every counter, the quota and how much of it is used."""
    start, end = month_bounds(month)
    columns, rows = store.query(DAYS_SQL, {"tenant": tenant, "start": start, "end": end})
    days = [dict(zip(columns, row, strict=True)) for row in rows]
    for day in days:
        day["day"] = day["day"].isoformat()
    totals = {c: sum(day[c] for day in days) for c in COUNTERS}
    quota = plan.events_per_month
    return {
        "tenant": tenant,
        "month": month,
        "plan": plan_name,
        "limits": {
            "events_per_month": quota,
            "events_per_second": plan.events_per_second,
            "burst_events": plan.burst_events,
            "max_rules": plan.max_rules,
            "max_models": plan.max_models,
            "max_webhooks": plan.max_webhooks,
            "retention_days": plan.retention_days,
            "overage": plan.overage,
        },
        "totals": totals,
        "quota_used_percent": round(100 * totals["accepted"] / quota, 1) if quota else None,
        "days": days,
    }
