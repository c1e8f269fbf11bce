"""Raw records from Kafka: the record key is the authenticated tenant, the value the record as sent.

Read with Flink's Kafka connector (its KafkaSource) through a table, because only the table connector
exposes the key, partition and offset to Python. Each record becomes the same RawRecord envelope the
file source produces: tenant = key, source = "topic:partition", index = offset, received = the record's
timestamp (the broker's append time on the topics PulseEcom creates, see pulse.topics), and the API's refusal
from the `pulse-refused` header. A record without a key gets the tenant "" and is then rejected
(tenant_mismatch or invalid tenant_id), never trusted.

The events table carries the job's event time: a watermark per partition, generated inside the source from each
record's `ts` (operators/kafka_event_time.py); unbounded, a partition idle for IDLE_TIMEOUT does not hold it back.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from operators.kafka_event_time import watermark
from pulse.inputs import RawRecord
from pulse.topics import REFUSED_HEADER, refusal

# Unbounded reads: a partition that delivers nothing for this long (back-pressured time does not count) stops
# holding back event time until it delivers again, so an empty or quiet partition delays windows by at most this.
# Long enough that a partition with a backlog is not taken for idle while the reader works through another's.
# A bounded read needs none: a partition ends at its last offset.
IDLE_TIMEOUT = "30 s"


def kafka_raw_records(
    env: StreamExecutionEnvironment,
    bootstrap: str,
    topic: str,
    group: str,
    bounded: bool,
    table: str = "records",
    allowed_lateness_s: int | None = None,
) -> DataStream:
    """Envelope text of every record of `topic`, from the group's offsets (earliest for a new group);
    `table` names the job's table over the topic (one per topic). With `allowed_lateness_s` the stream carries
    event-time watermarks, one per partition at the source, trailing each partition's newest `ts` by it."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": bootstrap,
        "properties.group.id": group,
        "properties.auto.offset.reset": "earliest",
        "scan.startup.mode": "group-offsets",
        "key.format": "raw",
        "key.fields": "tenant",
        "value.format": "raw",
        "value.fields-include": "EXCEPT_KEY",
    }
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    event_time = ""
    if allowed_lateness_s is not None:
        event_time = ", " + watermark("timestamp", "payload", allowed_lateness_s * 1000)
        if not bounded:
            options["scan.watermark.idle-timeout"] = IDLE_TIMEOUT
    with_clause = ", ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE kafka_{table} (tenant STRING, payload STRING, "
        "`topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL, "
        "`timestamp` TIMESTAMP_LTZ(3) METADATA VIRTUAL, `headers` MAP<STRING, BYTES> METADATA VIRTUAL"
        f"{event_time}) WITH ({with_clause})"
    )
    rows = t_env.to_data_stream(t_env.from_path(f"kafka_{table}"))
    return rows.map(to_envelope, output_type=Types.STRING()).name(f"kafka-{table}")


def to_envelope(row: Row) -> str:
    """One Kafka record (tenant, payload, topic, partition, offset, timestamp, headers) as a RawRecord envelope."""
    tenant, payload, topic, partition, offset, timestamp, headers = (row[i] for i in range(7))
    return RawRecord(
        source=f"{topic}:{partition}",
        index=offset,
        payload=payload or "",
        tenant=tenant or "",
        received=None if timestamp is None else timestamp.to_epoch_milli(),
        refused=refusal((headers or {}).get(REFUSED_HEADER)),
    ).to_json()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
