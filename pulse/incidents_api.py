"""REST endpoints for incidents, as a FastAPI router for the API service:
`GET /v1/incidents` and `GET /v1/incidents/{incident_id}`. The tenant comes from the API key
(`Authorization: Bearer <key>`, matched by SHA-256 against `api_keys:` in the tenant's config),
never from the request; another tenant's incident is a 404, indistinguishable from a missing one.
"""

import hashlib
import hmac
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pulse.clickhouse import Store
from pulse.config import ConfigSet

FIELDS = (
    "incident_id", "version", "status", "kind", "cause", "severity", "group_key", "opened_at", "updated_at",
    "resolved_at", "alert_count", "observed", "expected", "percent", "unit", "currency", "top_dimensions", "summary",
    "labels",
)  # fmt: skip


def key_hash(api_key: str) -> str:
    """How an API key is written in a tenant config: `sha256:<hex>` (the key itself is never stored)."""
    return "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()


def tenant_auth(configs: ConfigSet) -> Callable[..., str]:
    """A dependency returning the tenant whose config lists the hash of the presented Bearer key."""
    bearer = HTTPBearer(auto_error=False)

    def tenant(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
        if credentials is not None:
            presented = key_hash(credentials.credentials)
            for name, config in configs.tenants.items():
                if any(hmac.compare_digest(presented, known) for known in config.api_keys):
                    return name
        raise HTTPException(401, "a valid API key is required: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip

    return tenant


def incidents_router(configs: ConfigSet, open_store: Callable[[], AbstractContextManager[Store]]) -> APIRouter:
    """The router; `open_store` yields a Store per request (e.g. `lambda: store(dsn, wait_s=5)`)."""
    router = APIRouter(prefix="/v1", tags=["incidents"])
    Tenant = Annotated[str, Depends(tenant_auth(configs))]  # noqa: N806

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
        params = {"tenant": tenant, "status": status, "since": since, "limit": limit}
        rows = _select(open_store, f"{where} ORDER BY opened_at DESC, incident_id LIMIT {{limit:UInt32}}", params)
        return {"tenant": tenant, "incidents": rows}

    @router.get("/incidents/{incident_id}")
    def get_incident(tenant: Tenant, incident_id: str) -> dict[str, Any]:
        rows = _select(open_store, "tenant_id = {tenant:String} AND incident_id = {id:String}",
                       {"tenant": tenant, "id": incident_id})  # fmt: skip
        if not rows:
            raise HTTPException(404, f"no incident {incident_id} for this tenant")
        return rows[0]

    return router


def _select(open_store: Callable[[], AbstractContextManager[Store]], where: str, params: dict) -> list[dict]:
    with open_store() as s:
        columns, rows = s.query(f"SELECT {', '.join(FIELDS)} FROM incidents FINAL WHERE {where}", params)
    return [{c: _utc(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def _utc(value: Any) -> Any:
    """Times as explicit UTC (clickhouse-connect may return them naive)."""
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
