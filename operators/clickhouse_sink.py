"""The ClickHouse writer operator: a thin Flink adapter over `pulse.sink.BatchWriter`."""

from __future__ import annotations

from pyflink.datastream import ProcessFunction, RuntimeContext

from pulse.clickhouse import Store, open_store
from pulse.sink import BatchWriter


class WriteToClickHouse(ProcessFunction):
    """Writes every (table, row) it receives; while ClickHouse is down it blocks (back-pressure), never drops."""

    def __init__(self, dsn: str, batch_rows: int = 5000, max_age_s: float = 1.0):
        self.dsn = dsn
        self.batch_rows = batch_rows
        self.max_age_s = max_age_s
        self.store: Store | None = None

    def open(self, runtime_context: RuntimeContext):
        self.store = open_store(self.dsn)
        self.store.migrate()
        self.writer = BatchWriter(self.store, self.batch_rows, self.max_age_s)

    def process_element(self, value: tuple[str, dict], ctx: ProcessFunction.Context):
        table, row = value
        self.writer.add(table, row)

    def close(self):
        if self.store is not None:
            self.writer.flush()
            self.store.close()
            self.store = None
