"""ClickHouse: access, the batching writer, grants, migrations, usage reads."""
