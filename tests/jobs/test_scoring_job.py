"""End to end on Flink's mini-cluster: files in, chDB rows out, nothing lost."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from pulse.cli.common import PROJECT_CONFIGS
from pulse.dev.generate import BROKEN_KINDS
from pulse.events import parse_record
from pulse.inputs import read_records
from pulse.job.duplicates import CONFLICT, DUPLICATE, Origin
from pulse.job.pipeline import PlainRun
from pulse.store.clickhouse import store
from pulse.tenants.config import load_config_dir
from pulse.tenants.plans import PlanWatcher, load_plans, plans_file_for

pytestmark = pytest.mark.flink


def records_read(run) -> int:
    return sum(1 for path in run.inputs for _ in read_records(path))


def test_every_record_is_scored_rejected_or_a_duplicate_also_with_repeated_event_ids(job_run):
    read = records_read(job_run)
    scored = job_run.query("SELECT count() FROM scored_events FINAL WHERE run_id = {run:String}")[0][0]
    reasons = dict(job_run.query("SELECT reason, count() FROM rejected_events FINAL WHERE run_id = {run:String} "
                                 "GROUP BY reason"))  # fmt: skip
    duplicates, conflicts = reasons.pop(DUPLICATE), reasons[CONFLICT]
    rejected = sum(reasons.values())
    assert read > 19000 and job_run.repeats["duplicates"] > 100 and job_run.repeats["conflicts"] > 5
    assert (duplicates, conflicts) == (job_run.repeats["duplicates"], job_run.repeats["conflicts"])
    assert 0.02 * read < rejected < 0.04 * read
    assert scored + rejected + duplicates == read
    distinct = job_run.query(
        "SELECT count(DISTINCT tenant_id, event_id) FROM scored_events WHERE run_id = {run:String}"
    )
    assert distinct[0][0] == scored  # each event id scored once
    assert f"read {read} records -> {scored} scored, {rejected} rejected, {duplicates} duplicates" in job_run.stdout


def test_a_repeated_event_id_is_kept_visible_with_its_reason_and_its_first_record(job_run):
    records = {(r.source, r.index): r.payload for path in job_run.inputs for r in read_records(path)}

    def event(source: str, index: int) -> dict:
        return parse_record(records[source, index], source=source, index=index).event

    rows = job_run.query(
        "SELECT reason, source, record_index, detail, raw FROM rejected_events FINAL "
        "WHERE run_id = {run:String} AND reason IN ({duplicate:String}, {conflict:String})",
        duplicate=DUPLICATE,
        conflict=CONFLICT,
    )
    scored = {e for (e,) in job_run.query("SELECT event_id FROM scored_events FINAL WHERE run_id = {run:String}")}
    for reason, source, index, detail, raw in rows:
        (_, own), (first_index, first_source) = re.findall(r"record (\d+) of ([\w.-]+)", detail)
        repeat, first = event(source, index), event(first_source, int(first_index))
        assert own == source and json.loads(raw) == repeat  # the event as read
        assert repeat["event_id"] == first["event_id"] in scored  # the first one is scored
        assert (repeat == first) == (reason == DUPLICATE), detail
    assert {source for _, source, *_ in rows} == {"events.jsonl", "again.jsonl"}  # again.jsonl: the parquet tail


def test_a_backfill_dated_more_than_a_year_ago_keeps_every_row_of_a_free_plan_tenant(job_run):
    with store(job_run.dsn) as s:
        s.client.command("OPTIMIZE TABLE scored_events FINAL")  # applies the TTL now
    ((oldest, rows, days),) = job_run.query(
        "SELECT min(ts), count(), any(retention_days) FROM scored_events FINAL "
        "WHERE run_id = {run:String} AND tenant_id = 'initech'"
    )
    accepted = job_run.query(
        "SELECT sum(accepted) FROM usage FINAL WHERE run_id = {run:String} AND tenant_id = 'initech'"
    )
    assert load_plans(plans_file_for(PROJECT_CONFIGS)).name_of("initech") == "free" and days == 30
    assert datetime.now(UTC) - oldest.replace(tzinfo=UTC) > timedelta(days=365)
    assert rows == accepted[0][0] > 1000


def test_rejected_records_keep_raw_text_reason_and_position(job_run):
    reasons = {r[0] for r in job_run.query("SELECT DISTINCT reason FROM rejected_events WHERE run_id = {run:String}")}
    assert set(BROKEN_KINDS) <= reasons
    lines = job_run.inputs[0].read_text().splitlines()
    rows = job_run.query(
        "SELECT source, record_index, raw, detail FROM rejected_events FINAL WHERE run_id = {run:String} "
        "AND source = 'events.jsonl' AND reason NOT IN ({duplicate:String}, {conflict:String}) LIMIT 50",
        duplicate=DUPLICATE,
        conflict=CONFLICT,
    )
    for source, index, raw, detail in rows:
        assert raw == lines[index]
        assert f"record {index} of {source}" in detail
    (csv_row,) = job_run.query("SELECT reason, detail FROM rejected_events WHERE source = 'tail.csv'")
    assert csv_row[0] == "invalid_value" and "not a time" in csv_row[1]


def test_scores_are_probabilities_on_orders_and_payments_only(job_run):
    rows = job_run.query(
        "SELECT event_type, countIf(risk_score IS NULL), min(risk_score), max(risk_score) "
        "FROM scored_events FINAL WHERE run_id = {run:String} GROUP BY event_type"
    )
    by_type = {r[0]: r[1:] for r in rows}
    assert by_type["page_view"][0] > 0 and by_type["page_view"][1] is None
    for event_type in ("order_placed", "payment_succeeded", "payment_failed"):
        nulls, low, high = by_type[event_type]
        assert nulls == 0 and 0.0 <= low <= high <= 1.0


def test_injected_incidents_raise_alerts_with_summaries(job_run):
    fraud = next(i for i in job_run.truth if i["kind"] == "large_fraud_order")
    causes = {
        r[0]: r[1]
        for r in job_run.query(
            "SELECT cause, summary FROM alerts FINAL WHERE event_id = {e:String}", e=fraud["event_ids"][0]
        )
    }
    assert {"large-order", "high-risk-country-order"} <= set(causes)
    assert "8,750.00 USD" in causes["large-order"] and "c99999" in causes["large-order"]
    assert "NG" in causes["high-risk-country-order"]
    # The stream is the tenants' first 6 hours: the risk model raises nothing on a tenant's first day, its scores
    # have no threshold yet (its fraud catches on longer streams: tests/models/test_risk.py).
    risk = job_run.query(
        "SELECT (SELECT count() FROM alerts FINAL WHERE cause = 'risk_score'), "
        "countIf(risk_score IS NOT NULL), countIf(risk_threshold IS NOT NULL) FROM scored_events FINAL"
    )[0]
    assert risk[0] == 0 and risk[1] > 500 and risk[2] == 0
    card_test = next(i for i in job_run.truth if i["kind"] == "card_testing")
    tiny = job_run.query(
        "SELECT count() FROM alerts FINAL WHERE cause = 'tiny-payment-failed' AND event_id IN {ids:Array(String)}",
        ids=card_test["event_ids"],
    )[0][0]
    assert tiny == 7


def test_no_false_alarm_flood_and_every_alert_has_a_summary(job_run):
    scored, alerts, empty = job_run.query(
        "SELECT (SELECT count() FROM scored_events FINAL WHERE run_id = {run:String}), count(), countIf(summary = '') "
        "FROM alerts FINAL WHERE run_id = {run:String}"
    )[0]
    assert empty == 0
    assert alerts < scored * 0.002
    incident_events = {e for i in job_run.truth for e in i["event_ids"]}
    stray = job_run.query(
        "SELECT event_id FROM alerts FINAL WHERE run_id = {run:String} AND NOT startsWith(cause, 'metric:')"
    )
    assert sum(1 for (e,) in stray if e not in incident_events) <= 5


def test_csv_and_parquet_rows_are_scored(job_run):
    for path in job_run.inputs[1:3]:
        ids = [r.payload["event_id"] for r in read_records(path) if r.payload["event_id"] != "bad-1"]
        found = job_run.query("SELECT count() FROM scored_events FINAL WHERE event_id IN {ids:Array(String)}", ids=ids)
        assert len(ids) == 100 and found[0][0] == len(ids), path.name


def test_metric_detectors_catch_card_testing_and_stay_quiet_otherwise(job_run):
    rows = job_run.query(
        "SELECT tenant_id, toUnixTimestamp64Milli(ts), cause, summary, labels FROM alerts FINAL "
        "WHERE run_id = {run:String} AND startsWith(cause, 'metric:') ORDER BY ts"
    )
    for tenant, ts, cause, _, _ in rows:  # every metric alert belongs to an injected incident (e.g. revenue spikes)
        assert any(
            i["tenant_id"] == tenant and i["start"] <= ts + 60_000 and ts <= i["end"] + 600_000 for i in job_run.truth
        ), cause
    card_test = next(i for i in job_run.truth if i["kind"] == "card_testing")
    payments = [r for r in rows if r[0] == card_test["tenant_id"] and r[2].startswith("metric:payment_failure")]
    assert payments, rows
    _, _, _, summary, labels = payments[0]
    assert "spiked" in summary and "since" in summary
    assert "expected (+" in summary or "where none were expected" in summary, summary
    assert labels["direction"] == "spike" and float(labels["observed"]) > float(labels["expected"])


def test_metric_values_have_every_minute_but_silences_with_an_expected_band_and_a_stated_warmup(job_run):
    rows = job_run.query(
        "SELECT tenant_id, metric, groupArray(toUnixTimestamp(minute)), countIf(warming_up), "
        "countIf(NOT (lower <= expected AND expected <= upper)) FROM metric_values FINAL WHERE run_id = {run:String} "
        "GROUP BY tenant_id, metric"
    )
    active = set(
        job_run.query(
            "SELECT DISTINCT tenant_id, toUnixTimestamp(toStartOfMinute(ts)) FROM scored_events FINAL "
            "WHERE run_id = {run:String}"
        )
    )
    found = {(t, m) for t, m, *_ in rows}
    for tenant in ("acme", "globex", "initech"):
        assert {
            (tenant, m) for m in ("orders", "revenue", "conversion", "payment_failure_rate", "views_per_ip")
        } <= found
        traffic = next((minutes, warming) for t, m, minutes, warming, _ in rows if (t, m) == (tenant, "traffic"))
        assert len(traffic[0]) > 300 and traffic[1] == 60  # from the shop's first minute, its warm-up
    for tenant, metric, minutes, warming, outside in rows:
        missing = set(range(min(minutes), max(minutes), 60)) - set(minutes)
        after_events = {m for m in missing if any((tenant, m - 60 * k) in active for k in range(6))}
        assert not after_events, (tenant, metric)  # a series misses only minutes of a silence, from its sixth
        assert outside == 0, (tenant, metric)
        assert warming <= 60, (tenant, metric)  # a series that starts later is as far into its warm-up as its shop


def test_window_rules_fire_in_the_running_job_and_absence_rules_learn_the_first_day(job_run):
    card_test = next(i for i in job_run.truth if i["kind"] == "card_testing")
    rows = job_run.query(
        "SELECT group_key, toUnixTimestamp64Milli(ts), score, summary FROM alerts FINAL "
        "WHERE run_id = {run:String} AND cause = 'card-testing'"
    )
    assert len(rows) == 1
    group, ts, count, summary = rows[0]
    assert group == "card_fingerprint=card-tested-1" and count >= 5
    assert card_test["start"] <= ts <= card_test["end"] + 10 * 60_000
    assert "card_fingerprint=card-tested-1" in summary and "count = " in summary
    absences = job_run.query(
        "SELECT tenant_id, toUnixTimestamp64Milli(ts) FROM alerts FINAL "
        "WHERE run_id = {run:String} AND cause = 'no-orders'"
    )
    assert absences == []  # the shipped rule (min_expected) learns a tenant's first day: the 6-hour stream's gap


def test_enrichment_tags_and_lateness_flag_are_stored(job_run):
    fraud = next(i for i in job_run.truth if i["kind"] == "large_fraud_order")
    (tags,) = job_run.query("SELECT tags FROM scored_events FINAL WHERE event_id = {e:String}", e=fraud["event_ids"][0])
    assert tags[0] == ["high_risk_country"]
    late = job_run.query("SELECT countIf(is_late) FROM scored_events FINAL WHERE run_id = {run:String}")[0][0]
    assert late == 0  # the generated input is in event-time order


def test_the_job_raises_the_alerts_of_its_logic_run_without_flink(job_run):
    """The Flink job and the same per-tenant step in one process (pulse.job.pipeline.PlainRun, what the benchmarks
    compare against) agree on every alert: rules, windows, absences, risk model and metric detectors."""
    plain = PlainRun(load_config_dir(PROJECT_CONFIGS), PlanWatcher(plans_file_for(PROJECT_CONFIGS)), job_run.run_id)
    rows = []
    for path in job_run.inputs:
        for record in read_records(path):
            parsed = parse_record(record.payload, source=record.source, index=record.index, tenant=record.tenant)
            if parsed.ok:
                rows += plain.record("event", parsed.event, Origin(record.source, record.index, 0))
    rows += plain.finish()
    expected = {(row["cause"], row["alert_id"]) for table, row in rows if table == "alerts"}
    seen = set(job_run.query("SELECT cause, alert_id FROM alerts FINAL WHERE run_id = {run:String}"))
    assert len(expected) > 10  # rules, windows and metric detectors (no risk alert on the tenants' first day)
    assert seen == expected
