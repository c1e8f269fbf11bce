"""Webhook delivery against a real HTTP receiver on 127.0.0.1, logging into a real chDB."""

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import threading
import time
from datetime import UTC, datetime

import pytest
from receiver import Receiver

from pulse.incidents.delivery import Dispatcher, RetryPolicy
from pulse.incidents.tracking import IncidentTracker
from pulse.incidents.webhooks import (
    EndpointRefused,
    alertmanager_payload,
    check_url,
    fingerprint,
    label_set,
    refusal,
    verify,
)
from pulse.tenants.config import IncidentsConfig, WebhookConfig

NEW, OLD = "whsec_" + base64.b64encode(b"new-secret-key").decode(), "old-secret-key"


@pytest.fixture(scope="module")
def receiver():
    r = Receiver(port=19611)
    r.start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET_NEW", NEW)
    monkeypatch.setenv("HOOK_SECRET_OLD", OLD)


def notice(tenant: str, group: str) -> dict:
    tracker = IncidentTracker(lambda t: IncidentsConfig())
    alert = {"tenant_id": tenant, "alert_id": f"a-{group}", "ts": datetime(2026, 11, 2, 10, tzinfo=UTC),
             "kind": "rule", "cause": "large-order", "severity": "high", "group_key": group, "amount": 2500.0,
             "country": "DE", "currency": "EUR"}  # fmt: skip
    [n] = tracker.observe(alert)
    return n | {"summary": f"Large order by {group}"}


def run(db, receiver, hooks: dict[str, list[WebhookConfig]], notices: list[dict], policy: RetryPolicy,
        allow_private: bool = True) -> Dispatcher:  # fmt: skip
    lock = threading.Lock()

    def record(table, row):
        with lock:
            db.client.insert(table, [list(row.values())], column_names=list(row))

    dispatcher = Dispatcher(lambda t: hooks.get(t, []), record, policy, allow_private=allow_private)
    for n in notices:
        dispatcher.submit(n)
    return dispatcher


def hook(receiver, path, fmt="json"):
    return WebhookConfig(url=receiver.url(path), format=fmt, secrets=["HOOK_SECRET_NEW", "HOOK_SECRET_OLD"])


def attempts(db, incident_id, endpoint_path):
    return db.query(
        "SELECT attempt, status_code, ok, next_delay_ms, error FROM webhook_attempts "
        "WHERE incident_id = {i:String} AND endpoint LIKE {p:String} ORDER BY attempt",
        {"i": incident_id, "p": f"%{endpoint_path}"},
    )[1]


def dead(db, incident_id):
    return db.query("SELECT reason, attempts FROM webhook_dead_letters WHERE incident_id = {i:String}",
                    {"i": incident_id})[1]  # fmt: skip


def test_signed_with_every_secret_verifiable_by_an_independent_hmac(db, receiver):
    n = notice("sig", "c1")
    run(db, receiver, {"sig": [hook(receiver, "/sig")]}, [n], RetryPolicy()).close()
    [request] = receiver.received("/sig")
    msg_id, ts = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    signed = f"{msg_id}.{ts}.".encode() + request.body
    expected = {
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in (b"new-secret-key", b"old-secret-key")
    }
    assert set(request.headers["webhook-signature"].split()) == expected
    assert verify(NEW, request.headers, request.body) and verify(OLD, request.headers, request.body)
    assert not verify("whsec_" + base64.b64encode(b"wrong").decode(), request.headers, request.body)
    assert not verify(NEW, request.headers, request.body + b" ")
    assert abs(int(ts) - time.time()) < 60
    payload = json.loads(request.body)
    assert payload["type"] == "incident.open" and payload["incident"]["incident_id"] == n["incident_id"]
    assert attempts(db, n["incident_id"], "/sig") == [(1, 200, True, 0, "")]


def test_5xx_then_success_retries_with_backoff_and_a_stable_webhook_id(db, receiver):
    receiver.script["/flaky"] = [(503, {}, 0), (502, {}, 0), (200, {}, 0)]
    n = notice("flaky", "c1")
    run(db, receiver, {"flaky": [hook(receiver, "/flaky")]}, [n], RetryPolicy(base_s=0.2, cap_s=2)).close()
    requests = receiver.received("/flaky")
    assert len(requests) == 3
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    logged = attempts(db, n["incident_id"], "/flaky")
    assert [(a, s, ok) for a, s, ok, _, _ in logged] == [(1, 503, False), (2, 502, False), (3, 200, True)]
    delays = [d / 1000 for *_, d, _ in logged]
    assert delays[0] <= 0.2 and delays[1] <= 0.4 and delays[2] == 0  # full jitter within base * 2^n
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:], strict=False)]
    assert all(gap >= delay - 0.01 for gap, delay in zip(gaps, delays, strict=False))
    assert dead(db, n["incident_id"]) == []


