"""Reading input files (JSON Lines, CSV, Parquet) as raw records, in bounded memory.

Each record keeps where it came from (file and 0-based record index) so a rejection can point at it.
JSON Lines records stay raw text, so a malformed line is kept exactly as it was sent. A JSON Lines line
over MAX_LINE_READ, or a Parquet row over MAX_RECORD_BYTES, is never read whole: it comes with its size
in `oversize` and an empty payload, so a line of a gigabyte, or one Parquet value shared by every row
through the file's dictionary, costs no memory. Parquet text columns are read as dictionaries and rows
become Python objects a few MB at a time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pulse.events import JSON_WHITESPACE, MAX_RECORD_BYTES, Parsed, oversized, parse_record

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
MAX_LINE_READ = 1024 * 1024  # characters of a JSON Lines line read whole; a longer one is only measured
BATCH_BYTES = 8 * 1024 * 1024  # Parquet rows decoded, and turned into Python objects, at once
MAX_ROW_GROUP_BYTES = 256 * 1024 * 1024  # a Parquet row group's data, uncompressed, as its footer gives it
MAX_FIXED_WIDTH = 1024  # bytes of one value of a fixed-size Parquet column (read without a dictionary)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record before validation: raw JSON text or a dict read from a columnar file.

    `received`: when PulseEcom received it (epoch ms; Kafka's record timestamp, or when `pulse run` staged the
    file), the same whenever the record is read again, so a reject replayed after a failure is counted once.
    `refused`: the reason and detail of a record the API refused before writing it to Kafka (`pulse.topics`).
    `oversize`: the size in bytes of a record too large to be read (its payload is then empty).

    >>> RawRecord.from_json('{"s": "f.jsonl", "i": 0, "p": "{}", "t": null}').received is None  # an older envelope
    True
    """

    source: str
    index: int
    payload: str | dict[str, Any]
    tenant: str | None = None
    received: int | None = None
    refused: dict[str, str] | None = None
    oversize: int = 0

    def parse(self) -> Parsed:
        """Validate the record (as `tenant`'s when it has one); a record too large to read is `oversized`."""
        if self.oversize:
            return oversized(self.oversize, source=self.source, index=self.index)
        return parse_record(self.payload, source=self.source, index=self.index, tenant=self.tenant)

    def to_json(self) -> str:
        envelope = {"s": self.source, "i": self.index, "p": self.payload, "t": self.tenant}
        if self.received is not None:
            envelope["r"] = self.received
        if self.refused is not None:
            envelope["x"] = self.refused
        if self.oversize:
            envelope["o"] = self.oversize
        return json.dumps(envelope, default=str)

    @staticmethod
    def from_json(line: str) -> RawRecord:
        data = json.loads(line)
        return RawRecord(data["s"], data["i"], data["p"], data["t"], data.get("r"), data.get("x"), data.get("o", 0))


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
    not records.

    Raises ValueError (or a pyarrow error) for a file that cannot be read, before the first record when the
    problem is in a CSV header or a Parquet footer."""
    fmt = file_format(path)
    rows = _json_lines(path) if fmt == "jsonl" else _csv_rows(path) if fmt == "csv" else _parquet_rows(path, batch_rows)
    for index, row in enumerate(rows):
        if isinstance(row, int):
            yield RawRecord(path.name, index, "", tenant, received, oversize=row)
        else:
            yield RawRecord(path.name, index, row if isinstance(row, str) else _clean(row), tenant, received)


def count_rows(path: Path) -> int:
    """Rows of a file without reading them: a Parquet footer's count; lines of a text file (less a CSV header),
    which is more than its rows when a CSV cell holds a newline or a JSON Lines file has blank lines.

    >>> import tempfile; f = Path(tempfile.mkdtemp()) / "x.jsonl"; _ = f.write_bytes(b"a\\nb\\n\\nc")
    >>> count_rows(f), count_rows(f.rename(f.with_suffix(".csv")))
    (4, 3)
    """
    fmt = file_format(path)
    if fmt == "parquet":
        return pq.read_metadata(path).num_rows
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"
    return max(0, lines - 1) if fmt == "csv" else lines


def parquet_value_bytes(path: Path) -> int:
    """The bytes a Parquet file's values take once decoded, dictionaries expanded (without expanding them)."""
    file, _ = _open_parquet(path)
    return sum(int(_row_bytes(batch).sum()) for batch in _parquet_batches(file, 10_000))


