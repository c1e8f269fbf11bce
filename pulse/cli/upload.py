"""`pulse upload`: validate a file for one tenant and send its valid rows to Kafka, rejected rows to a file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pulse.cli.common import bootstrap, console, errors, with_kafka


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("upload", help="validate a file for one tenant and send its valid rows to Kafka")
    p.add_argument("file", help="CSV (with a header), JSON Lines or Parquet")
    p.add_argument("--tenant", required=True)
    p.add_argument("--rejects", default=None, help="rejected rows file (default FILE.rejects.jsonl)")
    with_kafka(p)
    p.set_defaults(func=cmd_upload)


def cmd_upload(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from pulse.api.upload import UploadStopped, upload
    from pulse.topics import RecordWriter, ensure_topic

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    rejects = Path(args.rejects or f"{path}.rejects.jsonl")
    ensure_topic(bootstrap(args), args.topic)
    writer = RecordWriter(bootstrap(args), args.topic)
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
