"""Event schema v1 and the parser that turns one raw record into an event or a rejection.

>>> r = parse_record('{"event_id": "e1", "tenant_id": "acme", "event_type": "order_placed",'
...                  ' "ts": 1700000000000, "amount": 12.5}', source="x.jsonl", index=0)
>>> r.ok, r.event["amount"], r.event["ts"]
(True, 12.5, 1700000000000)
>>> parse_record('{"event_id": "e2"', source="x.jsonl", index=1).reason
'malformed_json'
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

MAX_RECORD_BYTES = 64 * 1024
JSON_WHITESPACE = " \t\r\n"  # what JSON counts as blank: a line of nothing else is not a record
_ROW_JSON = json.JSONEncoder(ensure_ascii=False, default=str)  # made once: json.dumps with options makes one a call
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_TYPES = (
    "page_view",
    "add_to_cart",
    "checkout_started",
    "order_placed",
    "payment_succeeded",
    "payment_failed",
    "refund",
    "campaign_click",
)


def _to_datetime(value: Any) -> datetime:
    """Accept RFC 3339 text with an offset, or epoch milliseconds as an integer."""
    if isinstance(value, bool):
        raise ValueError("ts must be RFC 3339 text or epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value < 253402300800000:
            raise ValueError("ts in epoch milliseconds is out of range")
        return EPOCH + timedelta(milliseconds=value)  # exact: no float division
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return _to_datetime(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"ts {value!r} is not RFC 3339 (e.g. 2026-11-23T10:15:00Z) or epoch milliseconds"
            ) from None
        if parsed.tzinfo is None:
            raise ValueError(f"ts {value!r} has no time zone offset: add Z or +HH:MM")
        return parsed.astimezone(UTC)
    raise ValueError("ts must be RFC 3339 text or epoch milliseconds")


Timestamp = Annotated[datetime, BeforeValidator(_to_datetime)]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]


class Event(BaseModel):
    """One e-commerce event, schema v1. Custom fields belong under `attributes`."""

    model_config = ConfigDict(extra="forbid", strict=False, str_strip_whitespace=True)

    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    tenant_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
    event_type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    ts: Timestamp
    amount: Annotated[float, Field(allow_inf_nan=False)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    customer_id: ShortText | None = None
    session_id: ShortText | None = None
    order_id: ShortText | None = None
    product_id: ShortText | None = None
    campaign_id: ShortText | None = None
    ip: ShortText | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    payment_method: ShortText | None = None
    card_fingerprint: ShortText | None = None
    attributes: dict[str, Annotated[str, Field(max_length=1024)]] = Field(default_factory=dict)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("amount must be a number, not a boolean")
        return value


@dataclass(frozen=True, slots=True)
class Parsed:
    """The outcome of parsing one record: an event (a plain dict) and the record's text as stored in Kafka
    (`record_text`), or a rejection."""

    event: dict[str, Any] | None
    reason: str = ""
    detail: str = ""
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.event is not None


def record_text(raw: str | dict[str, Any]) -> str:
    """The record as it is stored in Kafka: text as it was sent, a row read from a file as JSON (in UTF-8, so a
    record's size does not depend on the way it came in).

    >>> record_text({"event_id": "é1", "amount": 2.5})
    '{"event_id": "é1", "amount": 2.5}'
    """
    return raw if isinstance(raw, str) else _ROW_JSON.encode(raw)


def parse_record(raw: str | dict[str, Any], *, source: str, index: int, tenant: str | None = None) -> Parsed:
    """Validate one raw record; `tenant` is the authenticated tenant when the record came through one.

    A record is at most MAX_RECORD_BYTES as `record_text` gives it, whatever way it came in. `raw` is not changed.
    """
    where = f"record {index} of {source}"
    try:
        text = record_text(raw)
        size = len(text.encode("utf-8", "surrogatepass"))
    except RecursionError:
        return _reject("malformed_json", f"{where} is nested too deeply to read")
    except TypeError as exc:  # a row from a file with a key JSON cannot hold
        return _reject("wrong_type", f"{where} cannot be stored as JSON: {exc}")
    if size > MAX_RECORD_BYTES:
        return oversized(size, source=source, index=index)
    if isinstance(raw, str):
        if not raw.strip():
            return _reject("empty_record", f"{where} is empty")
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            return _reject("malformed_json", f"{where} is not valid JSON: {exc}")
        except RecursionError:
            return _reject("malformed_json", f"{where} is nested too deeply to read")
    if not isinstance(raw, dict):
        return _reject("not_an_object", f"{where} must be a JSON object, got {type(raw).__name__}")
    if tenant is not None:
        claimed = raw.get("tenant_id", tenant)
        raw = {**raw, "tenant_id": claimed}
        if claimed != tenant:
            return _reject(
                "tenant_mismatch",
                f"{where} names tenant_id {claimed!r} but was sent by tenant {tenant!r}; "
                "a tenant can only send its own events",
            )
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        return _reject(*_explain(exc, where))
    return Parsed(event=to_row(event), text=text)


def oversized(size: int, *, source: str, index: int) -> Parsed:
    """The rejection of a record of `size` bytes, over MAX_RECORD_BYTES (also for one too large to be read whole).

    >>> oversized(70000, source="orders.parquet", index=3).detail
    'record 3 of orders.parquet is 70000 bytes; a record is at most 65536 bytes: move large values out of the event'
    """
    detail = f"record {index} of {source} is {size} bytes; a record is at most {MAX_RECORD_BYTES} bytes: " + (
        "move large values out of the event"
    )
    return _reject("oversized", detail)


def to_row(event: Event) -> dict[str, Any]:
    """The event as a plain dict with `ts` in epoch milliseconds and every optional field present."""
    row = event.model_dump()
    row["ts"] = (event.ts - EPOCH) // timedelta(milliseconds=1)  # exact, as sent (float math lost 1 ms at times)
    return row


def _reject(reason: str, detail: str) -> Parsed:
    return Parsed(event=None, reason=reason, detail=detail)


def _explain(exc: ValidationError, where: str) -> tuple[str, str]:
    """Turn pydantic's errors into one reason code and a message a person can act on."""
    problems = []
    reason = "invalid_value"
    for i, err in enumerate(exc.errors(include_url=False)):
        field = ".".join(str(p) for p in err["loc"]) or "record"
        kind = err["type"]
        if kind == "missing":
            code, text = "missing_field", f"required field '{field}' is missing"
        elif kind == "extra_forbidden":
            code, text = "unknown_field", f"unknown field '{field}': put custom fields under 'attributes'"
        elif kind == "literal_error" and field == "event_type":
            code = "unknown_event_type"
            text = f"event_type {err.get('input')!r} is unknown; use one of: {', '.join(EVENT_TYPES)}"
        elif kind.endswith("_type") or kind.endswith("_parsing"):
            code, text = "wrong_type", f"field '{field}': {err['msg']} (got {err.get('input')!r})"
        else:
            code, text = "invalid_value", f"field '{field}': {err['msg']}"
        if i == 0:
            reason = code
        problems.append(text)
    return reason, f"{where}: " + "; ".join(problems)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of event v1, as published in schemas/event-v1.schema.json."""
    schema = Event.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://pulseecom.io/schemas/event-v1.schema.json"
    schema["title"] = "PulseEcom event v1"
    schema["properties"]["ts"] = {
        "description": "Event time: RFC 3339 with an offset, or epoch milliseconds",
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "minimum": 0}],
    }
    return schema
