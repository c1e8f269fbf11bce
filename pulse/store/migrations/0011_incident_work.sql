-- People working incidents: every action on an incident (who, when), silences, and the notices a silence held back.

CREATE TABLE IF NOT EXISTS incident_actions
(
    tenant_id    LowCardinality(String),
    incident_id  String,
    action_id    String,
    action       LowCardinality(String),
    actor        String,
    value        String,
    via          LowCardinality(String),
    at           DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(at)
ORDER BY (tenant_id, incident_id, at, action_id);
---
CREATE TABLE IF NOT EXISTS silences
(
    tenant_id    LowCardinality(String),
    silence_id   String,
    matchers     Array(String),
    starts_at    DateTime64(3, 'UTC'),
    ends_at      Nullable(DateTime64(3, 'UTC')),
    comment      String,
    created_by   String,
    created_at   DateTime64(3, 'UTC'),
    updated_at   DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (tenant_id, silence_id);
---
CREATE TABLE IF NOT EXISTS silenced_notices
(
    tenant_id    LowCardinality(String),
    incident_id  String,
    version      UInt32,
    status       LowCardinality(String),
    reason       String,
    silenced_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(silenced_at)
ORDER BY (tenant_id, incident_id, version);
