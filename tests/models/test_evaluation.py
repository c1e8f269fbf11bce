"""The evaluation harness: labelled streams, matching alerts to incidents, episodes, the NAB score, and one
small end-to-end run of the product on a stream. No detector quality number is pinned here."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

import pytest

from models import evaluation, nab_score, river_baselines
from models.evaluation import Alert, episodes, score
from pulse.cli import main
from pulse.cli.common import EVALUATION_KINDS, EVALUATION_SIZES
from pulse.dev.generate import MINUTE, Incident
from pulse.dev.labelled_series import write_folder
from pulse.dev.scenarios import DAY, HOUR, KINDS, SIZES, LabelledStream, tenant_name
from pulse.tenants.config import MetricsConfig

T0 = 1_000 * DAY


def incident(kind: str, start_min: int, end_min: int, tenant: str = "shop-s") -> Incident:
    return Incident(tenant, kind, T0 + start_min * MINUTE, T0 + end_min * MINUTE, kind)


def alert(minute: float, source: str = "no-orders", tenant: str = "shop-s") -> Alert:
    return Alert(tenant, T0 + int(minute * MINUTE), source)


# Matching and episodes


def test_episodes_merge_alerts_under_30_minutes_apart():
    assert episodes([]) == 0
    assert episodes([T0, T0 + 29 * MINUTE, T0 + 58 * MINUTE]) == 1  # a chain: each within 30 min of the one before
    assert episodes([T0, T0 + 30 * MINUTE]) == 2
    assert episodes([T0 + 90 * MINUTE, T0]) == 2  # order does not matter


def test_an_alert_detects_an_incident_from_a_minute_before_it_to_30_minutes_after_it():
    drop = incident("orders_drop_85", 600, 660)
    report = score([alert(599), alert(690)], [drop], {"shop-s": "s"}, {"shop-s": 1.0})
    assert report.detections[0].first == alert(599)
    assert report.detections[0].delay_min == 0.0  # never negative
    assert report.true_alerts == [alert(599), alert(690)] and report.false_alerts == []
    late = score([alert(598), alert(691)], [drop], {"shop-s": "s"}, {"shop-s": 1.0})
    assert late.detections[0].first is None
    assert late.false_alerts == [alert(598), alert(691)]


def test_delay_is_from_the_incident_start_to_its_first_alert_and_other_tenants_alerts_do_not_count():
    bot = incident("bot_burst", 600, 620)
    alerts = [alert(612, "metric:views_per_ip"), alert(605, "risk"), alert(601, "risk", tenant="shop-m")]
    report = score(alerts, [bot], {"shop-s": "s", "shop-m": "m"}, {"shop-s": 1.0, "shop-m": 1.0})
    assert report.detections[0].delay_min == 5.0 and report.detections[0].first.source == "risk"
    assert report.false_alerts == [alert(601, "risk", tenant="shop-m")]


def test_the_size_table_counts_precision_over_episodes_and_false_episodes_per_tenant_day():
    incidents = [incident("outage", 600, 630), incident("orders_drop_50", 1200, 1260)]
    alerts = [alert(610), alert(615, "metric:traffic"), alert(620, "risk")]  # one true episode; the drop is missed
    alerts += [alert(100), alert(110), alert(300, "risk"), alert(2000, "risk")]  # three false episodes
    report = score(alerts, incidents, {"shop-s": "s"}, {"shop-s": 2.0})
    row = next(line for line in evaluation.size_table(report).splitlines() if line.startswith("| s |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:6] == ["2", "2", "0.50", "10, 10"]  # tenant-days, incidents, recall, delay
    # precision 1/(1+3), 3 false episodes / 2 days, 3 risk alerts / 2 days, 2 of them false
    assert cells[7:] == ["0.25", "1.50", "1.50", "1.00"]
    sources = evaluation.source_table(report).splitlines()
    assert sources[2:] == ["| no-orders | 0.50 |", "| risk | 1.00 |"]


def test_the_kind_table_names_who_detected_first_and_the_share_within_15_minutes():
    incidents = [incident("bot_burst", 600, 620), incident("bot_burst", 1600, 1620), incident("bot_burst", 2600, 2620)]
    alerts = [alert(604, "metric:views_per_ip"), alert(1640, "risk")]
    table = evaluation.kind_table(score(alerts, incidents, {"shop-s": "s"}, {"shop-s": 3.0}))
    assert table.splitlines()[2] == "| bot_burst | 3 | 2 | 0.67 | 22, 40 | 0.33 | metric:views_per_ip 1, risk 1 |"


# NAB score


def test_nab_score_of_a_perfect_a_null_and_a_late_detector():
    times = list(range(0, 1000 * MINUTE, MINUTE))
    windows = [(500 * MINUTE, 549 * MINUTE), (800 * MINUTE, 849 * MINUTE)]
    perfect = [t in (500 * MINUTE, 800 * MINUTE) for t in times]
    null = [False] * len(times)
    late = [t in (549 * MINUTE, 849 * MINUTE) for t in times]
    early_in_window = [t in (510 * MINUTE, 810 * MINUTE) for t in times]

    def nab(alerts: list[bool]) -> float:
        return nab_score.normalised([nab_score.file_score(times, alerts, windows)], len(windows))

    assert nab(perfect) == pytest.approx(100.0)
    assert nab(null) == pytest.approx(0.0)
    assert nab(late) == pytest.approx(50.0)  # the sigmoid is 0 at a window's end: neither credit nor cost
    assert 50.0 < nab(early_in_window) < 100.0


def test_nab_counts_only_the_first_detection_in_a_window_and_costs_false_positives():
    times = list(range(0, 1000 * MINUTE, MINUTE))
    windows = [(500 * MINUTE, 549 * MINUTE)]
    once = [t == 500 * MINUTE for t in times]
    again = [t in (500 * MINUTE, 520 * MINUTE) for t in times]
    assert nab_score.file_score(times, again, windows) == nab_score.file_score(times, once, windows)
    before = [t in (300 * MINUTE, 500 * MINUTE) for t in times]
    assert nab_score.file_score(times, before, windows) == pytest.approx(1.0 - 0.11)  # before any window: full cost
    just_after = [t in (500 * MINUTE, 551 * MINUTE) for t in times]
    assert 1.0 - 0.11 < nab_score.file_score(times, just_after, windows) < 1.0  # just after a window: less
    in_probation = [t in (10 * MINUTE, 500 * MINUTE) for t in times]  # the first 15% of rows are not scored
    assert nab_score.file_score(times, in_probation, windows) == nab_score.file_score(times, once, windows)


def test_the_series_folder_score_of_the_synthetic_series(tmp_path: Path):
    paths = write_folder(tmp_path, seed=3, intervals=(60,))
    labels = json.loads((tmp_path / "labels.json").read_text())
    assert sorted(labels) == sorted(p.name for p in paths)
    assert {name.split("_")[0] for name in labels} == {"count", "sum", "gauge", "ratio"}
    assert all(len(entry["windows"]) == (0 if name.endswith("_none.csv") else 1) for name, entry in labels.items())
    scores = evaluation.score_series_folder(tmp_path, MetricsConfig())
    assert sum(s.windows for s in scores) == sum(len(e["windows"]) for e in labels.values())
    assert all(0 <= s.detected <= s.windows for s in scores)
    total = evaluation.series_table(scores).splitlines()[-1]
    assert total.startswith(f"| all | {len(paths)} | ")


def test_a_series_folder_without_labels_or_with_a_bad_window_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="labels.json: no labels file"):
        evaluation.score_series_folder(tmp_path, MetricsConfig())
    (tmp_path / "labels.json").write_text(json.dumps({"a.csv": [["2026-11-02T00:00:00Z"]]}))
    with pytest.raises(ValueError, match=r"'a.csv' must map to a list of \[start, end\] windows"):
        evaluation.score_series_folder(tmp_path, MetricsConfig())
    (tmp_path / "labels.json").write_text(json.dumps({"a.csv": []}))
    with pytest.raises(ValueError, match="'a.csv' is labelled but .* does not exist"):
        evaluation.score_series_folder(tmp_path, MetricsConfig())


# The labelled streams


def test_tenant_sizes_average_their_documented_events_per_minute_over_a_week():
    stream = LabelledStream(seed=4, days=7, sizes=("xs", "s"), kinds=("fraud_order",))
    events, _ = stream.run()
    per_minute = Counter(e["tenant_id"] for e in events)
    for size in ("xs", "s"):
        assert per_minute[tenant_name(size, 4)] / (7 * 24 * 60) == pytest.approx(SIZES[size], rel=0.1)


def test_nights_are_quiet_and_the_first_day_is_history_only():
    stream = LabelledStream(seed=2, days=3, sizes=("s",))
    events, incidents = stream.run()
    hours = Counter((e["ts"] - stream.t0) % DAY // HOUR for e in events)
    assert hours[15] > 5 * hours[3]
    assert incidents and min(i.start for i in incidents) >= stream.t0 + DAY


def test_every_kind_appears_over_the_seeds_and_each_incident_looks_like_its_kind():
    events, incidents = LabelledStream(seed=1, days=7, sizes=("xs",)).run()
    assert {i.kind for i in incidents} == set(KINDS)  # taken in turn
    for i in incidents:
        inside = [e for e in events if e["tenant_id"] == i.tenant_id and i.start <= e["ts"] <= i.end]
        if i.kind == "outage":
            assert inside == []
        if i.kind == "bot_burst":
            assert Counter(e["ip"] for e in inside).most_common(1)[0][1] >= 20 * 20
        if i.kind == "card_testing":
            failed = [e for e in inside if e["event_type"] == "payment_failed" and e["amount"] < 5]
            assert len({e["card_fingerprint"] for e in failed}) == 1 and len(failed) >= 10
        if i.kind == "fraud_order":
            assert any(e["event_type"] == "order_placed" and e["amount"] > 5000 for e in inside)


def test_orders_drop_to_their_kinds_share_during_the_incident():
    ratios = []
    for seed in (1, 2):
        stream = LabelledStream(seed=seed, days=5, sizes=("m",), kinds=("orders_drop_50",))  # Monday to Friday
        events, incidents = stream.run()
        orders = [e["ts"] for e in events if e["event_type"] == "order_placed"]
        for i in incidents:
            during = sum(1 for ts in orders if i.start <= ts < i.end)
            day = (i.start - stream.t0) // DAY
            monday = sum(1 for ts in orders if i.start - day * DAY <= ts < i.end - day * DAY)  # history: no incident
            ratios.append(during / monday)
    assert statistics.mean(ratios) == pytest.approx(0.5, abs=0.15)


def test_size_days_end_a_tenant_early_and_unknown_names_are_refused():
    stream = LabelledStream(seed=1, days=3, sizes=("xs", "s"), size_days={"s": 1})
    events, incidents = stream.run()
    assert max(e["ts"] for e in events if e["tenant_id"] == "shop-s-1") < stream.t0 + DAY
    assert {i.tenant_id for i in incidents} == {"shop-xs-1"}
    with pytest.raises(ValueError, match="unknown size or kind"):
        LabelledStream(sizes=("xxl",))


def test_a_tenant_whose_stream_ends_early_is_not_judged_on_the_silence_after_it():
    stream = LabelledStream(seed=1, days=3, sizes=("xs", "s"), size_days={"s": 1})
    end = stream.t0 + DAY
    alerts = [Alert("shop-s-1", end, "metric:orders"), Alert("shop-s-1", end + MINUTE, "no-orders"),
              Alert("shop-xs-1", end + MINUTE, "no-orders")]  # fmt: skip
    assert evaluation.while_streaming(alerts, stream) == [alerts[0], alerts[2]]


def test_the_cli_choices_are_the_streams_kinds_and_sizes():
    assert (KINDS, tuple(SIZES)) == (EVALUATION_KINDS, EVALUATION_SIZES)


# End to end


def test_streams_of_several_seeds_are_judged_together_without_mixing_their_tenants():
    alerts = [alert(100, tenant="shop-s-1"), alert(110, tenant="shop-s-2")]  # the same minute of two streams
    one, two = (score([a], [], {a.tenant: "s"}, {a.tenant: 1.0}) for a in alerts)
    one.extend(two)
    assert one.tenant_days == {"s": 2.0}
    assert "| s | 10 | 2 | 0 | - | - | - | 0.00 | 1.00 | 0.00 | 0.00 |" in evaluation.size_table(one)


def test_the_product_detects_an_outage_of_a_small_tenant(capsys):
    """A day and a half: a day of history, then 30 minutes without any event at 10:00."""
    with pytest.raises(SystemExit) as exit:
        main(["models", "evaluate", "--size", "s", "--kind", "outage", "--seed", "1", "--days", "1.5"])
    assert exit.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert "| outage | 1 | 1 | 1.00 |" in next(line for line in lines if line.startswith("| outage |"))
    assert next(line for line in lines if line.startswith("| s |")).startswith("| s | 10 | 1.5 | 1 | 1.00 |")


def test_the_labeller_labels_the_incidents_of_each_tenants_first_false_episodes_later():
    from datetime import UTC, datetime

    def row(minute: int, cause: str = "metric:revenue", tenant: str = "shop-s") -> dict:
        labels = {"metric": "revenue", "direction": "spike", "observed": "90", "expected": "1"}
        ts = datetime.fromtimestamp((T0 + minute * MINUTE) / 1000, tz=UTC)
        return {"tenant_id": tenant, "kind": "model", "cause": cause, "group_key": "revenue", "ts": ts,
                "score": 1.0, "threshold": 5.0, "labels": labels}  # fmt: skip

    labeller = evaluation.Labeller(2, [incident("outage", 100, 130)])
    for minute, cause, tenant in [(0, "metric:revenue", "shop-s"), (5, "metric:revenue", "shop-s"),
                                  (10, "metric:sessions", "shop-s"), (110, "metric:revenue", "shop-s"),
                                  (300, "metric:revenue", "shop-s"), (600, "metric:revenue", "shop-s"),
                                  (0, "metric:revenue", "shop-xs")]:  # fmt: skip
        labeller.see(row(minute, cause, tenant))
    # shop-s: episode 1 (minutes 0-10: revenue opens once, sessions once), the true alert at 110 skipped, episode 2
    # at 300; episode 3 at 600 is past the first two. shop-xs: its own first episode.
    assert labeller.labels == Counter({"shop-s": 3, "shop-xs": 1})
    assert labeller.due(T0 + 30 * MINUTE) == []  # a metric alert counts at its minute's end, labelled 30 minutes later
    due = labeller.due(T0 + 41 * MINUTE)
    assert sorted((tenant, lesson.detector) for tenant, lesson in due) == [
        ("shop-s", "metric:revenue:spike"), ("shop-s", "metric:sessions:spike"), ("shop-xs", "metric:revenue:spike")
    ]  # fmt: skip
    assert labeller.due(T0 + 41 * MINUTE) == [] and len(labeller.due(T0 + DAY)) == 1


def test_a_river_baseline_alerts_once_per_run_of_anomalous_rows_and_is_scored_as_the_shipped_detectors(
    tmp_path: Path,
):
    values = [10.0, 11.0, 9.0, 10.5, 9.5] * 40 + [60.0, 61.0, 62.0] + [10.0, 11.0, 9.0] * 10
    flags = river_baselines.alerts([*values[:100], None, *values[100:]], "river-gaussian")
    assert flags[100] is False  # a gap: never an alert
    assert [i for i, flag in enumerate(flags) if flag] == [201]  # the run of three high values: its first row
    start = 1_790_000_000  # epoch seconds
    lines = ["timestamp,value"] + [f"{start + 60 * i},{v}" for i, v in enumerate(values)]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    window = [start + 60 * 200, start + 60 * 209]
    (tmp_path / "labels.json").write_text(json.dumps({"a.csv": {"metric": "revenue", "windows": [window]}}))
    river = evaluation.score_series_folder(tmp_path, MetricsConfig(), detector="river-gaussian")
    assert (river[0].metric, river[0].detected, river[0].false_alerts) == ("revenue", 1, 0)
    assert nab_score.normalised([river[0].raw], 1) > 99.0  # detected at the window's start
    assert evaluation.score_series_folder(tmp_path, MetricsConfig(), metric="orders")[0].metric == "orders"
    with pytest.raises(ValueError, match="unknown detector 'river-lof'"):
        river_baselines.detector("river-lof")


def test_evaluate_scores_a_series_folder_with_a_river_baseline(tmp_path: Path, capsys):
    write_folder(tmp_path, seed=3, intervals=(60,))
    with pytest.raises(SystemExit) as exit_:
        main(["models", "evaluate", "--series-folder", str(tmp_path), "--detector", "river-hst"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("| all | 32 | ")
