"""Batch upload: validate every row of a file for one tenant, send the valid ones to Kafka, list the rest.

Rows are read in batches (pulse.inputs) and sent in batches, so memory does not grow with the file.
Rejected rows go to a rejects file (JSON Lines): 1-based row number (the CSV header is not a row),
reason, detail and the row as read; and to Kafka, marked refused, for the job to store in `rejected_events`.
`check_limits` refuses, before anything is sent, a file of more rows or decoded bytes than an upload may
hold (the API's limits).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from pulse.events import MAX_RECORD_BYTES, record_text
from pulse.inputs import count_rows, file_format, parquet_value_bytes, read_records
from pulse.topics import KafkaUnavailable, RecordWriter, Refused

SEND_BATCH = 5000
KEPT_REJECTS = 100


@dataclass
class UploadReport:
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    first_rejects: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class UploadLimits:
    """The most one upload may hold: rows, and bytes of values once decoded (a Parquet file's)."""

    rows: int
    decoded_bytes: int


class UploadRefused(Exception):
    """The file is over an upload limit; nothing of it was sent."""


def check_limits(path: Path, limits: UploadLimits) -> None:
    """Raise UploadRefused if `path` has more rows than `limits.rows` or, for Parquet, values that decode to more
    than `limits.decoded_bytes` (dictionaries expanded; measured without expanding them).

    Raises ValueError or a pyarrow error for a file that cannot be read."""
    fmt = file_format(path)
    rows = count_rows(path)
    if rows > limits.rows:
        counted = "rows" if fmt == "parquet" else "lines"
        raise UploadRefused(f"{path.name} has {rows} {counted}; an upload takes at most {limits.rows} rows: split it")
    if fmt == "parquet" and (decoded := parquet_value_bytes(path)) > limits.decoded_bytes:
        raise UploadRefused(
            f"{path.name} decodes to {decoded} bytes of values; an upload takes at most {limits.decoded_bytes} "
            "once decoded: split it"
        )


class UploadStopped(Exception):
    """The upload stopped part-way: the file could not be read further, or Kafka did not take a batch.

    `report` counts what was done before: its `accepted` rows are in Kafka.
    """

    def __init__(self, message: str, report: UploadReport, kafka_down: bool):
        super().__init__(message)
        self.report = report
        self.kafka_down = kafka_down


def upload(
    path: Path,
    tenant: str,
    writer: RecordWriter,
    rejects_path: Path | None,
    progress: Callable[[int], None] | None = None,
) -> UploadReport:
    """Send the valid rows of `path` as `tenant`'s records, calling `progress` with the rows read so far;
    rejected rows go to `rejects_path` (none: only the first KEPT_REJECTS are kept, in the report).

    Raises UploadStopped if the file cannot be read to its end or Kafka does not confirm a batch."""
    report = UploadReport()
    try:
        _upload(path, tenant, writer, rejects_path, progress, report)
    except KafkaUnavailable as exc:
        raise UploadStopped(f"{exc}; {report.accepted} rows were sent before", report, kafka_down=True) from None
    except (ValueError, OSError, pa.ArrowException) as exc:
        message = f"{path.name} could not be read after row {report.rows}: {exc}; {report.accepted} rows were sent"
        raise UploadStopped(message, report, kafka_down=False) from None
    return report


def _upload(
    path: Path,
    tenant: str,
    writer: RecordWriter,
    rejects_path: Path | None,
    progress: Callable[[int], None] | None,
    report: UploadReport,
) -> None:
    batch: list[bytes | Refused] = []
    with rejects_path.open("w", encoding="utf-8") if rejects_path else nullcontext() as rejects:
        for record in read_records(path, tenant=tenant):
            report.rows += 1
            parsed = record.parse()
            if parsed.ok:
                batch.append(parsed.text.encode("utf-8", "surrogateescape"))
            else:
                reject = {"row": record.index + 1, "reason": parsed.reason, "detail": parsed.detail}
                if rejects:
                    rejects.write(json.dumps({**reject, "raw": record.payload}, default=str) + "\n")
                batch.append(Refused(_refused_value(record.payload), parsed.reason, parsed.detail))
                report.rejected += 1
                if len(report.first_rejects) < KEPT_REJECTS:
                    report.first_rejects.append(reject)
            if len(batch) >= SEND_BATCH:
                report.accepted += _send(writer, tenant, batch)
            if progress and report.rows % 1000 == 0:
                progress(report.rows)
        report.accepted += _send(writer, tenant, batch)
    if progress:
        progress(report.rows)


def _refused_value(payload: str | dict[str, Any]) -> bytes:
    """A refused row as Kafka carries it to `rejected_events`: its text, as far as MAX_RECORD_BYTES."""
    try:
        text = record_text(payload)
    except TypeError:  # a row with a key JSON cannot hold
        text = repr(payload)
    return text.encode("utf-8", "surrogateescape")[:MAX_RECORD_BYTES]


def _send(writer: RecordWriter, tenant: str, batch: list[bytes | Refused]) -> int:
    """Write the batch; return how many valid rows it held."""
    valid = sum(not isinstance(value, Refused) for value in batch)
    if batch:
        writer.write(tenant, batch)
        batch.clear()
    return valid
