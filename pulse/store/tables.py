"""The columns of the tables the code writes or reads by position, each table's once, beside the migrations that
create them (pulse/store/migrations/); tests/store/test_tables.py checks them against a migrated database."""

ALERTS = ("tenant_id", "alert_id", "ts", "kind", "cause", "severity", "group_key", "event_id", "score", "threshold",
          "summary", "labels", "run_id", "created_at")  # fmt: skip
REJECTED_EVENTS = ("tenant_id", "source", "record_index", "reason", "detail", "raw", "run_id", "rejected_at")
INCIDENTS = (
    "tenant_id", "incident_id", "version", "status", "kind", "cause", "severity", "group_key", "opened_at",
    "updated_at", "resolved_at", "alert_count", "observed", "expected", "percent", "unit", "currency",
    "top_dimensions", "summary", "labels", "notify", "recorded_at",
)  # fmt: skip
INCIDENT_ACTIONS = ("tenant_id", "incident_id", "action_id", "action", "actor", "value", "via", "at")
SILENCES = ("tenant_id", "silence_id", "matchers", "starts_at", "ends_at", "comment", "created_by", "created_at",
            "updated_at")  # fmt: skip

# The columns that name a row of the tables the job writes: a batch's insert deduplication token is made of them
# (pulse.store.writer). Wall-clock columns are left out, so the same rows give the same token on a replay.
KEY_COLUMNS = {
    "scored_events": ("tenant_id", "event_id", "run_id"),
    "alerts": ("tenant_id", "alert_id", "run_id"),
    "rejected_events": ("tenant_id", "run_id", "source", "record_index"),
    "incidents": ("tenant_id", "incident_id", "version"),
    "config_updates": ("tenant_id", "version", "run_id"),
    "metric_values": ("tenant_id", "metric", "minute", "run_id"),
}
