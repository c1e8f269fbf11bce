"""`pulse usage`: a tenant's usage per day and for a month, against its plan."""

from __future__ import annotations

import argparse
import re

from pulse.cli.common import PROJECT_CONFIGS, console, print_table, with_dsn
from pulse.store.clickhouse import store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("usage", help="a tenant's usage for a month against its plan")
    p.add_argument("--tenant", required=True)
    p.add_argument("--month", type=_month, help="YYYY-MM (default: this month, UTC)")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--plans", help="plans file (default: the configs folder's plans.yaml, else configs/plans.yaml)")
    with_dsn(p)
    p.set_defaults(func=cmd_usage)


def cmd_usage(args: argparse.Namespace) -> int:
    from pulse.store.usage import current_month, usage_report
    from pulse.tenants.plans import read_plans

    plan_name, plan = read_plans(args.configs, args.plans)[1].of(args.tenant)
    with store(args.clickhouse) as s:
        report = usage_report(s, args.tenant, args.month or current_month(), plan_name, plan)
    totals, quota = report["totals"], plan.events_per_month
    used = f"{totals['accepted']:,} of {quota:,} events ({report['quota_used_percent']}%)" if quota else "unlimited"
    console.print(f"{args.tenant} in {report['month']}, plan {plan_name}: {used}; beyond the quota: {plan.overage}")
    columns = ["day", *totals]
    rows = [tuple(day[c] for c in columns) for day in report["days"]] + [("month", *totals.values())]
    print_table("Usage per day", columns, rows)
    return 0


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-11")
    return text