def test_429_honours_retry_after(db, receiver):
    receiver.script["/limited"] = [(429, {"Retry-After": "1"}, 0), (200, {}, 0)]
    n = notice("limited", "c1")
    run(db, receiver, {"limited": [hook(receiver, "/limited")]}, [n], RetryPolicy(base_s=0.01)).close()
    first, second = receiver.received("/limited")
    assert second.at - first.at >= 1.0
    assert attempts(db, n["incident_id"], "/limited")[0][3] >= 1000


def test_4xx_is_not_retried_and_dead_lettered(db, receiver):
    receiver.script["/bad"] = [(400, {}, 0)]
    n = notice("bad", "c1")
    run(db, receiver, {"bad": [hook(receiver, "/bad")]}, [n], RetryPolicy(base_s=0.01)).close()
    assert len(receiver.received("/bad")) == 1
    [(reason, tries)] = dead(db, n["incident_id"])
    assert reason == "HTTP 400 Bad Request: not retried" and tries == 1


def test_gives_up_after_the_last_attempt_into_the_dead_letter_table(db, receiver):
    receiver.script["/down"] = [(500, {}, 0)]
    n = notice("down", "c1")
    run(db, receiver, {"down": [hook(receiver, "/down")]}, [n], RetryPolicy(attempts=3, base_s=0.01)).close()
    assert len(receiver.received("/down")) == 3
    [(reason, tries)] = dead(db, n["incident_id"])
    assert reason == "gave up after 3 attempts: HTTP 500 Internal Server Error" and tries == 3


def test_410_disables_the_endpoint(db, receiver):
    receiver.script["/gone"] = [(410, {}, 0)]
    first, second = notice("gone", "c1"), notice("gone", "c2")
    run(db, receiver, {"gone": [hook(receiver, "/gone")]}, [first, second], RetryPolicy(base_s=0.01)).close()
    assert len(receiver.received("/gone")) == 1  # the second notice is never sent
    assert "410" in dead(db, second["incident_id"])[0][0]
    assert db.query("SELECT count() FROM webhook_disabled WHERE tenant_id = 'gone'")[1] == [(1,)]


def test_a_hanging_endpoint_does_not_delay_another_tenant(db, receiver):
    receiver.script["/hang"] = [(200, {}, 5.0)]
    slow, fast = notice("slow", "c1"), notice("fast", "c1")
    policy = RetryPolicy(attempts=2, base_s=0.01, timeout_s=2.0)
    started = time.monotonic()
    dispatcher = run(db, receiver, {"slow": [hook(receiver, "/hang")], "fast": [hook(receiver, "/fast")]},
                     [slow, fast], policy)  # fmt: skip
    deadline = time.monotonic() + 10
    while not receiver.received("/fast") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.received("/fast")[0].at - started < 1.0  # while /hang holds its first request for 5 s
    dispatcher.close()
    assert [a[2] for a in attempts(db, fast["incident_id"], "/fast")] == [True]
    assert "ReadTimeout" in dead(db, slow["incident_id"])[0][0]


def test_alertmanager_format(db, receiver):
    n = notice("am", "c1")
    run(db, receiver, {"am": [hook(receiver, "/am", "alertmanager")]}, [n], RetryPolicy()).close()
    payload = json.loads(receiver.received("/am")[0].body)
    assert payload["version"] == "4" and payload["status"] == "firing"
    [alert] = payload["alerts"]
    assert alert["labels"]["alertname"] == "large-order" and alert["labels"]["tenant"] == "am"
    assert alert["annotations"]["summary"] == "Large order by c1"
    assert alert["startsAt"] == "2026-11-02T10:00:00Z"
    assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"]) and alert["fingerprint"] == fingerprint(alert["labels"])
    assert payload["groupKey"] == '{}:{alertname="large-order", tenant="am"}'
    assert payload["externalURL"] == "" and alert["generatorURL"] == ""  # no dashboard configured


