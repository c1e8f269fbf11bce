"""The ClickHouse writer: buffers (table, row) pairs and inserts them in batches by size and age."""

from __future__ import annotations

import time
from collections import defaultdict

from pyflink.datastream import ProcessFunction, RuntimeContext

from pulse.clickhouse import Store, open_store


class WriteToClickHouse(ProcessFunction):
    """Writes every row it receives; a batch that still fails after retries fails the job (no loss)."""

    def __init__(self, dsn: str, batch_rows: int = 5000, max_age_s: float = 1.0):
        self.dsn = dsn
        self.batch_rows = batch_rows
        self.max_age_s = max_age_s
        self.store: Store | None = None

    def open(self, runtime_context: RuntimeContext):
        self.store = open_store(self.dsn)
        self.store.migrate()
        self.buffer: dict[str, list[dict]] = defaultdict(list)
        self.buffered = 0
        self.oldest = 0.0

    def process_element(self, value: tuple[str, dict], ctx: ProcessFunction.Context):
        table, row = value
        if not self.buffered:
            self.oldest = time.monotonic()
        self.buffer[table].append(row)
        self.buffered += 1
        if self.buffered >= self.batch_rows or time.monotonic() - self.oldest >= self.max_age_s:
            self.flush()

    def flush(self) -> None:
        for table, rows in self.buffer.items():
            self.store.insert(table, rows)
        self.buffer.clear()
        self.buffered = 0

    def close(self):
        if self.store is not None:
            self.flush()
            self.store.close()
            self.store = None
