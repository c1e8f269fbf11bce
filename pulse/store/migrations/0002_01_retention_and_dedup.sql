-- Retention per tenant plan: every raw row carries its tenant's retention (filled by the writer from
-- the plan, see pulse/retention.py) and ClickHouse drops it once ts + retention_days has passed.
-- Insert deduplication window: the writer sends a deduplication token per batch, so a re-sent batch
-- is dropped whole, also in the materialized rollups (MergeTree tables need this window for that).

ALTER TABLE scored_events ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 30 AFTER ingested_at;
---
ALTER TABLE scored_events MODIFY TTL toDateTime(ts) + toIntervalDay(retention_days);
---
ALTER TABLE rejected_events ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 30 AFTER rejected_at;
---
ALTER TABLE rejected_events MODIFY TTL toDateTime(rejected_at) + toIntervalDay(retention_days);
---
ALTER TABLE scored_events MODIFY SETTING non_replicated_deduplication_window = 10000;
---
ALTER TABLE alerts MODIFY SETTING non_replicated_deduplication_window = 10000;
---
ALTER TABLE rejected_events MODIFY SETTING non_replicated_deduplication_window = 10000;
