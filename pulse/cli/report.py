"""`pulse report`: a self-contained HTML incident report of one tenant."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulse.cli.common import PROJECT_CONFIGS, console, with_dsn
from pulse.store.clickhouse import store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="a self-contained HTML incident report of one tenant")
    p.add_argument("--tenant", required=True)
    p.add_argument("--since", default="24h", help="how far back from the tenant's latest data: 90m, 24h, 7d")
    p.add_argument("--out", default="report.html")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a busy chDB folder")
    with_dsn(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from pulse.incidents.report import parse_since, render_report, write_report
    from pulse.tenants.plans import read_plans

    hours = parse_since(args.since)
    plan = read_plans(args.configs)[1].name_of(args.tenant)
    with store(args.clickhouse, wait_s=args.wait) as s:
        html = render_report(s, args.tenant, hours, plan)
    out = Path(args.out)
    write_report(html, out)
    console.print(f"report for {args.tenant}, last {args.since} of data: {out} ({len(html):,} bytes)", markup=False)
    return 0
