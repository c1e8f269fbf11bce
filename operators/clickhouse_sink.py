"""The ClickHouse writer: buffers lists of (table, row) pairs and inserts them in batches by size and age.

Keyed by one constant key so the buffer lives in keyed state: a checkpoint holds every row not yet
written, and a restore writes them. Inserts go through `pulse.store.writer.BatchWriter.insert`, which retries
with backoff until ClickHouse takes the batch (an outage becomes back-pressure, never loss) and tags
each batch with a deduplication token; rows written again on replay are idempotent through the tables'
ReplacingMergeTree keys.
"""

from __future__ import annotations

from collections import defaultdict

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from pulse.store.clickhouse import Store, open_store
from pulse.store.writer import BatchWriter


class WriteToClickHouse(KeyedProcessFunction):
    """Writes every row it receives; nothing goes downstream."""

    def __init__(self, dsn: str, batch_rows: int = 5000, max_age_s: float = 1.0, open_wait_s: float = 600.0):
        self.dsn = dsn
        self.batch_rows = batch_rows
        self.max_age_ms = int(max_age_s * 1000)
        self.open_wait_s = open_wait_s
        self.store: Store | None = None
        self.rows: list[tuple[str, dict]] | None = None

    def open(self, runtime_context: RuntimeContext):
        self.store = open_store(self.dsn, wait_s=self.open_wait_s)
        self.store.migrate()
        self.writer = BatchWriter(self.store)
        self.pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value: list[tuple[str, dict]], ctx: KeyedProcessFunction.Context) -> tuple:
        rows = self._rows()
        if not rows:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + self.max_age_ms)
        rows.extend(value)
        if len(rows) >= self.batch_rows:
            self.flush()
        self.pending.update(self.rows)
        return ()  # a keyed function must return an iterable; the writer emits nothing

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> tuple:
        self._rows()
        self.flush()
        self.pending.update(self.rows)
        return ()

    def _rows(self) -> list[tuple[str, dict]]:
        """The live buffer (restored from state after a failure)."""
        if self.rows is None:
            self.rows = self.pending.value() or []
        return self.rows

    def flush(self) -> None:
        by_table: dict[str, list[dict]] = defaultdict(list)
        for table, row in self.rows or []:
            by_table[table].append(row)
        for table, rows in by_table.items():
            self.writer.insert(table, rows)
        self.rows = []

    def close(self):
        if self.store is not None:
            self.flush()
            self.store.close()
            self.store = None
