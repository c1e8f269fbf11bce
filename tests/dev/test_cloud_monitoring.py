"""The conversion of Microsoft's Cloud Monitoring Dataset (a local copy) into a labelled series folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import evaluation
from pulse.cli import main
from pulse.dev import cloud_monitoring
from pulse.tenants.config import MetricsConfig


def source(tmp_path: Path) -> Path:
    """A copy of the dataset's layout: one domain with hourly local times, one with RFC 3339 times."""
    crashes = tmp_path / "src" / "data" / "application-crash-rate-1"
    purchases = tmp_path / "src" / "data" / "consumer-purchase-rate"
    crashes.mkdir(parents=True)
    purchases.mkdir(parents=True)
    rows = ['"TimeStamp","Value","Label"']
    for hour in range(100):
        day, at = divmod(hour, 24)
        rows.append(f'"2018-06-{19 + day} {at:02d}:00:00",{40 if hour in (90, 91) else 3},{int(hour in (90, 91))}')
    rows.insert(12, rows[11])  # the source repeats some rows
    (crashes / "app1-01.csv").write_text("\n".join(rows) + "\n")
    (crashes / "app1-01.csv-metadata.json").write_text("{}")
    quiet = ['"TimeStamp","Value","Label"'] + [f'"2018-03-15T{h:02d}:00:00Z","",0' for h in range(3)]
    (purchases / "purchase-01.csv").write_text("\n".join(quiet) + "\n")
    return tmp_path / "src"


def test_the_series_become_timestamp_value_csvs_with_nab_style_windows(tmp_path: Path):
    paths = cloud_monitoring.write_folder(source(tmp_path), tmp_path / "out")
    assert [p.name for p in paths] == ["app1_01.csv", "purchase_01.csv"]
    lines = paths[0].read_text().splitlines()
    assert lines[:2] == ["timestamp,value", "2018-06-19T00:00:00+00:00,3"]
    assert len(lines) == 101  # the repeated row once
    assert paths[1].read_text().splitlines()[1] == "2018-03-15T00:00:00+00:00,"  # an empty value stays a gap
    labels = json.loads((tmp_path / "out" / "labels.json").read_text())
    assert labels["app1_01.csv"] == {  # rows 90-91 of 100: a window of 10 rows around them
        "metric": "orders",
        "windows": [["2018-06-22T14:00:00+00:00", "2018-06-22T23:00:00+00:00"]],
    }
    assert labels["purchase_01.csv"] == {"metric": "orders", "windows": []}
    assert [s.windows for s in evaluation.score_series_folder(tmp_path / "out", MetricsConfig())] == [1, 0]


def test_a_window_in_the_unscored_first_rows_is_dropped():
    labelled = [False] * 5 + [True] + [False] * 84 + [True] + [False] * 9
    assert cloud_monitoring.windows(labelled) == [(3, 7), (88, 92)]  # the first ends in the first 15 rows
    rows = [(f"t{i}", "1", flag) for i, flag in enumerate(labelled)]
    assert cloud_monitoring.scored_windows(rows) == [["t88", "t92"]]


def test_generate_converts_a_local_copy(tmp_path: Path, capsys):
    out = tmp_path / "out"
    args = ["generate", "--labelled-series", str(out), "--cloud-monitoring", str(source(tmp_path))]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    assert "wrote 2 labelled series" in capsys.readouterr().out
    assert (out / "labels.json").is_file()
