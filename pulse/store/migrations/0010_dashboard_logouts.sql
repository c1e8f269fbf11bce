-- Dashboard sessions ended by signing out (POST /dashboard/logout): a session id listed here is refused by
-- every API replica from then on. A row is kept until the session would have expired anyway (TTL).
CREATE TABLE IF NOT EXISTS dashboard_logouts
(
    session_id  String,
    tenant_id   LowCardinality(String),
    ended_at    DateTime64(3, 'UTC'),
    expires_at  DateTime('UTC')
)
ENGINE = ReplacingMergeTree(ended_at)
ORDER BY session_id
TTL expires_at;
