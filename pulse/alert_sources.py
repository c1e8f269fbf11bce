"""Where `pulse dispatch` reads alerts from: ClickHouse (polling, works with chDB and servers) or a Kafka
topic. Both yield the same items: `Alert(dict)` and `Watermark(tenant, ts)` (event time has reached ts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pulse.clickhouse import Store

DIMENSION_COLUMNS = ("amount", "currency", "campaign_id", "country", "payment_method", "product_id")
ALERT_COLUMNS = ("tenant_id", "alert_id", "ts", "kind", "cause", "severity", "group_key", "event_id", "score",
                 "threshold", "labels")  # fmt: skip


@dataclass(frozen=True)
class Watermark:
    tenant_id: str
    ts: datetime


Item = dict[str, Any] | Watermark


def clickhouse_alerts(
    store: Store, lock: threading.Lock, once: bool, poll_s: float = 5.0, batch: int = 10_000
) -> Iterator[Item]:
    """Alerts in (ts, alert_id) order with their event's dimensions and the tenant's usual order amount;
    after each drained poll, one watermark per tenant (the newest event time in scored_events)."""
    after: tuple[datetime, str] = (datetime(1970, 1, 1, tzinfo=UTC), "")
    while True:
        with lock:
            alerts = _alert_batch(store, after, batch)
            baselines = _baselines(store) if alerts else {}
        yield from ({**a, "baseline_amount": baselines.get(a["tenant_id"])} for a in alerts)
        if alerts:
            after = (alerts[-1]["ts"], alerts[-1]["alert_id"])
        if len(alerts) < batch:
            with lock:
                marks = store.query("SELECT tenant_id, max(ts) FROM scored_events GROUP BY tenant_id")[1]
            yield from (Watermark(tenant, ts) for tenant, ts in marks)
            if once:
                return
            time.sleep(poll_s)


def _alert_batch(store: Store, after: tuple[datetime, str], batch: int) -> list[dict[str, Any]]:
    params = {"ts": after[0], "id": after[1], "n": batch}
    _, rows = store.query(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts FINAL "
        "WHERE (ts, alert_id) > ({ts:DateTime64(3, 'UTC')}, {id:String}) ORDER BY ts, alert_id LIMIT {n:UInt32}",
        params,
    )
    alerts = [dict(zip(ALERT_COLUMNS, row, strict=True)) for row in rows]
    if not alerts:
        return []
    _, events = store.query(
        f"SELECT tenant_id, event_id, {', '.join(DIMENSION_COLUMNS)} FROM scored_events FINAL "
        "WHERE event_id IN {ids:Array(String)}",
        {"ids": sorted({a["event_id"] for a in alerts})},
    )
    dimensions = {(e[0], e[1]): dict(zip(DIMENSION_COLUMNS, e[2:], strict=True)) for e in events}
    return [{**a, **dimensions.get((a["tenant_id"], a["event_id"]), {})} for a in alerts]


def _baselines(store: Store) -> dict[str, float]:
    """Each tenant's average order amount: what an order is expected to be worth."""
    _, rows = store.query(
        "SELECT tenant_id, avgIf(amount, event_type = 'order_placed' AND amount IS NOT NULL) FROM scored_events "
        "GROUP BY tenant_id"
    )
    return {tenant: value for tenant, value in rows if value == value}  # drop NaN (no orders)


def kafka_alerts(bootstrap: str, topic: str, group_id: str = "pulse-dispatch") -> Iterator[Item]:
    """Alerts from a Kafka topic of JSON alert rows (as in the `alerts` table; ts as epoch ms or RFC 3339);
    each alert is also its tenant's watermark. Offsets are committed by the consumer group."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group_id, auto_offset_reset="earliest")
    for message in consumer:
        alert = json.loads(message.value)
        alert["ts"] = _timestamp(alert["ts"])
        yield alert


def _timestamp(value: int | float | str) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
