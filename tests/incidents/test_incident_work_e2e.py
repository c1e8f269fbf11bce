"""Working incidents end to end: a real `pulse serve` (actions, silences, labels over REST), a real
`pulse dispatch` (what is sent and what is held back), real chDB and a real HTTP receiver. Labels also go to the
scoring job as feedback, into its rule-updates folder (`pulse serve --rules-folder`), and, through a second
`pulse serve` on the project's Kafka broker, onto its rules topic (`--rules-topic`).

Phase 1 alerts open incidents (their opens reach the receiver); people act through the API; phase 2 alerts
update and, as event time runs on, resolve them; `pulse dispatch` runs after each phase.
"""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from incident_support import dispatch, insert_alerts, webhook_config
from ingest_support import free_port, kafka_bootstrap, start_api, unique_topic
from kafka import KafkaConsumer, TopicPartition
from pyflink.common import Row
from pyflink.common.time import Instant
from receiver import Receiver

from operators.kafka_source import to_envelope
from pulse.job.feedback import Feedback, is_feedback, read_record
from pulse.job.rule_updates import RuleUpdate
from pulse.store.clickhouse import store

BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
MONDAY = datetime(2026, 11, 2, tzinfo=UTC)  # globex's stream: a Monday and a Tuesday
PHASE_1 = [  # tenant, alert id, minutes after its stream's start, cause, group key
    ("acme", "a1", 0, "large-order", "silenced-until-resolved"),
    ("acme", "b1", 0, "card-testing", "expired-silence"),
    ("acme", "d1", 0, "velocity", "resolved-by-hand"),
    ("globex", "w1", 3 * 60, "refund-burst", "inside-window"),  # Monday 04:00 Berlin
    ("globex", "w2", 12 * 60, "refund-burst", "outside-hours"),  # Monday 13:00 Berlin
    ("globex", "w3", (24 + 3) * 60, "refund-burst", "other-weekday"),  # Tuesday 04:00 Berlin
]
PHASE_2 = [
    ("acme", "a2", 15, "large-order", "silenced-until-resolved"),
    ("acme", "b2", 15, "card-testing", "expired-silence"),
    ("acme", "d2", 15, "velocity", "resolved-by-hand"),
    ("acme", "c1", 15, "refund-burst", "matched-by-silence"),
]
WINDOW = """
mute_windows:
  - name: night-refunds
    matchers: ["cause=refund-burst"]
    weekdays: [mon]
    hours: "03:30-05:00"
    timezone: Europe/Berlin
"""


def insert(dsn: str, alerts: list[tuple], watermarks: dict[str, datetime]) -> None:
    insert_alerts(dsn, alerts, {"acme": BASE, "globex": MONDAY}, watermarks)


def incident_of(dsn: str, tenant: str, group: str) -> str:
    with store(dsn, wait_s=60) as s:
        sql = "SELECT DISTINCT incident_id FROM incidents WHERE tenant_id = {t:String} AND group_key = {g:String}"
        return s.query(sql, {"t": tenant, "g": group})[1][0][0]


def sent(receiver: Receiver, path: str) -> list[tuple[str, str]]:
    """(group key, type) of every notice the receiver got on `path`, in order."""
    bodies = [json.loads(r.body) for r in receiver.received(path)]
    return [(b["incident"]["group_key"], b["type"]) for b in bodies]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("incident-work")
    dsn = f"chdb://{folder / 'clickhouse'}"
    receiver = Receiver(port=free_port())
    receiver.start()

    def edit(configs):
        for tenant, extra in (("acme", ""), ("globex", WINDOW)):
            with (configs / "tenants" / f"{tenant}.yaml").open("a") as f:
                f.write(webhook_config(receiver.url("/" + tenant), tenant) + extra)

    rules = folder / "rule-updates"
    rules.mkdir()
    server = start_api(folder, free_port(), "127.0.0.1:19899", "unused", "--clickhouse", dsn, "--rules-folder",
                       str(rules), edit=edit)  # fmt: skip
    try:
        yield server, receiver, dsn, folder
    finally:
        server.stop()
        receiver.stop()


