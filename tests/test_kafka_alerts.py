"""The Kafka alert source against a real single-node Apache Kafka broker (KRaft) from the project's jars."""

import json
import shutil
import socket
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pulse.alert_sources import Watermark, kafka_alerts

JARS = Path(__file__).resolve().parent.parent / ".jars" / "kafka"
PORT, CONTROLLER = 19621, 19622


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if not list(JARS.glob("kafka-server-*.jar")):
        subprocess.run(["mvn", "-q", "dependency:copy-dependencies", f"-DoutputDirectory={JARS}", "-Pkafka"],
                       cwd=JARS.parent.parent, check=True, timeout=600)  # fmt: skip
    folder = tmp_path_factory.mktemp("kafka")
    config = folder / "server.properties"
    config.write_text(
        "process.roles=broker,controller\nnode.id=1\n"
        f"controller.quorum.voters=1@127.0.0.1:{CONTROLLER}\n"
        f"listeners=PLAINTEXT://127.0.0.1:{PORT},CONTROLLER://127.0.0.1:{CONTROLLER}\n"
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{PORT}\ncontroller.listener.names=CONTROLLER\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        f"log.dirs={folder / 'data'}\nnum.partitions=1\noffsets.topic.replication.factor=1\n"
        "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n"
        "group.initial.rebalance.delay.ms=0\n"
    )
    java = ["java", "-Xmx512m", "-cp", f"{JARS}/*"]
    cluster = str(uuid.uuid4().hex[:22])
    subprocess.run([*java, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config)],
                   check=True, capture_output=True, timeout=120)  # fmt: skip
    with (folder / "broker.log").open("w") as log:
        process = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"Kafka did not start; see {folder / 'broker.log'}")
    yield f"127.0.0.1:{PORT}"
    process.terminate()
    process.wait(30)
    shutil.rmtree(folder / "data", ignore_errors=True)


def test_alerts_from_the_topic_in_order_with_watermarks(broker):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=broker, value_serializer=lambda v: json.dumps(v).encode())
    sent = [{"tenant_id": "acme", "alert_id": f"a{i}", "ts": 1793613600000 + i * 60_000, "kind": "rule",
             "cause": "large-order", "severity": "high", "group_key": "c1", "event_id": f"e{i}", "labels": {}}
            for i in range(3)]  # fmt: skip
    sent.append(sent[2] | {"alert_id": "a3", "ts": "2026-11-02T10:05:00Z"})
    for alert in sent:
        producer.send("alerts", alert)
    producer.flush()
    producer.close()
    items = list(kafka_alerts(broker, "alerts", idle_s=3))
    alerts = [i for i in items if not isinstance(i, Watermark)]
    assert [a["alert_id"] for a in alerts] == ["a0", "a1", "a2", "a3"]
    assert alerts[0]["ts"] == datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    assert alerts[3]["ts"] == datetime(2026, 11, 2, 10, 5, tzinfo=UTC)
    assert [w.ts.minute for w in items if isinstance(w, Watermark)] == [0, 1, 2, 5]
    again = list(kafka_alerts(broker, "alerts", idle_s=2))  # a restart re-reads: state is rebuilt, not stored
    assert [a["alert_id"] for a in again if not isinstance(a, Watermark)] == ["a0", "a1", "a2", "a3"]
