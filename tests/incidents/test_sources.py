"""The ClickHouse alert source (real chDB)."""

import threading
from datetime import UTC, datetime, timedelta

from pulse.incidents.sources import Watermark, clickhouse_alerts
from pulse.store.writer import BatchWriter

NOW = datetime.now(UTC)


def alert(alert_id: str, created_at: datetime, event_id: str = "e1") -> dict:
    return {"tenant_id": "acme", "alert_id": alert_id, "ts": datetime(2026, 11, 2, 10, tzinfo=UTC), "kind": "rule",
            "cause": "large-order", "severity": "high", "group_key": "c1", "event_id": event_id, "score": None,
            "threshold": None, "summary": "", "labels": {}, "run_id": "r", "created_at": created_at}  # fmt: skip


def until_watermark(items) -> list:
    out = []
    for item in items:
        if isinstance(item, Watermark):
            return out
        out.append(item)
    return out


def test_polling_yields_each_alert_once_with_its_event_and_picks_up_late_batches(db):
    writer = BatchWriter(db)
    event = {"tenant_id": "acme", "event_id": "e1", "event_type": "order_placed", "amount": 2500.0,
             "country": "NG", "campaign_id": "bf", "ts": datetime(2026, 11, 2, 10, tzinfo=UTC), "run_id": "r",
             "ingested_at": NOW}  # fmt: skip
    writer.insert("scored_events", [event])
    writer.insert("alerts", [alert("a1", NOW)])
    items = clickhouse_alerts(db, threading.Lock(), once=False, poll_s=0.01)
    [first] = until_watermark(items)
    assert first["alert_id"] == "a1" and first["country"] == "NG" and first["amount"] == 2500.0
    assert first["baseline_amount"] == 2500.0
    writer.insert("alerts", [alert("a0", NOW - timedelta(seconds=30)), alert("a2", NOW + timedelta(seconds=1))])
    assert [a["alert_id"] for a in until_watermark(items)] == ["a0", "a2"]  # a0 was written late; a1 not again
    assert until_watermark(items) == []
