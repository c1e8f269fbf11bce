"""`pulse dispatch`: turn alerts (from ClickHouse or Kafka) into incidents and deliver them to tenants' receivers."""

from __future__ import annotations

import argparse

from pulse.cli.common import PROJECT_CONFIGS, console, errors, with_dsn
from pulse.store.clickhouse import store
from pulse.tenants.config import load_config_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dispatch", help="turn alerts into incidents and deliver them to tenants' webhooks")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument(
        "--once", action="store_true", help="read the alerts there are (Kafka: until 10 s idle), deliver, and exit"
    )
    p.add_argument("--poll", type=float, default=5.0, help="seconds between ClickHouse polls")
    p.add_argument("--kafka", metavar="BOOTSTRAP", help="read alerts from Kafka instead of polling ClickHouse")
    p.add_argument("--topic", default="alerts")
    p.add_argument("--attempts", type=int, default=8)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP attempt")
    p.add_argument("--allow-private", action="store_true", help="allow webhook URLs on private/loopback addresses")
    p.add_argument("--dashboard-url", help="the dashboard's base URL (pulse serve), linked from every notice")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a busy chDB folder")
    with_dsn(p)
    p.set_defaults(func=cmd_dispatch)


def cmd_dispatch(args: argparse.Namespace) -> int:
    from pulse.incidents.delivery import RetryPolicy
    from pulse.incidents.service import IncidentPipeline
    from pulse.incidents.sources import clickhouse_alerts, kafka_alerts

    configs = load_config_dir(args.configs, skip_invalid=True)
    for tenant, problems in configs.refused.items():
        errors.print(f"pulse dispatch: tenant {tenant} gets no notices until its config is fixed (the others do):",
                     *map(str, problems), sep="\n", markup=False, highlight=False)  # fmt: skip
    policy = RetryPolicy(attempts=args.attempts, timeout_s=args.timeout)
    with store(args.clickhouse, wait_s=args.wait) as s:
        s.migrate()
        pipeline = IncidentPipeline(s, configs, policy, args.allow_private, args.dashboard_url)
        if args.kafka:
            items = kafka_alerts(args.kafka, args.topic, idle_s=10.0 if args.once else None)
        else:
            items = clickhouse_alerts(s, pipeline.lock, once=args.once, poll_s=args.poll)
        counts = pipeline.run(items)
    console.print(
        f"dispatch: {counts['alerts']} alerts -> {counts['notices']} incident notices, "
        f"{counts['submitted']} notifications sent to receivers, {counts['already_delivered']} already delivered, "
        f"{counts['no_webhook']} for tenants without receivers, {counts['silenced']} silenced, "
        f"{counts['inhibited']} inhibited",
        soft_wrap=True,
    )
    return 0
