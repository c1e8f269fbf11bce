"""The scoring job: raw records → parse → key by tenant → rules, risk model, metric detectors, usage → ClickHouse.

Local: `pulse run --input FILE` (bounded files) and `pulse stream` (Kafka) start this module with `--local RUN_DIR`
(a mini-cluster in its own process), so a local run is the job a cluster runs, and `pulse` imports nothing of jobs/
or operators/ (they import pulse).
Cluster: `flink run --python jobs/scoring.py --pyFiles pulse,models,operators,jobs -pyexec PYTHON
[--jarfile .jars/flink/flink-sql-connector-kafka-5.0.0-2.2.jar --classpath file://$PWD/.jars/flink/zstd-jni-1.5.6-10.jar]
-- (--kafka HOST:PORT | --watch DIR | --staging FILE)
--configs DIR --clickhouse DSN --run-id ID [--alerts-topic T]` (see README "Cluster").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.datastream.connectors.base import Sink
from pyflink.datastream.connectors.file_system import FileSource, StreamFormat

from operators.clickhouse_sink import WriteToClickHouse
from operators.kafka_alerts import write_alerts
from operators.kafka_source import kafka_raw_records
from operators.parse import ParseRecords
from operators.pipeline import FEEDBACK, UPDATED_CONFIGS, RunPipeline
from operators.time import with_event_time
from pulse.eventtime import ALLOWED_LATENESS_MS
from pulse.store.usage import accepted_before

DISCARD = "org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink"
ALLOWED_LATENESS_S = ALLOWED_LATENESS_MS // 1000  # events later than this behind the newest are scored, flagged is_late
WATCH_INTERVAL_S = 1  # a plain number: importing this module must not start the JVM (jobs/environment.py)


def source(env: StreamExecutionEnvironment, args: argparse.Namespace) -> DataStream:
    """The raw-record envelopes the job reads: a Kafka topic, a folder watched for new files, or one staged file."""
    if args.kafka:
        lateness = args.allowed_lateness
        return kafka_raw_records(env, args.kafka, args.topic, args.group, args.bounded, allowed_lateness_s=lateness)
    if args.watch:
        return file_records(env, args.watch, follow=True)
    return file_records(env, args.staging)


def rule_updates(
    env: StreamExecutionEnvironment,
    kafka: str | None = None,
    topic: str | None = None,
    folder: str | None = None,
    group: str = "pulse-scoring",
    bounded: bool = False,
) -> DataStream:
    """Rule updates (`pulse rules publish`) from a Kafka topic, a watched folder, or none. The stream never
    holds back event time: it counts as idle a second after its last update."""
    if topic:
        updates = kafka_raw_records(env, kafka, topic, f"{group}-rules", bounded, table="rule_updates")
    elif folder:
        updates = file_records(env, folder, follow=True, name="rule-updates")
    else:
        updates = env.from_collection([], type_info=Types.STRING()).name("rule-updates").uid("rule-updates")
    idle = WatermarkStrategy.for_monotonous_timestamps().with_idleness(Duration.of_seconds(1))
    return updates.assign_timestamps_and_watermarks(idle)


def file_records(
    env: StreamExecutionEnvironment, path: str, follow: bool = False, name: str = "raw-records"
) -> DataStream:
    """Envelope lines from a file or folder; `follow` keeps watching it for new files (files starting
    with `.` or `_` are ignored, so write a file under such a name and rename it when complete)."""
    builder = FileSource.for_record_stream_format(StreamFormat.text_line_format(), path)
    if follow:
        builder = builder.monitor_continuously(Duration.of_seconds(WATCH_INTERVAL_S))
    stream = env.from_source(builder.build(), WatermarkStrategy.no_watermarks(), name)
    return stream.uid(name).set_parallelism(1)


def build(
    env: StreamExecutionEnvironment,
    raw: DataStream,
    configs_dir: str,
    dsn: str,
    run_id: str,
    allowed_lateness_s: int = ALLOWED_LATENESS_S,
    usage_before: dict[str, dict[str, int]] | None = None,
    updates: DataStream | None = None,
    event_time_at_source: bool = False,
) -> DataStream:
    """Wire the job over a stream of raw-record envelopes (operator uids keep savepoints compatible): parse, then
    per tenant score, detect metric anomalies and meter usage in one keyed step, and write to ClickHouse; return
    the batches of (table, row) pairs written, for an optional alerts topic. `usage_before` (tenant → month →
    accepted events of earlier runs, see pulse.store.usage.accepted_before) starts the quota counts of a new
    job; `updates` (see rule_updates) changes tenants' rules while the job runs. `event_time_at_source`: `raw`
    carries its own watermarks (Kafka, one per partition); otherwise they trail the parsed events' `ts`."""
    # One parse subtask: a rebalance from the source to several would reorder a tenant's events.
    parsed = raw.process(ParseRecords(run_id), output_type=Types.PICKLED_BYTE_ARRAY()).name("parse").uid("parse")
    parsed = parsed.set_parallelism(1)
    if not event_time_at_source:
        parsed = with_event_time(env, parsed, Duration.of_seconds(allowed_lateness_s))
    by_tenant = parsed.key_by(lambda pair: pair[1]["tenant_id"], key_type=Types.STRING())
    # A tenant's own clock (its newest event less the lateness) holds for one ordered input only.
    clock = not event_time_at_source
    pipeline = RunPipeline(configs_dir, run_id, allowed_lateness_s * 1000, usage_before, tenant_clock=clock)
    updates = (updates or rule_updates(env)).broadcast(UPDATED_CONFIGS, FEEDBACK)
    # The keyed step in slots of its own: its Python worker does not share its interpreter with parse and the writer.
    batches = by_tenant.connect(updates).process(pipeline).name("score").uid("score").slot_sharing_group("score")
    to_writer = batches.key_by(lambda _: 0, key_type=Types.INT())
    written = to_writer.process(WriteToClickHouse(dsn)).name("clickhouse").uid("clickhouse").set_parallelism(1)
    written.sink_to(Sink(DISCARD)).set_parallelism(1)
    return batches


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """The job's options: where it reads (one of --staging, --watch, --kafka), what it writes, where it runs."""
    parser = argparse.ArgumentParser(prog="jobs/scoring.py", description=__doc__.splitlines()[0])
    input_ = parser.add_mutually_exclusive_group(required=True)
    input_.add_argument("--staging", help="file of raw-record envelopes (from pulse run); the job ends after it")
    input_.add_argument("--watch", help="folder to watch for new files of raw-record envelopes (unbounded)")
    input_.add_argument("--kafka", help="Kafka bootstrap servers to read the events topic from")
    parser.add_argument("--topic", default="pulse.events")
    parser.add_argument("--group", default="pulse-scoring")
    parser.add_argument("--bounded", action="store_true", help="Kafka: stop at the offsets that are latest at start")
    parser.add_argument("--alerts-topic", help="also write alerts as JSON to this Kafka topic (needs --kafka)")
    updates = parser.add_mutually_exclusive_group()
    updates.add_argument("--rules-topic", help="take rule updates from this Kafka topic (needs --kafka)")
    updates.add_argument("--rules-folder", help="take rule updates from new files in this folder")
    parser.add_argument("--configs", required=True)
    parser.add_argument("--clickhouse", required=True)
    parser.add_argument("--run-id", required=True)
    lateness = ALLOWED_LATENESS_S
    parser.add_argument("--allowed-lateness", type=int, default=lateness, help=f"seconds (default {lateness})")
    parser.add_argument(
        "--local", metavar="RUN_DIR", help="run on a mini-cluster in this process, checkpoints in RUN_DIR (pulse run)"
    )
    parser.add_argument("--parallelism", type=int, help="with --local (default: flink-conf's)")
    args = parser.parse_args(argv)
    if args.alerts_topic and not args.kafka:
        parser.error("--alerts-topic needs --kafka")
    if args.rules_topic and not args.kafka:
        parser.error("--rules-topic needs --kafka")
    return args


