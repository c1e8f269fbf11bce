"""Hostile or careless input against a real `pulse serve` and the real Kafka broker: no request breaks the API,
grows its memory or stores a record twice; every record gets an answer, and what is answered accepted is
exactly what is in Kafka."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from ingest_support import (
    ApiServer,
    free_port,
    kafka_bootstrap,
    peak_rss_mib,
    read_topic,
    start_api,
    unique_topic,
)

from pulse.events import MAX_RECORD_BYTES
from pulse.topics import KafkaUnavailable, RecordWriter, ensure_topic

pytestmark = pytest.mark.kafka
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_UPLOAD_ROWS = 5000
TS = "2026-11-23T10:00:00Z"


def event(event_id: str, **fields) -> dict:
    return {"event_id": event_id, "event_type": "order_placed", "ts": TS, "amount": 12.5} | fields


def padded(event_id: str, size: int) -> dict:
    """An otherwise valid event of about `size` bytes of JSON (attributes hold at most 1,024 characters each)."""
    count = size // 1010
    return event(event_id, attributes={f"a{i:04d}": "x" * 1000 for i in range(count)})


def stored(api: ApiServer) -> list[tuple[str, dict | str]]:
    return read_topic(api.bootstrap, api.topic)


def stored_ids(api: ApiServer) -> list[str]:
    return [value["event_id"] for _, value in stored(api) if isinstance(value, dict)]


def post_upload(api: ApiServer, fmt: str, data: bytes, tenant: str = "acme") -> requests.Response:
    headers = {"Authorization": f"Bearer {api.keys[tenant]}", "Content-Type": "application/octet-stream"}
    return requests.post(f"{api.url}/v1/uploads", params={"format": fmt}, data=data, headers=headers, timeout=120)


def dictionary_bomb(path, rows: int, value_bytes: int = 1 << 20) -> None:
    """A Parquet file of `rows` rows sharing one dictionary-encoded string of `value_bytes`: a few KB on disk,
    `rows` x `value_bytes` once decoded. Written without the Arrow schema, so a reader sees a plain string column
    (as in a file from any other writer)."""
    shared = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array(["x" * value_bytes]))
    table = pa.table(
        {
            "event_id": [f"bomb-{i}" for i in range(rows)],
            "event_type": ["order_placed"] * rows,
            "ts": [1793606408113] * rows,
            "customer_id": shared,
        }
    )
    pq.write_table(table, path, store_schema=False, compression="zstd")


def bomb_row_bytes(index: int, value_bytes: int = 1 << 20) -> int:
    """What a row of `dictionary_bomb` holds once decoded: its values' bytes (8 for the ts number)."""
    return len(f"bomb-{index}") + len("order_placed") + 8 + value_bytes


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> ApiServer:
    folder = tmp_path_factory.mktemp("limits-api")
    server = start_api(
        folder, free_port(), kafka_bootstrap(), unique_topic("limits"),
        "--max-upload-bytes", str(MAX_UPLOAD_BYTES), "--max-upload-rows", str(MAX_UPLOAD_ROWS),
    )  # fmt: skip
    yield server
    server.stop()


def test_an_oversized_event_in_an_array_is_rejected_alone_and_a_resend_stores_nothing_twice(api):
    body = json.dumps([event("mixed-small"), padded("mixed-big", 1_100_000)])
    first = api.post("acme", body, "application/json")
    resend = api.post("acme", body, "application/json")
    assert first.status_code == resend.status_code == 202, first.text
    small, big = first.json()["results"]
    assert (small["status"], small["event_id"]) == ("accepted", "mixed-small")
    assert (big["index"], big["status"], big["reason"]) == (1, "rejected", "oversized")
    assert big["detail"].startswith("record 1 of request is 1") and f"at most {MAX_RECORD_BYTES} bytes" in big["detail"]
    assert [r["status"] for r in resend.json()["results"]] == ["duplicate", "rejected"]
    ids = stored_ids(api)
    assert ids.count("mixed-small") == 1 and "mixed-big" not in ids


def test_one_oversized_object_is_a_rejected_record_not_an_outage(api):
    for size in (1_100_000, 100_000):  # over the broker's 1 MB message limit, and over the 64 KiB record limit
        answer = api.post("acme", json.dumps(padded(f"alone-{size}", size)), "application/json")
        assert answer.status_code == 202 and "Retry-After" not in answer.headers
        assert answer.json()["results"][0]["reason"] == "oversized"
    assert not [i for i in stored_ids(api) if i.startswith("alone-")]


