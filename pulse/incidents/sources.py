"""Where `pulse dispatch` reads alerts from: ClickHouse (polling, works with chDB and servers) or a Kafka
topic. Both yield the same items: `Alert(dict)` and `Watermark(tenant, ts)` (event time has reached ts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pulse.store.clickhouse import Store
from pulse.store.tables import ALERTS

DIMENSION_COLUMNS = ("event_type", "amount", "currency", "campaign_id", "country", "payment_method", "product_id")
ALERT_COLUMNS = tuple(c for c in ALERTS if c not in ("summary", "run_id"))  # what incidents take of an alert


@dataclass(frozen=True)
class Watermark:
    tenant_id: str
    ts: datetime


Item = dict[str, Any] | Watermark


def clickhouse_alerts(
    store: Store,
    lock: threading.Lock,
    once: bool,
    poll_s: float = 5.0,
    batch: int = 10_000,
    lookback: timedelta = timedelta(minutes=10),
) -> Iterator[Item]:
    """Alerts in the order they were written (`created_at`, then `alert_id`), with their event's dimensions
    and the tenant's usual order amount; after each poll, one watermark per tenant (its newest event time).

    Each poll re-reads the last `lookback` of writes and skips alert ids already yielded, so an alert
    whose batch reached ClickHouse late (a writer that was retrying) is still picked up."""
    cursor = datetime(1970, 1, 1, tzinfo=UTC)
    seen: dict[str, datetime] = {}
    while True:
        after = (cursor - lookback, "")
        while True:
            with lock:
                alerts = _alert_batch(store, after, batch)
                baselines = _baselines(store) if alerts else {}
            for alert in alerts:
                if alert["alert_id"] not in seen:
                    seen[alert["alert_id"]] = alert["created_at"]
                    baseline = baselines.get((alert["tenant_id"], alert.get("event_type")))
                    yield {**alert, "baseline_amount": baseline}
            if alerts:
                after = (alerts[-1]["created_at"], alerts[-1]["alert_id"])
                cursor = max(cursor, after[0])
            if len(alerts) < batch:
                break
        seen = {a: t for a, t in seen.items() if t >= cursor - lookback}
        with lock:
            marks = store.query("SELECT tenant_id, max(ts) FROM scored_events GROUP BY tenant_id")[1]
        yield from (Watermark(tenant, _utc(ts)) for tenant, ts in marks)
        if once:
            return
        time.sleep(poll_s)


def _alert_batch(store: Store, after: tuple[datetime, str], batch: int) -> list[dict[str, Any]]:
    params = {"at": after[0], "id": after[1], "n": batch}
    _, rows = store.query(
        f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts FINAL "
        "WHERE (created_at, alert_id) > ({at:DateTime64(3, 'UTC')}, {id:String}) "
        "ORDER BY created_at, alert_id LIMIT {n:UInt32}",
        params,
    )
    alerts = [dict(zip(ALERT_COLUMNS, row, strict=True)) for row in rows]
    for a in alerts:
        a["ts"], a["created_at"] = _utc(a["ts"]), _utc(a["created_at"])
    if not alerts:
        return []
    _, events = store.query(
        f"SELECT tenant_id, event_id, {', '.join(DIMENSION_COLUMNS)} FROM scored_events FINAL "
        "WHERE event_id IN {ids:Array(String)}",
        {"ids": sorted({a["event_id"] for a in alerts})},
    )
    dimensions = {(e[0], e[1]): dict(zip(DIMENSION_COLUMNS, e[2:], strict=True)) for e in events}
    return [{**a, **dimensions.get((a["tenant_id"], a["event_id"]), {})} for a in alerts]


def _baselines(store: Store) -> dict[tuple[str, str], float]:
    """Each tenant's average amount per event type: what one such event is expected to be worth."""
    _, rows = store.query(
        "SELECT tenant_id, event_type, avg(amount) FROM scored_events WHERE amount IS NOT NULL "
        "GROUP BY tenant_id, event_type"
    )
    return {(tenant, event_type): value for tenant, event_type, value in rows}


def kafka_alerts(bootstrap: str, topic: str, idle_s: float | None = None) -> Iterator[Item]:
    """Alerts from a Kafka topic of JSON alert rows (as in the `alerts` table; ts as epoch ms or RFC 3339);
    each alert is also its tenant's watermark. Like the ClickHouse source, it reads the topic from its
    beginning on every start and commits no offsets: incident state is rebuilt from the alerts and
    notices already delivered are skipped, so a crash loses nothing in flight. With `idle_s`, stop
    once no message has come for that long (`pulse dispatch --once`)."""
    from kafka import KafkaConsumer

    timeout_ms = int(idle_s * 1000) if idle_s is not None else float("inf")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=timeout_ms,
    )
    try:
        for message in consumer:
            alert = json.loads(message.value)
            alert["ts"] = _timestamp(alert["ts"])
            yield alert
            yield Watermark(alert["tenant_id"], alert["ts"])
    finally:
        consumer.close()


def _utc(moment: datetime) -> datetime:
    """clickhouse-connect may return naive datetimes for UTC columns: mark them as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _timestamp(value: int | float | str) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
