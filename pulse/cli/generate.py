"""`pulse generate`: a synthetic multi-tenant stream with injected incidents, or one labelled scenario."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulse.cli.common import SCENARIO_NAMES, console, errors


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="write a synthetic multi-tenant stream with injected incidents")
    p.add_argument("--out", help="output file: .jsonl, .csv or .parquet")
    p.add_argument("--labelled-series", metavar="DIR", help="instead: synthetic labelled series + labels.json")
    p.add_argument("--cloud-monitoring", metavar="SRC", help="with --labelled-series: convert a local copy of "
                   "github.com/microsoft/cloud-monitoring-dataset instead of writing synthetic series")  # fmt: skip
    p.add_argument("--minutes", type=int, default=None, help="default 360 (a scenario: its own length)")
    p.add_argument("--scenario", choices=SCENARIO_NAMES, help="one tenant, seasonal, one labelled kind of incident")
    p.add_argument("--sessions-per-minute", type=float, default=4.0, help="per tenant")
    p.add_argument("--broken-rate", type=float, default=0.0, help="fraction of records to break (JSON Lines only)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from pulse.dev.generate import Generator, write
    from pulse.dev.scenarios import ScenarioGenerator

    if args.labelled_series:
        from pulse.dev import cloud_monitoring, labelled_series

        folder = Path(args.labelled_series)
        if args.cloud_monitoring:
            paths = cloud_monitoring.write_folder(Path(args.cloud_monitoring), folder)
        else:
            paths = labelled_series.write_folder(folder, seed=args.seed)
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
