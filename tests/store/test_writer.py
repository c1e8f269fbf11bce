"""The ClickHouse writer against real chDB: replays do not double rows, an outage blocks instead of losing."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from pulse.store.clickhouse import migrations, store
from pulse.store.writer import BatchWriter, PermanentWriteError, batch_token

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


def test_a_replayed_batch_of_metric_values_has_the_token_of_its_first_write():
    def minutes(written_at: datetime) -> list[dict]:
        return [{"tenant_id": "acme", "metric": "orders", "minute": START + timedelta(minutes=m), "value": 3.0,
                 "run_id": "r1", "written_at": written_at} for m in range(5)]  # fmt: skip

    first = batch_token("metric_values", minutes(START))
    assert batch_token("metric_values", minutes(START + timedelta(hours=1))) == first  # wall clock left out
    assert batch_token("metric_values", minutes(START)[1:]) != first


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
        retried_thrice = threading.Event()

        def sleep(seconds: float) -> None:
            if writer.retries >= 3:
                retried_thrice.set()
            time.sleep(min(seconds, 0.05))

        writer = BatchWriter(s, batch_rows=10_000, max_age_s=3600, backoff_cap_s=0.2, sleep=sleep)
        for i in range(100):
            writer.add("scored_events", scored(i))
        flushed = threading.Event()

        def flush():
            writer.flush()  # scored_events does not exist yet: every insert fails
            flushed.set()

        threading.Thread(target=flush, daemon=True).start()
        assert retried_thrice.wait(30)
        assert not flushed.is_set()  # blocked, retrying: back-pressure
        core = dict(migrations())["0001_core_tables.sql"]
        s.client.command(core.split("\n---\n")[0])  # ClickHouse "comes back" with the table
        assert flushed.wait(10)
        assert s.query("SELECT count() FROM scored_events")[1] == [(100,)]


def test_a_reject_holding_bytes_that_are_not_utf8_is_stored_as_those_bytes(db, tmp_path):
    """A JSON Lines file with a Latin-1 byte: the record is rejected and stored as sent (the insert used to fail
    on the surrogate that stands for the byte, and the writer retried forever)."""
    from operators.parse import ParseRecords
    from pulse.inputs import read_records

    line = (
        b'{"event_id": "e1", "tenant_id": "acme", "event_type": "page_view", "ts": 1, "attributes": {"k": "caf\xe9"}}'
    )
    (tmp_path / "latin1.jsonl").write_bytes(line + b"\n")
    [record] = read_records(tmp_path / "latin1.jsonl")
    [(kind, row)] = ParseRecords("r1").process_element(record.to_json(), None)
    assert kind == "rejected"
    writer = BatchWriter(db, sleep=lambda s: pytest.fail(f"retried after {s} s"))
    writer.add("rejected_events", row)
    writer.flush()
    stored = db.client.query("SELECT raw FROM rejected_events", column_formats={"raw": "bytes"}).result_rows
    assert stored == [(line,)]


def test_a_batch_clickhouse_can_never_take_fails_at_once_with_the_cause(db):
    """No endless retry for a batch the client cannot send (here a column the table lacks): the job fails with the
    cause, restarts a bounded number of times, and stops (tests/test_job_failures.py)."""
    writer = BatchWriter(db, sleep=lambda s: pytest.fail(f"retried after {s} s"))
    writer.add("scored_events", scored(1) | {"no_such_column": 1})
    with pytest.raises(PermanentWriteError, match="ClickHouse cannot take 1 rows of table scored_events: Prog"):
        writer.flush()


def test_a_request_writer_gives_up_after_its_attempts_with_the_failure(tmp_path):
    """A request (a sign-out, an incident action) must answer: its writer raises after `attempts` failures."""
    with store(f"chdb://{tmp_path / 'ch'}") as s:
        waits: list[float] = []
        writer = BatchWriter(s, sleep=waits.append, attempts=3)
        with pytest.raises(Exception, match="scored_events"):
            writer.insert("scored_events", [scored(1)])  # the table does not exist
        assert len(waits) == 2 and writer.retries == 2
