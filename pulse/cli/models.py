"""`pulse models backtest` and `pulse models evaluate`: a metric detector over a user's series, and the detectors
on labelled synthetic scenarios."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from models.series import DUPLICATES
from pulse.cli.common import PROJECT_CONFIGS, SCENARIO_NAMES, console, errors
from pulse.tenants.config import METRIC_NAMES, load_config_dir


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
    b.add_argument("--out", help="output CSV: timestamp,value,anomaly_score,is_alert (default: standard output)")
    b.add_argument("--metric", default="orders", choices=METRIC_NAMES, help="whose detector settings to use")
    b.add_argument("--configs", default=str(PROJECT_CONFIGS))
    b.add_argument("--tenant", help="use this tenant's model config (default: configs/default.yaml)")
    b.set_defaults(func=cmd_models_backtest)
    e = mo.add_parser("evaluate", help="precision, recall and detection delay on labelled synthetic scenarios")
    e.add_argument("--scenario", action="append", choices=SCENARIO_NAMES, help="repeatable; default: all")
    e.add_argument("--seed", type=int, nargs="+", default=[7, 8, 9], help="one stream per seed and scenario")
    e.set_defaults(func=cmd_models_evaluate)


def cmd_models_backtest(args: argparse.Namespace) -> int:
    import csv

    from models.backtest import backtest
    from models.business_metrics import detector_config
    from models.series import default_duplicates, read_series

    metrics = load_config_dir(args.configs).for_tenant(args.tenant or "").models.metrics
    duplicates = args.duplicates or default_duplicates(detector_config(metrics, args.metric)[0])
    series = read_series(Path(args.series), args.column, args.timezone, duplicates)  # SeriesError: main says it
    for warning in series.warnings():
        errors.print(f"warning: {warning}", markup=False)
    results = list(backtest(series.points, args.metric, metrics))
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(out)
        writer.writerow(["timestamp", "value", "anomaly_score", "is_alert"])
        for r in results:
            writer.writerow([r.timestamp, r.value, "" if r.anomaly_score is None else r.anomaly_score, int(r.is_alert)])
    finally:
        if args.out:
            out.close()
    alerts = sum(r.is_alert for r in results)
    summary = f"{args.series}: {series.summary()}; {alerts} flagged as anomalous ({args.metric} detector)"
    if args.out:
        console.print(f"{summary} -> {args.out}", markup=False, soft_wrap=True)
    else:
        errors.print(summary, markup=False)  # standard output is the CSV
    return 0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {name!r}: give an IANA name, e.g. Europe/Berlin or UTC"
        ) from None


def cmd_models_evaluate(args: argparse.Namespace) -> int:
    from models.evaluation import evaluate, merge
    from pulse.dev.scenarios import SCENARIOS

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
