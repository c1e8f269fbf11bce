"""SQL that gives one tenant's analysts a ClickHouse user who can read that tenant's rows and nothing else.

A role `pulse_analyst_<tenant>` gets SELECT on the tenant-scoped tables only, and a row policy on every
one of them (`tenant_id = '<tenant>'`). In ClickHouse, once a table has any row policy, users with no
policy on it see no rows; so each table also gets `pulse_platform`, a policy that lets the user who
runs the grants (the platform's own user) keep seeing every row. The analyst user is read-only
(`readonly = 2`: settings such as timeouts may be changed, data and schema never) and holds only the role.

>>> statements("acme", "s3cret", "pulse")[0]
'CREATE ROLE IF NOT EXISTS pulse_analyst_acme'
"""

from __future__ import annotations

import re

TENANT_TABLES = (
    "scored_events", "alerts", "rejected_events", "incidents", "tenant_minute_metrics", "tenant_minute_alerts",
    "webhook_attempts", "webhook_dead_letters", "webhook_disabled",
)  # fmt: skip
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def statements(tenant: str, password: str, database: str) -> list[str]:
    """The statements, in order; idempotent (IF NOT EXISTS / OR REPLACE), safe to apply again."""
    if not TENANT.match(tenant):
        raise ValueError(f"tenant {tenant!r} is not a valid tenant id ([a-z0-9][a-z0-9_-]*)")
    ident = tenant.replace("-", "_")
    role, user = f"pulse_analyst_{ident}", f"pulse_{ident}_analyst"
    sql = [f"CREATE ROLE IF NOT EXISTS {role}"]
    for table in TENANT_TABLES:
        target = f"{database}.{table}"
        sql.append(f"GRANT SELECT ON {target} TO {role}")
        sql.append(
            f"CREATE ROW POLICY OR REPLACE pulse_tenant_{ident} ON {target} AS PERMISSIVE FOR SELECT "
            f"USING tenant_id = '{tenant}' TO {role}"
        )
        sql.append(
            f"CREATE ROW POLICY IF NOT EXISTS pulse_platform ON {target} AS PERMISSIVE FOR SELECT "
            "USING 1 TO CURRENT_USER"
        )
    sql.append(
        f"CREATE USER IF NOT EXISTS {user} IDENTIFIED WITH sha256_password BY {_quote(password)} "
        f"DEFAULT ROLE {role} SETTINGS readonly = 2"
    )
    sql.append(f"GRANT {role} TO {user}")
    return sql


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
