"""Retention counts from arrival (real chDB TTL): a backfill of old history is kept for the plan's whole retention,
also in a store written by the schema before retention counted from arrival."""

from datetime import UTC, datetime, timedelta

import pytest

from pulse.job.usage import UsageState, meter
from pulse.store.clickhouse import migrations, store
from pulse.store.writer import BatchWriter
from pulse.tenants.plans import Plan

NOW = datetime.now(UTC)
YEARS_AGO = NOW - timedelta(days=800)
ARRIVAL_MIGRATION = "0008_retention_from_arrival.sql"


def scored(event_id: str, ts: datetime, ingested_at: datetime, days: int) -> dict:
    return {"tenant_id": "initech", "event_id": event_id, "event_type": "page_view", "ts": ts, "run_id": "r",
            "ingested_at": ingested_at, "retention_days": days}  # fmt: skip


def rejected(index: int, rejected_at: datetime, days: int) -> dict:
    return {"tenant_id": "initech", "source": "f", "record_index": index, "reason": "malformed_json", "detail": "",
            "raw": "{", "run_id": "r", "rejected_at": rejected_at, "retention_days": days}  # fmt: skip


def kept(s, table: str, column: str) -> list:
    s.client.command(f"OPTIMIZE TABLE {table} FINAL")  # TTL is applied when parts merge
    return sorted(row[0] for row in s.query(f"SELECT {column} FROM {table}")[1])


def apply(s, names: list[str]) -> None:
    """Apply the shipped migrations named, as `Store.migrate` does (a store as an older release left it)."""
    for name, sql in migrations():
        if name in names:
            for statement in sql.split("\n---\n"):
                if statement.strip():
                    s.client.command(statement)


def test_the_meter_stamps_raw_rows_with_the_live_plans_retention():
    plan = Plan(events_per_second=1, retention_days=7)
    state = UsageState()
    [(_, row)] = meter(state, "t", "free", plan, "scored_events", {**scored("e", NOW, NOW, 0), "risk_score": None}, "r")
    [(_, reject)] = meter(state, "t", "free", plan, "rejected_events", rejected(0, NOW, 0), "r")
    assert row["retention_days"] == reject["retention_days"] == 7
    unlimited = Plan(events_per_second=1)
    [(_, row)] = meter(
        state, "t", "x", unlimited, "scored_events", {**scored("f", NOW, NOW, 9), "risk_score": None}, "r"
    )
    assert row["retention_days"] == 0


def test_rows_expire_by_arrival_whatever_their_event_time(db):
    writer = BatchWriter(db)
    writer.insert("scored_events", [
        scored("backfill", YEARS_AGO, NOW, 30),                       # old history sent today: kept
        scored("stale", NOW, NOW - timedelta(days=31), 30),           # received 31 days ago: gone
        scored("forever", YEARS_AGO, NOW - timedelta(days=3000), 0),  # a plan without retention: kept
    ])  # fmt: skip
    writer.insert("rejected_events", [rejected(0, NOW, 30), rejected(1, NOW - timedelta(days=31), 30)])
    assert kept(db, "scored_events", "event_id") == ["backfill", "forever"]
    assert kept(db, "rejected_events", "record_index") == [0]


def test_a_store_of_the_previous_schema_keeps_its_rows_by_arrival_after_migrating(tmp_path):
    with store(f"chdb://{tmp_path / 'ch'}") as s:
        older = [name for name, _ in migrations() if name < ARRIVAL_MIGRATION]
        apply(s, older)
        s.client.command(
            "CREATE TABLE schema_migrations (name String, applied_at DateTime64(3, 'UTC')) "
            "ENGINE = ReplacingMergeTree(applied_at) ORDER BY name"
        )
        s.client.insert("schema_migrations", [[name, NOW] for name in older], column_names=["name", "applied_at"])
        writer = BatchWriter(s)
        writer.insert(
            "scored_events", [scored("recent", NOW, NOW, 30), scored("stale", NOW, NOW - timedelta(days=31), 30)]
        )
        assert kept(s, "scored_events", "event_id") == ["recent", "stale"]  # the old TTL counted from event time

        assert s.migrate()[0] == ARRIVAL_MIGRATION
        assert kept(s, "scored_events", "event_id") == ["recent"]  # stored rows now expire by their arrival
        writer.insert("scored_events", [scored("backfill", YEARS_AGO, NOW, 30)])
        alert = {"tenant_id": "initech", "alert_id": "a", "ts": YEARS_AGO, "kind": "rule", "cause": "c",
                 "severity": "high", "run_id": "r", "created_at": NOW}  # fmt: skip
        writer.insert("alerts", [alert])
        assert kept(s, "scored_events", "event_id") == ["backfill", "recent"]
        assert kept(s, "tenant_minute_metrics", "minute") == sorted({
            YEARS_AGO.replace(second=0, microsecond=0, tzinfo=None), NOW.replace(second=0, microsecond=0, tzinfo=None)
        })  # fmt: skip
        assert len(kept(s, "tenant_minute_alerts", "minute")) == 1


@pytest.mark.parametrize("minute", [YEARS_AGO, NOW])
def test_usage_of_any_month_is_kept_800_days_from_when_it_was_written(db, minute):
    row = {"tenant_id": "initech", "minute": minute.replace(second=0, microsecond=0), "run_id": "r", "accepted": 1,
           "version": int(NOW.timestamp() * 1e9)}  # fmt: skip
    BatchWriter(db).insert(
        "usage", [row, {**row, "run_id": "old", "version": int((NOW - timedelta(days=801)).timestamp() * 1e9)}]
    )
    assert kept(db, "usage", "run_id") == ["r"]
