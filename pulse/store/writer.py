"""Writing rows to ClickHouse in batches (by size and age) without ever losing one.

An insert that fails is retried with capped exponential backoff for as long as it takes: the caller
blocks, so inside Flink a ClickHouse outage becomes back-pressure, not loss. A batch that can never be
inserted (the client cannot encode a value, a column the table lacks) raises PermanentWriteError instead: the
job fails, restarts a bounded number of times and stops with that cause, rather than waiting forever. Text that
is not valid UTF-8 (a file's undecodable bytes, kept as surrogates) is written as the bytes it was.

Replays are exactly-once in effect twice over: every table is a ReplacingMergeTree on deterministic keys (a replayed row
replaces itself, whatever the batching), and every batch carries an insert deduplication token made
from the keys of its rows, so a re-sent identical batch is dropped whole by ClickHouse, including in
the materialized per-minute rollups, which cannot replace rows.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from clickhouse_connect.driver.exceptions import ProgrammingError

from pulse.store.clickhouse import Store
from pulse.store.tables import KEY_COLUMNS

log = logging.getLogger(__name__)
DEDUP_SETTINGS = {"deduplicate_blocks_in_dependent_materialized_views": 1}
# Raised by the client for the batch itself, not by the server or the connection: the same on every attempt.
PERMANENT = (ProgrammingError, ValueError, TypeError, OverflowError)


class PermanentWriteError(RuntimeError):
    """ClickHouse can never take this batch as it is: retrying would block the job forever."""


def batch_token(table: str, rows: list[dict[str, Any]]) -> str:
    """Deterministic for the same rows in the same order: their key columns, never their wall-clock times."""
    keys = KEY_COLUMNS.get(table) or tuple(rows[0])
    lines = ["\x1f".join([str(row.get(k)) for k in keys]) for row in rows]
    text = "\x1e".join(lines) + "\x1e"
    return hashlib.sha256(table.encode() + text.encode("utf-8", "surrogatepass")).hexdigest()


class BatchWriter:
    """Buffers (table, row) pairs; flushes when `batch_rows` are buffered or the oldest is `max_age_s` old.

    The job's writer retries a failed insert until ClickHouse takes it (back-pressure); a request's writer gives
    `attempts` and gets the last failure raised instead of a request that never answers."""

    def __init__(
        self,
        store: Store,
        batch_rows: int = 5000,
        max_age_s: float = 1.0,
        backoff_cap_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        attempts: int | None = None,
    ):
        self.store = store
        self.batch_rows = batch_rows
        self.max_age_s = max_age_s
        self.backoff_cap_s = backoff_cap_s
        self.sleep = sleep
        self.attempts = attempts
        self.buffer: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.buffered = 0
        self.oldest = 0.0
        self.retries = 0

    def add(self, table: str, row: dict[str, Any]) -> None:
        if not self.buffered:
            self.oldest = time.monotonic()
        self.buffer[table].append(row)
        self.buffered += 1
        if self.buffered >= self.batch_rows or time.monotonic() - self.oldest >= self.max_age_s:
            self.flush()

    def flush(self) -> None:
        """Insert everything buffered; blocks (retrying) until ClickHouse has taken it."""
        for table, rows in self.buffer.items():
            self.insert(table, rows)
        self.buffer.clear()
        self.buffered = 0

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """One deduplicated insert of rows with the same keys, retried until it succeeds (or `attempts` failed)."""
        if not rows:
            return
        columns = list(rows[0])
        data = [[row[c] for row in rows] for c in columns]  # by column: the client encodes columns
        settings = {**DEDUP_SETTINGS, "insert_deduplication_token": batch_token(table, rows)}
        attempt = 0
        while True:
            try:
                self.store.client.insert(table, data, column_names=columns, settings=settings, column_oriented=True)
                return
            except UnicodeEncodeError as exc:
                as_bytes = [[_as_bytes(value) for value in column] for column in data]
                if as_bytes == data:  # the text is nested in a map or an array
                    raise _permanent(table, rows, exc) from exc
                data = as_bytes
            except PERMANENT as exc:
                raise _permanent(table, rows, exc) from exc
            except Exception as exc:  # any other failure: ClickHouse down, timeouts, a table not yet there
                if self.attempts is not None and attempt + 1 >= self.attempts:
                    raise
                delay = min(self.backoff_cap_s, 0.1 * 2**attempt)
                log.warning("insert of %d rows into %s failed (%s); retrying in %.1f s", len(rows), table, exc, delay)
                attempt += 1
                self.retries += 1
                self.sleep(delay)


def _permanent(table: str, rows: list[dict[str, Any]], exc: Exception) -> PermanentWriteError:
    return PermanentWriteError(f"ClickHouse cannot take {len(rows)} rows of table {table}: {type(exc).__name__}: {exc}")


def _as_bytes(value: Any) -> Any:
    """A text holding surrogates as the bytes it was read from (ClickHouse strings are bytes); anything else as is.

    >>> _as_bytes("caf\\udce9"), _as_bytes("café"), _as_bytes(3)
    (b'caf\\xe9', 'café', 3)
    """
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        try:
            return value.encode("utf-8", "surrogateescape")  # undecodable bytes of a file, exactly
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
