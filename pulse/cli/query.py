"""`pulse query`: run SQL against ClickHouse and print a table."""

from __future__ import annotations

import argparse

from pulse.cli.common import print_table, with_dsn
from pulse.store.clickhouse import store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("query", help="run SQL against ClickHouse and print a table")
    p.add_argument("sql")
    with_dsn(p)
    p.set_defaults(func=cmd_query)


def cmd_query(args: argparse.Namespace) -> int:
    with store(args.clickhouse) as s:
        columns, rows = s.query(args.sql)
    print_table(None, columns, rows)
    return 0
