"""The `pulse` command: one module per command, each with its parser (`register`) beside its handler.

- generate: a synthetic stream with injected incidents, or one labelled scenario
- validate: check a configs folder, also against the plans
- run: the scoring job on Flink's local mini-cluster over bounded files (with execution: running a job to its end
  and saying why it failed)
- stream: the scoring job over a Kafka topic
- serve, upload, keys: the API, sending a file's valid rows to Kafka, API keys
- report: a tenant's HTML incident report
- rules: backtest a tenant's rules, publish a config to the running job
- query, usage, clickhouse: SQL, a tenant's usage against its plan, migrations and analysts' grants
- dispatch: alerts into incidents, delivered to receivers
- models: backtest a metric detector on a series, evaluate the detectors on labelled scenarios
- incidents: work a tenant's incidents through the API
- common: what the commands share (the configs folder, ClickHouse and Kafka options, the terminal)
"""

from __future__ import annotations

import argparse
import sys

from pulse.cli import (
    clickhouse,
    dispatch,
    generate,
    incidents,
    keys,
    models,
    query,
    report,
    rules,
    run,
    serve,
    stream,
    upload,
    usage,
    validate,
)
from pulse.cli.common import errors

# in the order `pulse --help` lists them
COMMANDS = (generate, validate, run, stream, serve, upload, keys, report, rules, query, usage, clickhouse, dispatch,
            models, incidents)  # fmt: skip


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="pulse", description="PulseEcom: real-time e-commerce analytics on Flink")
    sub = root.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (OSError, ValueError, RuntimeError) as exc:
        errors.print(f"pulse {args.command}: {exc}", markup=False)
        sys.exit(1)
