-- Retention counts from arrival, never from event time: a backfill of old history is kept for the plan's
-- whole retention. Raw rows expire `retention_days` after PulseEcom received them (`ingested_at`,
-- `rejected_at`); 0 days (a plan without `retention_days`) keeps them until an operator deletes them.
-- The per-minute rollups and usage expire 400 and 800 days after their minute was last written.
-- Rows already stored: MODIFY TTL recomputes every part's expiry (`materialize_ttl_after_modify`, on by
-- default), so raw rows count from their own ingested_at and rollup rows from the time of this migration.
-- On a server with much data, that rewrite runs in the background: apply this migration at a quiet time.

ALTER TABLE scored_events MODIFY TTL toDateTime(ingested_at) + toIntervalDay(retention_days) WHERE retention_days > 0;
---
ALTER TABLE rejected_events MODIFY TTL toDateTime(rejected_at) + toIntervalDay(retention_days) WHERE retention_days > 0;
---
ALTER TABLE usage MODIFY TTL toDateTime(intDiv(version, 1000000000)) + INTERVAL 800 DAY;
---
ALTER TABLE tenant_minute_metrics ADD COLUMN IF NOT EXISTS written_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();
---
ALTER TABLE tenant_minute_metrics MATERIALIZE COLUMN written_at;
---
ALTER TABLE tenant_minute_metrics MODIFY TTL written_at + INTERVAL 400 DAY;
---
DROP VIEW IF EXISTS tenant_minute_metrics_mv;
---
CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_minute_metrics_mv TO tenant_minute_metrics AS
SELECT
    tenant_id,
    toDateTime(toStartOfMinute(ts), 'UTC') AS minute,
    toUInt64(count()) AS events,
    toUInt64(countIf(event_type = 'order_placed')) AS orders,
    sumIf(ifNull(amount, 0), event_type = 'payment_succeeded') AS revenue,
    toUInt64(countIf(event_type = 'payment_failed')) AS payment_failures,
    uniqStateIf(session_id, session_id != '') AS sessions,
    uniqStateIf(customer_id, customer_id != '') AS customers,
    max(toDateTime(ingested_at, 'UTC')) AS written_at
FROM scored_events
GROUP BY tenant_id, minute;
---
ALTER TABLE tenant_minute_alerts ADD COLUMN IF NOT EXISTS written_at SimpleAggregateFunction(max, DateTime('UTC')) DEFAULT now();
---
ALTER TABLE tenant_minute_alerts MATERIALIZE COLUMN written_at;
---
ALTER TABLE tenant_minute_alerts MODIFY TTL written_at + INTERVAL 400 DAY;
---
DROP VIEW IF EXISTS tenant_minute_alerts_mv;
---
CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_minute_alerts_mv TO tenant_minute_alerts AS
SELECT tenant_id, toDateTime(toStartOfMinute(ts), 'UTC') AS minute, kind, cause, severity, toUInt64(count()) AS alerts,
       max(toDateTime(created_at, 'UTC')) AS written_at
FROM alerts
GROUP BY tenant_id, minute, kind, cause, severity;
