"""Input files: JSON Lines, CSV and Parquet give the same events; broken rows keep their index."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pulse.events import parse_record
from pulse.generate import Generator, write
from pulse.inputs import RawRecord, read_records


@pytest.fixture(scope="module")
def events():
    return Generator(minutes=5, sessions_per_minute=2).run()[0]


def parsed(path):
    return [parse_record(r.payload, source=r.source, index=r.index).event for r in read_records(path)]


def test_three_formats_give_identical_events(tmp_path, events):
    files = {}
    for suffix in ("jsonl", "csv", "parquet"):
        files[suffix] = tmp_path / f"events.{suffix}"
        write(events, [], files[suffix])
    results = {suffix: parsed(path) for suffix, path in files.items()}
    assert len(results["jsonl"]) == len(events)
    assert all(e is not None for e in results["jsonl"])
    assert results["csv"] == results["jsonl"]
    assert results["parquet"] == results["jsonl"]


def test_blank_lines_are_not_records_and_indexes_count_records(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2\n')
    records = list(read_records(path))
    assert [(r.index, r.payload) for r in records] == [(0, '{"a": 1}'), (1, '{"b": 2')]


def test_csv_bad_cell_is_rejected_with_its_row(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "event_id,tenant_id,event_type,ts,amount\ne1,acme,order_placed,1793613600000,12.5\n"
        "e2,acme,order_placed,1793613600000,lots\n"
    )
    results = [parse_record(r.payload, source=r.source, index=r.index) for r in read_records(path)]
    assert results[0].ok
    assert results[1].reason == "wrong_type" and "record 1 of x.csv" in results[1].detail


def test_parquet_timestamp_column_is_read_as_utc(tmp_path):
    path = tmp_path / "x.parquet"
    table = pa.table(
        {
            "event_id": ["e1"],
            "tenant_id": ["acme"],
            "event_type": ["page_view"],
            "ts": pa.array([1793613600000], pa.timestamp("ms")),
        }
    )
    pq.write_table(table, path)
    (record,) = read_records(path)
    assert parse_record(record.payload, source="x", index=0).event["ts"] == 1793613600000


def test_envelope_round_trip():
    record = RawRecord("f.csv", 3, {"event_id": "x"}, "acme")
    assert RawRecord.from_json(record.to_json()) == record
    assert json.loads(record.to_json())["t"] == "acme"


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown input format '.xml'"):
        list(read_records(tmp_path / "x.xml"))