def test_a_record_is_measured_the_same_way_as_json_or_as_an_ndjson_line(api):
    """64 KiB of UTF-8 as the client sent it, whichever way: a record of 60 KB of 'é' (180 KB if escaped)
    passes both ways, one of 80 KB is refused both ways with the same size."""
    fits = event("utf8-fits", attributes={f"a{i}": "é" * 1000 for i in range(30)})
    over = event("utf8-over", attributes={f"a{i}": "é" * 1000 for i in range(40)})
    answers = {}
    for name, record in (("fits", fits), ("over", over)):
        line = json.dumps(record, ensure_ascii=False)
        as_json = api.post("acme", line.encode(), "application/json").json()["results"][0]
        as_line = api.post("acme", json.dumps({**record, "event_id": record["event_id"] + "-line"},
                                              ensure_ascii=False).encode()).json()["results"][0]  # fmt: skip
        answers[name] = (as_json, as_line)
    assert [r["status"] for r in answers["fits"]] == ["accepted", "accepted"]
    assert [r["reason"] for r in answers["over"]] == ["oversized", "oversized"]
    sizes = [r["detail"].split(" is ")[1].split(" bytes")[0] for r in answers["over"]]
    assert int(sizes[0]) > MAX_RECORD_BYTES and abs(int(sizes[0]) - int(sizes[1])) == len("-line")
    values = {value["event_id"]: value for _, value in stored(api) if isinstance(value, dict)}
    assert values["utf8-fits"]["attributes"]["a0"] == "é" * 1000 and "utf8-fits-line" in values


def test_ndjson_lines_end_at_newlines_only(api):
    lines = [
        json.dumps(event("sep-2028", customer_id="before\u2028after"), ensure_ascii=False),
        json.dumps(event("sep-0085", attributes={"note": "before\x85after"}), ensure_ascii=False),
        json.dumps(event("sep-plain")),
    ]
    answer = api.post("acme", "\r\n".join(lines).encode() + b"\r\n").json()
    assert [(r["index"], r["status"], r.get("event_id")) for r in answer["results"]] == [
        (0, "accepted", "sep-2028"), (1, "accepted", "sep-0085"), (2, "accepted", "sep-plain"),
    ]  # fmt: skip
    values = {value["event_id"]: value for _, value in stored(api) if isinstance(value, dict)}
    assert values["sep-2028"]["customer_id"] == "before\u2028after"
    assert values["sep-0085"]["attributes"]["note"] == "before\x85after"
    upload = post_upload(api, "jsonl", "\n".join(lines).replace("sep-", "file-sep-").encode()).json()
    assert (upload["rows"], upload["accepted"]) == (3, 3)


def test_a_parquet_dictionary_bomb_is_refused_before_it_is_decoded(api, tmp_path):
    path = tmp_path / "bomb.parquet"
    dictionary_bomb(path, rows=1000)  # 1,000 rows x 1 MiB: 1 GiB decoded
    before = peak_rss_mib(api.process.pid)
    answer = post_upload(api, "parquet", path.read_bytes())
    grown = peak_rss_mib(api.process.pid) - before
    print(f"bomb of {path.stat().st_size} bytes: API peak RSS {before:.0f} MiB -> +{grown:.0f} MiB")
    assert path.stat().st_size < 5000
    assert answer.status_code == 413, answer.text
    assert answer.json()["detail"] == (
        f"upload.parquet decodes to {sum(map(bomb_row_bytes, range(1000)))} bytes of values; an upload takes at most "
        f"{MAX_UPLOAD_BYTES} once decoded: split it"
    )
    assert grown < 40
    assert not [i for i in stored_ids(api) if i.startswith("bomb-")]


def test_parquet_rows_over_the_record_limit_are_rejected_without_being_decoded(api, tmp_path):
    path = tmp_path / "shared.parquet"
    dictionary_bomb(path, rows=60)  # 60 MiB decoded: under the upload's limit, every row over the record limit
    before = peak_rss_mib(api.process.pid)
    answer = post_upload(api, "parquet", path.read_bytes())
    grown = peak_rss_mib(api.process.pid) - before
    print(f"60 rows sharing 1 MiB: API peak RSS {before:.0f} MiB -> +{grown:.0f} MiB")
    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert (result["rows"], result["accepted"], result["rejected"]) == (60, 0, 60)
    assert {r["reason"] for r in result["rejects"]} == {"oversized"}
    assert result["rejects"][0] == {
        "row": 1,
        "reason": "oversized",
        "detail": f"record 0 of upload.parquet is {bomb_row_bytes(0)} bytes; a record is at most {MAX_RECORD_BYTES} "
        "bytes: move large values out of the event",
    }
    assert grown < 40


