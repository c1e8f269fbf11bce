-- Per-minute business metrics of every tenant with the detector's expected value and band
-- (one row per tenant, metric and minute; dashboards plot value against lower..upper).
-- ReplacingMergeTree on (tenant_id, metric, minute): a replay replaces, never doubles, a minute.

CREATE TABLE IF NOT EXISTS metric_values
(
    tenant_id        LowCardinality(String),
    metric           LowCardinality(String),
    minute           DateTime('UTC'),
    value            Float64,
    expected         Float64,
    lower            Float64,
    upper            Float64,
    window_observed  Float64,
    window_expected  Float64,
    z                Float64,
    anomaly_score    Float64,
    threshold        Float64,
    is_anomalous     Bool,
    warming_up       Bool,
    run_id           LowCardinality(String),
    written_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
PARTITION BY toYYYYMM(minute)
ORDER BY (tenant_id, metric, minute);
