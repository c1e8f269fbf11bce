"""The ingestion API and `pulse upload` against the real Kafka broker and a real HTTP server (uvicorn)."""

import json
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ingest_support import TEST_PLANS, ApiServer, kafka_bootstrap, read_refusals, read_topic, start_api, unique_topic
from schemathesis.checks import not_a_server_error, response_schema_conformance

pytestmark = pytest.mark.kafka
PORT = 19561


def event(event_id: str, tenant: str | None = "acme", **fields) -> dict:
    record = {"event_id": event_id, "event_type": "order_placed", "ts": "2026-11-23T10:00:00Z", "amount": 12.5}
    if tenant:
        record["tenant_id"] = tenant
    return record | fields


def ndjson(records) -> str:
    return "\n".join(json.dumps(record) for record in records)


def stored_events(api: ApiServer) -> list[tuple[str, str]]:
    """(tenant key, event_id) of every record in the API's topic."""
    return [(key, value["event_id"]) for key, value in read_topic(api.bootstrap, api.topic) if isinstance(value, dict)]


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> ApiServer:
    folder = tmp_path_factory.mktemp("api")
    server = start_api(
        folder, PORT, kafka_bootstrap(), unique_topic("api"), "--max-records", "1000", "--max-body-bytes", "200000"
    )
    yield server
    server.stop()


