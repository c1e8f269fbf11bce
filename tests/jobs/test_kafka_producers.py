"""Any Kafka producer: records from librdkafka (confluent-kafka) in every codec, spread over partitions, all scored.

One Flink launch: `pulse stream --bounded` over a four-partition topic that holds a stream produced the way a
retailer's own services and the API would together: slices of five minutes go round-robin to five librdkafka
producers (compression none, gzip, snappy, lz4, zstd; its default partitioner, consistent_random = CRC32 of the
key) and to kafka-python (the API's client: Java's murmur2 partitioner). The two partitioners put each tenant in
two partitions, so a tenant's events arrive interleaved from partitions read unevenly. Each slice is in Kafka
before the next is sent (producers writing one partition at once would mix up its order beyond the lateness).
The lz4 slices write `ts` as RFC 3339 text with an offset, the others epoch milliseconds; a few broken records
(no readable time, no key) are mixed in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
from confluent_kafka import Producer
from ingest_support import kafka_bootstrap, unique_topic
from kafka import KafkaProducer

from pulse.dev.generate import Generator
from pulse.store.clickhouse import store
from pulse.topics import ensure_topic

pytestmark = [pytest.mark.kafka, pytest.mark.flink]
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
JAVA_PARTITIONER = "kafka-python"  # the API's producer
SLICE_MS = 5 * 60_000
TEXT_TS = "lz4"  # these slices carry `ts` as RFC 3339 text
BROKEN = [
    (b"acme", b'{"event_id": "bad-time", "tenant_id": "acme", "event_type": "page_view", "ts": "never"}'),
    (b"globex", b"not json at all"),
    (None, b'{"event_id": "no-key", "tenant_id": "globex", "event_type": "page_view", "ts": 1741000000000}'),
]


@dataclass
class Produced:
    dsn: str
    run_id: str
    stdout: str
    by_producer: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    partitions: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def query(self, sql: str) -> list[tuple]:
        with store(self.dsn, wait_s=60) as s:
            return s.query(sql, {"run": self.run_id})[1]


def rfc3339(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 text at +02:00, with the milliseconds."""
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .astimezone(timezone(timedelta(hours=2)))
        .isoformat("T", "milliseconds")
    )


@pytest.fixture(scope="module")
def produced(tmp_path_factory) -> Produced:
    folder = tmp_path_factory.mktemp("producers")
    bootstrap, topic = kafka_bootstrap(), unique_topic("producers")
    ensure_topic(bootstrap, topic)  # four partitions, as the API creates pulse.events
    result = Produced(dsn=f"chdb://{folder / 'clickhouse'}", run_id="producers", stdout="")
    events, _ = Generator(seed=17, minutes=90).run()
    start = events[0]["ts"]
    settings = {"bootstrap.servers": bootstrap, "enable.idempotence": True}  # in order within a producer
    librdkafka = {codec: Producer(settings | {"compression.type": codec}) for codec in CODECS}
    java = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    names = [*CODECS, JAVA_PARTITIONER]
    previous = None
    for event in events:
        name = names[(event["ts"] - start) // SLICE_MS % len(names)]
        if previous in librdkafka and name != previous:  # a slice is in Kafka before the next one is sent
            assert librdkafka[previous].flush(30) == 0
        previous = name
        tenant, key = event["tenant_id"], event["tenant_id"].encode()
        value = json.dumps(event | {"ts": rfc3339(event["ts"])} if name == TEXT_TS else event).encode()
        result.by_producer[name].add(event["event_id"])
        if name == JAVA_PARTITIONER:
            result.partitions[tenant].add(java.send(topic, key=key, value=value).get(timeout=30).partition)
            continue

        def delivered(error, message, tenant=tenant):
            assert error is None, error
            result.partitions[tenant].add(message.partition())

        librdkafka[name].produce(topic, key=key, value=value, on_delivery=delivered)
        librdkafka[name].poll(0)
    for key, value in BROKEN:
        librdkafka["zstd"].produce(topic, key=key, value=value)
    for producer in librdkafka.values():
        assert producer.flush(30) == 0
    java.close()
    command = [sys.executable, "-m", "pulse", "stream", "--bounded", "--kafka", bootstrap, "--topic", topic]
    command += ["--group", f"pulse-{topic}", "--rules-topic", "", "--clickhouse", result.dsn, "--run-id", result.run_id]
    run = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result.stdout = run.stdout
    return result


def test_the_stream_spreads_each_tenant_over_two_partitions(produced):
    """The scenario, checked: the two partitioners disagree for every tenant."""
    assert produced.partitions and all(len(partitions) == 2 for partitions in produced.partitions.values())


def test_every_record_of_every_codec_and_partitioner_is_scored_or_rejected(produced):
    expected = set().union(*produced.by_producer.values())
    scored = {row[0] for row in produced.query("SELECT event_id FROM scored_events FINAL WHERE run_id = {run:String}")}
    for name, ids in produced.by_producer.items():
        assert ids and ids <= scored, f"{name}: {len(ids - scored)} of {len(ids)} events not scored"
    assert scored == expected
    reasons = produced.query("SELECT reason, count() FROM rejected_events FINAL WHERE run_id = {run:String} GROUP BY 1")
    assert sum(count for _, count in reasons) == len(BROKEN), reasons
    total = len(expected) + len(BROKEN)
    assert f"read {total} records -> {len(expected)} scored, {len(BROKEN)} rejected" in produced.stdout


def test_no_event_is_late_although_the_partitions_were_read_unevenly(produced):
    """One watermark per partition at the source: a tenant's events from the partition read later are within the
    allowed lateness of their own partition, so none is flagged late or left out of the windows."""
    late = produced.query(
        "SELECT tenant_id, countIf(is_late) FROM scored_events FINAL WHERE run_id = {run:String} GROUP BY 1"
    )
    assert late and all(count == 0 for _, count in late), late
