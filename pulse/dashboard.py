"""The built-in web dashboard at `/dashboard`, mounted on the API service (`pulse serve`).

A tenant signs in with one of its API keys (a POSTed form, never a URL); the answer is an HttpOnly,
SameSite=Strict cookie holding the tenant id signed with the server's secret (itsdangerous), valid for
`SESSION_HOURS`. Every data request takes the tenant from that cookie only. The page and the report share
one template and one small script (`pulse/static/dashboard.js`) over a vendored uPlot.
"""

import os
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape

from pulse.clickhouse import Store
from pulse.dashboard_data import snapshot

STATIC = Path(__file__).parent / "static"
COOKIE = "pulse_session"
SESSION_HOURS = 12
DEFAULT_HOURS = 6
MAX_LOGIN_BYTES = 4096
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
templates = Environment(loader=PackageLoader("pulse", "templates"), autoescape=select_autoescape(["html", "j2"]))


def refresh_s() -> float:
    """Seconds between the page's refreshes: `PULSE_DASHBOARD_REFRESH_S`, default 30."""
    return float(os.environ.get("PULSE_DASHBOARD_REFRESH_S") or 30)


def session_secret() -> str:
    """`PULSE_DASHBOARD_SECRET` (share it between API replicas), else a random one: sessions end on restart."""
    return os.environ.get("PULSE_DASHBOARD_SECRET") or secrets.token_urlsafe(32)


def dashboard_router(
    tenant_for_key: Callable[[str], str | None],
    open_store: Callable[[], AbstractContextManager[Store]],
    plan_of: Callable[[str], str],
    secret: str,
) -> APIRouter:
    """The dashboard's routes; `tenant_for_key` is the API's key ring, `open_store` yields a Store per request."""
    signer = URLSafeTimedSerializer(secret, salt="pulse-dashboard-session")
    router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

    def session_tenant(pulse_session: Annotated[str | None, Cookie()] = None) -> str | None:
        if not pulse_session:
            return None
        try:
            return signer.loads(pulse_session, max_age=SESSION_HOURS * 3600)
        except BadSignature:
            return None

    Session = Annotated[str | None, Depends(session_tenant)]  # noqa: N806

    @router.get("", response_class=HTMLResponse)
    def page(tenant: Session) -> Response:
        if tenant is None:
            return _html(templates.get_template("login.html.j2").render(error=None, session_hours=SESSION_HOURS))
        html = templates.get_template("dashboard.html.j2").render(
            tenant=tenant, plan=plan_of(tenant), inline=False, refresh_s=refresh_s(), hours=DEFAULT_HOURS
        )
        return _html(html)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_LOGIN_BYTES:
            raise HTTPException(413, f"sign-in form over {MAX_LOGIN_BYTES} bytes")
        form = parse_qs(body.decode("utf-8", "replace"))
        key = (form.get("api_key") or [""])[0].strip()
        tenant = tenant_for_key(key) if key else None
        if tenant is None:
            error = "That API key is not valid. Paste the full key (pk_...) your administrator gave you."
            return _html(
                templates.get_template("login.html.j2").render(error=error, session_hours=SESSION_HOURS), status=401
            )
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            COOKIE, signer.dumps(tenant), max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/dashboard",
        )  # fmt: skip
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/dashboard", status_code=303)
        response.delete_cookie(COOKIE, path="/dashboard")
        return response

    @router.get("/data")
    def data(tenant: Session, hours: float = DEFAULT_HOURS) -> dict[str, Any]:
        """The signed-in tenant's metrics, band, incidents, top rules and usage for the last `hours`."""
        if tenant is None:
            raise HTTPException(401, "not signed in: sign in at /dashboard with your API key")
        if not 0 < hours <= 24 * 31:
            raise HTTPException(400, f"hours={hours:g}: choose between 0 and 744 (31 days)")
        with open_store() as s:
            result = snapshot(s, tenant, hours)
        return result | {"plan": plan_of(tenant)}

    return router


def mount_static(app: Any) -> None:
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")


def _html(body: str, status: int = 200) -> HTMLResponse:
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(body, status_code=status, headers=headers)
