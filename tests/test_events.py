"""Event schema v1: parsing, every rejection reason, and the published JSON Schema."""

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.events import MAX_RECORD_BYTES, json_schema, parse_record

GOOD = {
    "event_id": "e1",
    "tenant_id": "acme",
    "event_type": "order_placed",
    "ts": "2026-11-02T10:00:00Z",
    "amount": 99.5,
    "currency": "USD",
    "country": "DE",
    "attributes": {"items": "2"},
}


def parse(record, **kw):
    return parse_record(json.dumps(record) if isinstance(record, dict) else record, source="f.jsonl", index=7, **kw)


def test_valid_event_is_normalised():
    result = parse(GOOD)
    assert result.ok
    assert result.event["ts"] == 1793613600000
    assert result.event["amount"] == 99.5
    assert result.event["customer_id"] is None
    assert result.event["attributes"] == {"items": "2"}


@pytest.mark.parametrize(
    "ts, expected",
    [
        (1793613600000, 1793613600000),
        ("1793613600000", 1793613600000),
        ("2026-11-02T11:00:00+01:00", 1793613600000),
        ("2026-11-02T10:00:00.250Z", 1793613600250),
    ],
)
def test_timestamps_in_rfc3339_or_epoch_millis(ts, expected):
    assert parse({**GOOD, "ts": ts}).event["ts"] == expected


@pytest.mark.parametrize(
    "record, reason, words",
    [
        ('{"event_id": "e1",', "malformed_json", "not valid JSON"),
        ("[1, 2]", "not_an_object", "must be a JSON object"),
        ("   ", "empty_record", "empty"),
        ({k: v for k, v in GOOD.items() if k != "event_type"}, "missing_field", "'event_type' is missing"),
        ({**GOOD, "amount": "twelve"}, "wrong_type", "field 'amount'"),
        ({**GOOD, "amount": True}, "invalid_value", "not a boolean"),
        ({**GOOD, "event_type": "teleport"}, "unknown_event_type", "'teleport' is unknown"),
        ({**GOOD, "colour": "red"}, "unknown_field", "under 'attributes'"),
        ({**GOOD, "ts": "2026-11-02 10:00:00"}, "invalid_value", "no time zone"),
        ({**GOOD, "country": "Germany"}, "invalid_value", "field 'country'"),
    ],
)
def test_rejections_say_what_and_where(record, reason, words):
    result = parse(record)
    assert not result.ok
    assert result.reason == reason
    assert words in result.detail
    assert "record 7 of f.jsonl" in result.detail


def test_oversized_record_is_rejected_before_parsing():
    big = json.dumps({**GOOD, "attributes": {"blob": "x" * MAX_RECORD_BYTES}})
    result = parse(big)
    assert result.reason == "oversized" and str(MAX_RECORD_BYTES) in result.detail


def test_authenticated_tenant_wins_and_mismatch_is_rejected():
    assert parse({k: v for k, v in GOOD.items() if k != "tenant_id"}, tenant="acme").event["tenant_id"] == "acme"
    result = parse({**GOOD, "tenant_id": "globex"}, tenant="acme")
    assert result.reason == "tenant_mismatch" and "'globex'" in result.detail


def test_published_json_schema_matches_the_code():
    published = json.loads((Path(__file__).parent.parent / "schemas" / "event-v1.schema.json").read_text())
    assert published == json_schema()


@given(st.integers(min_value=0, max_value=253402300799999))
def test_epoch_milliseconds_are_kept_exactly(ms):
    """Float arithmetic stored 0.6% of such times 1 ms early."""
    record = json.dumps({"event_id": "e", "tenant_id": "acme", "event_type": "page_view", "ts": ms})
    assert parse_record(record, source="x", index=0).event["ts"] == ms
