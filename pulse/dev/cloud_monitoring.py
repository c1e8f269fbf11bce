"""A series folder for `pulse models evaluate --series-folder` from a local copy of Microsoft's Cloud Monitoring
Dataset (github.com/microsoft/cloud-monitoring-dataset, MIT licence): 60 real labelled series of online services
(purchase counts, crash rates, API request rates and latencies, MongoDB query rates) at 1 minute or 1 hour.

Each source CSV (`data/<domain>/<name>.csv`, `TimeStamp,Value,Label`, a 1 marks an anomalous row) becomes
`<name>.csv` (`-` as `_`, so the table groups a domain's files) of `timestamp,value`, RFC 3339 in UTC (times
without an offset are UTC); a repeated timestamp keeps its first row (the source repeats some rows). Its
labels become windows as NAB makes them: each run of labelled rows is one anomaly, with a window centred on
it of a tenth of the series' rows divided by its number of anomalies (at least the run itself); windows that
overlap are one; a window that ends in the unscored first rows of the series (`nab_score.probation_rows`) is
dropped, as no detector could earn it. `labels.json` names the metric whose detector fits the domain
(`METRICS`; else `orders`).

>>> labelled = [False] * 90 + [True] * 2 + [False] * 8
>>> windows(labelled)  # 100 rows, one anomaly: a window of 10 rows around rows 90-91
[(86, 95)]
>>> windows([False] * 10 + [True] + [False] + [True] + [False] * 87)  # two anomalies of 5 rows each, overlapping
[(8, 14)]
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from models.nab_score import probation_rows

WINDOW_SHARE = 0.1  # of a series' rows, shared by its anomalies (NAB's choice)
METRICS = {  # domain: the metric whose shipped detector fits its series
    "application-crash-rate-1": "orders",  # crashes an hour (counts)
    "application-crash-rate-2": "payment_failure_rate",  # crashes per launch (a ratio)
    "consumer-purchase-rate": "orders",  # purchases an hour
    "data-ingress-rate": "views_per_ip",  # bytes a second, averaged over the minute (a gauge)
    "ecommerce-api-incoming-rps": "views_per_ip",  # requests a second (a gauge)
    "middle-tier-api-dependency-latency": "views_per_ip",  # milliseconds (a gauge)
    "mongodb-application-rps": "views_per_ip",
    "mongodb-machine-rps": "views_per_ip",
    "service-unavailable": "orders",  # errors a minute (counts)
}


def windows(labelled: list[bool]) -> list[tuple[int, int]]:
    """NAB-style anomaly windows, as (first, last) row indices, around the runs of labelled rows."""
    runs = [
        (i, next((j for j in range(i, len(labelled)) if not labelled[j]), len(labelled)) - 1)
        for i, flag in enumerate(labelled)
        if flag and (i == 0 or not labelled[i - 1])
    ]
    merged: list[tuple[int, int]] = []
    for first, last in runs:
        width = max(last - first + 1, round(WINDOW_SHARE * len(labelled) / len(runs)))
        start = max(0, (first + last + 1 - width) // 2)
        end = min(len(labelled) - 1, start + width - 1)
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def scored_windows(rows: list[tuple[str, str, bool]]) -> list[list[str]]:
    """The [start, end] times of the windows of `rows` (as `read_source` gives them) that end after the unscored
    first rows."""
    spans = windows([flag for _, _, flag in rows])
    return [[rows[a][0], rows[b][0]] for a, b in spans if b >= probation_rows(len(rows))]


def read_source(path: Path) -> list[tuple[str, str, bool]]:
    """(RFC 3339 UTC time, value as written, labelled) per timestamp of a source CSV, in file order."""
    rows: dict[str, tuple[str, str, bool]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            moment = datetime.fromisoformat(row["TimeStamp"])
            time = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
            rows.setdefault(time, (time, row["Value"], row["Label"] == "1"))
    return list(rows.values())


def write_folder(source: Path, folder: Path) -> list[Path]:
    """Convert every series under `source`/data into `folder` with its `labels.json`; return the CSV paths."""
    folder.mkdir(parents=True, exist_ok=True)
    labels = {}
    paths = []
    for path in sorted(source.glob("data/*/*.csv")):
        rows = read_source(path)
        name = path.stem.replace("-", "_") + ".csv"
        lines = ["timestamp,value"] + [f"{time},{value}" for time, value, _ in rows]
        (folder / name).write_text("\n".join(lines) + "\n")
        labels[name] = {"metric": METRICS.get(path.parent.name, "orders"), "windows": scored_windows(rows)}
        paths.append(folder / name)
    (folder / "labels.json").write_text(json.dumps(labels, indent=1))
    return paths
