"""The scoring job: raw records → parse → key by tenant → rules and risk model, metric detectors → ClickHouse.

Local: `pulse run --input FILE` (builds the staging file and calls `build`).
Cluster: `flink run --python jobs/scoring.py --pyFiles . -- --staging FILE --configs DIR --clickhouse DSN`.
"""

from __future__ import annotations

import argparse

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.connectors.base import Sink
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

from operators.clickhouse_sink import WriteToClickHouse
from operators.metrics import DetectMetricAnomalies
from operators.parse import REJECTED, ParseRecords
from operators.scoring import ScoreEvents
from operators.time import event_time

DISCARD = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"
ALLOWED_LATENESS = Duration.of_seconds(60)


def build(env: StreamExecutionEnvironment, staging: str, configs_dir: str, dsn: str, run_id: str) -> None:
    """Wire the scoring job for one bounded staging file of raw-record envelopes."""
    source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), staging).build()
    raw = env.from_source(source, WatermarkStrategy.no_watermarks(), "raw-records").set_parallelism(1)
    parsed = raw.process(ParseRecords(run_id), output_type=Types.PICKLED_BYTE_ARRAY()).name("parse")
    rejected = parsed.get_side_output(REJECTED).map(lambda row: ("rejected_events", row)).name("rejects")
    events = parsed.assign_timestamps_and_watermarks(event_time(ALLOWED_LATENESS))
    scored = (
        events.key_by(lambda event: event["tenant_id"], key_type=Types.STRING())
        .process(ScoreEvents(configs_dir, run_id))
        .name("score")
    )
    metrics = (
        events.key_by(lambda event: event["tenant_id"], key_type=Types.STRING())
        .process(DetectMetricAnomalies(configs_dir, run_id))
        .name("metrics")
    )
    rows = scored.union(rejected, metrics)
    rows.process(WriteToClickHouse(dsn)).name("clickhouse").set_parallelism(1).sink_to(Sink(DISCARD)).set_parallelism(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--staging", required=True, help="file of raw-record envelopes (from pulse run)")
    parser.add_argument("--configs", required=True)
    parser.add_argument("--clickhouse", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    env = StreamExecutionEnvironment.get_execution_environment()
    build(env, args.staging, args.configs, args.clickhouse, args.run_id)
    env.execute(f"pulse-scoring {args.run_id}")


if __name__ == "__main__":
    main()
