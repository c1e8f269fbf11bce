"""Reading a backtest's series as real exports are: naive and zoned times, repeated and unsorted rows, gaps."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from models.series import SeriesError, default_duplicates, parse_timestamp, read_rows

BERLIN = ZoneInfo("Europe/Berlin")
APRIL_1 = int(datetime(2014, 4, 1, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    "text",
    ["2014-04-01 00:00:00", "2014-04-01T00:00:00", "2014-04-01", "2014-04-01T00:00:00Z", "2014-04-01T02:00:00+02:00",
     "1396310400", "1396310400000", "1396310400.0"],
)  # fmt: skip
def test_every_form_of_a_time_is_the_same_instant(text):
    assert parse_timestamp(text, "row 2") == APRIL_1


def test_a_naive_time_is_in_the_given_zone_and_an_offset_wins_over_it():
    assert parse_timestamp("2014-04-01 02:00:00", "row 2", BERLIN) == APRIL_1  # summer time, +02:00
    assert parse_timestamp("2014-04-01T00:00:00Z", "row 2", BERLIN) == APRIL_1


def test_the_repeated_local_hour_at_a_clock_change_back_is_the_later_instant():
    times = ["01:30", "02:00", "02:30", "02:00", "02:30", "03:00"]  # 25 October 2026, Berlin: 03:00 CEST -> 02:00 CET
    series = read_rows([[f"2026-10-25 {t}", "1"] for t in times], "berlin.csv", zone=BERLIN)
    steps = {b.ts - a.ts for a, b in zip(series.points, series.points[1:], strict=False)}
    assert len(series.points) == 6 and steps == {30 * 60_000}
    assert series.repeated == [] and series.unsorted == [] and series.warnings() == []


def test_a_local_time_the_clocks_skipped_is_an_error_naming_the_zone():
    with pytest.raises(SeriesError, match=r"spring.csv, row 1: timestamp '2026-03-29 02:30' does not exist in Europe"):
        read_rows([["2026-03-29 02:30", "1"]], "spring.csv", zone=BERLIN)


@pytest.mark.parametrize(("rule", "value"), [("sum", 7.0), ("mean", 3.5), ("last", 3.0)])
def test_rows_of_one_timestamp_become_one_by_the_rule_with_a_warning(rule, value):
    rows = [["2014-04-01 01:00", "5"], ["2014-04-01 02:00", "4"], ["2014-04-01 02:00", ""], ["2014-04-01 02:00", "3"]]
    series = read_rows(rows, "taxi.csv", duplicates=rule)
    assert [p.value for p in series.points] == [5.0, value]
    assert series.repeated == [(2, "2014-04-01 02:00"), (3, "2014-04-01 02:00"), (4, "2014-04-01 02:00")]
    (warning,) = series.warnings()
    assert warning.startswith("taxi.csv: 3 rows share a timestamp with another row (first: row 2,")
    assert "--duplicates sum|last|mean" in warning and "--timezone" in warning
    last_is_empty = read_rows([*rows, ["2014-04-01 02:00", ""]], "taxi.csv", duplicates=rule)
    assert [p.value for p in last_is_empty.points] == [5.0, value]


def test_counts_and_sums_add_up_gauges_and_ratios_average():
    assert [default_duplicates(kind) for kind in ("count", "sum", "gauge", "ratio")] == ["sum", "sum", "mean", "mean"]


def test_unsorted_rows_are_sorted_and_gaps_counted():
    rows = [["timestamp", "value"], ["2014-04-01 00:10", "2"], ["2014-04-01 00:00", "1"], ["2014-04-01 00:20", "3"],
            ["2014-04-01 01:00", "4"], ["2014-04-01 01:10", "5"]]  # fmt: skip
    series = read_rows(rows, "s.csv")
    assert [p.value for p in series.points] == [1, 2, 3, 4, 5]
    assert series.unsorted == [3] and series.warnings()[0].endswith("(first: row 3): rows are sorted by time")
    assert series.missing() == (1, 3)  # 00:20 -> 01:00 misses 00:30, 00:40, 00:50
    assert (
        series.summary()
        == "5 rows, 5 timestamps at a 10 min interval, 1 gap (3 missing intervals), 0 empty values skipped"
    )


def test_the_value_column_is_chosen_by_header_name_and_extra_columns_are_ignored():
    rows = [["date", "open", "close", "volume"], ["2014-04-01", "1.5", "2.5", "100"], ["2014-04-02", "2.5", "3", ""]]
    assert [p.value for p in read_rows(rows, "stock.csv").points] == [1.5, 2.5]  # no 'value' column: the second
    volume = read_rows(rows, "stock.csv", column="volume")
    assert [p.value for p in volume.points] == [100.0, None] and volume.empty == 1
    with pytest.raises(SeriesError, match="stock.csv: no column 'Volume' .* its columns: date, open, close, volume"):
        read_rows(rows, "stock.csv", column="Volume")
    with pytest.raises(SeriesError, match="no header row, so --column volume names no column"):
        read_rows(rows[1:], "stock.csv", column="volume")


def test_empty_and_nan_values_are_gaps_and_bad_values_name_file_row_and_text():
    series = read_rows([["1700000000", "1"], ["1700000060", "NaN"], ["1700000120", ""], ["1700000180"]], "s.csv")
    assert [p.value for p in series.points] == [1.0, None, None, None] and series.empty == 3
    with pytest.raises(SeriesError, match="s.csv, row 2: value 'lots' is not a number; write a number, or leave"):
        read_rows([["1700000000", "1"], ["1700000060", "lots"]], "s.csv")
    with pytest.raises(SeriesError, match="s.csv, row 1: value 'inf' is not finite"):
        read_rows([["1700000000", "inf"]], "s.csv")


@pytest.mark.parametrize("text", ["20140401", "not a time", "2014-13-01 00:00:00"])
def test_a_timestamp_that_is_no_time_says_which_forms_are(text):
    with pytest.raises(SeriesError, match=rf"s.csv, row 1: timestamp '{text}' is .*; write RFC 3339 .* epoch seconds"):
        read_rows([[text, "1"]], "s.csv")
