"""The column lists of pulse/store/tables.py are the migrated tables' columns, in the tables' order."""

from pulse.store import tables


def columns(db, table: str) -> tuple[str, ...]:
    _, rows = db.query(
        "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} ORDER BY position",
        {"t": table},
    )
    return tuple(name for (name,) in rows)


def test_each_column_list_is_its_migrated_table(db):
    listed = {
        "alerts": tables.ALERTS,
        "rejected_events": tables.REJECTED_EVENTS,
        "incidents": tables.INCIDENTS,
        "incident_actions": tables.INCIDENT_ACTIONS,
        "silences": tables.SILENCES,
    }
    # rejected_events has retention_days, which ClickHouse fills in: the job does not write it
    found = {table: tuple(c for c in columns(db, table) if c != "retention_days") for table in listed}
    assert found == listed


def test_key_columns_are_columns_of_their_tables(db):
    for table, keys in tables.KEY_COLUMNS.items():
        missing = set(keys) - set(columns(db, table))
        assert not missing, f"{table} has no column(s) {', '.join(sorted(missing))}"
