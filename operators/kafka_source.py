"""Raw records from Kafka: the record key is the authenticated tenant, the value the record as sent.

Read with Flink's Kafka connector (its KafkaSource) through a table, because only the table connector
exposes the key, partition and offset to Python. Each record becomes the same RawRecord envelope the
file source produces: tenant = key, source = "topic:partition", index = offset, received = the record's
timestamp (the broker's append time on the topics PulseEcom creates, see pulse.topics), and the API's refusal
from the `pulse-refused` header. A record without a key gets the tenant "" and is then rejected
(tenant_mismatch or invalid tenant_id), never trusted.
"""

from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.table import StreamTableEnvironment

from pulse.inputs import RawRecord
from pulse.topics import REFUSED_HEADER, refusal


def kafka_raw_records(
    env: StreamExecutionEnvironment, bootstrap: str, topic: str, group: str, bounded: bool, table: str = "records"
) -> DataStream:
    """Envelope text of every record of `topic`, from the group's offsets (earliest for a new group);
    `table` names the job's table over the topic (one per topic)."""
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
    with_clause = ", ".join(f"{_quote(k)} = {_quote(v)}" for k, v in options.items())
    t_env = StreamTableEnvironment.create(env)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE kafka_{table} (tenant STRING, payload STRING, "
        "`topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL, "
        "`timestamp` TIMESTAMP_LTZ(3) METADATA VIRTUAL, `headers` MAP<STRING, BYTES> METADATA VIRTUAL) "
        f"WITH ({with_clause})"
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
