"""The event time the Kafka source's watermarks read (Flink SQL) against the parser's `ts` (pulse.events).

The watermark may read a time a little early (RFC 3339 to the second) or not at all, never a later one, and never
a time for a record whose `ts` the parser rejects: such a record must not move event time. One Flink batch job
evaluates the expression over every case.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from operators.kafka_event_time import event_time_ms
from pulse.events import parse_record

pytestmark = pytest.mark.flink
CURATED = [
    1741000000000, 1741000000000.7, "1741000000000", " 1741000000000 ", 0, "0", 90000000000000.0, True, -5, 1e20,
    "1e3", "9e13", 253402300799999, 253402300800000, None, [1], {"a": 1}, "never", "", "T",
    "2026-11-23T10:15:00Z", "2026-11-23t10:15:00.5z", "2026-11-23 10:15:00-05:30", "2026-11-23T10:15:00.123+01:00",
    "2026-11-23T10:15:00.1234567891Z", "2026-11-23T10:15:00+19:00", "2024-02-29T23:59:59.999-23:59",
    "2000-02-29T12:00:00Z", "9999-12-31T23:59:59.999+00:00", "0001-01-01T00:00:00Z", "2026-11-23T10:15:00",
    "2026-02-30T10:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T10:61:00Z", "2026-11-23T10:15:60Z",
    "2026-11-23T10:15:00+25:00", "2026-11-23T10:15Z", "2026-11-23T10:15:00.Z", "2026-11-23T10:15:00+01:00 junk",
]  # fmt: skip


def generated(count: int = 400) -> list:
    """RFC 3339 texts and epoch milliseconds around today's dates, in the spellings producers use."""
    rng = random.Random(7)
    values: list = []
    for _ in range(count):
        ms = rng.randrange(0, 4102444800000)  # 1970 to 2100
        offset = timezone(timedelta(minutes=rng.choice([0, 60, -300, 330, 765, -720, 23 * 60 + 59])))
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(offset)
        text = moment.isoformat(sep=rng.choice("T "), timespec=rng.choice(["seconds", "milliseconds", "microseconds"]))
        values += [ms, str(ms), text, text.replace("+00:00", "Z"), text.lower(), text + "x", text[:-1] + "9"]
    return values


@pytest.fixture(scope="module")
def read() -> list[tuple[str, int | None, int | None]]:
    """(payload, watermark's milliseconds, parser's milliseconds or None if rejected) for every case."""
    payloads = [json.dumps({"event_id": "e", "tenant_id": "acme", "event_type": "page_view", "ts": ts})
                for ts in CURATED + generated()]  # fmt: skip
    payloads += ["not json", '{"a": 1}', '[{"ts": 1741000000000}]', '{"attributes": {"ts": "2099-01-01T00:00:00Z"}}']
    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    rows = ", ".join("('" + p.replace("'", "''") + "')" for p in payloads)
    sql = f"SELECT p, {event_time_ms('p')} FROM (VALUES {rows}) AS v(p)"
    result = []
    for payload, ms in t_env.execute_sql(sql).collect():
        parsed = parse_record(payload, source="x", index=0)
        result.append((payload, ms, parsed.event["ts"] if parsed.ok else None))
    assert len(result) == len(payloads)
    return result


def test_the_watermark_never_reads_a_later_time_than_the_parser(read):
    for payload, ms, parsed in read:
        if ms:
            assert parsed is not None and 0 <= parsed - ms < 1000, payload


def test_a_record_the_parser_rejects_never_moves_event_time(read):
    """Its time reads as NULL (no watermark from it) or the epoch (below any watermark): never a real moment."""
    assert all(ms in (None, 0) for _, ms, parsed in read if parsed is None)


def test_epoch_milliseconds_and_rfc3339_are_read(read):
    """What producers send (numbers, digit strings, RFC 3339 with Z or an offset) advances event time."""
    readable = [(payload, ms) for payload, ms, parsed in read if parsed and parsed < 10**14 and not _exotic(payload)]
    assert len(readable) > 1000
    assert all(ms for _, ms in readable), [payload for payload, ms in readable if not ms][:5]


def _exotic(payload: str) -> bool:
    """Spellings the parser accepts that the watermark leaves alone: a minute without seconds, an empty fraction,
    an epoch time 0, and pre-1970 text."""
    ts = json.loads(payload)["ts"]
    return ts in (0, "0") or (isinstance(ts, str) and (ts.endswith(("15Z", ".Z")) or ts.startswith("0001")))
