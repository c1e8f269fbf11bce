"""The `pulse` command: generate, validate, run, query, clickhouse migrate, serve, upload, keys, stream."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.clickhouse import default_dsn, describe, store
from pulse.config import ConfigInvalid, load_config_dir

PROJECT_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def cmd_generate(args: argparse.Namespace) -> int:
    from pulse.generate import Generator, write

    events, incidents = Generator(
        seed=args.seed, minutes=args.minutes, sessions_per_minute=args.sessions_per_minute
    ).run()
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


def cmd_rules_backtest(args: argparse.Namespace) -> int:
    from pulse.ruleengine.backtest import backtest
    from pulse.ruleengine.durations import parse_duration

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


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pulse.api import ApiSettings, create_app

    settings = ApiSettings(
        bootstrap=_bootstrap(args),
        configs_dir=args.configs,
        plans_path=args.plans,
        topic=args.topic,
        max_body_bytes=args.max_body_bytes,
        max_records=args.max_records,
        max_upload_bytes=args.max_upload_bytes,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pulse.topics import RecordWriter, ensure_topic
    from pulse.upload import UploadStopped, upload

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    rejects = Path(args.rejects or f"{path}.rejects.jsonl")
    ensure_topic(_bootstrap(args), args.topic)
    writer = RecordWriter(_bootstrap(args), args.topic)
    started = time.monotonic()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,} rows"))
    with Progress(*columns, TimeElapsedColumn(), console=errors, transient=False) as progress:
        task = progress.add_task(f"uploading {path.name} as {args.tenant}")
        try:
            report = upload(path, args.tenant, writer, rejects, lambda rows: progress.update(task, completed=rows))
        except UploadStopped as exc:
            errors.print(f"pulse upload: stopped: {exc}; rejected rows so far are in {rejects}", markup=False)
            return 1
        finally:
            writer.close()
    seconds = time.monotonic() - started
    console.print(
        f"{path}: {report.rows} rows -> {report.accepted} sent to Kafka topic {args.topic}, "
        f"{report.rejected} rejected ({report.rows / max(seconds, 1e-9):,.0f} rows/s)",
        markup=False,
        soft_wrap=True,
    )
    if report.rejected:
        console.print(f"rejected rows (row number, reason, detail): {rejects}", markup=False, soft_wrap=True)
    else:
        rejects.unlink(missing_ok=True)
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    from pulse.apikeys import key_hash, new_key

    key = new_key()
    console.print(f"API key for tenant {args.tenant} (shown once; give it to the tenant, do not store it):")
    console.print(key, markup=False, highlight=False)
    console.print(f"\nAdd its hash to configs/tenants/{args.tenant}.yaml, then restart `pulse serve`:")
    console.print(f'api_keys:\n  - "{key_hash(key)}"', markup=False, highlight=False)
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from pulse.streamrun import stream

    try:
        load_config_dir(args.configs)
    except ConfigInvalid as exc:
        for error in exc.errors:
            errors.print(str(error), markup=False, highlight=False)
        return 2
    run_id = args.run_id or datetime.now(UTC).strftime("stream-%Y%m%dT%H%M%S")
    report = stream(
        _bootstrap(args),
        args.topic,
        args.configs,
        args.clickhouse,
        run_id,
        group=args.group,
        bounded=args.bounded,
        alerts_topic=args.alerts_topic,
        parallelism=args.parallelism,
    )
    if report is None:
        return 0
    console.print(
        f"run {run_id}: read {report.read} records -> {report.scored} scored, "
        f"{report.rejected} rejected, {report.alerts} alerts",
        markup=False,
    )
    if not report.conserved:
        errors.print(f"count mismatch: read {report.read} != scored {report.scored} + rejected {report.rejected}")
        return 1
    return 0


def _bootstrap(args: argparse.Namespace) -> str:
    from pulse.topics import default_bootstrap

    return args.kafka or default_bootstrap()


def _print_summaries(rows: list[tuple]) -> None:
    console.print(f"\n[bold]Incident summaries[/bold] ({len(rows)} shown)")
    for tenant, when, severity, cause, summary in rows:
        console.print(f"\n[bold]{escape(tenant)}[/bold] {when} \\[{severity}] {escape(cause)}", highlight=False)
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
    p.add_argument("--minutes", type=int, default=360)
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

    def with_kafka(p: argparse.ArgumentParser, topic: str = "pulse.events") -> None:
        p.add_argument(
            "--kafka", default=None, help="bootstrap servers (default $PULSE_KAFKA, else 127.0.0.1:$PULSE_KAFKA_PORT)"
        )
        p.add_argument("--topic", default=topic, help=f"events topic (default {topic})")

    p = sub.add_parser("stream", help="run the scoring job on events from Kafka")
    with_kafka(p)
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--group", default="pulse-scoring", help="Kafka consumer group (offsets resume from it)")
    p.add_argument("--bounded", action="store_true", help="stop at the offsets that are latest at start, then report")
    p.add_argument("--alerts-topic", default=None, help="also write every alert as JSON to this Kafka topic")
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--run-id", default=None)
    with_dsn(p)
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("serve", help="run the ingestion API (POST /v1/events, /v1/uploads)")
    with_kafka(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--configs", default=str(PROJECT_CONFIGS), help="tenant configs (API key hashes, plans)")
    p.add_argument("--plans", default=str(PROJECT_CONFIGS / "plans.yaml"))
    p.add_argument("--max-body-bytes", type=int, default=5 * 1024 * 1024)
    p.add_argument("--max-records", type=int, default=10_000, help="records per request")
    p.add_argument("--max-upload-bytes", type=int, default=2 * 1024**3)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("upload", help="validate a file for one tenant and send its valid rows to Kafka")
    p.add_argument("file", help="CSV (with a header), JSON Lines or Parquet")
    p.add_argument("--tenant", required=True)
    p.add_argument("--rejects", default=None, help="rejected rows file (default FILE.rejects.jsonl)")
    with_kafka(p)
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("keys", help="API keys")
    keys = p.add_subparsers(dest="action", required=True)
    k = keys.add_parser("new", help="make a new API key for a tenant and print the hash to put in its config")
    k.add_argument("--tenant", required=True)
    k.set_defaults(func=cmd_keys_new)

    p = sub.add_parser("rules", help="tools for tenant rules")
    rules = p.add_subparsers(dest="rules_command", required=True)
    b = rules.add_parser("backtest", help="replay event files through a tenant's rules; print the alerts per rule")
    b.add_argument("--tenant", required=True)
    b.add_argument("--input", nargs="+", required=True, help="JSON Lines, CSV or Parquet event files")
    b.add_argument("--configs", default=str(PROJECT_CONFIGS))
    b.add_argument("--allowed-lateness", default="60s", help="as in the job (default 60s)")
    b.add_argument("--show", type=int, default=10, help="alerts listed per rule (default 10)")
    b.set_defaults(func=cmd_rules_backtest)

    p = sub.add_parser("query", help="run SQL against ClickHouse and print a table")
    p.add_argument("sql")
    with_dsn(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("clickhouse", help="ClickHouse administration")
    ch = p.add_subparsers(dest="action", required=True)
    m = ch.add_parser("migrate", help="apply the schema migrations (idempotent)")
    with_dsn(m)
    m.set_defaults(func=cmd_migrate)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (OSError, ValueError, RuntimeError) as exc:
        errors.print(f"pulse {args.command}: {exc}", markup=False)
        sys.exit(1)
