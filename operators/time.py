"""Event time: events carry `ts` in epoch milliseconds; watermarks trail the newest by the allowed lateness.

Rejected records (which may have no valid time) get the smallest timestamp, so they never move event time."""

from __future__ import annotations

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import DataStream, StreamExecutionEnvironment

from pulse.eventtime import NO_WATERMARK


class EventTimestamp(TimestampAssigner):
    def extract_timestamp(self, value: tuple[str, dict], record_timestamp: int) -> int:
        kind, item = value[0], value[1]  # an event also carries its origin
        return item["ts"] if kind == "event" else NO_WATERMARK


def event_time(allowed_lateness: Duration) -> WatermarkStrategy:
    """Bounded out-of-orderness watermarks on the event's `ts`.

    The timestamp assigner comes last: PyFlink's `with_idleness` and friends return a strategy without it,
    and without it every record keeps the source's (empty) timestamp, so watermarks never advance before the
    input ends."""
    return WatermarkStrategy.for_bounded_out_of_orderness(allowed_lateness).with_timestamp_assigner(EventTimestamp())


def with_event_time(env: StreamExecutionEnvironment, stream: DataStream, allowed_lateness: Duration) -> DataStream:
    """`stream` with event timestamps and watermarks, at parallelism 1 like the parse step before it.

    PyFlink extracts a Python-assigned timestamp in an extra step that takes the job's default parallelism;
    a rebalance from one parse subtask into several would reorder each tenant's events."""
    parallelism = env.get_parallelism()
    env.set_parallelism(1)
    try:
        return stream.assign_timestamps_and_watermarks(event_time(allowed_lateness))
    finally:
        env.set_parallelism(parallelism)
