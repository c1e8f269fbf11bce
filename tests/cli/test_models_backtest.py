"""`pulse models backtest` on an export as it comes: local times, a clock change back, an unsorted row, a gap."""

import csv
from pathlib import Path

import pytest

from pulse import cli

# Berlin local time, 30-minute counts; on 25 October 2026 the clocks go back from 03:00 to 02:00, so 02:00 and
# 02:30 come twice. Row 7 (01:00) is out of order; 04:30 is missing.
EXPORT = """time,orders,shop
2026-10-25 00:00:00,4,a
2026-10-25 00:30:00,5,a
2026-10-25 01:30:00,6,a
2026-10-25 02:00:00,4,a
2026-10-25 02:30:00,5,a
2026-10-25 01:00:00,3,a
2026-10-25 02:00:00,3,a
2026-10-25 02:30:00,,a
2026-10-25 03:00:00,5,a
2026-10-25 03:30:00,6,a
2026-10-25 04:00:00,4,a
2026-10-25 05:00:00,5,a
"""


def backtest(tmp_path: Path, capsys, *options: str) -> tuple[list[dict], str]:
    """Run the command on EXPORT; the output rows and what it said on the error stream."""
    series, out = tmp_path / "export.csv", tmp_path / "scored.csv"
    series.write_text(EXPORT)
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "backtest", "--series", str(series), "--column", "orders", "--out", str(out), *options])
    assert exited.value.code == 0
    captured = capsys.readouterr()
    with out.open() as f:
        return list(csv.DictReader(f)), " ".join(captured.err.split()) + " " + " ".join(captured.out.split())


def test_in_the_file_zone_every_row_is_its_own_interval(tmp_path, capsys):
    rows, said = backtest(tmp_path, capsys, "--timezone", "Europe/Berlin")
    assert [r["timestamp"][11:16] for r in rows] == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "02:00",
                                                     "02:30", "03:00", "03:30", "04:00", "05:00"]  # fmt: skip
    assert [r["value"] for r in rows] == ["4", "5", "3", "6", "4", "5", "3", "", "5", "6", "4", "5"]
    assert "warning: " in said and "1 row is earlier than the row before it (first: row 7)" in said
    assert "share a timestamp" not in said
    assert "12 rows, 12 timestamps at a 30 min interval, 1 gap (1 missing interval), 1 empty value skipped" in said


def test_read_as_utc_the_repeated_hour_is_summed_with_one_warning(tmp_path, capsys):
    rows, said = backtest(tmp_path, capsys)
    assert [r["timestamp"][11:16] for r in rows] == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00",
                                                     "03:30", "04:00", "05:00"]  # fmt: skip
    assert [r["value"] for r in rows][4:6] == ["7", "5"]  # 4 + 3; 5 and an empty value
    assert "4 rows share a timestamp with another row (first: row 5, '2026-10-25 02:00:00')" in said
    assert "the sum of each timestamp's values is used (--duplicates sum|last|mean)" in said
    assert "12 rows, 10 timestamps" in said


def test_a_bad_row_stops_it_with_file_row_and_text(tmp_path, capsys):
    series = tmp_path / "export.csv"
    series.write_text("timestamp,value\n2026-10-25 00:00:00,4\n25.10.2026 00:30,5\n")
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "backtest", "--series", str(series)])
    said = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1
    assert f"{series}, row 3: timestamp '25.10.2026 00:30' is not a time; write RFC 3339" in said


def test_notifications_count_what_the_tenants_receivers_would_have_got(tmp_path, capsys):
    """Two days of orders a minute and an hour at zero: one incident, its open and its resolve at the receiver."""
    lines = ["timestamp,value"]
    for minute in range(2 * 1440 + 600):
        value = 0 if 2 * 1440 + 300 <= minute < 2 * 1440 + 360 else 20 + (minute * 7) % 5
        lines.append(f"2026-11-02T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z,{value}".replace(
            "2026-11-02", f"2026-11-{2 + minute // 1440:02d}"))  # fmt: skip
    series = tmp_path / "orders.csv"
    series.write_text("\n".join(lines) + "\n")
    configs = tmp_path / "configs"
    (configs / "tenants").mkdir(parents=True)
    (configs / "default.yaml").write_text("models: {metrics: {warmup_minutes: 60}}\n")
    (configs / "plans.yaml").write_text((Path(cli.__file__).parents[2] / "configs" / "plans.yaml").read_text())
    (configs / "tenants" / "acme.yaml").write_text(
        "tenant: acme\nchannels: [{name: ops-desk, type: slack, url_env: ACME_SLACK_URL}]\n"
    )
    command = ["models", "backtest", "--series", str(series), "--out", str(tmp_path / "out.csv"),
               "--configs", str(configs), "--tenant", "acme", "--notifications"]  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        cli.main(command)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    [row] = [line for line in out.splitlines() if "ops-desk" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == ["ops-desk", "2", "2", "2"]  # open, resolve
    with pytest.raises(SystemExit) as exited:
        cli.main(command[:-3] + ["--notifications"])
    assert exited.value.code == 2 and "--notifications needs --tenant" in capsys.readouterr().err
