"""The Kafka alert source against the project's real Kafka broker (`make services-up`)."""

import json
from datetime import UTC, datetime

from ingest_support import kafka_bootstrap, unique_topic

from pulse.incidents.sources import Watermark, kafka_alerts
from pulse.topics import ensure_topic


def test_alerts_from_the_topic_in_order_with_watermarks():
    from kafka import KafkaProducer

    broker, topic = kafka_bootstrap(), unique_topic("alerts")
    ensure_topic(broker, topic, 1)

    producer = KafkaProducer(bootstrap_servers=broker, value_serializer=lambda v: json.dumps(v).encode())
    sent = [{"tenant_id": "acme", "alert_id": f"a{i}", "ts": 1793613600000 + i * 60_000, "kind": "rule",
             "cause": "large-order", "severity": "high", "group_key": "c1", "event_id": f"e{i}", "labels": {}}
            for i in range(3)]  # fmt: skip
    sent.append(sent[2] | {"alert_id": "a3", "ts": "2026-11-02T10:05:00Z"})
    for alert in sent:
        producer.send(topic, alert)
    producer.flush()
    producer.close()
    items = list(kafka_alerts(broker, topic, idle_s=3))
    alerts = [i for i in items if not isinstance(i, Watermark)]
    assert [a["alert_id"] for a in alerts] == ["a0", "a1", "a2", "a3"]
    assert alerts[0]["ts"] == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert alerts[3]["ts"] == datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
    assert [w.ts.minute for w in items if isinstance(w, Watermark)] == [0, 1, 2, 5]
    again = list(kafka_alerts(broker, topic, idle_s=2))  # a restart re-reads: state is rebuilt, not stored
    assert [a["alert_id"] for a in again if not isinstance(a, Watermark)] == ["a0", "a1", "a2", "a3"]