def test_health_and_readiness(api):
    assert requests.get(f"{api.url}/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(f"{api.url}/readyz", timeout=10).status_code == 200


def test_openapi_document_describes_the_api(api):
    doc = requests.get(f"{api.url}/openapi.json", timeout=5).json()
    assert {"/v1/events", "/v1/uploads", "/healthz", "/readyz"} <= set(doc["paths"])
    events = doc["paths"]["/v1/events"]["post"]
    assert {"application/json", "application/x-ndjson"} <= set(events["requestBody"]["content"])
    assert {"202", "401", "413", "429", "503"} <= set(events["responses"])
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert events["security"] == [{"HTTPBearer": []}]


def test_requests_without_a_valid_key_are_refused(api):
    body = json.dumps(event("auth-1"))
    missing = requests.post(f"{api.url}/v1/events", data=body, timeout=5)
    wrong = requests.post(f"{api.url}/v1/events", data=body, headers={"Authorization": "Bearer pk_nope"}, timeout=5)
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert "auth-1" not in {value.get("event_id") for _, value in read_topic(api.bootstrap, api.topic)}


def test_one_event_an_array_and_ndjson_are_accepted_into_kafka_keyed_by_tenant(api):
    single = api.post("acme", json.dumps(event("fmt-1")), "application/json").json()
    array = api.post("acme", json.dumps([event("fmt-2"), event("fmt-3", tenant=None)]), "application/json").json()
    ndjson = api.post("globex", "\n".join(json.dumps(event(f"fmt-{i}", "globex")) for i in (4, 5)) + "\n").json()
    assert (single["accepted"], array["accepted"], ndjson["accepted"]) == (1, 2, 2)
    assert [r["index"] for r in array["results"]] == [0, 1]
    stored = {value["event_id"]: key for key, value in read_topic(api.bootstrap, api.topic) if isinstance(value, dict)}
    assert {i: stored[i] for i in ("fmt-1", "fmt-2", "fmt-3", "fmt-4", "fmt-5")} == {
        "fmt-1": "acme",
        "fmt-2": "acme",
        "fmt-3": "acme",
        "fmt-4": "globex",
        "fmt-5": "globex",
    }


def test_a_record_for_another_tenant_is_refused_not_rerouted(api):
    body = "\n".join([json.dumps(event("own-1")), json.dumps(event("theirs-1", "globex")), '{"broken'])
    result = api.post("acme", body).json()
    assert (result["accepted"], result["rejected"]) == (1, 2)
    refused = result["results"][1]
    assert (refused["index"], refused["status"], refused["reason"]) == (1, "rejected", "tenant_mismatch")
    assert "globex" in refused["detail"] and "acme" in refused["detail"]
    assert result["results"][2]["reason"] == "malformed_json"
    ids = {value.get("event_id") for _, value in read_topic(api.bootstrap, api.topic) if isinstance(value, dict)}
    assert "own-1" in ids and "theirs-1" not in ids
    # both refused records are in the topic too, keyed by the sender and marked with the answer's reason and detail
    refusals = [(key, why, value) for key, why, value in read_refusals(api.bootstrap, api.topic)]
    assert ("acme", {"reason": "tenant_mismatch", "detail": refused["detail"]}, event("theirs-1", "globex")) in refusals
    assert ("acme", {"reason": "malformed_json", "detail": result["results"][2]["detail"]}, '{"broken') in refusals


def test_a_retried_event_is_accepted_once(api):
    first = api.post("acme", json.dumps([event("dup-1"), event("dup-2"), event("dup-1")]), "application/json").json()
    retry = api.post("acme", json.dumps([event("dup-1"), event("dup-2")]), "application/json").json()
    other_tenant = api.post("globex", json.dumps(event("dup-1", "globex")), "application/json").json()
    assert (first["accepted"], first["duplicates"]) == (2, 1)
    assert (retry["accepted"], retry["duplicates"]) == (0, 2)
    assert other_tenant["accepted"] == 1
    stored = [
        (key, value["event_id"]) for key, value in read_topic(api.bootstrap, api.topic) if isinstance(value, dict)
    ]
    assert stored.count(("acme", "dup-1")) == 1 and stored.count(("globex", "dup-1")) == 1


def test_limits_on_body_size_records_and_rate(api):
    too_big = api.post("acme", json.dumps(event("big", attributes={"x": "y" * 1000})) * 300)
    too_many = api.post("acme", "\n".join(json.dumps(event(f"many-{i}")) for i in range(1001)))
    assert too_big.status_code == too_many.status_code == 413
    assert "1001 records" in too_many.json()["detail"]
    # tinyshop is on the free plan: 5 events/s; burst_events left out: a bucket of 2 s of the rate, 10
    over_burst = api.post("tinyshop", ndjson(event(f"rate-{i}", "tinyshop") for i in range(11)))
    burst = api.post("tinyshop", ndjson(event(f"rate-{i}", "tinyshop") for i in range(10)))
    limited = api.post("tinyshop", ndjson(event(f"rate-late-{i}", "tinyshop") for i in range(10)))
    assert over_burst.status_code == 413 and "takes at most 10 at once" in over_burst.json()["detail"]
    assert burst.status_code == 202 and burst.json()["accepted"] == 10
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2"  # 10 tokens at 5 a second, less the few refilled meanwhile
    assert "5 events/s" in limited.json()["detail"]


RATE_PLANS = TEST_PLANS.replace("free: {events_per_second: 5}", "free: {events_per_second: 1, burst_events: 6}")


@pytest.fixture(scope="module")
def rate_api(tmp_path_factory) -> ApiServer:
    """A server of its own (its plans file is edited): tinyshop's free plan refills 1 token a second, holds 6;
    the plans file is checked on every request."""
    folder = tmp_path_factory.mktemp("rate-api")
    server = start_api(folder, RATE_PORT, kafka_bootstrap(), unique_topic("rate"), "--plans-check-s", "0",
                       plans=RATE_PLANS)  # fmt: skip
    server.plans = folder / "plans.yaml"
    assert server.post("acme", json.dumps(event("rate-warm-up"))).status_code == 202  # Kafka writer connected
    yield server
    server.stop()


RATE_PORT = 19563


def test_a_burst_up_to_burst_events_passes_then_429_until_the_bucket_refills(rate_api):
    events = (event(f"bucket-{i}", "tinyshop") for i in range(100))
    first = rate_api.post("tinyshop", ndjson(next(events) for _ in range(4)))  # a full bucket: 6 tokens
    second = rate_api.post("tinyshop", ndjson(next(events) for _ in range(2)))  # 4 + 2: the whole burst
    # Empty now (less than 1 token refilled while these requests run): 3 records need 3 more tokens, at 1 a
    # second just under 3 s from now, so Retry-After (whole seconds, rounded up) says 3.
    held_back = [next(events) for _ in range(3)]
    limited = rate_api.post("tinyshop", ndjson(held_back))
    assert (first.status_code, second.status_code, limited.status_code) == (202, 202, 429)
    assert (first.json()["accepted"], second.json()["accepted"]) == (4, 2)
    assert limited.headers["Retry-After"] == "3"
    assert "over the rate of plan 'free' (1 events/s, burst 6)" in limited.json()["detail"]
    time.sleep(int(limited.headers["Retry-After"]))  # waiting as told lets the same request through
    retried = rate_api.post("tinyshop", ndjson(held_back))
    assert retried.status_code == 202 and retried.json()["accepted"] == 3
    stored = [event_id for tenant, event_id in stored_events(rate_api) if tenant == "tinyshop"]
    assert stored == [f"bucket-{i}" for i in range(9)]  # the refused request wrote nothing at first
    too_big = rate_api.post("tinyshop", ndjson(next(events) for _ in range(7)))
    assert too_big.status_code == 413
    assert too_big.json()["detail"] == (
        "7 records in one request, but plan 'free' takes at most 6 at once (burst_events): split the request"
    )


def test_a_changed_plans_file_applies_to_the_running_api(rate_api):
    events = (event(f"replan-{i}", "tinyshop") for i in range(100))
    assert rate_api.post("tinyshop", ndjson(next(events) for _ in range(7))).status_code == 413  # burst 6
    rate_api.plans.write_text(
        TEST_PLANS.replace("free: {events_per_second: 5}", "free: {events_per_second: 2, burst_events: 12}")
    )
    # The bucket keeps its tokens (at most 6 now); at 2 a second, 12 records fit at most 6 s from now.
    twelve = ndjson(next(events) for _ in range(12))
    wait = rate_api.post("tinyshop", twelve)
    assert wait.status_code == 429 and "(2 events/s, burst 12)" in wait.json()["detail"]
    assert 1 <= int(wait.headers["Retry-After"]) <= 6
    time.sleep(int(wait.headers["Retry-After"]))
    burst = rate_api.post("tinyshop", twelve)  # 12 at once: over the old burst of 6
    assert burst.status_code == 202 and burst.json()["accepted"] == 12
    limited = rate_api.post("tinyshop", json.dumps(next(events)))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"  # 1 token at 2 a second: 0.5 s
    assert rate_api.post("tinyshop", ndjson(next(events) for _ in range(13))).status_code == 413


def test_upload_through_the_api_reports_bad_rows_by_number(api, tmp_path):
    rows = ["event_id,event_type,ts,amount", "up-1,order_placed,2026-11-23T10:00:00Z,10"]
    rows += ["up-2,order_placed,yesterday,10", "up-3,refund,1793606408113,-3.5", "up-4,teleported,1793606408113,"]
    headers = {"Authorization": f"Bearer {api.keys['globex']}", "Content-Type": "application/octet-stream"}
    response = requests.post(
        f"{api.url}/v1/uploads", params={"format": "csv"}, data="\n".join(rows) + "\n", headers=headers, timeout=60
    )
    assert response.status_code == 202, response.text
    result = response.json()
    assert (result["rows"], result["accepted"], result["rejected"]) == (4, 2, 2)
    assert [(r["row"], r["reason"]) for r in result["rejects"]] == [(2, "invalid_value"), (4, "unknown_event_type")]
    stored = {
        (key, value["event_id"]) for key, value in read_topic(api.bootstrap, api.topic) if isinstance(value, dict)
    }
    assert {("globex", "up-1"), ("globex", "up-3")} <= stored and ("globex", "up-2") not in stored


def test_upload_of_an_unreadable_file_is_a_clear_400(api):
    headers = {"Authorization": f"Bearer {api.keys['acme']}", "Content-Type": "application/octet-stream"}
    response = requests.post(
        f"{api.url}/v1/uploads", params={"format": "parquet"}, data=b"not parquet", headers=headers, timeout=30
    )
    assert response.status_code == 400 and "could not be read" in response.json()["detail"]


def test_pulse_upload_sends_valid_rows_and_writes_rejects(api, tmp_path):
    good = [event(f"cli-{i}", None) for i in range(30)]
    table = pa.Table.from_pylist([*good, event("cli-bad", None, amount=None, event_type="nope")])
    path = tmp_path / "orders.parquet"
    pq.write_table(table, path)
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "upload", str(path), "--tenant", "acme", "--kafka", api.bootstrap]
        + ["--topic", api.topic],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "31 rows -> 30 sent" in result.stdout
    rejects = [json.loads(line) for line in (tmp_path / "orders.parquet.rejects.jsonl").read_text().splitlines()]
    assert [(r["row"], r["reason"]) for r in rejects] == [(31, "unknown_event_type")]
    stored = {
        (key, value["event_id"]) for key, value in read_topic(api.bootstrap, api.topic) if isinstance(value, dict)
    }
    assert {("acme", f"cli-{i}") for i in range(30)} <= stored


def test_no_input_makes_the_api_fail(api):
    """Inputs generated from the served OpenAPI document, with and without a valid key: never a 500, and every
    answer as documented."""
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {
        "/v1/events",
        "/v1/uploads",
        "/v1/incidents",
        "/v1/incidents/{incident_id}",
        "/healthz",
        "/readyz",
        "/v1/usage",
        "/v1/incidents/stats",
        "/v1/incidents/{incident_id}/history",
        *(f"/v1/incidents/{{incident_id}}/{a}" for a in ("acknowledge", "assign", "note", "resolve", "reopen")),
        *(f"/v1/incidents/{{incident_id}}/{a}" for a in ("label", "silence")),
        "/v1/silences",
        "/v1/silences/{silence_id}",
    }
    assert {op.path for op in operations} == paths
    for operation in operations:

        @given(case=operation.as_strategy(), authenticated=st.booleans())
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case, authenticated):
            headers = {"Authorization": f"Bearer {api.keys['acme']}"} if authenticated else {}
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        call()