def test_uploads_of_more_rows_than_allowed_are_refused_before_anything_is_sent(api, tmp_path):
    rows = MAX_UPLOAD_ROWS + 1
    csv = "event_id,event_type,ts\n" + "".join(f"many-csv-{i},order_placed,{TS}\n" for i in range(rows))
    table = pa.table({"event_id": [f"many-pq-{i}" for i in range(rows)], "event_type": ["refund"] * rows,
                      "ts": [1793606408113] * rows})  # fmt: skip
    pq.write_table(table, tmp_path / "many.parquet")
    as_csv = post_upload(api, "csv", csv.encode())
    as_parquet = post_upload(api, "parquet", (tmp_path / "many.parquet").read_bytes())
    assert as_csv.status_code == as_parquet.status_code == 413
    assert (
        as_csv.json()["detail"]
        == f"upload.csv has {rows} lines; an upload takes at most {MAX_UPLOAD_ROWS} rows: split it"
    )
    assert as_parquet.json()["detail"].startswith(f"upload.parquet has {rows} rows;")
    assert not [i for i in stored_ids(api) if i.startswith("many-")]


def test_parquet_binary_columns_reach_kafka_as_text(api, tmp_path):
    table = pa.table(
        {
            "event_id": pa.array([b"bin-1", b"bin-\xff"], pa.binary()),
            "event_type": pa.array([b"order_placed", b"order_placed"], pa.binary()),
            "ts": [1793606408113, 1793606408113],
            "customer_id": pa.array([b"c-1", b"c-2"], pa.large_binary()),
        }
    )
    pq.write_table(table, tmp_path / "binary.parquet")
    result = post_upload(api, "parquet", (tmp_path / "binary.parquet").read_bytes()).json()
    assert (result["rows"], result["accepted"], result["rejected"]) == (2, 1, 1)
    assert result["rejects"][0]["row"] == 2 and "field 'event_id'" in result["rejects"][0]["detail"]
    values = [value for _, value in stored(api) if isinstance(value, dict) and "bin" in value["event_id"]]
    assert values == [{"event_id": "bin-1", "event_type": "order_placed", "ts": 1793606408113, "customer_id": "c-1"}]


def test_a_csv_header_naming_a_column_twice_is_refused(api):
    csv = f"event_id,amount,event_type,ts,amount\ntwice-1,1,order_placed,{TS},2\n"
    answer = post_upload(api, "csv", csv.encode())
    assert answer.status_code == 400
    assert (
        "the header row names column 'amount' twice (columns 2 and 5): rename or remove one" in answer.json()["detail"]
    )
    assert "0 rows were sent" in answer.json()["detail"]
    assert "twice-1" not in stored_ids(api)


def test_a_huge_json_lines_row_is_rejected_by_number_and_the_others_go_through(api):
    lines = [json.dumps(event("line-1")), json.dumps(padded("line-huge", 3_000_000)), json.dumps(event("line-3"))]
    result = post_upload(api, "jsonl", ("\n".join(lines) + "\n").encode()).json()
    assert (result["rows"], result["accepted"], result["rejected"]) == (3, 2, 1)
    (reject,) = result["rejects"]
    assert (reject["row"], reject["reason"]) == (2, "oversized")
    assert reject["detail"].startswith(f"record 1 of upload.jsonl is {len(lines[1])} bytes")
    assert {"line-1", "line-3"} <= set(stored_ids(api))


def test_a_write_kafka_refuses_part_way_says_which_records_are_stored(tmp_path):
    """The producer refuses a value over the broker's limit after taking the ones before it: those are stored
    and reported so; closing the writer afterwards does not fail."""
    bootstrap, topic = kafka_bootstrap(), unique_topic("partial")
    ensure_topic(bootstrap, topic)
    writer = RecordWriter(bootstrap, topic)
    with pytest.raises(KafkaUnavailable) as refused:
        writer.write("acme", [b'{"n": 1}', b"x" * (2 << 20), b'{"n": 3}'])
    writer.close(timeout_s=0)
    assert refused.value.stored == [True, False, False]
    assert "record 1 of 3" in str(refused.value)
    assert [value for _, value in read_topic(bootstrap, topic)] == [{"n": 1}]