def call(server, tenant: str, method: str, path: str, body: dict | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {server.keys[tenant]}"}
    return requests.request(method, server.url + path, json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def phase_1(world):
    server, receiver, dsn, folder = world
    insert(dsn, PHASE_1, {"acme": BASE + timedelta(minutes=1), "globex": MONDAY + timedelta(days=2)})
    output = dispatch(folder, dsn)
    return {g: incident_of(dsn, t, g) for t, _, _, _, g in PHASE_1}, output


def test_actions_are_recorded_with_who_and_when(world, phase_1):
    server, _, _, _ = world
    ids, _ = phase_1
    a = ids["silenced-until-resolved"]
    assert call(server, "acme", "POST", f"/v1/incidents/{a}/acknowledge", {"by": "ana@acme.example"}).ok
    assert call(server, "acme", "POST", f"/v1/incidents/{a}/assign", {"by": "ana@acme.example", "assignee": "bo"}).ok
    assert call(server, "acme", "POST", f"/v1/incidents/{a}/note", {"by": "bo", "text": "customer called back"}).ok
    answer = call(server, "acme", "POST", f"/v1/incidents/{a}/label", {"by": "bo", "label": "false_alarm"}).json()
    assert answer["work"] | {"acknowledged_at": None} == {
        "acknowledged_by": "ana@acme.example", "acknowledged_at": None, "assignee": "bo", "resolved_by_hand": False,
        "label": "false_alarm", "notes": 1,
    }  # fmt: skip
    history = call(server, "acme", "GET", f"/v1/incidents/{a}/history").json()["history"]
    assert [(h["action"], h["actor"], h["value"], h["via"]) for h in history] == [
        ("acknowledge", "ana@acme.example", "", "api"), ("assign", "ana@acme.example", "bo", "api"),
        ("note", "bo", "customer called back", "api"), ("label", "bo", "false_alarm", "api"),
    ]  # fmt: skip
    times = [datetime.fromisoformat(h["at"]) for h in history]
    assert times == sorted(times) and datetime.now(UTC) - times[0] < timedelta(minutes=5)
    assert call(server, "acme", "POST", f"/v1/incidents/{a}/label", {"by": "bo", "label": "maybe"}).status_code == 422
    assert call(server, "acme", "POST", f"/v1/incidents/{a}/acknowledge", {}).status_code == 422  # who is required
    headers = {"Authorization": f"Bearer {server.keys['acme']}", "content-type": "application/json"}
    surrogate = requests.post(f"{server.url}/v1/incidents/{a}/note", data='{"by": "x", "text": "\\ud800"}',
                              headers=headers, timeout=30)  # fmt: skip
    assert surrogate.status_code == 422 and "text" in surrogate.text


def test_another_tenants_incident_is_a_404_also_for_actions(world, phase_1):
    server, _, dsn, _ = world
    ids, _ = phase_1
    acme, globex = ids["resolved-by-hand"], ids["outside-hours"]
    for tenant, incident in (("globex", acme), ("acme", globex)):
        assert call(server, tenant, "GET", f"/v1/incidents/{incident}/history").status_code == 404
        for action, body in (("acknowledge", {}), ("label", {"label": "false_alarm"}), ("resolve", {}),
                             ("silence", {}), ("note", {"text": "x"}), ("assign", {"assignee": "x"})):  # fmt: skip
            answer = call(server, tenant, "POST", f"/v1/incidents/{incident}/{action}", {"by": "mallory"} | body)
            assert answer.status_code == 404, (action, answer.text)
    with store(dsn, wait_s=60) as s:
        assert s.query("SELECT count() FROM incident_actions WHERE actor = 'mallory'")[1][0][0] == 0
        assert s.query("SELECT count() FROM silences WHERE created_by = 'mallory'")[1][0][0] == 0
    unsigned = requests.post(f"{server.url}/v1/incidents/{acme}/acknowledge", json={"by": "x"}, timeout=10)
    assert unsigned.status_code == 401


def feedback_sent(folder) -> list[RuleUpdate]:
    """The label feedback `pulse serve` put into the job's rule-updates folder, as the job reads it."""
    lines = [line for path in sorted((folder / "rule-updates").iterdir()) for line in path.read_text().splitlines()]
    return [update for update in map(RuleUpdate.from_envelope, lines) if is_feedback(update.text)]


def test_a_label_goes_to_the_job_as_feedback_for_the_labelling_tenant(world, phase_1):
    server, _, _, folder = world
    ids, _ = phase_1
    incident = ids["silenced-until-resolved"]  # acme's, labelled false_alarm already: the label stays the same
    before = len(feedback_sent(folder))
    refused = call(server, "globex", "POST", f"/v1/incidents/{incident}/label", {"by": "gi", "label": "false_alarm"})
    assert refused.status_code == 404
    answer = call(server, "acme", "POST", f"/v1/incidents/{incident}/label", {"by": "bo", "label": "false_alarm"})
    assert answer.json()["feedback"].startswith("sent to ")
    [update] = feedback_sent(folder)[before:]  # globex's refused attempt sent nothing
    lesson = read_record(update.text)
    assert (update.tenant, lesson.incident_id, lesson.label, lesson.detector, lesson.group) == (
        "acme", incident, "false_alarm", "rule:large-order", "silenced-until-resolved"
    )  # fmt: skip
    taught = Feedback()
    taught.learn(lesson)
    a_day_later = BASE + timedelta(days=1)  # the same time of day as the labelled one
    alike = {"kind": "rule", "cause": "large-order", "group_key": "silenced-until-resolved", "ts": a_day_later,
             "score": None, "threshold": None, "labels": {}}  # fmt: skip
    assert taught.holds_back(alike) is not None and taught.holds_back(alike | {"group_key": "other"}) is None


@pytest.fixture(scope="module")
def kafka_world(tmp_path_factory):
    """A `pulse serve --kafka BROKER --rules-topic T` (the project's broker) with one incident of acme's and one of
    globex's, opened by `pulse dispatch`."""
    bootstrap = kafka_bootstrap()
    folder = tmp_path_factory.mktemp("incident-work-kafka")
    dsn = f"chdb://{folder / 'clickhouse'}"
    topic = unique_topic("label-feedback")
    server = start_api(folder, free_port(), bootstrap, unique_topic("events"), "--clickhouse", dsn,
                       "--rules-topic", topic)  # fmt: skip
    try:
        alerts = [("acme", "k1", 0, "large-order", "labelled-over-kafka"), ("globex", "k2", 0, "velocity", "g")]
        insert(dsn, alerts, {"acme": BASE + timedelta(minutes=1), "globex": MONDAY + timedelta(minutes=1)})
        dispatch(folder, dsn)
        yield server, dsn, topic, bootstrap
    finally:
        server.stop()


def rules_topic_records(bootstrap: str, topic: str) -> list:
    """Every record of the (one-partition) rules topic up to its current end, as Kafka hands them to a reader."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        records = []
        while consumer.position(partition) < end:
            records += [r for batch in consumer.poll(timeout_ms=2000).values() for r in batch]
        return records
    finally:
        consumer.close()


def as_the_job_reads(record) -> RuleUpdate:
    """A rules-topic record as the job's Kafka source makes it an envelope (operators/kafka_source.py), read back
    as the job's rule-updates step does."""
    row = Row(record.key and record.key.decode(), record.value.decode(), record.topic, record.partition,
              record.offset, Instant.of_epoch_milli(record.timestamp), dict(record.headers or []))  # fmt: skip
    return RuleUpdate.from_envelope(to_envelope(row))


@pytest.mark.kafka
def test_a_label_goes_onto_the_rules_topic_as_feedback_keyed_by_the_labelling_tenant(kafka_world):
    server, dsn, topic, bootstrap = kafka_world
    acme, globex = incident_of(dsn, "acme", "labelled-over-kafka"), incident_of(dsn, "globex", "g")
    refused = call(server, "globex", "POST", f"/v1/incidents/{acme}/label", {"by": "gi", "label": "false_alarm"})
    assert refused.status_code == 404
    body = {"by": "bo", "label": "false_alarm", "tenant": "globex", "incident_id": globex}  # names another tenant
    answer = call(server, "acme", "POST", f"/v1/incidents/{acme}/label", body)
    assert answer.ok and answer.json()["feedback"] == f"sent to topic {topic} at {bootstrap}"
    [record] = rules_topic_records(bootstrap, topic)  # globex's refused attempt published nothing
    assert record.key == b"acme" and is_feedback(record.value.decode())
    update = as_the_job_reads(record)
    assert (update.tenant, update.source, update.index) == ("acme", f"{topic}:0", 0) and is_feedback(update.text)
    lesson = read_record(update.text)
    assert (lesson.incident_id, lesson.label, lesson.detector, lesson.group) == (
        acme, "false_alarm", "rule:large-order", "labelled-over-kafka"
    )  # fmt: skip


@pytest.fixture(scope="module")
def phase_2(world, phase_1):
    server, receiver, dsn, folder = world
    ids, _ = phase_1
    before = len(receiver.requests)
    by = {"by": "ana@acme.example"}
    silence = call(server, "acme", "POST", f"/v1/incidents/{ids['silenced-until-resolved']}/silence", by).json()
    assert silence["until_resolved"] and silence["matchers"] == [f"incident_id={ids['silenced-until-resolved']}"]
    expired = {"matchers": ["cause=card-testing"], "duration": "10m", "starts_at": BASE.isoformat()} | by
    assert call(server, "acme", "POST", "/v1/silences", expired).status_code == 201
    matched = {"matchers": ["cause=refund-burst", "severity=high|critical"], "duration": "1h",
               "starts_at": BASE.isoformat(), "comment": "known refund run"} | by  # fmt: skip
    assert call(server, "acme", "POST", "/v1/silences", matched).status_code == 201
    assert call(server, "acme", "POST", f"/v1/incidents/{ids['resolved-by-hand']}/resolve", by).ok
    insert(dsn, PHASE_2, {"acme": BASE + timedelta(hours=2)})
    output = dispatch(folder, dsn)
    return receiver.requests[before:], output


def test_phase_1_sent_every_open(world, phase_1):
    _, receiver, _, _ = world
    assert sorted(g for g, _ in sent(receiver, "/acme")[:3]) == [
        "expired-silence", "resolved-by-hand", "silenced-until-resolved"
    ]  # fmt: skip


def test_silenced_incident_sends_nothing_but_its_resolve_reaches_who_saw_the_open(world, phase_2):
    _, receiver, dsn, _ = world
    notices = sent(receiver, "/acme")
    assert ("silenced-until-resolved", "incident.open") in notices
    assert ("silenced-until-resolved", "incident.updated") not in notices
    assert notices.count(("silenced-until-resolved", "incident.resolved")) == 1
    with store(dsn, wait_s=60) as s:
        held = s.query("SELECT i.group_key, n.status, n.reason FROM silenced_notices n JOIN "
                       "(SELECT DISTINCT incident_id, group_key FROM incidents) i USING incident_id "
                       "WHERE n.tenant_id = 'acme' ORDER BY i.group_key, n.version")[1]  # fmt: skip
        recorded = s.query("SELECT group_key, status FROM incidents FINAL WHERE tenant_id = 'acme'")[1]
    assert [(g, st) for g, st, _ in held] == [
        ("matched-by-silence", "open"), ("matched-by-silence", "resolved"),
        ("resolved-by-hand", "updated"), ("resolved-by-hand", "resolved"),
        ("silenced-until-resolved", "updated"), ("silenced-until-resolved", "resolved"),
    ]  # fmt: skip
    assert {r for _, _, r in held if r.startswith("silence ")} and "resolved by hand" in {r for _, _, r in held}
    assert sorted(recorded) == sorted([(g, "resolved") for g in
                                       ("silenced-until-resolved", "expired-silence", "resolved-by-hand",
                                        "matched-by-silence")])  # fmt: skip


def test_a_silence_matching_by_cause_mutes_a_new_incident_entirely(world, phase_2):
    _, receiver, _, _ = world
    assert [n for n in sent(receiver, "/acme") if n[0] == "matched-by-silence"] == []


def test_an_expired_silence_simply_stops(world, phase_2):
    _, receiver, _, _ = world
    notices = [t for g, t in sent(receiver, "/acme") if g == "expired-silence"]
    assert notices == ["incident.open", "incident.updated", "incident.resolved"]


def test_resolved_by_hand_sends_no_updates_and_the_resolve_still_arrives(world, phase_2):
    server, receiver, _, _ = world
    notices = [t for g, t in sent(receiver, "/acme") if g == "resolved-by-hand"]
    assert notices == ["incident.open", "incident.resolved"]


def test_a_recurring_window_mutes_only_inside_its_hours(world, phase_1):
    _, receiver, _, _ = world
    notices = sent(receiver, "/globex")
    assert [g for g, _ in notices if g == "inside-window"] == []
    assert sorted(notices) == [
        ("other-weekday", "incident.open"), ("other-weekday", "incident.resolved"),
        ("outside-hours", "incident.open"), ("outside-hours", "incident.resolved"),
    ]  # fmt: skip


def test_silences_are_listed_and_can_be_ended(world, phase_2):
    server, _, _, _ = world
    listed = call(server, "acme", "GET", "/v1/silences").json()["silences"]
    assert len(listed) == 3 and sum(s["until_resolved"] for s in listed) == 1
    made = call(server, "acme", "POST", "/v1/silences",
                {"by": "ana", "matchers": ["labels.team=risk"], "duration": "2h"}).json()  # fmt: skip
    assert made["active"]
    ended = call(server, "acme", "DELETE", f"/v1/silences/{made['silence_id']}").json()
    assert not ended["active"]
    assert not next(s for s in call(server, "acme", "GET", "/v1/silences").json()["silences"]
                    if s["silence_id"] == made["silence_id"])["active"]  # fmt: skip
    assert call(server, "globex", "DELETE", f"/v1/silences/{made['silence_id']}").status_code == 404
    assert call(server, "globex", "GET", "/v1/silences").json()["silences"] == []
    foreign = {"by": "ana", "matchers": ["tenant_id=globex"], "duration": "1h"}
    bad = call(server, "acme", "POST", "/v1/silences", foreign)
    assert bad.status_code == 422 and "FIELD one of" in bad.text


def test_a_rerun_sends_nothing_again(world, phase_2):
    _, receiver, dsn, folder = world
    before = len(receiver.requests)
    output = dispatch(folder, dsn)
    assert len(receiver.requests) == before
    assert " 0 notifications sent to receivers" in output


def cli(server, tenant: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PULSE_API_KEY"} | {"PULSE_USER": "cli-user", "COLUMNS": "200"}
    if tenant:
        env["PULSE_API_KEY"] = server.keys[tenant]
    command = [sys.executable, "-m", "pulse", "incidents", *args, "--api", server.url]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def record_held_back(dsn: str, tenant: str) -> None:
    """`usage` rows as the scoring job writes them when the tenant's labels held alerts back (pulse/job/usage.py):
    cumulative per (tenant, minute, run), the newest version (the write time in ns) replacing the older; 2 + 1 held
    back in all."""
    columns = ["tenant_id", "minute", "run_id", "accepted", "alerts", "alerts_held_back", "version"]
    now = time.time_ns()
    rows = [[tenant, BASE, "r", 5, 0, 1, now], [tenant, BASE, "r", 9, 0, 2, now + 1],
            [tenant, BASE, "r2", 4, 1, 1, now]]  # fmt: skip
    with store(dsn, wait_s=60) as s:
        s.client.insert("usage", rows, column_names=columns)


def test_the_cli_labels_reopens_and_shows_precision_per_rule(world, phase_1, phase_2):
    server, _, dsn, _ = world
    ids, _ = phase_1
    for group, label in (("expired-silence", "true_problem"), ("resolved-by-hand", "false_alarm"),
                         ("matched-by-silence", "expected")):  # fmt: skip
        incident = ids.get(group) or next(i["incident_id"] for i in call(server, "acme", "GET", "/v1/incidents")
                                          .json()["incidents"] if i["group_key"] == group)  # fmt: skip
        assert cli(server, "acme", "label", incident, label).returncode == 0
    assert cli(server, "acme", "reopen", ids["resolved-by-hand"]).returncode == 0
    shown = json.loads(cli(server, "acme", "show", ids["resolved-by-hand"], "--json").stdout)
    assert shown["work"]["resolved_by_hand"] is False and shown["work"]["label"] == "false_alarm"
    assert [(h["action"], h["actor"], h["via"]) for h in shown["history"]][-3:] == [
        ("resolve", "ana@acme.example", "api"),
        ("label", "cli-user", "api"),
        ("reopen", "cli-user", "api"),
    ]
    record_held_back(dsn, "acme")
    answer = json.loads(cli(server, "acme", "stats", "--json").stdout)
    assert answer["alerts_held_back"] == 3
    stats = answer["causes"]
    assert {c["cause"]: (c["labelled"], c["precision"]) for c in stats} == {
        "card-testing": (1, 1.0),
        "large-order": (1, 0.0),
        "velocity": (1, 0.0),
        "refund-burst": (1, 0.0),
    }
    table = cli(server, "acme", "stats")
    assert table.returncode == 0 and "card-testing" in table.stdout and "100%" in table.stdout
    assert "3 alerts held back by labels" in table.stdout
    globex = json.loads(cli(server, "globex", "stats", "--json").stdout)
    assert globex["causes"][0]["labelled"] == 0 and globex["alerts_held_back"] == 0


def test_the_cli_refuses_clearly(world, phase_1):
    server, _, _, _ = world
    ids, _ = phase_1
    no_key = cli(server, None, "stats")
    assert no_key.returncode == 1 and "set PULSE_API_KEY" in no_key.stderr
    foreign = cli(server, "globex", "ack", ids["silenced-until-resolved"])
    assert foreign.returncode == 1 and "HTTP 404" in foreign.stderr
    bad = cli(server, "acme", "silence", "--match", "bogus", "--for", "1h")
    assert bad.returncode == 1 and "matcher 'bogus'" in bad.stderr
    made = cli(server, "acme", "silence", "--match", "cause=velocity", "--for", "30m")
    assert made.returncode == 0 and "cause=velocity until" in made.stdout
