"""The `pulse` command: generate, validate, run, query, clickhouse migrate, serve, upload, keys, stream, incidents."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pulse.cli import incidents
from pulse.eventtime import ALLOWED_LATENESS_MS
from pulse.store.clickhouse import default_dsn, describe, store
from pulse.tenants.config import METRIC_NAMES, ConfigInvalid, ConfigSet, TenantConfig, load_config_dir

if TYPE_CHECKING:
    from pulse.cli.run import RunReport

PROJECT_CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
LATENESS = f"{ALLOWED_LATENESS_MS // 1000}s"  # the job's default allowed lateness, as a duration
SCENARIO_NAMES = ("drop", "spike", "slow_degradation", "bot_burst", "card_testing", "seasonal_quiet")
EVALUATION_KINDS = ("orders_drop_85", "orders_drop_50", "payment_failures", "bot_burst", "card_testing", "outage")
EVALUATION_KINDS += ("fraud_order", "large_orders")  # pulse.dev.scenarios.KINDS, named here to keep start-up light
EVALUATION_SIZES = ("xs", "s", "m", "l")  # pulse.dev.scenarios.SIZES
console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def cmd_generate(args: argparse.Namespace) -> int:
    from pulse.dev.generate import Generator, write
    from pulse.dev.scenarios import ScenarioGenerator

    if args.labelled_series:
        from pulse.dev.labelled_series import write_folder

        paths = write_folder(Path(args.labelled_series), seed=args.seed)
        console.print(f"wrote {len(paths)} labelled series and labels.json to {args.labelled_series}")
        return 0
    if not args.out:
        errors.print("pulse generate: give --out FILE (a stream) or --labelled-series DIR (series)")
        return 2
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
    configs = _load_configs_or_report(args.configs)
    if configs is None:
        return 1
    try:
        over_plan = _over_plan(args.configs, configs, args.plans)
    except (OSError, ValueError) as exc:
        errors.print(f"plans: {exc}", markup=False, highlight=False)
        return 1
    if over_plan:
        for error in over_plan:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(over_plan)} config(s) exceed their plan in {args.configs}", markup=False)
        return 1
    rules = sum(len(c.rules) for c in configs.tenants.values())
    console.print(f"{args.configs}: default config and {len(configs.tenants)} tenant(s), {rules} rule(s): valid")
    return 0


def _over_plan(configs_dir: str, configs: ConfigSet, plans_path: str | None) -> list:
    """Where the configs exceed their plans (too many rules, models or webhooks, unknown plan)."""
    from pulse.tenants.plan_check import check_against_plan
    from pulse.tenants.plans import read_plans

    plans_file, plans = read_plans(configs_dir, plans_path)
    folder = Path(configs_dir)
    files = [(configs.default, folder / "default.yaml")]
    files += [(config, next((folder / "tenants").glob(f"{tenant}.y*ml"))) for tenant, config in configs.tenants.items()]
    return [error for config, file in files for error in check_against_plan(config, str(file), plans, str(plans_file))]


def _load_configs_or_report(folder: str) -> ConfigSet | None:
    """The configs of `folder`, or None after printing every error in it."""
    try:
        return load_config_dir(folder)
    except ConfigInvalid as exc:
        for error in exc.errors:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(exc.errors)} error(s) in {folder}", markup=False)
        return None


def cmd_run(args: argparse.Namespace) -> int:
    from pulse.cli.run import run_local
    from pulse.rules.durations import parse_duration

    try:
        lateness_ms = parse_duration(args.allowed_lateness)
    except ValueError as exc:
        errors.print(f"--allowed-lateness: {exc}", markup=False, highlight=False)
        return 2
    if lateness_ms % 1000:
        errors.print(f"--allowed-lateness: {args.allowed_lateness!r} is not whole seconds: write e.g. 2s", markup=False)
        return 2
    if _load_configs_or_report(args.configs) is None:
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
        allowed_lateness_s=lateness_ms // 1000,
    )
    console.print(f"run {run_id}: {report.counts()} ({time.monotonic() - started:.1f} s)", markup=False)
    _print_summaries(report.summaries[1])
    if report.rejected or report.duplicates:
        _print_table("Records not scored, by reason", *report.rejections)
    return _conserved(report, run_id)


def _conserved(report: RunReport, run_id: str) -> int:
    """0 if every record read is scored, rejected or a duplicate; else say what does not add up and return 1."""
    if report.conserved:
        return 0
    errors.print(report.mismatch(run_id), markup=False, soft_wrap=True)
    return 1


def cmd_report(args: argparse.Namespace) -> int:
    from pulse.incidents.report import parse_since, render_report, write_report

    hours = parse_since(args.since)
    from pulse.tenants.plans import read_plans

    plan = read_plans(args.configs)[1].name_of(args.tenant)
    with store(args.clickhouse, wait_s=args.wait) as s:
        html = render_report(s, args.tenant, hours, plan)
    out = Path(args.out)
    write_report(html, out)
    console.print(f"report for {args.tenant}, last {args.since} of data: {out} ({len(html):,} bytes)", markup=False)


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


def print_forecast(tenant: str, config: TenantConfig, alerts: list[dict], until: datetime | None) -> None:
    """The table of `--notifications`: per receiver, what it would have got over the replayed period."""
    from pulse.incidents.forecast import HELD, forecast

    if until is None or not (config.webhooks or config.channels):
        console.print(f"{tenant} has no events or no receivers (webhooks, channels): no notifications")
        return
    tallies = forecast(tenant, config, alerts, until)
    held = tallies.pop(HELD)
    table = Table("receiver", "notifications", "notices in them", "messages", title="notifications (routing, "
                  "grouping, inhibition and mute windows applied)")  # fmt: skip
    for name, tally in tallies.items():
        table.add_row(escape(name), str(tally.notifications), str(tally.notices), str(tally.messages))
    console.print(table)
    console.print(f"{held.notices} notices held back (mute windows, inhibition)")


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
    where = publish(update, folder=args.folder, bootstrap=None if args.folder else _bootstrap(args), topic=args.topic)
    console.print(f"published {path} for tenant {args.tenant} to {where}", markup=False)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    with store(args.clickhouse) as s:
        columns, rows = s.query(args.sql)
    _print_table(None, columns, rows)
    return 0


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
    _print_table("Usage per day", columns, rows)
    return 0


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-11")
    return text


def cmd_migrate(args: argparse.Namespace) -> int:
    with store(args.clickhouse) as s:
        applied = s.migrate()
    console.print(f"{describe(args.clickhouse)}: applied {applied or 'nothing (up to date)'}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pulse.api.app import ApiSettings, create_app
    from pulse.tenants.plans import plans_file_for

    settings = ApiSettings(
        bootstrap=_bootstrap(args),
        configs_dir=args.configs,
        plans_path=args.plans or str(plans_file_for(args.configs)),
        topic=args.topic,
        max_body_bytes=args.max_body_bytes,
        max_records=args.max_records,
        max_upload_bytes=args.max_upload_bytes,
        max_upload_rows=args.max_upload_rows,
        ready_check_s=args.ready_check_s,
        clickhouse=args.clickhouse,
        plans_check_s=args.plans_check_s,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pulse.api.upload import UploadStopped, upload
    from pulse.topics import RecordWriter, ensure_topic

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
    from pulse.api.keys import key_hash, new_key

    key = new_key()
    console.print(f"API key for tenant {args.tenant} (shown once; give it to the tenant, do not store it):")
    console.print(key, markup=False, highlight=False)
    console.print(f"\nAdd its hash to configs/tenants/{args.tenant}.yaml, then restart `pulse serve`:")
    console.print(f'api_keys:\n  - "{key_hash(key)}"', markup=False, highlight=False)
    return 0


def cmd_stream(args: argparse.Namespace) -> int:
    from pulse.cli.stream import stream

    if _load_configs_or_report(args.configs) is None:
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
        rules_topic=args.rules_topic or None,
    )
    if report is None:
        return 0
    console.print(f"run {run_id}: {report.counts()}", markup=False)
    return _conserved(report, run_id)


def _bootstrap(args: argparse.Namespace) -> str:
    from pulse.topics import default_bootstrap

    return args.kafka or default_bootstrap()


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
    from models import evaluation
    from models.backtest import SeriesError

    if args.series_folder:
        metrics = load_config_dir(PROJECT_CONFIGS).default.models.metrics
        try:
            scores = evaluation.score_series_folder(Path(args.series_folder), metrics)
        except (SeriesError, OSError, ValueError) as exc:
            errors.print(str(exc), markup=False)
            return 1
        print(evaluation.series_table(scores))
        return 0
    seeds = args.seed or [1, 2, 3]
    kinds, sizes = tuple(args.kind or evaluation.KINDS), tuple(args.size or evaluation.SIZES)
    report = evaluation.evaluate_seeds(seeds, args.days, sizes, kinds, args.l_days)
    print(evaluation.heading(seeds, args.days, sizes, args.l_days) + "\n")
    print(evaluation.tables(report))
    return 0


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
    p.add_argument("--out", help="output file: .jsonl, .csv or .parquet")
    p.add_argument("--labelled-series", metavar="DIR", help="instead: synthetic labelled series + labels.json")
    p.add_argument("--minutes", type=int, default=None, help="default 360 (a scenario: its own length)")
    p.add_argument("--scenario", choices=SCENARIO_NAMES, help="one tenant, seasonal, one labelled kind of incident")
    p.add_argument("--sessions-per-minute", type=float, default=4.0, help="per tenant")
    p.add_argument("--broken-rate", type=float, default=0.0, help="fraction of records to break (JSON Lines only)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("validate", help="check tenant configs; exit 1 and list every error")
    p.add_argument("configs", nargs="?", default=str(PROJECT_CONFIGS))
    p.add_argument("--plans", help="plans file (default: the folder's plans.yaml, else configs/plans.yaml)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("run", help="run the scoring job locally on bounded input files")
    p.add_argument("--input", nargs="+", required=True, help="JSON Lines, CSV or Parquet files")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--tenant", help="the tenant these files belong to; records naming another are rejected")
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--run-id", default=None)
    p.add_argument(
        "--allowed-lateness",
        default=LATENESS,
        help=f"how far behind the newest event an event may be and still count in windows (default {LATENESS}; "
        "later ones are scored and flagged is_late)",
    )
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
    p.add_argument("--rules-topic", default="pulse.rules", help="rule updates topic ('' for none; pulse rules publish)")
    p.add_argument("--parallelism", type=int, default=None)
    p.add_argument("--run-id", default=None)
    with_dsn(p)
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("serve", help="run the API: POST /v1/events, /v1/uploads; GET /v1/incidents, /v1/usage")
    with_kafka(p)
    with_dsn(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--configs", default=str(PROJECT_CONFIGS), help="tenant configs (API key hashes, plans)")
    p.add_argument("--plans", default=None, help="plans file (default: the configs' plans.yaml, else the shipped one)")
    p.add_argument("--plans-check-s", type=float, default=10.0, help="check the plans file for changes this often")
    p.add_argument("--max-body-bytes", type=int, default=5 * 1024 * 1024)
    p.add_argument("--max-records", type=int, default=10_000, help="records per request")
    p.add_argument(
        "--max-upload-bytes", type=int, default=2 * 1024**3, help="an upload's bytes, as sent and decoded (Parquet)"
    )
    p.add_argument("--max-upload-rows", type=int, default=1_000_000, help="rows per upload")
    p.add_argument("--ready-check-s", type=float, default=5.0, help="GET /readyz asks Kafka at most this often")
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

    p = sub.add_parser("report", help="a self-contained HTML incident report of one tenant")
    p.add_argument("--tenant", required=True)
    p.add_argument("--since", default="24h", help="how far back from the tenant's latest data: 90m, 24h, 7d")
    p.add_argument("--out", default="report.html")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a busy chDB folder")
    with_dsn(p)
    p.set_defaults(func=cmd_report)

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

    p = sub.add_parser("query", help="run SQL against ClickHouse and print a table")
    p.add_argument("sql")
    with_dsn(p)
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("usage", help="a tenant's usage for a month against its plan")
    p.add_argument("--tenant", required=True)
    p.add_argument("--month", type=_month, help="YYYY-MM (default: this month, UTC)")
    p.add_argument("--configs", default=str(PROJECT_CONFIGS))
    p.add_argument("--plans", help="plans file (default: the configs folder's plans.yaml, else configs/plans.yaml)")
    with_dsn(p)
    p.set_defaults(func=cmd_usage)

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

    p = sub.add_parser("models", help="the online models: backtest a detector, evaluate on labelled scenarios")
    mo = p.add_subparsers(dest="action", required=True)
    b = mo.add_parser("backtest", help="run a metric detector over a timestamp,value CSV")
    b.add_argument("--series", required=True, help="CSV of timestamp,value (RFC 3339 or epoch s/ms; header optional)")
    b.add_argument("--out", help="output CSV: timestamp,value,anomaly_score,is_alert (default: standard output)")
    b.add_argument("--metric", default="orders", choices=METRIC_NAMES, help="whose detector settings to use")
    b.add_argument("--configs", default=str(PROJECT_CONFIGS))
    b.add_argument("--tenant", help="use this tenant's model config (default: configs/default.yaml)")
    b.set_defaults(func=cmd_models_backtest)
    e = mo.add_parser("evaluate", help="recall, precision, delay and false alarms of the product on labelled streams")
    e.add_argument("--kind", "--scenario", action="append", choices=EVALUATION_KINDS, help="repeatable; default: all")
    e.add_argument("--size", action="append", choices=EVALUATION_SIZES, help="tenant size, repeatable; default: all")
    e.add_argument("--seed", type=int, nargs="+", action="extend", help="one stream per seed (default: 1 2 3)")
    e.add_argument("--days", type=float, default=4.0, help="length of each stream; the first day is history")
    e.add_argument("--l-days", type=float, default=2.0, help="days of the l tenant (its events dominate run time)")
    e.add_argument("--series-folder", help="instead: NAB score of the detectors over labelled CSVs + labels.json")
    e.set_defaults(func=cmd_models_evaluate)
    incidents.register(sub)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (OSError, ValueError, RuntimeError) as exc:
        errors.print(f"pulse {args.command}: {exc}", markup=False)
        sys.exit(1)
