"""The `pulse` command: generate, validate, run, query, clickhouse migrate."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pulse.clickhouse import default_dsn, describe, store
from pulse.config import METRIC_NAMES, ConfigInvalid, load_config_dir

PROJECT_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
SCENARIO_NAMES = ("drop", "spike", "slow_degradation", "bot_burst", "card_testing", "seasonal_quiet")
console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def cmd_generate(args: argparse.Namespace) -> int:
    from pulse.generate import Generator, write
    from pulse.scenarios import ScenarioGenerator

    if args.scenario:
        generator = ScenarioGenerator(
            scenario=args.scenario,
            seed=args.seed,
            minutes=args.minutes or 0,
            sessions_per_minute=args.sessions_per_minute,
        )
    else:
        generator = Generator(seed=args.seed, minutes=args.minutes or 360, sessions_per_minute=args.sessions_per_minute)
    events, incidents = generator.run()
    counts = write(events, incidents, Path(args.out), broken_rate=args.broken_rate, seed=args.seed)
    console.print(f"wrote {counts['records']} records ({counts['broken']} deliberately broken) to {args.out}")
    console.print(f"ground truth: {counts['incidents']} incidents in {args.out}.truth.json")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        configs = load_config_dir(args.configs)
    except ConfigInvalid as exc:
        for error in exc.errors:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(exc.errors)} error(s) in {args.configs}", markup=False)
        return 1
    rules = sum(len(c.rules) for c in configs.tenants.values())
    console.print(f"{args.configs}: default config and {len(configs.tenants)} tenant(s), {rules} rule(s): valid")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pulse.localrun import run_local

    try:
        load_config_dir(args.configs)
    except ConfigInvalid as exc:
        for error in exc.errors:
            errors.print(str(error), markup=False, highlight=False)
        return 2
    run_id = args.run_id or datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
    started = time.monotonic()
    report = run_local(
        [Path(p) for p in args.input],
        args.configs,
        args.clickhouse,
        run_id,
        tenant=args.tenant,
        parallelism=args.parallelism,
    )
    console.print(
        f"run {run_id}: read {report.read} records -> {report.scored} scored, "
        f"{report.rejected} rejected, {report.alerts} alerts ({time.monotonic() - started:.1f} s)"
    )
    _print_summaries(report.summaries[1])
    if report.rejected:
        _print_table("Rejected records by reason", *report.rejections)
    if not report.conserved:
        errors.print(f"count mismatch: read {report.read} != scored {report.scored} + rejected {report.rejected}")
        return 1
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    with store(args.clickhouse) as s:
        columns, rows = s.query(args.sql)
    _print_table(None, columns, rows)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    with store(args.clickhouse) as s:
        applied = s.migrate()
    console.print(f"{describe(args.clickhouse)}: applied {applied or 'nothing (up to date)'}")
    return 0


def cmd_models_backtest(args: argparse.Namespace) -> int:
    import csv

    from models.backtest import backtest

    metrics = load_config_dir(args.configs).for_tenant(args.tenant or "").models.metrics
    with open(args.series, newline="") as f:
        rows = [(r[0], r[1] if len(r) > 1 else "") for r in csv.reader(f) if r]
    if rows and rows[0][0].strip().lower() == "timestamp":
        rows = rows[1:]
    results = list(backtest(rows, args.metric, metrics))
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "value", "anomaly_score", "is_alert"])
        for r in results:
            writer.writerow([r.timestamp, r.value, "" if r.anomaly_score is None else r.anomaly_score, int(r.is_alert)])
    finally:
        if args.out:
            out.close()
    if args.out:
        alerts = sum(r.is_alert for r in results)
        console.print(f"{len(results)} rows, {alerts} flagged as anomalous ({args.metric} detector) -> {args.out}")
    return 0


def cmd_models_evaluate(args: argparse.Namespace) -> int:
    from models.evaluation import evaluate, merge
    from pulse.scenarios import SCENARIOS

    print(f"Metric detectors (shipped defaults) on labelled scenarios, seeds {', '.join(map(str, args.seed))}")
    print(
        "| scenario | days | incidents detected | alerts | precision | recall | delay min (median, max) | false/day |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in args.scenario or SCENARIOS:
        r = merge([evaluate(scenario, seed=seed) for seed in args.seed])
        delays = sorted(r.delays_min)
        delay = f"{delays[len(delays) // 2]:.0f}, {delays[-1]:.0f}" if delays else "-"
        precision = "-" if r.precision is None else f"{r.precision:.2f}"
        recall = "-" if r.recall is None else f"{r.recall:.2f}"
        print(
            f"| {scenario} | {r.days:g} | {r.detected}/{r.incidents} | {r.alerts} | {precision} | {recall} "
            f"| {delay} | {r.false_alerts_per_day:.2f} |"
        )
    return 0


def _print_summaries(rows: list[tuple]) -> None:
    console.print(f"\n[bold]Incident summaries[/bold] ({len(rows)} shown)")
    for tenant, when, severity, cause, summary in rows:
        console.print(f"\n[bold]{tenant}[/bold] {when} [{severity}] {cause}", highlight=False, markup=False)
        console.print(f"  {summary}", highlight=False, markup=False)


def _print_table(title: str | None, columns: list[str], rows: list[tuple]) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="pulse", description="PulseEcom: real-time e-commerce analytics on Flink")
    sub = root.add_subparsers(dest="command", required=True)

    def with_dsn(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--clickhouse",
            default=default_dsn(),
            help="ClickHouse DSN: chdb://FOLDER (embedded, default .data/clickhouse) or http(s)://...",
        )

    p = sub.add_parser("generate", help="write a synthetic multi-tenant stream with injected incidents")
    p.add_argument("--out", required=True, help="output file: .jsonl, .csv or .parquet")
    p.add_argument("--minutes", type=int, default=None, help="default 360 (a scenario: its own length)")
    p.add_argument("--scenario", choices=SCENARIO_NAMES, help="one tenant, seasonal, one labelled kind of incident")
    p.add_argument("--sessions-per-minute", type=float, default=4.0, help="per tenant")
    p.add_argument("--broken-rate", type=float, default=0.0, help="fraction of records to break (JSON Lines only)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("validate", help="check tenant configs; exit 1 and list every error")
    p.add_argument("configs", nargs="?", default=str(PROJECT_CONFIGS))
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="run the scoring job locally on bounded input files")
    p.add_argument("--input", nargs="+", required=True, help="JSON Lines, CSV or Parquet files")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--tenant", help="the tenant these files belong to; records naming another are rejected")
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--run-id", default=None)
    with_dsn(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("query", help="run SQL against ClickHouse and print a table")
    p.add_argument("sql")
    with_dsn(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("clickhouse", help="ClickHouse administration")
    ch = p.add_subparsers(dest="action", required=True)
    m = ch.add_parser("migrate", help="apply the schema migrations (idempotent)")
    with_dsn(m)
    m.set_defaults(func=cmd_migrate)

    p = sub.add_parser("models", help="the online models: backtest a detector, evaluate on labelled scenarios")
    mo = p.add_subparsers(dest="action", required=True)
    b = mo.add_parser("backtest", help="run a metric detector over a timestamp,value CSV")
    b.add_argument("--series", required=True, help="CSV of timestamp,value (RFC 3339 or epoch s/ms; header optional)")
    b.add_argument("--out", help="output CSV: timestamp,value,anomaly_score,is_alert (default: standard output)")
    b.add_argument("--metric", default="orders", choices=METRIC_NAMES, help="whose detector settings to use")
    b.add_argument("--configs", default=str(PROJECT_CONFIGS))
    b.add_argument("--tenant", help="use this tenant's model config (default: configs/default.yaml)")
    b.set_defaults(func=cmd_models_backtest)
    e = mo.add_parser("evaluate", help="precision, recall and detection delay on labelled synthetic scenarios")
    e.add_argument("--scenario", action="append", choices=SCENARIO_NAMES, help="repeatable; default: all")
    e.add_argument("--seed", type=int, nargs="+", default=[7, 8, 9], help="one stream per seed and scenario")
    e.set_defaults(func=cmd_models_evaluate)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (OSError, ValueError, RuntimeError) as exc:
        errors.print(f"pulse {args.command}: {exc}", markup=False)
        sys.exit(1)