def build_job(
    env: StreamExecutionEnvironment, args: argparse.Namespace, usage_before: dict[str, dict[str, int]] | None = None
) -> None:
    """The whole job of `args` (see `options`) on `env`: the source, rule updates, the keyed step, the writer, and
    the alerts topic if asked. `usage_before`: see `build`."""
    updates = rule_updates(env, args.kafka, args.rules_topic, args.rules_folder, args.group, args.bounded)
    raw = source(env, args)
    configs = str(Path(args.configs).resolve())
    kafka = bool(args.kafka)
    alerts = build(env, raw, configs, args.clickhouse, args.run_id, args.allowed_lateness, usage_before, updates, kafka)
    if args.alerts_topic:
        write_alerts(alerts, args.kafka, args.alerts_topic)


def main(argv: list[str] | None = None) -> None:
    args = options(argv)
    # A server can be read before the job starts, and so can embedded chDB before a local job (this process
    # releases it before the job's workers open it); on a cluster, chDB belongs to the workers, so a new job on it
    # starts its month from zero and a running one carries its counts in checkpoints and savepoints.
    readable = args.local or not args.clickhouse.startswith("chdb://")
    before = accepted_before(args.clickhouse, args.run_id) if readable else {}
    name = f"pulse-scoring {args.run_id}"
    if not args.local:
        env = StreamExecutionEnvironment.get_execution_environment()
        build_job(env, args, before)
        env.execute(name)
        return
    from jobs.environment import KAFKA_JARS, local_environment, restart_limit
    from pulse.cli.execution import JobFailed, execute

    run_dir = Path(args.local)
    env = local_environment(args.parallelism, run_dir)  # checkpoints in RUN_DIR/checkpoints
    if args.kafka:
        missing = [str(jar) for jar in KAFKA_JARS if not jar.is_file()]
        if missing:
            sys.exit(f"{', '.join(missing)} missing: run 'make jars'")
        env.add_jars(*(jar.as_uri() for jar in KAFKA_JARS))
    build_job(env, args, before)
    try:
        execute(env, name, run_dir / "failure.txt", restart_limit())
    except JobFailed as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()
