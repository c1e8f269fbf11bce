"""The built-in web dashboard at `/dashboard`, mounted on the API service (`pulse serve`).

A tenant signs in with one of its API keys (a POSTed form, never a URL); the answer is an HttpOnly,
SameSite=Strict cookie holding the tenant id and a random session id, signed with the server's secret
(itsdangerous), valid for `SESSION_HOURS`. Every data request takes the tenant from that cookie only.
Signing out ends the session for every replica: its id goes to ClickHouse (`dashboard_logouts`), and a
cookie naming it is refused from then on. Failed sign-ins count against the client (pulse.api.auth_failures).
The page and the report share one template and one small script (`pulse/api/static/dashboard.js`) over a
vendored uPlot.
"""

import os
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Cookie, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape

from pulse.api.auth_failures import AuthFailures
from pulse.api.dashboard_data import snapshot
from pulse.api.incident_work import Publish, work_router
from pulse.api.ratelimit import retry_after_header
from pulse.store.clickhouse import Store
from pulse.store.writer import BatchWriter

STATIC = Path(__file__).parent / "static"
COOKIE = "pulse_session"
SESSION_HOURS = 12
DEFAULT_HOURS = 6
MAX_LOGIN_BYTES = 4096
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
templates = Environment(loader=PackageLoader("pulse.api", "templates"), autoescape=select_autoescape(["html", "j2"]))


def refresh_s() -> float:
    """Seconds between the page's refreshes: `PULSE_DASHBOARD_REFRESH_S`, default 30."""
    return float(os.environ.get("PULSE_DASHBOARD_REFRESH_S") or 30)


def session_secret() -> str:
    """`PULSE_DASHBOARD_SECRET` (share it between API replicas), else a random one: sessions end on restart."""
    return os.environ.get("PULSE_DASHBOARD_SECRET") or secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    """A signed-in tenant: who, and the session's id (what signing out ends)."""

    tenant: str
    id: str


def dashboard_router(
    tenant_for_key: Callable[[str], str | None],
    open_store: Callable[[], AbstractContextManager[Store]],
    plan_of: Callable[[str], str],
    secret: str,
    failures: AuthFailures,
    publish: Publish | None = None,
) -> APIRouter:
    """The dashboard's routes; `tenant_for_key` is the API's key ring, `open_store` yields a Store per request,
    `failures` counts failed sign-ins per client (shared with the API's key checks)."""
    signer = URLSafeTimedSerializer(secret, salt="pulse-dashboard-session")
    router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

    def signed_session(pulse_session: Annotated[str | None, Cookie()] = None) -> Session | None:
        """The session the cookie names, if its signature holds and it is not older than SESSION_HOURS."""
        if not pulse_session:
            return None
        try:
            fields = signer.loads(pulse_session, max_age=SESSION_HOURS * 3600)
        except BadSignature:
            return None
        if not isinstance(fields, dict) or not all(isinstance(fields.get(k), str) for k in ("tenant", "id")):
            return None  # a cookie of an older version
        return Session(fields["tenant"], fields["id"])

    Signed = Annotated[Session | None, Depends(signed_session)]  # noqa: N806

    signed_out_here: set[str] = set()  # sessions this process ended: the page needs no store to refuse them

    def session_tenant(signed: Signed) -> str:
        """The tenant of a session that is signed in (and not signed out on any replica), else 401."""
        if signed is not None and signed.id not in signed_out_here:
            with open_store() as s:
                if not _signed_out(s, signed.id):
                    return signed.tenant
        raise HTTPException(401, "not signed in: sign in at /dashboard with your API key")

    router.include_router(work_router(session_tenant, open_store, "", "dashboard", publish), include_in_schema=False)

    @router.get("", response_class=HTMLResponse)
    def page(signed: Signed) -> Response:
        """The page (its data comes from /data, which refuses a session signed out on any replica)."""
        session = signed if signed and signed.id not in signed_out_here else None
        if session is None:
            return _html(templates.get_template("login.html.j2").render(error=None, session_hours=SESSION_HOURS))
        html = templates.get_template("dashboard.html.j2").render(
            tenant=session.tenant, plan=plan_of(session.tenant), inline=False, refresh_s=refresh_s(),
            hours=DEFAULT_HOURS,
        )  # fmt: skip
        return _html(html)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        client = request.client.host if request.client else None
        if wait := failures.retry_after(client):
            error = f"Too many failed sign-ins from your address. Try again in {retry_after_header(wait)} seconds."
            return _login_page(error, 429, {"Retry-After": retry_after_header(wait)})
        body = await request.body()
        if len(body) > MAX_LOGIN_BYTES:
            raise HTTPException(413, f"sign-in form over {MAX_LOGIN_BYTES} bytes")
        form = parse_qs(body.decode("utf-8", "replace"))
        key = (form.get("api_key") or [""])[0].strip()
        tenant = tenant_for_key(key) if key else None
        if tenant is None:
            failures.failed(client)
            error = "That API key is not valid. Paste the full key (pk_...) your administrator gave you."
            return _login_page(error, 401)
        response = RedirectResponse("/dashboard", status_code=303)
        cookie = signer.dumps({"tenant": tenant, "id": secrets.token_urlsafe(18)})
        response.set_cookie(
            COOKIE, cookie, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict",
            secure=request.url.scheme == "https", path="/dashboard",
        )  # fmt: skip
        return response

    @router.post("/logout")
    def logout(signed: Signed) -> Response:
        """End the session everywhere (its id is recorded as signed out), then drop the cookie."""
        if signed:
            with open_store() as s:
                _sign_out(s, signed)
            signed_out_here.add(signed.id)
        response = RedirectResponse("/dashboard", status_code=303)
        response.delete_cookie(COOKIE, path="/dashboard")
        return response

    @router.get("/data", response_model=None)
    def data(signed: Signed, hours: float = DEFAULT_HOURS) -> dict[str, Any] | JSONResponse:
        """The signed-in tenant's metrics, band, incidents, top rules and usage for the last `hours`."""
        if signed is None:
            raise HTTPException(401, "not signed in: sign in at /dashboard with your API key")
        if not 0 < hours <= 24 * 31:
            raise HTTPException(400, f"hours={hours:g}: choose between 0 and 744 (31 days)")
        with open_store() as s:
            if signed.id in signed_out_here or _signed_out(s, signed.id):
                refused = JSONResponse({"detail": "signed out: sign in again at /dashboard with your API key"}, 401)
                refused.delete_cookie(COOKIE, path="/dashboard")  # so the page, reloaded, asks to sign in
                return refused
            result = snapshot(s, signed.tenant, hours)
        return result | {"plan": plan_of(signed.tenant)}

    return router


def _signed_out(s: Store, session_id: str) -> bool:
    sql = "SELECT count() FROM dashboard_logouts WHERE session_id = {id:String}"
    return s.query(sql, {"id": session_id})[1][0][0] > 0


def _sign_out(s: Store, session: Session) -> None:
    now = datetime.now(UTC)
    row = {"session_id": session.id, "tenant_id": session.tenant, "ended_at": now}
    BatchWriter(s, attempts=5).insert("dashboard_logouts", [row | {"expires_at": now + timedelta(hours=SESSION_HOURS)}])


def _login_page(error: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    response = _html(templates.get_template("login.html.j2").render(error=error, session_hours=SESSION_HOURS), status)
    response.headers.update(headers or {})
    return response


def mount_static(app: Any) -> None:
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")


def _html(body: str, status: int = 200) -> HTMLResponse:
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    return HTMLResponse(body, status_code=status, headers=headers)
