"""The ClickHouse writer against real chDB: replays do not double rows, an outage blocks instead of losing."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from pulse.clickhouse import migrations, store
from pulse.sink import BatchWriter

START = datetime(2026, 11, 2, 10, tzinfo=UTC)


def scored(i: int, run_id: str = "r1") -> dict:
    return {
        "tenant_id": "acme" if i % 3 else "globex",
        "event_id": f"e{i}",
        "event_type": "order_placed" if i % 2 else "payment_succeeded",
        "ts": START + timedelta(seconds=7 * i),
        "amount": 10.0 + i,
        "session_id": f"s{i % 50}",
        "run_id": run_id,
        "ingested_at": datetime.now(UTC),
    }


@pytest.fixture
def db(tmp_path):
    with store(f"chdb://{tmp_path / 'ch'}") as s:
        s.migrate()
        yield s


def write(db, rows, batch_rows):
    writer = BatchWriter(db, batch_rows=batch_rows, max_age_s=3600)
    for row in rows:
        writer.add("scored_events", row)
    writer.flush()


def totals(db):
    raw = db.query("SELECT count(), count(DISTINCT tenant_id, event_id) FROM scored_events")[1][0]
    final = db.query("SELECT count() FROM scored_events FINAL")[1][0][0]
    rollup = db.query("SELECT sum(events), sum(orders), round(sum(revenue), 2) FROM tenant_minute_metrics")[1][0]
    return raw, final, rollup


def test_replaying_the_same_run_adds_no_rows_anywhere(db):
    rows = [scored(i) for i in range(2000)]
    write(db, rows, batch_rows=300)
    first = totals(db)
    write(db, [dict(r, ingested_at=datetime.now(UTC)) for r in rows], batch_rows=300)  # the same run replayed
    assert totals(db) == first
    (count, distinct), final, (events, orders, revenue) = first
    assert count == distinct == final == events == 2000
    assert orders == 1000 and revenue == round(
        sum(r["amount"] for r in rows if r["event_type"] == "payment_succeeded"), 2
    )


def test_a_replay_with_other_batch_boundaries_still_has_no_duplicate_rows(db):
    rows = [scored(i) for i in range(2000)]
    write(db, rows, batch_rows=300)
    write(db, rows[1000:], batch_rows=170)  # a restart from the middle, batched differently
    (count, _), final, _ = totals(db)
    assert final == 2000  # ReplacingMergeTree on (tenant_id, ts, event_id): each event once
    assert db.query("SELECT count() FROM (SELECT event_id FROM scored_events FINAL GROUP BY event_id "
                    "HAVING count() > 1)")[1] == [(0,)]  # fmt: skip


def test_an_outage_blocks_the_writer_until_clickhouse_takes_the_rows(tmp_path):
    with store(f"chdb://{tmp_path / 'ch'}") as s:
        writer = BatchWriter(s, batch_rows=10_000, max_age_s=3600, backoff_cap_s=0.2)
        for i in range(100):
            writer.add("scored_events", scored(i))
        flushed = threading.Event()

        def flush():
            writer.flush()  # scored_events does not exist yet: every insert fails
            flushed.set()

        threading.Thread(target=flush, daemon=True).start()
        time.sleep(1.0)
        assert not flushed.is_set() and writer.retries >= 3  # blocked, retrying: back-pressure
        core = dict(migrations())["0001_core_tables.sql"]
        s.client.command(core.split("\n---\n")[0])  # ClickHouse "comes back" with the table
        assert flushed.wait(10)
        assert s.query("SELECT count() FROM scored_events")[1] == [(100,)]
