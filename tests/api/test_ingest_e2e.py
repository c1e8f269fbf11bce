"""End to end through the real broker: API → Kafka → scoring job (Flink) → ClickHouse, with a broker crash.

One Flink launch: `pulse stream --bounded` reads the topic up to its latest offsets and stops.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from ingest_support import (
    ApiServer,
    broker_pid,
    kafka_bootstrap,
    read_refusals,
    read_topic,
    restart_broker,
    start_api,
    unique_topic,
)
from kafka import KafkaProducer
from usage_support import disagreements

from pulse.dev.generate import Generator, write
from pulse.store.clickhouse import store

pytestmark = [pytest.mark.kafka, pytest.mark.flink]
PORT = 19562
CHUNK = 400


@dataclass
class Ledger:
    """What the API answered, per tenant: every posted record is accepted, a duplicate, or rejected."""

    posted: Counter = field(default_factory=Counter)
    accepted: dict[str, set[str]] = field(default_factory=dict)
    duplicates: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)  # (tenant, reason, detail) of every record answered rejected
    refused_during_outage: int = 0
    retries_after_503: int = 0

    def record(self, tenant: str, lines: list[str], answer: dict) -> None:
        self.posted[tenant] += len(lines)
        for result in answer["results"]:
            if result["status"] == "accepted":
                assert result["event_id"] not in self.accepted.setdefault(tenant, set())
                self.accepted[tenant].add(result["event_id"])
            elif result["status"] == "duplicate":
                self.duplicates[tenant] += 1
            else:
                self.rejected[tenant] += 1
                self.reasons[result["reason"]] += 1
                self.refusals[tenant, result["reason"], result["detail"]] += 1


@dataclass
class Ingested:
    api: ApiServer
    ledger: Ledger
    alerts_topic: str
    folder: object


def post(api: ApiServer, ledger: Ledger, tenant: str, lines: list[str]) -> None:
    """Post like a well-behaved client: on 503, wait Retry-After and send the same records again (a few times)."""
    for _ in range(6):
        response = api.post(tenant, "\n".join(lines))
        if response.status_code != 503:
            break
        ledger.retries_after_503 += 1
        time.sleep(int(response.headers["Retry-After"]))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] + answer["duplicates"] + answer["rejected"] == len(lines) == len(answer["results"])
    ledger.record(tenant, lines, answer)


def wait_ready(api: ApiServer, ready: bool, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (requests.get(f"{api.url}/readyz", timeout=30).status_code == 200) == ready:
            return
        time.sleep(0.5)
    pytest.fail(f"/readyz did not become {'ready' if ready else 'unready'} in {timeout_s} s")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Ingested:
    """Two tenants each post the whole mixed stream (so every other tenant's records are refused), one chunk
    is retried, and the broker is SIGKILLed and restarted half-way."""
    folder = tmp_path_factory.mktemp("e2e")
    events, incidents = Generator(seed=5, minutes=60).run()
    source = folder / "events.jsonl"
    write(events, incidents, source, broken_rate=0.03, seed=5)
    lines = [line for line in source.read_text().splitlines() if line.strip()]
    api = start_api(folder, PORT, kafka_bootstrap(), unique_topic("e2e"))
    ledger = Ledger()
    try:
        chunks = [lines[i : i + CHUNK] for i in range(0, len(lines), CHUNK)]
        half = len(chunks) // 2
        for tenant in ("acme", "globex"):
            for chunk in chunks[:half]:
                post(api, ledger, tenant, chunk)
        post(api, ledger, "acme", chunks[0])  # a client retry: all duplicates or rejections, nothing new

        os.kill(broker_pid(), signal.SIGKILL)
        down = api.post("acme", "\n".join(chunks[half]))
        assert down.status_code == 503, down.text
        assert "nothing in this request was accepted" in down.json()["detail"]
        assert int(down.headers["Retry-After"]) > 0
        ledger.refused_during_outage = len(chunks[half])
        wait_ready(api, ready=False)

        restart_broker()
        wait_ready(api, ready=True)
        for tenant in ("acme", "globex"):
            for chunk in chunks[half:]:
                post(api, ledger, tenant, chunk)
    finally:
        api.stop()
    produce_around_the_api(api)
    return Ingested(api, ledger, unique_topic("alerts"), folder)


def produce_around_the_api(api: ApiServer) -> None:
    """Two records produced straight to the topic, which the job must refuse: one without a key (no tenant),
    one whose key is acme while the record names globex."""
    producer = KafkaProducer(bootstrap_servers=api.bootstrap, acks="all")
    record = {"event_id": "direct-1", "event_type": "page_view", "ts": 1793606408113}
    producer.send(api.topic, key=None, value=json.dumps(record | {"tenant_id": "acme"}).encode())
    producer.send(api.topic, key=b"acme", value=json.dumps(record | {"tenant_id": "globex"}).encode())
    producer.flush()
    producer.close()


def via_api(records: list[tuple[str | None, dict]]) -> list[tuple[str, dict]]:
    return [(key, value) for key, value in records if not value["event_id"].startswith("direct-")]


def test_counts_add_up_at_the_api(ingested):
    ledger = ingested.ledger
    for tenant in ("acme", "globex"):
        accepted = len(ledger.accepted[tenant])
        assert ledger.posted[tenant] == accepted + ledger.duplicates[tenant] + ledger.rejected[tenant]
        assert accepted > 1000
    assert ledger.reasons["tenant_mismatch"] > 1000
    assert ledger.duplicates["acme"] > 0


def test_records_for_another_tenant_never_reach_its_stream(ingested):
    for key, value in via_api(read_topic(ingested.api.bootstrap, ingested.api.topic)):
        assert value["tenant_id"] == key, f"a record of {value['tenant_id']} was stored under {key}"


def test_a_killed_broker_loses_no_accepted_record(ingested):
    records = via_api(read_topic(ingested.api.bootstrap, ingested.api.topic))
    stored = Counter((key, value["event_id"]) for key, value in records)
    accepted = {(tenant, event_id) for tenant, ids in ingested.ledger.accepted.items() for event_id in ids}
    assert set(stored) == accepted
    assert max(stored.values()) == 1


@pytest.fixture(scope="module")
def streamed(ingested):
    """The scoring job on the topic, bounded at the offsets latest at start, alerts also to a Kafka topic."""
    dsn = f"chdb://{ingested.folder / 'clickhouse'}"
    command = [sys.executable, "-m", "pulse", "stream", "--kafka", ingested.api.bootstrap, "--topic"]
    command += [ingested.api.topic, "--group", "e2e", "--bounded", "--clickhouse", dsn, "--run-id", "kafka-e2e"]
    command += ["--alerts-topic", ingested.alerts_topic]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ingested.folder, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return dsn, result.stdout


def test_every_accepted_event_is_scored_into_clickhouse(ingested, streamed):
    dsn, stdout = streamed
    with store(dsn) as s:
        scored = dict(s.query("SELECT tenant_id, count() FROM scored_events FINAL GROUP BY tenant_id")[1])
        distinct = s.query("SELECT count(DISTINCT tenant_id, event_id) FROM scored_events")[1][0][0]
        rejected = s.query(
            "SELECT tenant_id, reason, detail FROM rejected_events FINAL WHERE detail NOT LIKE '% of request%' "
            "ORDER BY tenant_id"
        )[1]
    accepted = {tenant: len(ids) for tenant, ids in ingested.ledger.accepted.items()}
    assert scored == accepted
    assert distinct == sum(accepted.values())
    # the two records produced around the API: refused by the job, the tenant taken from the key only
    # (the keyless one is filed under no tenant: nothing vouches for the one it names)
    assert [(tenant, reason) for tenant, reason, _ in rejected] == [
        ("", "tenant_mismatch"),
        ("acme", "tenant_mismatch"),
    ]
    assert "sent by tenant ''" in rejected[0][2] and "names tenant_id 'globex'" in rejected[1][2]
    refused = len(read_refusals(ingested.api.bootstrap, ingested.api.topic))
    assert f"read {sum(accepted.values()) + refused + 2} records" in stdout


def test_every_record_the_api_refused_is_in_rejected_events_under_the_senders_tenant(ingested, streamed):
    dsn, _ = streamed
    with store(dsn) as s:
        rows = s.query(
            "SELECT tenant_id, reason, detail, source, record_index FROM rejected_events FINAL "
            "WHERE detail LIKE '% of request%'"
        )[1]
    stored = Counter((tenant, reason, detail) for tenant, reason, detail, _, _ in rows)
    refusals = read_refusals(ingested.api.bootstrap, ingested.api.topic)
    written = Counter((key, why["reason"], why["detail"]) for key, why, _ in refusals)
    assert stored == written  # the job stores every refused record the API wrote, where it is in the topic
    assert all(source.startswith(f"{ingested.api.topic}:") for _, _, _, source, _ in rows)
    # every refusal the API answered is stored (a request answered 503 may have written some before, stored too)
    assert stored - ingested.ledger.refusals == Counter() or ingested.ledger.retries_after_503
    assert ingested.ledger.refusals - stored == Counter()
    assert {tenant for tenant, *_ in rows} == {"acme", "globex"}  # refused records of another tenant: the sender's
    assert sum(ingested.ledger.rejected.values()) > 1000


def test_alerts_are_written_to_kafka_as_json_rows(ingested, streamed):
    dsn, _ = streamed
    with store(dsn) as s:
        alerts = {row[0]: row[1] for row in s.query("SELECT alert_id, tenant_id FROM alerts FINAL")[1]}
    messages = [value for _, value in read_topic(ingested.api.bootstrap, ingested.alerts_topic, partitions=1)]
    assert alerts, "the generated stream has incidents, so there must be alerts"
    assert {m["alert_id"]: m["tenant_id"] for m in messages} == alerts
    assert {"alert_id", "tenant_id", "ts", "severity", "cause", "summary", "event_id"} <= set(messages[0])
    json.dumps(messages)  # plain JSON values only


def test_usage_equals_the_tables_on_the_kafka_path(streamed):
    dsn, _ = streamed
    with store(dsn) as s:
        assert disagreements(lambda sql: s.query(sql, {"run": "kafka-e2e"})[1]) == []
