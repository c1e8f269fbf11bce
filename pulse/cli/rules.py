"""`pulse rules backtest` and `pulse rules publish`: replay events through a tenant's rules (and what its receivers
would have got), and send a checked config file to the running job."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.cli.common import LATENESS, PROJECT_CONFIGS, bootstrap, console, errors
from pulse.tenants.config import ConfigInvalid, TenantConfig, load_config_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="tools for tenant rules")
    rules = p.add_subparsers(dest="rules_command", required=True)
    b = rules.add_parser("backtest", help="replay event files through a tenant's rules; print the alerts per rule")
    b.add_argument("--tenant", required=True)
    b.add_argument("--input", nargs="+", required=True, help="JSON Lines, CSV or Parquet event files")
    b.add_argument("--configs", default=str(PROJECT_CONFIGS))
    b.add_argument("--allowed-lateness", default=LATENESS, help=f"as in the job (default {LATENESS})")
    b.add_argument("--show", type=int, default=10, help="alerts listed per rule (default 10)")
    b.add_argument(
        "--notifications", action="store_true", help="also how many notifications each receiver would have got"
    )
    b.set_defaults(func=cmd_rules_backtest)

    b = rules.add_parser("publish", help="check a tenant's config file and send it to the running job")
    b.add_argument("file", help="the tenant's whole config file (tenants/T.yaml)")
    b.add_argument("--tenant", required=True)
    b.add_argument("--configs", default=str(PROJECT_CONFIGS), help="the job's config folder (for its plans.yaml)")
    to = b.add_mutually_exclusive_group()
    to.add_argument("--folder", help="the job's --rules-folder (else Kafka)")
    to.add_argument("--topic", default="pulse.rules", help="the job's --rules-topic (default pulse.rules)")
    b.add_argument("--kafka", default=None, help="Kafka bootstrap servers (default: the local broker)")
    b.set_defaults(func=cmd_rules_publish)


def cmd_rules_backtest(args: argparse.Namespace) -> int:
    from pulse.rules.backtest import backtest
    from pulse.rules.durations import parse_duration

    try:
        configs = load_config_dir(args.configs)
        lateness = parse_duration(args.allowed_lateness)
    except (ConfigInvalid, ValueError) as exc:
        errors.print(str(exc), markup=False, highlight=False)
        return 2
    result = backtest(args.tenant, configs.for_tenant(args.tenant), [Path(p) for p in args.input], lateness)
    console.print(
        f"backtest of {args.tenant}: {result.events} events ({result.late} late, "
        f"{result.rejected} invalid records of any tenant skipped)"
    )
    table = Table("rule", "alerts", "first", "last")
    for rule, fired in result.alerts.items():
        first, last = (f"{fired[0][0]:%Y-%m-%d %H:%M}", f"{fired[-1][0]:%Y-%m-%d %H:%M}") if fired else ("", "")
        table.add_row(escape(rule), str(len(fired)), first, last)
    console.print(table)
    for rule, fired in result.alerts.items():
        for ts, group in fired[: args.show]:
            console.print(f"  {escape(rule)}  {ts:%Y-%m-%d %H:%M:%S}  {escape(group)}", highlight=False)
        if len(fired) > args.show:
            console.print(f"  {escape(rule)}  ... {len(fired) - args.show} more", highlight=False)
    if args.notifications:
        print_forecast(args.tenant, configs.for_tenant(args.tenant), result.raised, result.until)
    return 0


def print_forecast(
    tenant: str, config: TenantConfig, alerts: list[dict], until: datetime | None, out: Console = console
) -> None:
    """The table of `--notifications`: per receiver, what it would have got over the replayed period."""
    from pulse.incidents.forecast import HELD, forecast

    if until is None or not (config.webhooks or config.channels):
        out.print(f"{tenant} has no events or no receivers (webhooks, channels): no notifications")
        return
    tallies = forecast(tenant, config, alerts, until)
    held = tallies.pop(HELD)
    table = Table("receiver", "notifications", "notices in them", "messages", title="notifications (routing, "
                  "grouping, inhibition and mute windows applied)")  # fmt: skip
    for name, tally in tallies.items():
        table.add_row(escape(name), str(tally.notifications), str(tally.notices), str(tally.messages))
    out.print(table)
    out.print(f"{held.notices} notices held back (mute windows, inhibition)")


def cmd_rules_publish(args: argparse.Namespace) -> int:
    from pulse.job.rule_updates import RuleUpdate, publish, validate_update
    from pulse.tenants.plans import read_plans

    path = Path(args.file)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    update = RuleUpdate(args.tenant, f"{path.name}@{stamp}", 0, path.read_text())
    plans_file, plans = read_plans(args.configs)
    tenants = [p.stem for p in (Path(args.configs) / "tenants").glob("*.y*ml")]
    try:
        validate_update(update, plans, str(plans_file), file=str(path), tenants=tenants)
    except ConfigInvalid as exc:
        errors.print(f"{exc}\nnot published: fix the file and publish again", markup=False, highlight=False)
        return 1
    where = publish(update, folder=args.folder, bootstrap=None if args.folder else bootstrap(args), topic=args.topic)
    console.print(f"published {path} for tenant {args.tenant} to {where}", markup=False)
    return 0
