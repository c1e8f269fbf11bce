"""Alerts to a Kafka topic, one JSON object per alert (the `alerts` row), for webhook dispatch and others.

Delivery is at least once: a consumer deduplicates on `alert_id` (deterministic per tenant, cause, event).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pyflink.common import Types
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import DataStream
from pyflink.datastream.connectors.base import DeliveryGuarantee
from pyflink.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink


def write_alerts(batches: DataStream, bootstrap: str, topic: str) -> None:
    """Send the ("alerts", row) pairs of `batches` (lists of (table, row) pairs) to `topic` as JSON."""
    sink = (
        KafkaSink.builder()
        .set_bootstrap_servers(bootstrap)
        .set_record_serializer(
            KafkaRecordSerializationSchema.builder()
            .set_topic(topic)
            .set_value_serialization_schema(SimpleStringSchema())
            .build()
        )
        .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .build()
    )
    alerts = batches.flat_map(alert_texts, output_type=Types.STRING()).name("alert-json")
    alerts.sink_to(sink).name("kafka-alerts").set_parallelism(1)


def alert_texts(batch: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The alerts of a batch of rows, as JSON."""
    return [alert_json(row) for table, row in batch if table == "alerts"]


def alert_json(row: dict[str, Any]) -> str:
    """An alerts row as JSON; times in RFC 3339."""
    return json.dumps(row, default=_plain, sort_keys=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
