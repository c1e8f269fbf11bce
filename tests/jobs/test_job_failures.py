"""A job that cannot make progress says why and exits: permanent failures, real Flink, real Kafka, real chDB.

Each poison fails the job on every restart: a record batch corrupted on the broker (the Kafka source cannot read
past it) for `pulse stream`, a plans file putting a tenant on a plan it does not define (the keyed step refuses
to start on it) for `pulse run`. The runs use the project's Flink settings with a shorter restart strategy (two
restarts, short backoff) through $PULSE_FLINK_CONF; the project's own bound is checked on its config file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ingest_support import KAFKA_DIR, kafka_bootstrap, unique_topic
from kafka import KafkaProducer

from jobs.environment import FLINK_CONF, FLINK_CONF_ENV, RESTART_LIMIT, flink_settings
from pulse.dev.generate import Generator, write
from pulse.topics import ensure_topic

pytestmark = pytest.mark.flink
PROJECT = Path(__file__).resolve().parent.parent.parent
MARKER = b"poison-marker"


def quick_restarts(folder: Path) -> dict[str, str]:
    """The environment of a run whose restart strategy gives up after two restarts, a second apart."""
    settings = yaml.safe_load(FLINK_CONF.read_text())
    settings.update({RESTART_LIMIT: 2, "restart-strategy.exponential-delay.initial-backoff": "1s"})
    settings["restart-strategy.exponential-delay.max-backoff"] = "1s"
    conf = folder / "flink-conf.yaml"
    conf.write_text(yaml.safe_dump(settings))
    return {**os.environ, FLINK_CONF_ENV: str(conf)}


def pulse(folder: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pulse", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=folder, env=quick_restarts(folder), timeout=600)


def corrupt(topic: str) -> None:
    """Flip one byte of the marked record's value in the partition's log file: its batch's CRC no longer matches."""
    segment = KAFKA_DIR / "data" / f"{topic}-0" / "00000000000000000000.log"
    data = segment.read_bytes()
    at = data.index(MARKER)
    with segment.open("r+b") as log:
        log.seek(at)
        log.write(b"q")


def test_the_projects_restart_strategy_is_bounded():
    settings = flink_settings(FLINK_CONF)
    assert settings["restart-strategy.type"] == "exponential-delay"
    assert 0 < int(settings[RESTART_LIMIT]) <= 10


@pytest.mark.kafka
def test_a_corrupt_record_batch_stops_pulse_stream_with_the_cause(tmp_path):
    bootstrap, topic = kafka_bootstrap(), unique_topic("poison")
    ensure_topic(bootstrap, topic, partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    good = b'{"event_id": "e%d", "tenant_id": "acme", "event_type": "page_view", "ts": 1741000000000}'
    for i in range(20):
        producer.send(topic, key=b"acme", value=good % i)
    producer.flush()
    value = b'{"event_id": "%s", "tenant_id": "acme", "event_type": "page_view", "ts": 1741000001000}' % MARKER
    producer.send(topic, key=b"acme", value=value).get(timeout=30)  # a batch of its own, at offset 20
    producer.close()
    corrupt(topic)
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    result = pulse(tmp_path, "stream", "--bounded", "--kafka", bootstrap, "--topic", topic, "--rules-topic", "",
                   "--group", f"pulse-{topic}", "--clickhouse", dsn, "--run-id", "poison")  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    err = result.stderr
    assert "restart 1 of at most 2" in err and "restart 2 of at most 2" in err, err[-3000:]
    assert f"the Kafka record batch at offset 20 of partition {topic}-0 is corrupt on the broker" in err, err[-3000:]
    assert "--reset-offsets" in err and f"--topic {topic}:0" in err
    assert (tmp_path / ".run" / "poison" / "failure.txt").is_file()


def test_a_config_the_job_refuses_stops_pulse_run_with_the_cause(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(PROJECT / "configs", configs)
    plans = configs / "plans.yaml"
    plans.write_text(plans.read_text().replace("acme: growth", "acme: platinum"))
    assert "acme: platinum" in plans.read_text()
    events, incidents = Generator(seed=3, minutes=5).run()
    write(events, incidents, tmp_path / "events.jsonl")
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    result = pulse(tmp_path, "run", "--input", "events.jsonl", "--configs", str(configs), "--clickhouse", dsn,
                   "--run-id", "refused")  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    err = result.stderr
    assert "restart 2 of at most 2" in err, err[-3000:]
    assert f"a Python step of the job failed: ValueError: {plans}: tenant acme: plan 'platinum' is not defined" in err
    assert "(pulse/tenants/plans.py, line" in err, err[-3000:]
