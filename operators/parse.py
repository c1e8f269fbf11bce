"""Parse and validate raw records: ("event", event, origin) for a valid one, ("rejected", row) with the reason
otherwise. A record the API refused arrives marked as such and is stored with the API's reason."""

from __future__ import annotations

import time

from pyflink.datastream import ProcessFunction

from pulse.inputs import RawRecord
from pulse.job.duplicates import Origin
from pulse.job.scoring import rejected_row


class ParseRecords(ProcessFunction):
    """Raw record (JSON envelope text) in; ("event", event, origin) or ("rejected", `rejected_events` row) out."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    def process_element(self, value: str, ctx: ProcessFunction.Context):
        record = RawRecord.from_json(value)
        # An envelope without a receive time (written by hand or by an older version) is received now.
        received = record.received if record.received is not None else time.time_ns() // 1_000_000
        if record.refused is not None:  # the tenant is the key the API wrote, never one the payload names
            reason, detail = record.refused["reason"], record.refused["detail"]
            tenant = record.tenant
        else:
            parsed = record.parse()
            if parsed.ok:
                yield "event", parsed.event, Origin(record.source, record.index, received)
                return
            reason, detail = parsed.reason, parsed.detail
            tenant = record.tenant or _claimed_tenant(record.payload)
        yield (
            "rejected",
            rejected_row(tenant, record.source, record.index, reason, detail, record.payload, self.run_id, received),
        )


def _claimed_tenant(payload: object) -> str:
    """The tenant a rejected record names, if it names one plausibly, for the analysts' filter."""
    claimed = payload.get("tenant_id") if isinstance(payload, dict) else None
    return claimed if isinstance(claimed, str) and len(claimed) <= 63 else ""
