"""REST endpoints for incidents, mounted on the API service (`pulse serve`):
`GET /v1/incidents` and `GET /v1/incidents/{incident_id}`. The tenant comes from the API key (the API's
Bearer-key dependency, see pulse/api/app.py), never from the request; another tenant's incident is a 404,
indistinguishable from a missing one.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query

from pulse.store.clickhouse import Store
from pulse.store.tables import INCIDENTS

# An incident as stored, less the tenant (the caller's own) and the dispatcher's bookkeeping.
FIELDS = tuple(c for c in INCIDENTS if c not in ("tenant_id", "notify", "recorded_at"))


def incidents_router(
    tenant_of: Callable[..., str], open_store: Callable[[], AbstractContextManager[Store]]
) -> APIRouter:
    """The router; `tenant_of` is the API's authentication dependency, `open_store` yields a Store per
    request (e.g. `lambda: store(dsn, wait_s=2)`)."""
    router = APIRouter(prefix="/v1", tags=["incidents"])
    Tenant = Annotated[str, Depends(tenant_of)]  # noqa: N806

    @router.get("/incidents")
    def list_incidents(
        tenant: Tenant,
        status: Literal["open", "updated", "resolved"] | None = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The tenant's incidents, newest first, each at its latest version."""
        where = "tenant_id = {tenant:String}"
        where += " AND status = {status:String}" if status else ""
        where += " AND opened_at >= {since:DateTime64(3, 'UTC')}" if since else ""
        params = {"tenant": tenant, "status": status, "since": _since_utc(since) if since else None, "limit": limit}
        rows = _select(open_store, f"{where} ORDER BY opened_at DESC, incident_id LIMIT {{limit:UInt32}}", params)
        return {"tenant": tenant, "incidents": rows}

    @router.get("/incidents/{incident_id}", responses={404: {"description": "No such incident for this tenant"}})
    def get_incident(tenant: Tenant, incident_id: str) -> dict[str, Any]:
        rows = _select(open_store, "tenant_id = {tenant:String} AND incident_id = {id:String}",
                       {"tenant": tenant, "id": incident_id})  # fmt: skip
        if not rows:
            raise HTTPException(404, f"no incident {incident_id} for this tenant")
        return rows[0]

    return router


def _since_utc(moment: datetime) -> datetime:
    """`moment` in UTC (naive means UTC), refused with 422 outside the range ClickHouse stores."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not 1970 <= moment.year <= 2299:
        raise HTTPException(400, f"since={moment.isoformat()} is outside 1970..2299")
    return moment


def _select(open_store: Callable[[], AbstractContextManager[Store]], where: str, params: dict) -> list[dict]:
    with open_store() as s:
        columns, rows = s.query(f"SELECT {', '.join(FIELDS)} FROM incidents FINAL WHERE {where}", params)
    return [{c: _utc(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def _utc(value: Any) -> Any:
    """Times as explicit UTC (clickhouse-connect may return them naive)."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
