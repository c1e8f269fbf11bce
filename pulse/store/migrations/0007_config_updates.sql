-- Rule updates the running scoring job received (`pulse rules publish`): accepted or refused, and why.
--   SELECT received_at, version, accepted, error FROM config_updates FINAL WHERE tenant_id = 'acme' ORDER BY received_at
-- ReplacingMergeTree on (tenant_id, version): a replayed update replaces its row.
CREATE TABLE IF NOT EXISTS config_updates
(
    tenant_id    LowCardinality(String),
    version      String,
    accepted     Bool,
    error        String,
    rules        UInt32,
    run_id       LowCardinality(String),
    received_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (tenant_id, version);
