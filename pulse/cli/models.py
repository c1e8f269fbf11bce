"""`pulse models backtest` and `pulse models evaluate`: a metric detector over a user's series, and the detectors
on labelled synthetic scenarios."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.river_baselines import DETECTORS as RIVER_DETECTORS
from models.series import DUPLICATES
from pulse.cli.common import EVALUATION_KINDS, EVALUATION_SIZES, PROJECT_CONFIGS, console, errors
from pulse.tenants.config import METRIC_NAMES, TenantConfig, load_config_dir

if TYPE_CHECKING:
    from rich.console import Console

    from models.backtest import BacktestRow


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="the online models: backtest a detector, evaluate on labelled scenarios")
    mo = p.add_subparsers(dest="action", required=True)
    b = mo.add_parser("backtest", help="run a metric detector over a timestamp,value CSV")
    b.add_argument("--series", required=True, help="CSV of timestamp,value...: a time (with or without offset, a date, "
                   "epoch s/ms) and values; header optional; any row order")  # fmt: skip
    b.add_argument(
        "--column",
        metavar="NAME",
        help="the value column, by its header name (default: 'value', else the second column)",
    )
    b.add_argument(
        "--timezone",
        metavar="ZONE",
        type=_zone,
        help="the zone of times without an offset, e.g. Europe/Berlin (default UTC)",
    )
    b.add_argument("--duplicates", choices=DUPLICATES, help="rows of one timestamp become one: their sum, last row or "
                   "mean (default: sum for count and sum metrics, mean for ratios)")  # fmt: skip
    b.add_argument("--out", help="output CSV: timestamp,value,anomaly_score,is_anomalous,is_alert "
                   "(default: standard output)")  # fmt: skip
    b.add_argument("--metric", default="orders", choices=METRIC_NAMES, help="whose detector settings to use")
    b.add_argument("--configs", default=str(PROJECT_CONFIGS))
    b.add_argument("--tenant", help="use this tenant's model config (default: configs/default.yaml)")
    b.add_argument("--notifications", action="store_true", help="also how many notifications each of the tenant's "
                   "receivers would have got from the incidents the detector opens (needs --tenant)")  # fmt: skip
    b.set_defaults(func=cmd_models_backtest)
    e = mo.add_parser("evaluate", help="recall, precision, delay and false alarms of the product on labelled streams")
    e.add_argument("--kind", "--scenario", action="append", choices=EVALUATION_KINDS, help="repeatable; default: all")
    e.add_argument("--size", action="append", choices=EVALUATION_SIZES, help="tenant size, repeatable; default: all")
    e.add_argument("--seed", type=int, nargs="+", action="extend", help="one stream per seed (default: 1 2 3)")
    e.add_argument("--days", type=float, default=4.0, help="length of each stream; the first day is history")
    e.add_argument("--l-days", type=float, default=2.0, help="days of the l tenant (its events dominate run time)")
    e.add_argument("--label-first", type=int, metavar="N", help="run each stream also with a user who labels the "
                   "incidents of each tenant's first N false episodes false alarms: without and with")  # fmt: skip
    e.add_argument("--series-folder", help="instead: NAB score of the detectors over labelled CSVs + labels.json")
    e.add_argument("--metric", choices=METRIC_NAMES, help="with --series-folder: judge every file with this "
                   "metric's detector (default: the metric labels.json names, else orders)")  # fmt: skip
    e.add_argument("--detector", default="shipped", choices=("shipped", *RIVER_DETECTORS), help="with --series-"
                   "folder: the shipped metric detectors, or a River baseline (models/river_baselines.py)")  # fmt: skip
    e.set_defaults(func=cmd_models_evaluate)


def cmd_models_backtest(args: argparse.Namespace) -> int:
    import csv

    from models.backtest import backtest
    from models.business_metrics import detector_config
    from models.series import counted, default_duplicates, read_series

    if args.notifications and not args.tenant:
        errors.print("pulse models backtest: --notifications needs --tenant T (whose receivers and routes to use)")
        return 2
    config = load_config_dir(args.configs).for_tenant(args.tenant or "")
    metrics = config.models.metrics
    duplicates = args.duplicates or default_duplicates(detector_config(metrics, args.metric)[0])
    series = read_series(Path(args.series), args.column, args.timezone, duplicates)  # SeriesError: main says it
    for warning in series.warnings():
        errors.print(f"warning: {warning}", markup=False)
    results = list(backtest(series.points, args.metric, metrics))
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "value", "anomaly_score", "is_anomalous", "is_alert"])
        for r in results:
            score = "" if r.anomaly_score is None else r.anomaly_score
            writer.writerow([r.timestamp, r.value, score, int(r.is_anomalous), int(r.is_alert)])
    finally:
        if args.out:
            out.close()
    anomalous, alerts = sum(r.is_anomalous for r in results), sum(r.is_alert for r in results)
    summary = (
        f"{args.series}: {series.summary()}; {counted(anomalous, 'row')} anomalous, "
        f"{counted(alerts, 'alert')} (incidents opened) ({args.metric} detector)"
    )
    if args.out:
        console.print(f"{summary} -> {args.out}", markup=False, soft_wrap=True)
    else:
        errors.print(summary, markup=False)  # standard output is the CSV
    if args.notifications:
        _print_forecast(args.tenant, config, args.metric, results, console if args.out else errors)
    return 0


def _print_forecast(tenant: str, config: TenantConfig, metric: str, results: list[BacktestRow], out: Console) -> None:
    """The notifications each receiver would have got: the detector's alerts as the job writes them, through
    the dispatcher's incidents, routing, grouping, inhibition and mute windows."""
    from datetime import UTC, datetime

    from pulse.cli.rules import print_forecast
    from pulse.job.metric_alerts import MetricRows

    rows = MetricRows(tenant, config, "backtest")
    verdicts = [r.verdict for r in results if r.verdict is not None]
    alerts = [row for v in verdicts for table, row in rows.rows(metric, v) if table == "alerts"]
    until = datetime.fromtimestamp(verdicts[-1].ts / 1000, tz=UTC) if verdicts else None
    print_forecast(tenant, config, alerts, until, out)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {name!r}: give an IANA name, e.g. Europe/Berlin or UTC"
        ) from None


def cmd_models_evaluate(args: argparse.Namespace) -> int:
    from models import evaluation
    from models.series import SeriesError

    if args.series_folder:
        metrics = load_config_dir(PROJECT_CONFIGS).default.models.metrics
        try:
            scores = evaluation.score_series_folder(Path(args.series_folder), metrics, args.metric, args.detector)
        except (SeriesError, OSError, ValueError) as exc:
            errors.print(str(exc), markup=False)
            return 1
        print(evaluation.series_table(scores))
        return 0
    seeds = args.seed or [1, 2, 3]
    kinds, sizes = tuple(args.kind or evaluation.KINDS), tuple(args.size or evaluation.SIZES)
    if args.label_first:
        result = evaluation.evaluate_labelled(seeds, args.days, sizes, kinds, args.l_days, args.label_first)
        print(evaluation.heading(seeds, args.days, sizes, args.l_days))
        print(f"With labels: the incidents of each tenant's first {args.label_first} false episodes labelled false "
              f"alarms {evaluation.LABEL_DELAY // 60_000} minutes after they opened.\n")  # fmt: skip
        print(evaluation.labelled_table(result, args.label_first))
        return 0
    report = evaluation.evaluate_seeds(seeds, args.days, sizes, kinds, args.l_days)
    print(evaluation.heading(seeds, args.days, sizes, args.l_days) + "\n")
    print(evaluation.tables(report))
    return 0
