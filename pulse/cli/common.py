"""What the command groups share: the shipped configs folder, the ClickHouse and Kafka options, the terminal
(standard output and the error stream), reading a configs folder and printing a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pulse.eventtime import ALLOWED_LATENESS_MS
from pulse.store.clickhouse import default_dsn
from pulse.tenants.config import ConfigInvalid, ConfigSet, load_config_dir

PROJECT_CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
LATENESS = f"{ALLOWED_LATENESS_MS // 1000}s"  # the job's default allowed lateness, as a duration
SCENARIO_NAMES = ("drop", "spike", "slow_degradation", "bot_burst", "card_testing", "seasonal_quiet")
EVALUATION_KINDS = ("orders_drop_85", "orders_drop_50", "payment_failures", "bot_burst", "card_testing", "outage")
EVALUATION_KINDS += ("fraud_order", "large_orders")  # pulse.dev.scenarios.KINDS, named here to keep start-up light
EVALUATION_SIZES = ("xs", "s", "m", "l")  # pulse.dev.scenarios.SIZES
console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def with_dsn(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clickhouse",
        default=default_dsn(),
        help="ClickHouse DSN: chdb://FOLDER (embedded, default .data/clickhouse) or http(s)://...",
    )


def with_kafka(p: argparse.ArgumentParser, topic: str = "pulse.events") -> None:
    p.add_argument(
        "--kafka", default=None, help="bootstrap servers (default $PULSE_KAFKA, else 127.0.0.1:$PULSE_KAFKA_PORT)"
    )
    p.add_argument("--topic", default=topic, help=f"events topic (default {topic})")


def bootstrap(args: argparse.Namespace) -> str:
    """The Kafka bootstrap servers of `--kafka`, else the local broker's."""
    from pulse.topics import default_bootstrap

    return args.kafka or default_bootstrap()


def load_configs_or_report(folder: str) -> ConfigSet | None:
    """The configs of `folder`, or None after printing every error in it."""
    try:
        return load_config_dir(folder)
    except ConfigInvalid as exc:
        for error in exc.errors:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(exc.errors)} error(s) in {folder}", markup=False)
        return None


def print_table(title: str | None, columns: list[str], rows: list[tuple]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
