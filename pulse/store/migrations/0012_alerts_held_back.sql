-- Alerts a tenant's labels held back (pulse/job/feedback.py): not written, counted per minute in
-- `usage.alerts_held_back`. Rows written before count 0 (no label held anything back then).

ALTER TABLE usage ADD COLUMN IF NOT EXISTS alerts_held_back UInt64 DEFAULT 0 AFTER alerts_suppressed;
