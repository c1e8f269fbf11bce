"""ClickHouse: access, the batching writer, grants, migrations and the tables' columns, usage reads."""
