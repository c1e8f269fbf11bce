"""Running the scoring job on Flink's local mini-cluster over a Kafka topic (`pulse stream`)."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from pulse.cli.run import ALLOWED_LATENESS_S, RunReport, report
from pulse.store.usage import accepted_before
from pulse.topics import ensure_topic

JARS = (
    Path(__file__).resolve().parent.parent.parent / ".jars" / "flink"
)  # pom.xml's flink profile, fetched by `make jars`
# Flink's Kafka connector, and zstd-jni: its Kafka client reads zstd-compressed records with it but does not bundle it
# (lz4 and snappy come with Flink). A job reading Kafka needs both, as `pipeline.jars` or `flink run` options.
CONNECTOR_JAR = JARS / "flink-sql-connector-kafka-5.0.0-2.2.jar"
KAFKA_JARS = (CONNECTOR_JAR, JARS / "zstd-jni-1.5.6-10.jar")


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
    from jobs.environment import local_environment, restart_limit
    from jobs.scoring import build, rule_updates
    from operators.kafka_alerts import write_alerts
    from operators.kafka_source import kafka_raw_records
    from pulse.cli.execution import execute

    for jar in KAFKA_JARS:
        if not jar.is_file():
            raise FileNotFoundError(f"{jar} is missing: run 'make jars'")
    ensure_topic(bootstrap, topic)
    if alerts_topic:
        ensure_topic(bootstrap, alerts_topic, partitions=1)  # one partition: alerts in order
    if rules_topic:
        ensure_topic(bootstrap, rules_topic, partitions=1)  # one partition: a tenant's updates in order
    pending = pending_records(bootstrap, topic, group) if bounded else 0
    before = accepted_before(dsn, run_id)  # migrates too; the client holds chDB's folder until the job starts
    run_dir = Path(".run") / run_id
    env = local_environment(parallelism, run_dir)  # checkpoints in .run/RUN_ID/checkpoints
    env.add_jars(*(jar.as_uri() for jar in KAFKA_JARS))
    raw = kafka_raw_records(env, bootstrap, topic, group, bounded, allowed_lateness_s=ALLOWED_LATENESS_S)
    updates = rule_updates(env, bootstrap, rules_topic, group=group, bounded=bounded)
    configs = str(Path(configs_dir).resolve())
    alerts = build(env, raw, configs, dsn, run_id, usage_before=before, updates=updates, event_time_at_source=True)
    if alerts_topic:
        write_alerts(alerts, bootstrap, alerts_topic)
    execute(env, f"pulse-scoring {run_id}", run_dir / "failure.txt", restart_limit())
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
