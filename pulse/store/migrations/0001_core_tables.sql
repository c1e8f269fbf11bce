-- Scored events, alerts and rejected records: the three tables of the scoring job.
-- ReplacingMergeTree on deterministic keys: a replay after a failure does not double rows
-- (query with FINAL, or count(DISTINCT ...), to see each row once before background merges).

CREATE TABLE IF NOT EXISTS scored_events
(
    tenant_id         LowCardinality(String),
    event_id          String,
    event_type        LowCardinality(String),
    ts                DateTime64(3, 'UTC'),
    amount            Nullable(Float64),
    currency          LowCardinality(String),
    customer_id       String,
    session_id        String,
    order_id          String,
    product_id        String,
    campaign_id       String,
    ip                String,
    country           LowCardinality(String),
    payment_method    LowCardinality(String),
    card_fingerprint  String,
    attributes        Map(String, String),
    risk_score        Nullable(Float64),
    risk_threshold    Nullable(Float64),
    top_features      Array(LowCardinality(String)),
    model_warming_up  Bool,
    rule_hits         Array(LowCardinality(String)),
    run_id            LowCardinality(String),
    ingested_at       DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, ts, event_id);

---

CREATE TABLE IF NOT EXISTS alerts
(
    tenant_id    LowCardinality(String),
    alert_id     String,
    ts           DateTime64(3, 'UTC'),
    kind         LowCardinality(String),
    cause        LowCardinality(String),
    severity     LowCardinality(String),
    group_key    String,
    event_id     String,
    score        Nullable(Float64),
    threshold    Nullable(Float64),
    summary      String,
    labels       Map(String, String),
    run_id       LowCardinality(String),
    created_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(ts)
ORDER BY (tenant_id, ts, alert_id);

---

CREATE TABLE IF NOT EXISTS rejected_events
(
    tenant_id     LowCardinality(String),
    source        String,
    record_index  UInt64,
    reason        LowCardinality(String),
    detail        String,
    raw           String,
    run_id        LowCardinality(String),
    rejected_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(rejected_at)
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (tenant_id, run_id, source, record_index);