def test_alertmanager_links_the_dashboard_and_keeps_volatile_values_out_of_labels():
    metric = notice("am", "c1") | {"labels": {"metric": "orders", "direction": "drop", "observed": "3",
                                              "expected": "41.5", "since": "2026-11-02T09:58:00+00:00",
                                              "window_minutes": "15"}}  # fmt: skip
    payload = alertmanager_payload([metric], "https://pulse.example.com/")
    [alert] = payload["alerts"]
    assert payload["externalURL"] == "https://pulse.example.com"
    assert alert["generatorURL"] == f"https://pulse.example.com/dashboard#{metric['incident_id']}"
    assert {"observed", "expected", "since", "window_minutes"}.isdisjoint(alert["labels"])
    assert alert["labels"]["metric"] == "orders" and alert["labels"]["direction"] == "drop"
    assert alert["annotations"]["observed"] == "3" and alert["annotations"]["since"] == "2026-11-02T09:58:00+00:00"
    later = metric | {"labels": metric["labels"] | {"observed": "1", "since": "2026-11-02T09:59:00+00:00",
                                                    "window_minutes": "60"}}  # fmt: skip
    assert alertmanager_payload([later])["alerts"][0]["fingerprint"] == alert["fingerprint"]  # the same alert


def test_fingerprint_is_prometheus_fnv1a_over_sorted_labels():
    assert fingerprint({"b": "2", "a": "1"}) == fingerprint({"a": "1", "b": "2"})
    assert fingerprint({"a": "1b"}) != fingerprint({"a1": "b"})  # the 0xff separator keeps name and value apart
    assert label_set({"alertname": 'x"y\\z\n', "tenant": "é"}) == '{alertname="x\\"y\\\\z\\n", tenant="é"}'


def test_loopback_and_private_urls_are_refused_unless_allowed(db, receiver):
    for url in ("http://127.0.0.1:19611/x", "http://10.1.2.3/x", "http://169.254.169.254/latest", "http://[::1]/x"):
        with pytest.raises(EndpointRefused, match="non-public"):
            check_url(url)
    with pytest.raises(EndpointRefused, match="credentials"):
        check_url("https://user:pw@example.com/x")
    with pytest.raises(EndpointRefused, match="http"):
        check_url("ftp://example.com/x")
    n = notice("private", "c1")
    run(db, receiver, {"private": [hook(receiver, "/private")]}, [n], RetryPolicy(), allow_private=False).close()
    assert receiver.received("/private") == []
    assert "non-public address 127.0.0.1" in dead(db, n["incident_id"])[0][0]


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a01:203",  # NAT64 of 10.1.2.3
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "::127.0.0.1",  # IPv4-compatible
        "::ffff:10.1.2.3",  # IPv4-mapped
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    ],
)
def test_ipv6_forms_of_private_ipv4_addresses_are_refused(address):
    with pytest.raises(EndpointRefused, match="embeds the non-public IPv4 address"):
        check_url(f"http://[{address}]:8080/hook")


def test_nat64_and_6to4_forms_of_public_addresses_pass_the_check():
    for address in ("64:ff9b::808:808", "2002:808:808::1"):
        assert refusal(ipaddress.ip_address(address)) is None


def test_stored_errors_say_the_status_and_never_the_receivers_body(db, receiver):
    receiver.script["/leaky"] = [(500, {}, 0)]
    receiver.bodies["/leaky"] = b"Traceback: password=hunter2 at db.internal:5432 " * 20_000  # about 1 MB
    n = notice("leaky", "c1")
    run(db, receiver, {"leaky": [hook(receiver, "/leaky")]}, [n], RetryPolicy(attempts=2, base_s=0.01)).close()
    assert [row[4] for row in attempts(db, n["incident_id"], "/leaky")] == ["HTTP 500 Internal Server Error"] * 2
    [(reason, tries)] = dead(db, n["incident_id"])
    assert reason == "gave up after 2 attempts: HTTP 500 Internal Server Error" and tries == 2


def test_missing_secret_is_reported_without_its_value(db, receiver, monkeypatch):
    monkeypatch.delenv("HOOK_SECRET_OLD")
    n = notice("nosecret", "c1")
    run(db, receiver, {"nosecret": [hook(receiver, "/nosecret")]}, [n], RetryPolicy()).close()
    assert receiver.received("/nosecret") == []
    assert dead(db, n["incident_id"])[0][0] == "signing secret environment variable HOOK_SECRET_OLD is not set"


def test_backoff_is_exponential_with_full_jitter_and_never_below_retry_after():
    policy = RetryPolicy(base_s=1.0, cap_s=30.0)
    for attempt, ceiling in ((0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 30.0)):
        delays = [policy.delay(attempt, None) for _ in range(400)]
        assert 0 <= min(delays) < ceiling * 0.1 and ceiling * 0.9 < max(delays) <= ceiling  # spread over [0, cap]
    assert all(policy.delay(0, 5.0) >= 5.0 for _ in range(50))
    assert policy.delay(0, 600.0) == 600.0  # the server's Retry-After wins over the backoff cap
    assert policy.delay(0, 86400.0) == 3600.0  # up to an hour
