-- Per-minute, per-tenant rollups for dashboards, kept current by materialized views on insert.
-- Query them with the -Merge combinators (or sum() for the simple columns), grouped by tenant and minute:
--   SELECT minute, sum(orders), sum(revenue), uniqMerge(sessions), sum(payment_failures)
--   FROM tenant_minute_metrics WHERE tenant_id = 'acme' GROUP BY minute ORDER BY minute

CREATE TABLE IF NOT EXISTS tenant_minute_metrics
(
    tenant_id         LowCardinality(String),
    minute            DateTime('UTC'),
    events            SimpleAggregateFunction(sum, UInt64),
    orders            SimpleAggregateFunction(sum, UInt64),
    revenue           SimpleAggregateFunction(sum, Float64),
    payment_failures  SimpleAggregateFunction(sum, UInt64),
    sessions          AggregateFunction(uniq, String),
    customers         AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
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
    uniqStateIf(customer_id, customer_id != '') AS customers
FROM scored_events
GROUP BY tenant_id, minute;
---
CREATE TABLE IF NOT EXISTS tenant_minute_alerts
(
    tenant_id  LowCardinality(String),
    minute     DateTime('UTC'),
    kind       LowCardinality(String),
    cause      LowCardinality(String),
    severity   LowCardinality(String),
    alerts     UInt64
)
ENGINE = SummingMergeTree(alerts)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, kind, cause, severity)
TTL minute + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
---
CREATE MATERIALIZED VIEW IF NOT EXISTS tenant_minute_alerts_mv TO tenant_minute_alerts AS
SELECT tenant_id, toDateTime(toStartOfMinute(ts), 'UTC') AS minute, kind, cause, severity, toUInt64(count()) AS alerts
FROM alerts
GROUP BY tenant_id, minute, kind, cause, severity;
