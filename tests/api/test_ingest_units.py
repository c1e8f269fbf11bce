"""Ingestion logic without Kafka: API keys in tenant configs, plans, body splitting, upload rejects."""

import json

import pytest
from fastapi import HTTPException

from pulse.api.app import ApiSettings, Ingestion, _split_records
from pulse.api.keys import KeyRing, key_hash, new_key
from pulse.api.upload import UploadStopped, upload
from pulse.events import MAX_RECORD_BYTES, parse_record
from pulse.tenants.config import ConfigInvalid, parse_tenant_config
from pulse.tenants.plans import load_plans
from pulse.topics import refusal


def test_api_key_hashes_are_validated_with_file_and_line():
    with pytest.raises(ConfigInvalid) as exc:
        parse_tenant_config("tenant: acme\napi_keys:\n  - pk_plain_text_key\n", "acme.yaml")
    (error,) = exc.value.errors
    assert (error.file, error.line, error.field) == ("acme.yaml", 3, "api_keys[0]")


def test_a_key_belongs_to_one_tenant_and_is_never_stored_in_clear():
    key = new_key()
    config = parse_tenant_config(f'tenant: acme\napi_keys: ["{key_hash(key)}"]\n', "acme.yaml")
    assert key not in config.model_dump_json()
    assert KeyRing({"acme": config.api_keys, "globex": []}).tenant_for(key) == "acme"
    with pytest.raises(ValueError, match="acme.*globex"):
        KeyRing({"acme": [key_hash(key)], "globex": [key_hash(key)]})


def test_plans_file_errors_name_the_file(tmp_path):
    path = tmp_path / "plans.yaml"
    path.write_text("plans:\n  free: {events_per_second: 0}\n")
    with pytest.raises(ValueError, match="plans.yaml.*events_per_second"):
        load_plans(path)
    path.write_text("free: 5\n")
    with pytest.raises(ValueError, match="expected a 'plans:' mapping"):
        load_plans(path)


def test_project_plans_cover_every_tenant_plan():
    settings = ApiSettings(bootstrap="127.0.0.1:1", configs_dir="configs", plans_path="configs/plans.yaml")
    ingestion = Ingestion(settings)  # raises if a tenant names a plan the file lacks; needs no Kafka
    acme, acme_plan = ingestion.plans.of("acme")
    assert (acme, ingestion.plans.of("no-such-tenant")[0]) == ("growth", "free")
    assert (acme_plan.events_per_second, acme_plan.burst) == (2000, 4000)  # configs/plans.yaml
    assert ingestion.plans.label("no-such-tenant") == "free (50 events/s)"


def test_a_tenant_on_a_plan_the_plans_file_lacks_stops_the_api(tmp_path):
    (tmp_path / "plans.yaml").write_text("tenants: {acme: growth}\nplans:\n  free: {events_per_second: 5}\n")
    settings = ApiSettings(bootstrap="127.0.0.1:1", configs_dir="configs", plans_path=str(tmp_path / "plans.yaml"))
    with pytest.raises(ValueError, match=r"plans.yaml: tenant acme: plan 'growth' is not defined .*plans there: free"):
        Ingestion(settings)


def test_burst_defaults_to_two_seconds_of_the_rate(tmp_path):
    (tmp_path / "plans.yaml").write_text(
        "default_plan: a\nplans:\n  a: {events_per_second: 2.5}\n  b: {events_per_second: 5, burst_events: 7}\n"
    )
    plans = load_plans(tmp_path / "plans.yaml").plans
    assert (plans["a"].burst, plans["b"].burst) == (5, 7)


def test_bodies_split_into_records():
    assert _split_records(b'{"a": 1}') == ['{"a": 1}']
    assert _split_records(b'[{"a":1}, 2]') == ['{"a": 1}', "2"]
    assert _split_records(b'{"a": 1}\n\n{"b": 2\n') == ['{"a": 1}', '{"b": 2']
    assert _split_records(b"  ") == []
    assert _split_records(b"[" * 60000) == ["[" * 60000]
    with pytest.raises(HTTPException) as exc:
        _split_records(b'{"a": "\xff"}')
    assert exc.value.status_code == 400


class ListWriter:
    """Keeps what an upload writes, as the Kafka writer would send it."""

    def __init__(self):
        self.values = []

    def write(self, tenant, values):
        self.values += [(tenant, value) for value in values]


def test_upload_lists_every_bad_row_by_number_and_writes_it_refused(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"event_id": "x"}\nnot json\n\n[1]\n' + json.dumps({"event_id": "y" * 70_000}) + "\n")
    writer = ListWriter()
    report = upload(path, "acme", writer, tmp_path / "rejects.jsonl")
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert (report.rows, report.accepted, report.rejected) == (4, 0, 4)
    assert [(r["row"], r["reason"]) for r in rejects] == [
        (1, "missing_field"),
        (2, "malformed_json"),
        (3, "not_an_object"),
        (4, "oversized"),
    ]
    assert rejects[1]["raw"] == "not json"
    # every refused row also goes to Kafka, marked with its reason, for the job's rejected_events
    assert [(tenant, type(value).__name__, value.reason) for tenant, value in writer.values] == [
        ("acme", "Refused", reason) for reason in ("missing_field", "malformed_json", "not_an_object", "oversized")
    ]
    assert writer.values[1][1].value == b"not json"
    assert len(writer.values[3][1].value) == MAX_RECORD_BYTES  # the head of an oversized row
    assert refusal(writer.values[3][1].headers()[0][1])["detail"] == rejects[3]["detail"]


def test_an_unreadable_file_stops_the_upload_with_the_row_reached(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(UploadStopped) as exc:
        upload(path, "acme", ListWriter(), tmp_path / "rejects.jsonl")
    assert "broken.parquet could not be read after row 0" in str(exc.value)
    assert not exc.value.kafka_down


def test_deeply_nested_json_is_rejected_not_a_crash():
    parsed = parse_record("[" * 60000, source="request", index=4)
    assert (parsed.reason, parsed.detail) == ("malformed_json", "record 4 of request is nested too deeply to read")


def test_ndjson_lines_end_at_newline_only():
    body = '{"a": "x\u2028y"}\r\n{"b": "x\x85y"}\n\t\r\n{"c": 1}'.encode()
    assert _split_records(body) == ['{"a": "x\u2028y"}', '{"b": "x\x85y"}', '{"c": 1}']
    assert _split_records('[{"a": "é"}, "text", {"s": "\\ud800"}]'.encode()) == [
        '{"a": "é"}',
        '"text"',
        '{"s": "\\ud800"}',
    ]
