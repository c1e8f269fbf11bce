"""Sink throughput into embedded ClickHouse (chDB): rows/s through BatchWriter (batched, deduplication
tokens, materialized rollups) against a baseline of one plain clickhouse-connect insert of the same rows.

    .venv/bin/python bench/sink.py [--rows 200000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulse.store.clickhouse import store  # noqa: E402
from pulse.store.writer import BatchWriter  # noqa: E402

START = datetime(2026, 11, 2, tzinfo=UTC)
TYPES = ("page_view", "add_to_cart", "order_placed", "payment_succeeded", "payment_failed")


def rows(n: int, run_id: str) -> list[dict]:
    return [
        {
            "tenant_id": f"tenant{i % 20}",
            "event_id": f"e{i}",
            "event_type": TYPES[i % len(TYPES)],
            "ts": START + timedelta(milliseconds=250 * i),
            "amount": float(i % 500),
            "currency": "EUR",
            "session_id": f"s{i % 5000}",
            "customer_id": f"c{i % 3000}",
            "country": ("DE", "FR", "US")[i % 3],
            "run_id": run_id,
            "ingested_at": datetime.now(UTC),
        }
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, store(f"chdb://{folder}/ch") as s:
        s.migrate()
        data = rows(args.rows, "baseline")
        columns = list(data[0])
        started = time.perf_counter()
        s.client.insert("scored_events", [[r[c] for c in columns] for r in data], column_names=columns)
        baseline = args.rows / (time.perf_counter() - started)

        data = rows(args.rows, "sink")
        writer = BatchWriter(s, batch_rows=args.batch, max_age_s=3600)
        started = time.perf_counter()
        for row in data:
            writer.add("scored_events", row)
        writer.flush()
        sink = args.rows / (time.perf_counter() - started)
        stored = s.query("SELECT count() FROM scored_events WHERE run_id = 'sink'")[1][0][0]
    print(f"rows: {args.rows}, batch: {args.batch} (stored {stored})")
    print(f"baseline, one plain insert:  {baseline:>10,.0f} rows/s")
    print(f"sink, BatchWriter:           {sink:>10,.0f} rows/s  ({sink / baseline:.2f}x baseline)")


if __name__ == "__main__":
    main()
