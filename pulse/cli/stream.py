"""`pulse stream`: the scoring job on Flink's local mini-cluster over a Kafka topic."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from pulse.cli.common import PROJECT_CONFIGS, bootstrap, console, load_configs_or_report, with_dsn, with_kafka
from pulse.cli.run import RunReport, conserved, report, run_job


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="run the scoring job on events from Kafka")
    with_kafka(p)
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--group", default="pulse-scoring", help="Kafka consumer group (offsets resume from it)")
    p.add_argument("--bounded", action="store_true", help="stop at the offsets that are latest at start, then report")
    p.add_argument("--alerts-topic", default=None, help="also write every alert as JSON to this Kafka topic")
    p.add_argument("--rules-topic", default="pulse.rules", help="rule updates topic ('' for none; pulse rules publish)")
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--run-id", default=None)
    with_dsn(p)
    p.set_defaults(func=cmd_stream)


def cmd_stream(args: argparse.Namespace) -> int:
    if load_configs_or_report(args.configs) is None:
        return 2
    run_id = args.run_id or datetime.now(UTC).strftime("stream-%Y%m%dT%H%M%S")
    result = stream(
        bootstrap(args),
        args.topic,
        args.configs,
        args.clickhouse,
        run_id,
        group=args.group,
        bounded=args.bounded,
        alerts_topic=args.alerts_topic,
        parallelism=args.parallelism,
        rules_topic=args.rules_topic or None,
    )
    if result is None:
        return 0
    console.print(f"run {run_id}: {result.counts()}", markup=False)
    return conserved(result, run_id)


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
    from pulse.topics import ensure_topic  # Kafka's client: imported when a command needs it

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
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        return sum(ends[tp] - max(starts[tp], consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close()