def _json_lines(path: Path) -> Iterator[str | int]:
    """Each non-blank line as text, or as its size in bytes when it is longer than MAX_LINE_READ (then not read).

    A line of up to MAX_LINE_READ characters is read whole (an oversized one keeps its text for the rejects;
    parse_record measures it); a longer one is measured and skipped, so no line costs more memory than that."""
    limit = MAX_LINE_READ + 2  # room for the line, \r\n included, and one character more
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="\n") as lines:
        while line := lines.readline(limit):
            if len(line) == limit and not line.endswith("\n"):
                yield _utf8_bytes(line) + _skip_line(lines)
            elif line.strip(JSON_WHITESPACE):
                yield line.rstrip("\r\n")


def _skip_line(lines: Any) -> int:
    """Read past the rest of the current line; return its bytes (without the newline)."""
    skipped = 0
    while chunk := lines.readline(1 << 20):
        if chunk.endswith("\n"):
            return skipped + _utf8_bytes(chunk.rstrip("\r\n"))
        skipped += _utf8_bytes(chunk)
    return skipped


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        first = f.readline(MAX_RECORD_BYTES + 1)
    if len(first) > MAX_RECORD_BYTES:
        raise ValueError(f"the header row is over {MAX_RECORD_BYTES} bytes: the first line must name the columns")
    header = next(csv.reader([first.decode("utf-8-sig")]), [])
    _check_unique(header, "the header row")
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header}, strings_can_be_null=True, null_values=[""]
    )
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 22), convert_options=options)
    for batch in reader:
        yield from batch.to_pylist()


def _parquet_rows(path: Path, batch_rows: int) -> Iterator[dict[str, Any] | int]:
    """Each row as a dict, or as its size when it is over MAX_RECORD_BYTES (then not turned into objects)."""
    file, written = _open_parquet(path)
    binary = any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in _types(written))
    for batch in _parquet_batches(file, batch_rows):
        sizes = _row_bytes(batch)
        start = 0
        if sizes.max(initial=0) <= MAX_RECORD_BYTES and sizes.sum() <= BATCH_BYTES:  # the usual batch: at once
            start = batch.num_rows
            rows = batch.cast(written).to_pylist()
            yield from map(_utf8, rows) if binary else rows
        while start < batch.num_rows:
            if sizes[start] > MAX_RECORD_BYTES:
                yield int(sizes[start])
                start += 1
                continue
            stop, taken = start, 0
            while stop < batch.num_rows and sizes[stop] <= MAX_RECORD_BYTES and taken < BATCH_BYTES:
                taken += int(sizes[stop])
                stop += 1
            rows = batch.slice(start, stop - start).cast(written).to_pylist()  # plain columns convert faster
            yield from map(_utf8, rows) if binary else rows
            start = stop


def _open_parquet(path: Path) -> tuple[pq.ParquetFile, pa.Schema]:
    """The file, opened to read its text columns as dictionaries, and its columns' types as written.

    Refuses, before reading any row, a file with duplicate column names, a row group over MAX_ROW_GROUP_BYTES
    or fixed-size values over MAX_FIXED_WIDTH bytes."""
    meta = pq.read_metadata(path)
    columns = [meta.schema.column(i) for i in range(meta.num_columns)]
    for column in columns:
        if column.physical_type == "FIXED_LEN_BYTE_ARRAY" and column.length > MAX_FIXED_WIDTH:
            raise ValueError(
                f"column {column.path!r} holds fixed-size values of {column.length} bytes; "
                f"at most {MAX_FIXED_WIDTH} are read: store it as a string or binary column"
            )
    for group in range(meta.num_row_groups):
        size = meta.row_group(group).total_byte_size
        if size > MAX_ROW_GROUP_BYTES:
            raise ValueError(
                f"row group {group} is {size} bytes uncompressed; at most {MAX_ROW_GROUP_BYTES} are read at once: "
                "write the file with smaller row groups (e.g. pyarrow's row_group_size=100_000)"
            )
    written = pq.ParquetFile(path, metadata=meta).schema_arrow
    _check_unique(written.names, "the file's columns")
    text = [c.path for c in columns if c.physical_type == "BYTE_ARRAY"]
    return pq.ParquetFile(path, metadata=meta, read_dictionary=text, buffer_size=1 << 20), written


