"""The scoring job: raw records → parse → key by tenant → rules and risk model → ClickHouse.

Local: `pulse run --input FILE` (builds the staging file and calls `build`).
Cluster: `flink run --python jobs/scoring.py --pyFiles pulse,models,operators,jobs -pyexec PYTHON
-- --watch DIR --configs DIR --clickhouse DSN --run-id ID` (see README "Cluster").
"""

from __future__ import annotations

import argparse

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import Sink
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

from operators.clickhouse_sink import WriteToClickHouse
from operators.parse import REJECTED, ParseRecords
from operators.scoring import ScoreEvents
from operators.time import event_time

DISCARD = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"
ALLOWED_LATENESS = Duration.of_seconds(60)
WATCH_INTERVAL = Duration.of_seconds(1)


def source(env: StreamExecutionEnvironment, args: argparse.Namespace) -> DataStream:
    """The raw-record envelopes the job reads: one staged file (bounded) or a folder watched for new files."""
    if args.watch:
        return file_records(env, args.watch, follow=True)
    return file_records(env, args.staging)


def file_records(env: StreamExecutionEnvironment, path: str, follow: bool = False) -> DataStream:
    """Envelope lines from a file or folder; `follow` keeps watching it for new files (files starting
    with `.` or `_` are ignored, so write a file under such a name and rename it when complete)."""
    builder = FileSource.for_record_stream_format(StreamFormat.text_line_format(), path)
    if follow:
        builder = builder.monitor_continuously(WATCH_INTERVAL)
    stream = env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), "raw-records")
    return stream.uid("raw-records").set_parallelism(1)


def build(env: StreamExecutionEnvironment, raw: DataStream, configs_dir: str, dsn: str, run_id: str) -> None:
    """Wire the scoring job over a stream of raw-record envelopes (operator uids keep savepoints compatible)."""
    parsed = raw.process(ParseRecords(run_id), output_type=Types.PICKLED_BYTE_ARRAY()).name("parse").uid("parse")
    rejected = parsed.get_side_output(REJECTED).map(lambda row: ("rejected_events", row)).name("rejects")
    events = parsed.assign_timestamps_and_watermarks(event_time(ALLOWED_LATENESS))
    scored = (
        events.key_by(lambda event: event["tenant_id"], key_type=Types.STRING())
        .process(ScoreEvents(configs_dir, run_id))
        .name("score")
        .uid("score")
    )
    rows = scored.union(rejected).key_by(lambda _: 0, key_type=Types.INT())
    written = rows.process(WriteToClickHouse(dsn)).name("clickhouse").uid("clickhouse").set_parallelism(1)
    written.sink_to(Sink(DISCARD)).set_parallelism(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    input_ = parser.add_mutually_exclusive_group(required=True)
    input_.add_argument("--staging", help="file of raw-record envelopes (from pulse run); the job ends after it")
    input_.add_argument("--watch", help="folder to watch for new files of raw-record envelopes (unbounded)")
    parser.add_argument("--configs", required=True)
    parser.add_argument("--clickhouse", required=True)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    env = StreamExecutionEnvironment.get_execution_environment()
    build(env, source(env, args), args.configs, args.clickhouse, args.run_id)
    env.execute(f"pulse-scoring {args.run_id}")


if __name__ == "__main__":
    main()
