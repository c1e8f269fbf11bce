-- Repeated event ids (pulse/duplicates.py): a repeat of an event already scored is stored in rejected_events
-- with reason `duplicate_event_id` and metered apart from the rejects, in `usage.duplicates`. Rows written before
-- count 0 duplicates (their repeats were not recognised).

ALTER TABLE usage ADD COLUMN IF NOT EXISTS duplicates UInt64 DEFAULT 0 AFTER rejected;
