"""Repeated event ids and replay-stable receive times: plain logic and real chDB, no Flink."""

import pickle
import time
from datetime import UTC, datetime

from pyflink.common import Row
from pyflink.common.time import Instant

from operators.kafka_source import to_envelope
from operators.parse import ParseRecords
from pulse.events import parse_record
from pulse.inputs import RawRecord
from pulse.job.duplicates import CONFLICT, DUPLICATE, Origin, SeenIds
from pulse.job.pipeline import TenantPipeline
from pulse.store.writer import BatchWriter
from pulse.tenants.config import TenantConfig
from pulse.tenants.plans import PlanWatcher, plans_file_for
from pulse.topics import Refused

RECEIVED = 1_795_000_000_000  # 2026-11-18 10:13:20 UTC


def event(event_id: str, ts="2026-11-02T10:00:00Z", amount: float = 10.0) -> dict:
    text = f'{{"event_id": "{event_id}", "tenant_id": "acme", "event_type": "order_placed", "ts": "{ts}", '
    return parse_record(text + f'"amount": {amount}}}', source="x", index=0).event


def at(index: int, source: str = "a.jsonl", received: int = RECEIVED) -> Origin:
    return Origin(source, index, received)


def test_an_exact_repeat_is_a_duplicate_and_a_changed_event_under_the_same_id_a_conflict():
    seen = SeenIds()
    assert seen.check(event("e1"), at(0)) is None
    # the same event written differently (epoch ms instead of RFC 3339, from another file) is the same event
    same = event("e1", ts=1793613600000)
    assert (seen.check(same, at(5, "b.csv")).reason, seen.check(same, at(5, "b.csv")).source) == (DUPLICATE, "a.jsonl")
    assert seen.check(event("e1", amount=11.0), at(6)).reason == CONFLICT
    assert seen.check(event("e2"), at(7)) is None


def test_a_record_read_again_is_not_a_repeat_of_itself():
    seen = SeenIds()
    assert seen.check(event("e1"), at(3)) is None
    assert seen.check(event("e1"), at(3)) is None  # replayed after a failure: scored again, its rows replace theirs
    assert seen.check(event("e1"), at(4)).reason == DUPLICATE


def test_ids_are_forgotten_past_the_count_and_the_receive_time_horizon():
    by_count = SeenIds(max_ids=4, chunk_ids=2)
    for i in range(6):
        by_count.check(event(f"e{i}"), at(i))
    assert sorted(by_count.ids) == ["e2", "e3", "e4", "e5"]  # whole chunks of the oldest go first
    assert by_count.check(event("e0"), at(10)) is None  # forgotten: new again
    by_time = SeenIds(horizon_ms=1000, chunk_ids=1)
    by_time.check(event("old"), at(0, received=0))
    by_time.check(event("new"), at(1, received=1500))
    assert sorted(by_time.ids) == ["new"]
    assert by_time.check(event("new"), at(2, received=1500)).reason == DUPLICATE


def test_stored_chunks_restore_the_same_memory_and_only_changed_chunks_are_stored():
    seen, stored = SeenIds(max_ids=6, chunk_ids=3), {}

    def save():
        changed, dropped = seen.changes()
        stored.update(changed)
        for number in dropped:
            del stored[number]
        return sorted(changed), sorted(dropped)

    for i in range(4):
        seen.check(event(f"e{i}"), at(i))
    assert save() == ([1, 2], [])
    seen.check(event("e0"), at(9))  # a repeat changes nothing
    assert save() == ([], [])
    for i in range(4, 8):
        seen.check(event(f"e{i}"), at(i))
    assert save() == ([2, 3], [1])  # chunk 1 (e0..e2) went past the 6 ids
    restored = SeenIds(max_ids=6, chunk_ids=3)
    restored.restore(pickle.loads(pickle.dumps(stored)).items())  # as Flink state gives them back
    assert restored.ids == seen.ids
    assert restored.check(event("e5"), at(20)).reason == DUPLICATE
    assert restored.check(event("e0"), at(21)) is None


