"""`pulse rules publish` to Kafka (the project's real broker): a checked config lands on the rules topic,
keyed by the tenant it was published for, as the job's --rules-topic reads it."""

import subprocess
import sys
import uuid

import pytest
from kafka import KafkaConsumer

from pulse.cli.common import PROJECT_CONFIGS
from pulse.topics import default_bootstrap

pytestmark = pytest.mark.kafka


def test_publish_puts_the_checked_config_on_the_rules_topic_keyed_by_tenant():
    topic = f"pulse.rules.test-{uuid.uuid4().hex[:8]}"
    config = PROJECT_CONFIGS / "tenants" / "acme.yaml"
    command = [sys.executable, "-m", "pulse", "rules", "publish", str(config), "--tenant", "acme", "--topic", topic,
               "--kafka", default_bootstrap()]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    consumer = KafkaConsumer(topic, bootstrap_servers=default_bootstrap(), auto_offset_reset="earliest",
                             consumer_timeout_ms=10_000)  # fmt: skip
    try:
        records = [(r.key, r.value) for r in consumer]
    finally:
        consumer.close()
    assert records == [(b"acme", config.read_bytes())]
