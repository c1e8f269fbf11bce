"""Authentication against a real `pulse serve` (with its dashboard over a real chDB): failed keys and sign-ins are
limited per client address, signing out ends the session on the server, and /readyz is cheap and says nothing
of the broker. Each test speaks from its own loopback address (127.0.0.N), so their failure counts are apart."""

import http.client
import json
import os
import re
import socket
import threading
import time
from urllib.parse import urlencode, urlparse

import pytest
from ingest_support import ApiServer, free_port, kafka_bootstrap, start_api, unique_topic

from pulse.api.auth_failures import FAILURE_BURST

pytestmark = pytest.mark.kafka
SECRET = "test-dashboard-secret-" + "x" * 20
EVENT = {"event_id": "auth-1", "event_type": "order_placed", "ts": "2026-11-23T10:00:00Z"}


def call(api: ApiServer, method: str, path: str, source: str, headers: dict | None = None, body: bytes = b""):
    """One request from `source` (a loopback address): (status, headers, body text)."""
    address = urlparse(api.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def post_event(api: ApiServer, source: str, key: str):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return call(api, "POST", "/v1/events", source, headers, json.dumps(EVENT).encode())


def sign_in(api: ApiServer, source: str, key: str):
    form = urlencode({"api_key": key}).encode()
    return call(api, "POST", "/dashboard/login", source, {"Content-Type": "application/x-www-form-urlencoded"}, form)


def session_cookie(headers: dict) -> str:
    return re.search(r"pulse_session=([^;]+)", headers["set-cookie"]).group(1)


def with_session(api: ApiServer, method: str, path: str, cookie: str):
    return call(api, method, path, "127.0.0.1", {"Cookie": f"pulse_session={cookie}"})


def serve(folder, dsn: str) -> ApiServer:
    """`pulse serve` with its dashboard on `dsn`, with the secret every replica shares."""
    folder.mkdir(exist_ok=True)
    os.environ["PULSE_DASHBOARD_SECRET"] = SECRET  # inherited by the server process
    try:
        return start_api(folder, free_port(), kafka_bootstrap(), unique_topic("auth"), "--clickhouse", dsn)
    finally:
        del os.environ["PULSE_DASHBOARD_SECRET"]


@pytest.fixture(scope="module")
def dsn(tmp_path_factory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('auth-store') / 'clickhouse'}"


@pytest.fixture(scope="module")
def api(tmp_path_factory, dsn) -> ApiServer:
    server = serve(tmp_path_factory.mktemp("auth-api"), dsn)
    yield server
    server.stop()


def test_unknown_keys_from_one_client_are_refused_for_a_while_without_slowing_others(api):
    client, other = "127.0.0.3", "127.0.0.4"
    failures = [post_event(api, client, f"pk_guess_{i}")[0] for i in range(FAILURE_BURST)]
    assert failures == [401] * FAILURE_BURST
    status, headers, body = post_event(api, client, "pk_guess_more")
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 6
    assert "too many unknown API keys or failed sign-ins from this address" in json.loads(body)["detail"]
    assert post_event(api, client, api.keys["acme"])[0] == 429  # not even a valid key is checked meanwhile
    assert sign_in(api, client, api.keys["acme"])[0] == 429
    assert post_event(api, other, api.keys["acme"])[0] == 202  # another client is not slowed
    assert post_event(api, other, "pk_guess_other")[0] == 401
    time.sleep(int(headers["retry-after"]))  # one failure's worth refills: the client may try again
    assert post_event(api, client, api.keys["acme"])[0] == 202


def test_failed_sign_ins_count_with_unknown_keys(api):
    client = "127.0.0.5"
    pages = [sign_in(api, client, f"pk_wrong_{i}") for i in range(FAILURE_BURST - 1)]
    assert {status for status, _, _ in pages} == {401} and "not valid" in pages[0][2]
    assert post_event(api, client, "pk_wrong_last")[0] == 401
    status, headers, page = sign_in(api, client, api.keys["globex"])
    assert status == 429 and "Too many failed sign-ins from your address" in page and headers["retry-after"]
    assert post_event(api, client, api.keys["globex"])[0] == 429


def test_signing_out_ends_the_session_on_the_server_for_every_replica(dsn, tmp_path):
    first = serve(tmp_path / "first", dsn)
    try:
        status, headers, _ = sign_in(first, "127.0.0.1", first.keys["acme"])
        assert status == 303
        ended, kept = session_cookie(headers), session_cookie(sign_in(first, "127.0.0.1", first.keys["acme"])[1])
        assert with_session(first, "GET", "/dashboard/data", ended)[0] == 200
        status, headers, _ = with_session(first, "POST", "/dashboard/logout", ended)
        assert status == 303 and 'pulse_session=""' in headers["set-cookie"]
        status, _, body = with_session(first, "GET", "/dashboard/data", ended)  # the copied cookie, replayed
        assert status == 401 and "signed out" in json.loads(body)["detail"]
        assert "Sign in" in with_session(first, "GET", "/dashboard", ended)[2]
        assert with_session(first, "GET", "/dashboard/data", kept)[0] == 200  # only the session signed out ends
    finally:
        first.stop()
    replica = serve(tmp_path / "replica", dsn)  # the same secret and store: the session is ended there too
    try:
        assert with_session(replica, "GET", "/dashboard/data", ended)[0] == 401
        assert with_session(replica, "GET", "/dashboard/data", kept)[0] == 200
    finally:
        replica.stop()


class CountingListener:
    """A TCP port that accepts connections and closes them at once (no Kafka there), counting them."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            connection, _ = self.socket.accept()
            self.connections += 1
            connection.close()


def test_readiness_asks_the_broker_at_most_once_per_period_and_does_not_name_it(tmp_path):
    broker = CountingListener()
    address = f"127.0.0.1:{broker.port}"
    server = start_api(tmp_path, free_port(), address, unique_topic("ready"), "--ready-check-s", "600")
    try:
        first = call(server, "GET", "/readyz", "127.0.0.1")
        asked = broker.connections
        later = [call(server, "GET", "/readyz", "127.0.0.1") for _ in range(30)]
        assert first[0] == 503 and asked > 0
        assert {status for status, _, _ in later} == {503} and broker.connections == asked
        assert json.loads(first[2]) == {"detail": "Kafka is not reachable: this instance cannot accept events now"}
        status, _, body = post_event(server, "127.0.0.1", server.keys["acme"])
        assert status == 503 and str(broker.port) not in body and "Kafka did not confirm" in body
        assert f"Kafka at {address} is not reachable" in server.log.read_text()  # the operator's log has it
    finally:
        server.stop()
