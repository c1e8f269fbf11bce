"""Parse and validate raw records: ("event", event) for a valid one, ("rejected", row) with the reason otherwise."""

from __future__ import annotations

from pyflink.datastream import ProcessFunction

from pulse.events import parse_record
from pulse.inputs import RawRecord
from pulse.scoring import rejected_row


class ParseRecords(ProcessFunction):
    """Raw record (JSON envelope text) in; ("event", event) or ("rejected", `rejected_events` row) out."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def process_element(self, value: str, ctx: ProcessFunction.Context):
        record = RawRecord.from_json(value)
        parsed = parse_record(record.payload, source=record.source, index=record.index, tenant=record.tenant)
        if parsed.ok:
            yield "event", parsed.event
            return
        tenant = record.tenant or _claimed_tenant(record.payload)
        row = rejected_row(
            tenant, record.source, record.index, parsed.reason, parsed.detail, record.payload, self.run_id
        )
        yield "rejected", row


def _claimed_tenant(payload: object) -> str:
    """The tenant a rejected record names, if it names one plausibly, for the analysts' filter."""
    claimed = payload.get("tenant_id") if isinstance(payload, dict) else None
    return claimed if isinstance(claimed, str) and len(claimed) <= 63 else ""
