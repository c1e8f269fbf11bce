-- Incidents (one row per version; FINAL shows the latest) and the webhook delivery log.

CREATE TABLE IF NOT EXISTS incidents
(
    tenant_id      LowCardinality(String),
    incident_id    String,
    version        UInt32,
    status         LowCardinality(String),
    kind           LowCardinality(String),
    cause          LowCardinality(String),
    severity       LowCardinality(String),
    group_key      String,
    opened_at      DateTime64(3, 'UTC'),
    updated_at     DateTime64(3, 'UTC'),
    resolved_at    Nullable(DateTime64(3, 'UTC')),
    alert_count    UInt32,
    observed       Float64,
    expected       Nullable(Float64),
    percent        Nullable(Float64),
    unit           LowCardinality(String),
    currency       LowCardinality(String),
    top_dimensions Map(LowCardinality(String), Array(String)),
    summary        String,
    labels         Map(String, String),
    notify         Bool,
    recorded_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(opened_at)
ORDER BY (tenant_id, opened_at, incident_id)
SETTINGS non_replicated_deduplication_window = 10000;
---
CREATE TABLE IF NOT EXISTS webhook_attempts
(
    tenant_id      LowCardinality(String),
    webhook_id     String,
    endpoint       LowCardinality(String),
    incident_id    String,
    version        UInt32,
    attempt        UInt16,
    status_code    UInt16,
    ok             Bool,
    error          String,
    next_delay_ms  UInt32,
    attempted_at   DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(attempted_at)
ORDER BY (tenant_id, attempted_at, webhook_id)
TTL toDateTime(attempted_at) + INTERVAL 90 DAY;
---
CREATE TABLE IF NOT EXISTS webhook_dead_letters
(
    tenant_id    LowCardinality(String),
    webhook_id   String,
    endpoint     LowCardinality(String),
    incident_id  String,
    version      UInt32,
    payload      String,
    reason       String,
    attempts     UInt16,
    failed_at    DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(failed_at)
PARTITION BY toYYYYMM(failed_at)
ORDER BY (tenant_id, webhook_id);
---
CREATE TABLE IF NOT EXISTS webhook_disabled
(
    tenant_id    LowCardinality(String),
    endpoint     String,
    reason       String,
    disabled_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(disabled_at)
ORDER BY (tenant_id, endpoint);