def _parquet_batches(file: pq.ParquetFile, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's rows in batches of about BATCH_BYTES (by each row group's size in the footer)."""
    for group in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(group)
        rows = max(1, min(batch_rows, BATCH_BYTES * stats.num_rows // max(1, stats.total_byte_size)))
        yield from file.iter_batches(batch_size=rows, row_groups=[group], use_threads=False)


def _types(schema: pa.Schema) -> Iterator[pa.DataType]:
    """Every type in the schema, nested ones included."""
    stack = [field.type for field in schema]
    while stack:
        kind = stack.pop()
        yield kind
        stack.extend(kind.field(i).type for i in range(kind.num_fields))
        if pa.types.is_dictionary(kind):
            stack.append(kind.value_type)


def _row_bytes(batch: pa.RecordBatch) -> np.ndarray:
    """Bytes of each row's values once decoded (see `_value_bytes`)."""
    sizes = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        sizes += _value_bytes(column)
    return sizes


def _value_bytes(array: pa.Array) -> np.ndarray:
    """Bytes of each value: text and binary by length, lists and structs summed, a dictionary's value by its
    entry (so a shared value is measured, never copied), fixed-size values by width, anything else 8."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        entries = _value_bytes(array.dictionary)
        if not len(entries):
            return np.zeros(len(array), dtype=np.int64)
        return np.where(_is_null(array), 0, entries[array.indices.fill_null(0).to_numpy(zero_copy_only=False)])
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or (pa.types.is_large_binary(kind))
    ):
        return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_fixed_size_binary(kind):
        return np.where(_is_null(array), 0, kind.byte_width)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_map(kind):
        offsets = array.offsets.to_numpy(zero_copy_only=False)  # this array's lists, as ranges of `values`
        total = np.concatenate([[0], np.cumsum(_value_bytes(array.values))])
        return np.where(_is_null(array), 0, total[offsets[1:]] - total[offsets[:-1]])
    if pa.types.is_fixed_size_list(kind):
        return _value_bytes(array.flatten()).reshape(len(array), kind.list_size).sum(axis=1)
    if pa.types.is_struct(kind):
        return sum((_value_bytes(field) for field in array.flatten()), np.zeros(len(array), dtype=np.int64))
    return np.full(len(array), 8, dtype=np.int64)


def _is_null(array: pa.Array) -> np.ndarray:
    return array.is_null().to_numpy(zero_copy_only=False)


def _check_unique(names: list[str], where: str) -> None:
    """Refuse two columns of one name: only one of them would be read.

    >>> _check_unique(["event_id", "amount", "ts", "amount"], "the header row")
    Traceback (most recent call last):
    ValueError: the header row names column 'amount' twice (columns 2 and 4): rename or remove one
    """
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise ValueError(
                f"{where} names column {name!r} twice (columns {seen[name]} and {position}): rename or remove one"
            )
        seen[name] = position


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


def _utf8(value: Any) -> Any:
    """Binary values as text where they are UTF-8, in lists and maps too; others stay bytes (validation then
    says which field).

    >>> _utf8({"event_id": b"e1", "attributes": [(b"k", b"\\xff")]})
    {'event_id': 'e1', 'attributes': [('k', b'\\xff')]}
    """
    if isinstance(value, bytes):
        with suppress(UnicodeDecodeError):
            return value.decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_utf8(k): _utf8(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(map(_utf8, value))
    return value
