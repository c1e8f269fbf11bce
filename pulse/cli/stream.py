"""Running the scoring job on Flink's local mini-cluster over a Kafka topic (`pulse stream`)."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition

from pulse.cli.run import RunReport, report, run_job
from pulse.topics import ensure_topic


def stream(
    bootstrap: str,
    topic: str,
    configs_dir: str,
    dsn: str,
    run_id: str,
    group: str,
    bounded: bool,
    alerts_topic: str | None = None,
    parallelism: int | None = None,
    rules_topic: str | None = None,
) -> RunReport | None:
    """Run the job on `topic`; when bounded, stop at the offsets latest at start and report what landed."""
    ensure_topic(bootstrap, topic)
    if alerts_topic:
        ensure_topic(bootstrap, alerts_topic, partitions=1)  # one partition: alerts in order
    if rules_topic:
        ensure_topic(bootstrap, rules_topic, partitions=1)  # one partition: a tenant's updates in order
    pending = pending_records(bootstrap, topic, group) if bounded else 0
    options = ["--kafka", bootstrap, "--topic", topic, "--group", group, *(["--bounded"] if bounded else [])]
    options += ["--alerts-topic", alerts_topic] if alerts_topic else []
    options += ["--rules-topic", rules_topic] if rules_topic else []
    run_job(options, configs_dir, dsn, run_id, parallelism)  # checkpoints in .run/RUN_ID/checkpoints
    return report(dsn, run_id, pending) if bounded else None


def pending_records(bootstrap: str, topic: str, group: str) -> int:
    """How many records of `topic` the consumer group has not read yet (all of them for a new group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        return sum(ends[tp] - max(starts[tp], consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close()
