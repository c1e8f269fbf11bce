"""Fault tolerance on a real standalone Flink cluster (JobManager and TaskManager processes, `flink run`).

One scenario, shared by the tests below: the scoring job reads the project's Kafka broker (a topic of its
own, four partitions, records keyed by tenant, produced by librdkafka with zstd compression, so the tenants fill
two partitions and two stay empty: event time must pass over the idle ones); chunks of the stream are produced
one by one. Chunk 2 is cut short by SIGKILL of the TaskManager (a new one takes over);
after chunk 3 the job is stopped with a savepoint, a tenant's rules change, and the job restarts from the
savepoint while the test process holds the chDB folder (ClickHouse unavailable) for 20 s, then releases it.
The expected output comes from the same Python logic run without Flink (`TenantScorer`), event by event.

On the same cluster, in two slots the scenario's job leaves free, a savepoint taken by an earlier commit's job
(tests/job/savepoint/) is restored into this code's job, which must carry on with its tenant's state.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cluster_support import PROJECT, wait_checkpoints, wait_quiet
from confluent_kafka import Producer
from ingest_support import kafka_bootstrap, unique_topic
from savepoint_support import CHDB_TURN, SECOND, Restore
from usage_support import disagreements

from jobs.environment import KAFKA_JARS, SLOTS, TASKMANAGER_JVM_OPTS, flink_settings
from pulse.dev.cluster import Cluster
from pulse.dev.generate import Generator
from pulse.events import parse_record
from pulse.job.scoring import TenantScorer
from pulse.store.clickhouse import open_store, store
from pulse.tenants.config import load_config_dir
from pulse.topics import ensure_topic

pytestmark = [pytest.mark.flink, pytest.mark.cluster, pytest.mark.kafka]

NEW_RULE = """
  - id: every-order
    description: Any order (added while the job was stopped)
    severity: info
    when: event_type == "order_placed"
