"""Event time: events carry `ts` in epoch milliseconds; watermarks trail the newest by the allowed lateness."""

from __future__ import annotations

from pyflink.common import Duration, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner


class EventTimestamp(TimestampAssigner):
    def extract_timestamp(self, value: dict, record_timestamp: int) -> int:
        return value["ts"]


def event_time(allowed_lateness: Duration) -> WatermarkStrategy:
    """Bounded out-of-orderness watermarks on the event's `ts`, tolerant of idle inputs."""
    return (
        WatermarkStrategy.for_bounded_out_of_orderness(allowed_lateness)
        .with_timestamp_assigner(EventTimestamp())
        .with_idleness(Duration.of_seconds(30))
    )
