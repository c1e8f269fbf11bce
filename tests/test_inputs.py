"""Input files: JSON Lines, CSV and Parquet give the same events; broken rows keep their index."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pulse.dev.generate import Generator, write
from pulse.events import parse_record
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


def test_a_json_lines_record_over_the_limit_is_measured_not_read(tmp_path):
    path = tmp_path / "x.jsonl"
    big = '{"event_id": "' + "x" * 5_000_000 + '"}'
    path.write_text(f'{{"a": 1}}\r\n{big}\n{{"b": 2}}\n')
    first, huge, last = read_records(path, tenant="acme")
    assert (first.payload, last.index, last.payload) == ('{"a": 1}', 2, '{"b": 2}')
    assert (huge.index, huge.payload, huge.oversize) == (1, "", len(big))
    assert huge.parse().reason == "oversized" and f"record 1 of x.jsonl is {len(big)} bytes" in huge.parse().detail
    assert RawRecord.from_json(huge.to_json()) == huge


def test_parquet_values_are_measured_without_expanding_dictionaries(tmp_path):
    """A 1 MiB attribute value shared by every row (a map's dictionary-encoded values): each row is measured
    by what it decodes to and refused as oversized, the rows around it are read."""
    shared = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0]), pa.array(["v" * (1 << 20), "small"]))
    keys = pa.array(["note", "note", "note"])
    attributes = pa.MapArray.from_arrays(pa.array([0, 1, 2, 3], pa.int32()), keys, shared.cast(pa.string()))
    table = pa.table({"event_id": ["e0", "e1", "e2"], "attributes": attributes, "tags": [["a", "bb"], None, []]})
    pq.write_table(table, tmp_path / "x.parquet", store_schema=False)
    records = list(read_records(tmp_path / "x.parquet"))
    assert [r.oversize for r in records] == [2 + 4 + (1 << 20) + 0 + 3, 0, 2 + 4 + (1 << 20) + 0]
    assert records[1].payload == {"event_id": "e1", "attributes": {"note": "small"}}
    assert records[0].payload == records[2].payload == ""


def test_parquet_shapes_that_cannot_be_read_in_bounded_memory_are_refused_up_front(tmp_path, monkeypatch):
    wide = pa.table({"event_id": ["e1"], "blob": pa.array([b"x" * 2000], pa.binary(2000))})
    pq.write_table(wide, tmp_path / "wide.parquet")
    with pytest.raises(ValueError, match="column 'blob' holds fixed-size values of 2000 bytes; at most 1024"):
        list(read_records(tmp_path / "wide.parquet"))
    pq.write_table(pa.table({"event_id": [f"e{i}" for i in range(1000)]}), tmp_path / "group.parquet")
    monkeypatch.setattr("pulse.inputs.MAX_ROW_GROUP_BYTES", 1000)
    with pytest.raises(ValueError, match=r"row group 0 is \d+ bytes uncompressed; at most 1000 are read at once"):
        list(read_records(tmp_path / "group.parquet"))


def test_duplicate_columns_are_refused_and_csv_headers_are_read_as_csv(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('\ufeff"event_id","tenant_id",event_type,ts\n123,acme,page_view,1793613600000\n')
    (record,) = read_records(path)
    assert record.payload["event_id"] == "123"  # a quoted, BOM-prefixed header still types every column as text
    path.write_text("event_id,ts,event_id\ne1,1,e2\n")
    with pytest.raises(ValueError, match=r"names column 'event_id' twice \(columns 1 and 3\)"):
        list(read_records(path))
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["event_id", "event_id"])
    pq.write_table(table, tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="the file's columns names column 'event_id' twice"):
        list(read_records(tmp_path / "x.parquet"))