"""

# Every chunk carries broken records, chunk 2 (index 1) too, which the kill cuts: a reject replayed after the
# restore keeps its receive time (the record's Kafka timestamp), so its usage minute.
BROKEN_IN_CHUNKS = (0, 1, 2, 3)
BROKEN_PER_CHUNK = 7
# Events of chunk 1 sent again in every later chunk: before the kill, after the restore from its checkpoint and after
# the savepoint restart, each is found a duplicate by the state restored.
REPEATS = 5


def broken_records(chunk: int) -> list[dict]:
    """Records the job rejects (no valid time), claiming a tenant so that their rejects are metered for it."""
    tenants = ("acme", "globex", "initech")
    return [
        {"tenant_id": tenants[i % 3], "event_id": f"broken-{chunk}-{i}", "event_type": "order_placed", "ts": "never"}
        for i in range(BROKEN_PER_CHUNK)
    ]


@dataclass
class Scenario:
    dsn: str
    chunks: list[list[dict]]
    expected_before: dict  # oracle over chunks 1-3 with the original rules
    expected_after: dict  # oracle over chunks 1-4, rules changed before chunk 4
    observed: dict = field(default_factory=dict)
    restore: Restore | None = None  # the savepoint fixture's restore, run on the same cluster

    def query(self, sql: str) -> list[tuple]:
        with CHDB_TURN, store(self.dsn, wait_s=60) as s:
            return s.query(sql)[1]


def oracle(chunks: list[list[dict]], configs_before: Path, configs_after: Path, changed_from: int) -> dict:
    """Scored rows and alerts from TenantScorer without Flink; chunks from `changed_from` use the new configs.
    An event id seen before (an exact repeat here) is a duplicate, not scored."""
    states: dict[str, object] = {}
    duplicates = 0
    rows: dict[str, dict] = {}
    alerts: set[str] = set()  # raised by an event (rules, risk model)
    window_alerts: set[str] = set()  # raised when event time passes a window end or an absence deadline
    for number, chunk in enumerate(chunks):
        configs = load_config_dir(configs_after if number >= changed_from else configs_before)
        scorers = {t: TenantScorer(t, configs.for_tenant(t)) for t in {e["tenant_id"] for e in chunk}}
        for index, payload in enumerate(chunk):
            event = parse_record(json.dumps(payload), source=f"chunk{number}", index=index).event
            if event is None:  # a broken record: rejected
                continue
            if event["event_id"] in rows:
                duplicates += 1
                continue
            scorer = scorers[event["tenant_id"]]
            state = states.setdefault(event["tenant_id"], scorer.new_state())
            row, raised = scorer.score(event, state, "oracle")
            rows[event["event_id"]] = row
            alerts.update(a["alert_id"] for a in raised if a["event_id"])
            window_alerts.update(a["alert_id"] for a in raised if not a["event_id"])
    rejected = sum(1 for chunk in chunks for e in chunk if e["event_id"].startswith("broken-"))
    return {"rows": rows, "alerts": alerts, "window_alerts": window_alerts, "rejected": rejected,
            "duplicates": duplicates}  # fmt: skip


def publish(producer: Producer, topic: str, events: list[dict], partitions: set[int]) -> None:
    """Produce `events` in order, each keyed by its tenant (the claimed one for broken records), and wait;
    add the partitions written to `partitions`."""
    for event in events:
        key, value = str(event["tenant_id"]).encode(), json.dumps(event).encode()
        producer.produce(
            topic, key=key, value=value, on_delivery=lambda _, message: partitions.add(message.partition())
        )
        producer.poll(0)
    assert producer.flush(60) == 0


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, flink_cluster: Cluster) -> Scenario:
    folder = tmp_path_factory.mktemp("cluster")
    configs = folder / "configs"
    shutil.copytree(PROJECT / "configs", configs)
    original = folder / "configs-original"
    shutil.copytree(configs, original)
    bootstrap, topic = kafka_bootstrap(), unique_topic("cluster")
    ensure_topic(bootstrap, topic)  # four partitions, as the API creates pulse.events
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "compression.type": "zstd"})
    dsn = f"chdb://{folder / 'clickhouse'}"
    # Chunk 1 holds every tenant's model warm-up; chunk 4 (40%) is what arrives during the ClickHouse outage.
    events, _ = Generator(seed=23, minutes=720).run()
    cut = [0, len(events) * 40 // 100, len(events) * 50 // 100, len(events) * 60 // 100, len(events)]
    chunks = [events[a:b] for a, b in zip(cut, cut[1:], strict=False)]
    for number in BROKEN_IN_CHUNKS:
        chunks[number][100:100] = broken_records(number)
    for chunk in chunks[1:]:
        chunk[50:50] = [dict(e) for e in chunks[0][200 : 200 + REPEATS]]
    acme = configs / "tenants" / "acme.yaml"
    changed = acme.read_text().replace("\nmodels:", NEW_RULE + "\nmodels:")
    after = folder / "configs-after"
    shutil.copytree(configs, after)
    (after / "tenants" / "acme.yaml").write_text(changed)
    result = Scenario(
        dsn=dsn,
        chunks=chunks,
        expected_before=oracle(chunks[:3], original, after, changed_from=3),
        expected_after=oracle(chunks, original, after, changed_from=3),
    )
    partitions = result.observed["partitions"] = set()
    cluster = flink_cluster
    result.observed["taskmanager"] = {
        "jvm": Path(f"/proc/{cluster.pids('taskexecutor')[0]}/cmdline").read_bytes().decode().split("\0"),
        "slots": [tm["slotsNumber"] for tm in cluster.rest("/taskmanagers")["taskmanagers"]],
    }
    source = ["--kafka", bootstrap, "--topic", topic, "--group", f"pulse-{topic}"]
    job_args = [*source, "--configs", str(configs), "--clickhouse", dsn]
    try:
        job = cluster.submit([*job_args, "--run-id", "first"], parallelism=1, jars=KAFKA_JARS)
        cluster.wait_job(job, {"RUNNING"})
        publish(producer, topic, chunks[0], partitions)
        wait_checkpoints(cluster, job, 2)
        publish(producer, topic, chunks[1], partitions)
        time.sleep(1.5)
        cluster.kill_taskmanager()
        cluster.start_taskmanager(generation=1)
        deadline = time.monotonic() + 120
        while cluster.checkpoints(job)["counts"]["restored"] < 1 or cluster.job_state(job) != "RUNNING":
            assert time.monotonic() < deadline, "job did not recover from its checkpoint within 120 s"
            time.sleep(1)
        result.observed["restored"] = cluster.checkpoints(job)["latest"]["restored"]
        restore = result.restore = Restore(cluster, folder / "restore")  # in two free slots, while this job goes on
        restore.start()
        wait_checkpoints(cluster, job, 2)
        publish(producer, topic, chunks[2], partitions)
        wait_quiet(cluster, job)
        savepoint = cluster.stop_with_savepoint(job)
        result.observed["before"] = snapshot(result)

        acme.write_text(changed)
        CHDB_TURN.acquire()  # held with the folder: the restore thread reads its own folder after the outage
        held = open_store(dsn)  # ClickHouse unavailable: the job's writer cannot open the folder
        try:
            job = cluster.submit([*job_args, "--run-id", "second"], savepoint=savepoint, parallelism=1, jars=KAFKA_JARS)
            cluster.wait_job(job, {"RUNNING"})
            publish(producer, topic, chunks[3], partitions)
            states = []
            for _ in range(20):
                time.sleep(1)
                states.append(cluster.job_state(job))
            failures = cluster.rest(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
        finally:
            held.close()
            CHDB_TURN.release()
        result.observed["outage"] = {"states": set(states), "failures": len(failures)}
        restore.join(timeout=600)  # the last wait undisturbed: its windows close after the idle partitions time out
        wait_quiet(cluster, job)
        cluster.stop_with_savepoint(job)
        result.observed["after"] = snapshot(result)
    finally:
        producer.flush(60)
        if result.restore is not None:
            result.restore.join(timeout=600)
        cluster.cancel_unfinished()
    return result


LAST_METRIC_MINUTE_SQL = "SELECT tenant_id, toUnixTimestamp(max(minute)) * 1000 FROM metric_values FINAL GROUP BY ALL"
# Detectors (tenant, metric) with a warming-up minute after a warm one: a detector that started afresh.
WARMED_UP_AGAIN_SQL = """
    SELECT tenant_id, metric, minIf(minute, NOT warming_up) AS warm_from, maxIf(minute, warming_up) AS last_cold
    FROM metric_values FINAL GROUP BY tenant_id, metric
    HAVING countIf(warming_up) > 0 AND countIf(NOT warming_up) > 0 AND last_cold > warm_from"""


def snapshot(scenario: Scenario) -> dict:
    """What ClickHouse holds now: counts with and without FINAL, rows and alert ids."""
    q = scenario.query
    runs = [r[0] for r in q("SELECT DISTINCT run_id FROM scored_events ORDER BY run_id")]
    return {
        "final": q("SELECT count() FROM scored_events FINAL")[0][0],
        "raw": q("SELECT count() FROM scored_events")[0][0],
        "distinct": q("SELECT count(DISTINCT tenant_id, event_id) FROM scored_events")[0][0],
        "rows": {r[0]: r[1:] for r in q("SELECT event_id, risk_score, model_warming_up FROM scored_events FINAL")},
        "alerts_final": q("SELECT count() FROM alerts FINAL WHERE NOT startsWith(cause, 'metric:')")[0][0],
        "alert_ids": {r[0] for r in q("SELECT alert_id FROM alerts FINAL WHERE NOT startsWith(cause, 'metric:')")},
        "metric_minutes": dict(q(LAST_METRIC_MINUTE_SQL)),
        "warmed_up_again": q(WARMED_UP_AGAIN_SQL),
        "warm_detectors": q("SELECT count(DISTINCT tenant_id, metric) FROM metric_values WHERE NOT warming_up")[0][0],
        "rejected": q("SELECT count() FROM rejected_events FINAL WHERE reason != 'duplicate_event_id'")[0][0],
        "duplicates": q("SELECT count() FROM rejected_events FINAL WHERE reason = 'duplicate_event_id'")[0][0],
        "usage": {run: usage_against_tables(q, run) for run in [None, *runs]},
        "usage_runs": runs,
        "usage_totals": q("SELECT sum(accepted), sum(alerts), sum(rejected), sum(duplicates) FROM usage FINAL")[0],
        "alerts_all": q("SELECT count() FROM alerts FINAL")[0][0],
    }


def usage_against_tables(query, run: str | None) -> list[tuple]:
    """(tenant, minute, table counts, usage counts) where usage disagrees with the tables, for one run or all (None)."""
    where = f"run_id = '{run}'" if run else "1"
    return disagreements(lambda sql: query(sql.replace("run_id = {run:String}", where)))


def assert_exactly_once(seen: dict, expected: dict) -> None:
    assert seen["final"] == seen["distinct"] == len(expected["rows"])
    assert set(seen["rows"]) == set(expected["rows"])
    assert seen["raw"] >= seen["final"]  # replayed rows may sit in unmerged parts until ClickHouse merges them
    assert seen["alert_ids"] - expected["window_alerts"] == expected["alerts"]
    assert seen["alert_ids"] <= expected["alerts"] | expected["window_alerts"]
    assert seen["alerts_final"] == len(seen["alert_ids"])
    assert seen["rejected"] == expected["rejected"]
    assert seen["duplicates"] == expected["duplicates"] > 0


def test_the_taskmanager_runs_with_the_projects_jvm_options_and_slots(scenario):
    settings = flink_settings()
    wanted = settings[TASKMANAGER_JVM_OPTS].split()
    assert wanted and set(wanted) <= set(scenario.observed["taskmanager"]["jvm"])
    assert scenario.observed["taskmanager"]["slots"] == [int(settings[SLOTS])]


def test_taskmanager_killed_mid_stream_every_event_once(scenario):
    assert scenario.observed["restored"] is not None
    assert_exactly_once(scenario.observed["before"], scenario.expected_before)


def test_model_state_continues_after_recovery(scenario):
    """Every risk score equals the uninterrupted no-Flink run: the model neither re-warmed nor relearned."""
    seen = scenario.observed["before"]["rows"]
    expected = scenario.expected_before["rows"]
    first_chunk = {e["event_id"] for e in scenario.chunks[0]}
    for event_id, row in expected.items():
        assert seen[event_id] == (row["risk_score"], row["model_warming_up"]), event_id
    warm_after_chunk1 = {e for e in expected if e not in first_chunk and expected[e]["model_warming_up"]}
    assert not warm_after_chunk1, "test data: every tenant's warm-up must end in chunk 1"
    assert not any(seen[e][1] for e in seen if e not in first_chunk), "a second warm-up after recovery"


def test_metric_detectors_continue_after_recovery(scenario):
    """The per-minute detectors' state (seasonal profiles, warm-up) survives the kill and the savepoint restart:
    no detector that was warm reports a warming-up minute again."""
    for phase in ("before", "after"):
        assert scenario.observed[phase]["warmed_up_again"] == []
        assert scenario.observed[phase]["warm_detectors"] >= 3 * 8  # every tenant's eight core metrics


def test_savepoint_restart_with_changed_rules(scenario):
    seen = scenario.observed["after"]
    assert_exactly_once(seen, scenario.expected_after)
    new_rule = seen["alert_ids"] - scenario.expected_before["alerts"] - scenario.expected_after["window_alerts"]
    assert new_rule, "the rule added while the job was stopped raised no alert"
    for event_id, row in scenario.expected_after["rows"].items():
        assert seen["rows"][event_id] == (row["risk_score"], row["model_warming_up"]), event_id


def test_window_and_absence_alerts_fire_on_the_cluster(scenario):
    assert scenario.expected_after["window_alerts"] <= scenario.observed["after"]["alert_ids"]


def test_event_time_advances_while_the_job_runs(scenario):
    """Metric minutes close as the watermark passes them: the job was stopped without draining its input,
    so every metric row there is came from a watermark that advanced mid-stream, past the empty partitions."""
    # the watermark trails by the allowed lateness
    assert len(scenario.observed["partitions"]) == 2  # of four: the other two are idle throughout
    newest = max(e["ts"] for e in scenario.chunks[2] if isinstance(e["ts"], int)) - 60_000
    closed = scenario.observed["before"]["metric_minutes"]
    assert set(closed) == {"acme", "globex", "initech"}
    assert all(newest - minute < 5 * 60_000 for minute in closed.values()), closed


def test_clickhouse_outage_waited_out_then_catch_up(scenario):
    """While the writer cannot reach ClickHouse the job keeps running without failing (the writer waits and
    input queues up); afterwards everything lands exactly once (rows and alerts compared in
    test_savepoint_restart_with_changed_rules)."""
    assert scenario.observed["outage"] == {"states": {"RUNNING"}, "failures": 0}
    assert scenario.observed["after"]["final"] == len(scenario.expected_after["rows"]) > 40000


def test_usage_equals_the_tables_after_the_kill_and_the_savepoint_restart(scenario):
    """Per tenant and minute the usage table's counts (accepted, scored, over_quota, alerts, rejected, duplicates)
    equal the row counts of scored_events, alerts and rejected_events: per run id and summed over both runs."""
    before, after = scenario.observed["before"], scenario.observed["after"]
    assert before["usage_runs"] == ["first"] and after["usage_runs"] == ["first", "second"]
    assert before["usage"] == {None: [], "first": []}
    assert after["usage"] == {None: [], "first": [], "second": []}
    assert after["usage_totals"] == (after["final"], after["alerts_all"], after["rejected"], after["duplicates"])
    assert after["rejected"] == len(BROKEN_IN_CHUNKS) * BROKEN_PER_CHUNK
    assert after["duplicates"] == 3 * REPEATS


@pytest.fixture(scope="module")
def restored(scenario) -> Restore:
    """The savepoint of an earlier commit's job (tests/job/savepoint/), restored into this code's job on the
    scenario's cluster, after reading SECOND."""
    assert scenario.restore is not None and not scenario.restore.is_alive()
    if scenario.restore.error is not None:
        raise scenario.restore.error
    return scenario.restore


def test_a_savepoint_of_the_previous_code_restores_and_runs_on_new_events(restored):
    """The kept form (pulse/job/kept.py) names no module path, so moved code still reads an older savepoint."""
    assert set(restored.warming) == {e["event_id"] for e in SECOND}


def test_a_rules_window_carries_over_the_savepoint(restored):
    assert ("many-orders", "customer_id=c1") in restored.alerts  # 3 orders before the savepoint, 1 after


def test_the_months_usage_count_carries_over_the_savepoint(restored):
    assert {cause for cause, _ in restored.alerts if cause.startswith("quota_")} == {"quota_80", "quota_100"}


def test_what_the_risk_model_learned_carries_over_the_savepoint(restored):
    assert restored.warming == {"b1": True, "b2": True, "b3": False, "v4": False}  # warm-up 5: 3 before, b1, b2
