"""`GET /v1/usage`, mounted on the API service (`pulse serve`): the authenticated tenant's usage for a month
against its plan. The tenant comes from the API key (the API's Bearer-key dependency), never the request."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from pulse.store.clickhouse import Store
from pulse.store.usage import current_month, usage_report
from pulse.tenants.plans import Plan


def usage_router(
    tenant_of: Callable[..., str],
    open_store: Callable[[], AbstractContextManager[Store]],
    plan_of: Callable[[str], tuple[str, Plan]],
) -> APIRouter:
    """The router; `plan_of(tenant)` gives the tenant's plan name and current limits."""
    router = APIRouter(prefix="/v1", tags=["usage"])
    Tenant = Annotated[str, Depends(tenant_of)]  # noqa: N806

    @router.get("/usage")
    def get_usage(
        tenant: Tenant, month: Annotated[str | None, Query(pattern=r"^(19[7-9]\d|2[0-2]\d\d)-(0[1-9]|1[0-2])$")] = None
    ) -> dict[str, Any]:
        """Per-day and month totals (accepted, rejected, scored, alerts, over_quota) and the plan's limits;
        `month` is YYYY-MM between 1970 and 2299 (what ClickHouse stores), default the current month."""
        plan_name, plan = plan_of(tenant)
        with open_store() as s:
            return usage_report(s, tenant, month or current_month(), plan_name, plan)

    return router
