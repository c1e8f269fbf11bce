-- Usage metering (pulse/usage.py): per tenant, minute and run, how many rows the scoring job wrote.
-- The job writes cumulative counts per (tenant, minute, run) with `version` = the time it wrote them (ns),
-- so the newest row replaces older ones and a replay after a failure (state restored from a checkpoint,
-- rows counted again) rewrites the numbers instead of adding to them. Day and month totals are sums of
-- minutes; read with FINAL:
--   SELECT toDate(minute) AS day, sum(accepted), sum(rejected), sum(scored), sum(alerts), sum(over_quota)
--   FROM usage FINAL WHERE tenant_id = 'acme' AND toYYYYMM(minute) = 202611 GROUP BY day ORDER BY day

CREATE TABLE IF NOT EXISTS usage
(
    tenant_id          LowCardinality(String),
    minute             DateTime('UTC'),
    run_id             LowCardinality(String),
    accepted           UInt64,
    rejected           UInt64,
    scored             UInt64,
    alerts             UInt64,
    over_quota         UInt64,
    alerts_suppressed  UInt64,
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, minute, run_id)
TTL minute + INTERVAL 800 DAY
SETTINGS non_replicated_deduplication_window = 10000;
---
-- Events beyond the tenant's monthly quota (what happened to them: the plan's `overage`, see README).
ALTER TABLE scored_events ADD COLUMN IF NOT EXISTS over_quota Bool DEFAULT false;
