"""The scoring job: raw records → parse → key by tenant → rules and risk model → ClickHouse.

Local: `pulse run --input FILE` (builds the staging file and calls `build`), or `pulse stream` (Kafka).
Cluster: `flink run --python jobs/scoring.py --pyFiles . -- --staging FILE --configs DIR --clickhouse DSN`;
from Kafka: `flink run --jarfile .jars/flink/flink-sql-connector-kafka-5.0.0-2.2.jar --python jobs/scoring.py
--pyFiles . -- --kafka HOST:PORT --topic pulse.events --configs DIR --clickhouse DSN [--alerts-topic T]`.
"""

from __future__ import annotations

import argparse

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import Sink
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

from operators.clickhouse_sink import WriteToClickHouse
from operators.kafka_alerts import write_alerts
from operators.kafka_source import kafka_raw_records
from operators.parse import REJECTED, ParseRecords
from operators.scoring import ScoreEvents
from operators.time import event_time

DISCARD = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"
ALLOWED_LATENESS_S = 60  # events later than this behind the newest are scored but flagged is_late


def build(
    env: StreamExecutionEnvironment,
    staging: str,
    configs_dir: str,
    dsn: str,
    run_id: str,
    allowed_lateness_s: int = ALLOWED_LATENESS_S,
) -> None:
    """Wire the scoring job for one bounded staging file of raw-record envelopes."""
    source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), staging).build()
    raw = env.from_source(source, WatermarkStrategy.no_watermarks(), "raw-records").set_parallelism(1)
    score_and_write(raw, configs_dir, dsn, run_id, allowed_lateness_s)


def build_from_kafka(
    env: StreamExecutionEnvironment,
    kafka: str,
    topic: str,
    group: str,
    bounded: bool,
    configs_dir: str,
    dsn: str,
    run_id: str,
    alerts_topic: str | None = None,
    allowed_lateness_s: int = ALLOWED_LATENESS_S,
) -> None:
    """Wire the scoring job for a Kafka topic of tenant-keyed records (bounded: up to the latest offsets)."""
    raw = kafka_raw_records(env, kafka, topic, group, bounded)
    scored = score_and_write(raw, configs_dir, dsn, run_id, allowed_lateness_s)
    if alerts_topic:
        write_alerts(scored, kafka, alerts_topic)


def score_and_write(
    raw: DataStream, configs_dir: str, dsn: str, run_id: str, allowed_lateness_s: int = ALLOWED_LATENESS_S
) -> DataStream:
    """Parse, score and write to ClickHouse; return the scored (table, row) pairs."""
    parsed = raw.process(ParseRecords(run_id), output_type=Types.PICKLED_BYTE_ARRAY()).name("parse")
    rejected = parsed.get_side_output(REJECTED).map(lambda row: ("rejected_events", row)).name("rejects")
    events = parsed.assign_timestamps_and_watermarks(event_time(Duration.of_seconds(allowed_lateness_s)))
    scored = (
        events.key_by(lambda event: event["tenant_id"], key_type=Types.STRING())
        .process(ScoreEvents(configs_dir, run_id, allowed_lateness_s * 1000))
        .name("score")
    )
    rows = scored.union(rejected)
    rows.process(WriteToClickHouse(dsn)).name("clickhouse").set_parallelism(1).sink_to(Sink(DISCARD)).set_parallelism(1)
    return scored


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--staging", help="file of raw-record envelopes (from pulse run)")
    parser.add_argument("--kafka", help="read from Kafka at these bootstrap servers instead of --staging")
    parser.add_argument("--topic", default="pulse.events")
    parser.add_argument("--group", default="pulse-scoring")
    parser.add_argument("--bounded", action="store_true", help="stop at the offsets that are latest at start")
    parser.add_argument("--alerts-topic", help="also write alerts as JSON to this Kafka topic")
    parser.add_argument("--configs", required=True)
    parser.add_argument("--clickhouse", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--allowed-lateness", type=int, default=ALLOWED_LATENESS_S, help="seconds (default 60)")
    args = parser.parse_args(argv)
    if bool(args.staging) == bool(args.kafka):
        parser.error("give either --staging or --kafka")
    env = StreamExecutionEnvironment.get_execution_environment()
    if args.kafka:
        build_from_kafka(
            env,
            args.kafka,
            args.topic,
            args.group,
            args.bounded,
            args.configs,
            args.clickhouse,
            args.run_id,
            args.alerts_topic,
            args.allowed_lateness,
        )
    else:
        build(env, args.staging, args.configs, args.clickhouse, args.run_id, args.allowed_lateness)
    env.execute(f"pulse-scoring {args.run_id}")


if __name__ == "__main__":
    main()
