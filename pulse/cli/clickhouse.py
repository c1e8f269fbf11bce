"""`pulse clickhouse migrate` and `pulse clickhouse grants`: the schema, and a tenant's analyst user."""

from __future__ import annotations

import argparse

from pulse.cli.common import console, with_dsn
from pulse.store.clickhouse import describe, store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clickhouse", help="ClickHouse administration")
    ch = p.add_subparsers(dest="action", required=True)
    m = ch.add_parser("migrate", help="apply the schema migrations (idempotent)")
    with_dsn(m)
    m.set_defaults(func=cmd_migrate)
    g = ch.add_parser("grants", help="SQL for a tenant's analyst user that reads only its own rows")
    g.add_argument("--tenant", required=True)
    g.add_argument("--database", default="default")
    g.add_argument("--password-env", help="environment variable holding the password (else one is generated)")
    g.add_argument("--apply", action="store_true", help="run the statements instead of printing them")
    with_dsn(g)
    g.set_defaults(func=cmd_grants)


def cmd_migrate(args: argparse.Namespace) -> int:
    with store(args.clickhouse) as s:
        applied = s.migrate()
    console.print(f"{describe(args.clickhouse)}: applied {applied or 'nothing (up to date)'}")
    return 0


def cmd_grants(args: argparse.Namespace) -> int:
    import os
    import secrets

    from pulse.store.grants import statements

    password = os.environ[args.password_env] if args.password_env else secrets.token_urlsafe(24)
    sql = statements(args.tenant, password, args.database)
    if not args.apply:
        print(";\n".join(sql) + ";")
        return 0
    with store(args.clickhouse) as s:
        for statement in sql:
            s.client.command(statement)
    console.print(
        f"applied {len(sql)} statements: user pulse_{args.tenant.replace('-', '_')}_analyst can read "
        f"only tenant {args.tenant}'s rows" + ("" if args.password_env else f"; password: {password}")
    )
    return 0
