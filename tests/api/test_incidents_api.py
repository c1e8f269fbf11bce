"""GET /v1/incidents over a real uvicorn server and real chDB: tenant from the API key only."""

import threading
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException
from threaded_server import serving

from pulse.api.incidents import incidents_router
from pulse.api.keys import KeyRing, key_hash
from pulse.store.clickhouse import open_store as open_chdb

KEYS = {"acme": "acme-key-1", "globex": "globex-key-1"}


def incident(tenant: str, n: int, status: str) -> dict:
    t = datetime(2026, 11, 2, 10, n, tzinfo=UTC)
    return {"tenant_id": tenant, "incident_id": f"inc_{tenant}_{n}", "version": 1, "status": status, "kind": "rule",
            "cause": "large-order", "severity": "high", "group_key": "c1", "opened_at": t, "updated_at": t,
            "resolved_at": None, "alert_count": 1, "observed": 2500.0, "expected": 100.0, "percent": 2400.0,
            "unit": "amount", "currency": "USD", "top_dimensions": {"country": ["NG"]}, "summary": f"s{n}",
            "labels": {}, "notify": True, "recorded_at": t}  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    dsn = f"chdb://{tmp_path_factory.mktemp('api') / 'ch'}"
    db = open_chdb(dsn)  # the API process owns the chDB folder for its lifetime
    db.migrate()
    rows = [incident("acme", 1, "open"), incident("acme", 2, "resolved"), incident("globex", 3, "open")]
    rows.append(incident("acme", 1, "updated") | {"version": 2, "alert_count": 2})
    db.client.insert("incidents", [list(r.values()) for r in rows], column_names=list(rows[0]))
    keys = KeyRing({t: [key_hash(k)] for t, k in KEYS.items()})

    def tenant_of(authorization: Annotated[str, Header()] = "") -> str:
        tenant = keys.tenant_for(authorization.removeprefix("Bearer "))
        if tenant is None:
            raise HTTPException(401, "unknown API key")
        return tenant

    app = FastAPI()
    lock = threading.Lock()

    @contextmanager
    def open_store():
        with lock:
            yield db

    app.include_router(incidents_router(tenant_of, open_store))
    with closing(db), serving(app) as api:
        yield api


def get(api, path, key=None, **params):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.get(api + path, headers=headers, params=params, timeout=10)


def test_lists_only_the_callers_incidents_at_their_latest_version(api):
    body = get(api, "/v1/incidents", KEYS["acme"]).json()
    assert body["tenant"] == "acme"
    assert [(i["incident_id"], i["version"], i["status"]) for i in body["incidents"]] == [
        ("inc_acme_2", 1, "resolved"),
        ("inc_acme_1", 2, "updated"),
    ]
    only = get(api, "/v1/incidents", KEYS["acme"], status="resolved").json()["incidents"]
    assert [i["incident_id"] for i in only] == ["inc_acme_2"]


def test_one_incident_and_no_access_to_another_tenants(api):
    one = get(api, "/v1/incidents/inc_acme_1", KEYS["acme"]).json()
    assert one["alert_count"] == 2 and one["opened_at"] == "2026-11-02T10:01:00Z"
    assert get(api, "/v1/incidents/inc_globex_3", KEYS["acme"]).status_code == 404
    assert get(api, "/v1/incidents/inc_globex_3", KEYS["globex"]).json()["summary"] == "s3"


def test_a_key_is_required(api):
    assert get(api, "/v1/incidents").status_code == 401
    assert get(api, "/v1/incidents", "not-a-key").status_code == 401
    assert get(api, "/v1/incidents", KEYS["acme"], tenant_id="globex").json()["tenant"] == "acme"
