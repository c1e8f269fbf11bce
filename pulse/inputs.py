"""Reading input files (JSON Lines, CSV, Parquet) as raw records, in bounded memory.

Each record keeps where it came from (file and 0-based record index) so a rejection can point at it.
JSON Lines records stay raw text, so a malformed line is kept exactly as it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record before validation: raw JSON text or a dict read from a columnar file.

    `received`: when PulseEcom received it (epoch ms; Kafka's record timestamp, or when `pulse run` staged the
    file), the same whenever the record is read again, so a reject replayed after a failure is counted once.
    `refused`: the reason and detail of a record the API refused before writing it to Kafka (`pulse.topics`).

    >>> RawRecord.from_json('{"s": "f.jsonl", "i": 0, "p": "{}", "t": null}').received is None  # an older envelope
    True
    """

    source: str
    index: int
    payload: str | dict[str, Any]
    tenant: str | None = None
    received: int | None = None
    refused: dict[str, str] | None = None

    def to_json(self) -> str:
        envelope = {"s": self.source, "i": self.index, "p": self.payload, "t": self.tenant}
        if self.received is not None:
            envelope["r"] = self.received
        if self.refused is not None:
            envelope["x"] = self.refused
        return json.dumps(envelope)

    @staticmethod
    def from_json(line: str) -> RawRecord:
        data = json.loads(line)
        return RawRecord(data["s"], data["i"], data["p"], data["t"], data.get("r"), data.get("x"))


def file_format(path: Path) -> str:
    """The format of `path` from its extension, or a ValueError that lists the accepted ones."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"{path}: unknown input format {path.suffix!r}; use one of {', '.join(FORMATS)}") from None


def read_records(
    path: Path, tenant: str | None = None, batch_rows: int = 10_000, received: int | None = None
) -> Iterator[RawRecord]:
    """Yield every record of one file (`received`: when it was received); blank lines of a JSON Lines file are
    not records."""
    fmt = file_format(path)
    source = path.name
    if fmt == "jsonl":
        with path.open("r", encoding="utf-8", errors="surrogateescape", newline="\n") as lines:
            index = 0
            for line in lines:
                if line.strip():
                    yield RawRecord(source, index, line.rstrip("\r\n"), tenant, received)
                    index += 1
        return
    index = 0
    for batch in _batches(path, fmt, batch_rows):
        for row in batch.to_pylist():
            yield RawRecord(source, index, _clean(row), tenant, received)
            index += 1


def _batches(path: Path, fmt: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        return
    with path.open("rb") as f:
        header = f.readline().decode("utf-8").strip().split(",")
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header}, strings_can_be_null=True, null_values=[""]
    )
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 22), convert_options=options)
    yield from reader


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Drop empty cells; decode an `attributes` cell holding JSON text."""
    out = {k: v for k, v in row.items() if v is not None}
    attributes = out.get("attributes")
    if isinstance(attributes, str):
        with suppress(ValueError):  # left as text if not JSON: validation rejects it with the reason
            out["attributes"] = json.loads(attributes)
    elif isinstance(attributes, list):  # a Parquet map arrives as key/value pairs
        out["attributes"] = dict(attributes)
    ts = out.get("ts")
    if isinstance(ts, datetime):  # a Parquet timestamp column; naive means UTC
        out["ts"] = int((ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp() * 1000)
    return out