def test_the_pipeline_stores_a_repeat_with_its_reason_and_meters_duplicates_apart():
    pipeline = TenantPipeline("acme", TenantConfig(), PlanWatcher(plans_file_for("configs")), "r1")
    state, seen = pipeline.new_state(), SeenIds()
    first = pipeline.event(event("e1"), state, None, origin=at(0), seen=seen)
    repeat = pipeline.event(event("e1"), state, None, origin=at(1), seen=seen)
    conflict = pipeline.event(event("e1", amount=99.0), state, None, origin=at(2), seen=seen)
    assert [table for table, _ in first] == ["scored_events"]
    (table, row), ((_, other),) = repeat[0], conflict
    assert (table, row["reason"], row["source"], row["record_index"]) == ("rejected_events", DUPLICATE, "a.jsonl", 1)
    assert "repeats record 0 of a.jsonl" in row["detail"] and '"event_id": "e1"' in row["raw"]
    assert row["rejected_at"] == datetime.fromtimestamp(RECEIVED / 1000, UTC)
    assert other["reason"] == CONFLICT and "give every event an event_id of its own" in other["detail"]
    minutes = {u["minute"]: (u["accepted"], u["rejected"], u["duplicates"]) for u in pipeline.usage(state, version=1)}
    received = datetime.fromtimestamp(RECEIVED // 60_000 * 60, UTC)
    assert minutes == {datetime(2026, 11, 2, 10, tzinfo=UTC): (1, 0, 0), received: (0, 1, 1)}


def test_a_kafka_record_becomes_an_envelope_with_its_receive_time_and_the_apis_refusal():
    refused = Refused(b"{broken", "malformed_json", "record 3 of request is not valid JSON")
    row = Row("acme", "{broken", "pulse.events", 2, 41, Instant(RECEIVED // 1000, 0), dict(refused.headers()))
    record = RawRecord.from_json(to_envelope(row))
    assert (record.tenant, record.source, record.index, record.received) == ("acme", "pulse.events:2", 41, RECEIVED)
    assert record.refused == {"reason": "malformed_json", "detail": "record 3 of request is not valid JSON"}
    plain = RawRecord.from_json(to_envelope(Row(None, "{}", "pulse.events", 0, 1, None, None)))
    assert (plain.tenant, plain.received, plain.refused) == ("", None, None)


def test_a_refused_record_is_stored_under_the_key_tenant_with_the_apis_reason():
    refused = {"reason": "tenant_mismatch", "detail": "record 0 of request names tenant_id 'globex'"}
    envelope = RawRecord("pulse.events:0", 5, '{"tenant_id": "globex"}', "acme", RECEIVED, refused)
    ((kind, row),) = ParseRecords("r1").process_element(envelope.to_json(), None)
    assert (kind, row["tenant_id"], row["reason"], row["raw"]) == (
        "rejected",
        "acme",
        "tenant_mismatch",
        '{"tenant_id": "globex"}',
    )


def test_a_reject_read_again_after_a_failure_is_one_row_and_counted_once(db):
    """The same envelope parsed twice (a restart re-reads it), its rows written twice (a replayed insert) on the
    usage state of the last checkpoint: one rejected_events row, one reject in usage."""
    envelope = RawRecord("pulse.events:1", 17, "{not json", "acme", RECEIVED).to_json()
    pipeline = TenantPipeline("acme", TenantConfig(), PlanWatcher(plans_file_for("configs")), "r1")
    checkpoint = pickle.dumps(pipeline.new_state())
    writer = BatchWriter(db)
    for _ in range(2):  # the first run and the run restored from the checkpoint
        state = pickle.loads(checkpoint)
        ((_, row),) = ParseRecords("r1").process_element(envelope, None)
        rows = pipeline.rejected(row, state)
        rows += [("usage", u) for u in pipeline.usage(state, version=time.time_ns())]
        for table, written in rows:
            writer.insert(table, [written])
    rejected = db.query("SELECT count(), any(rejected_at) FROM rejected_events FINAL WHERE run_id = 'r1'")[1]
    usage = db.query("SELECT sum(rejected), count(), any(minute) FROM usage FINAL WHERE tenant_id = 'acme'")[1]
    received = datetime.fromtimestamp(RECEIVED / 1000, UTC)
    assert rejected[0][0] == 1 and rejected[0][1].replace(tzinfo=UTC) == received  # not when it was parsed
    assert usage == [(1, 1, received.replace(second=0, tzinfo=None))]
