"""The risk model through the real job (`pulse run` on the mini-cluster) on a stream longer than a day: quiet on
each tenant's first day, then every injected fraud (a large order from a new country, card testing, a burst of
large orders) raises risk alerts, and a normal day raises about the daily budget (1 per tenant)."""

import subprocess
import sys

import pytest

from pulse.dev.generate import Generator, write
from pulse.store.clickhouse import store

pytestmark = pytest.mark.flink

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def risk_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("risk")
    events, incidents = Generator(seed=11, minutes=3000, sessions_per_minute=0.5).run()  # 2 days and 2 hours
    write(events, incidents, folder / "events.jsonl")
    dsn = f"chdb://{folder / 'clickhouse'}"
    command = [sys.executable, "-m", "pulse", "run", "--input", str(folder / "events.jsonl"), "--clickhouse", dsn,
               "--run-id", "risk"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with store(dsn) as s:
        _, alerts = s.query(
            "SELECT tenant_id, event_id, toUnixTimestamp64Milli(ts) FROM alerts FINAL WHERE cause = 'risk_score'"
        )
        _, scored = s.query("SELECT count(), countIf(risk_score IS NOT NULL) FROM scored_events FINAL")
    return events[0]["ts"], incidents, alerts, scored[0]


def test_every_injected_fraud_raises_risk_alerts(risk_run):
    _, incidents, alerts, _ = risk_run
    flagged = {event_id for _, event_id, _ in alerts}
    for kind in ("large_fraud_order", "card_testing", "high_value_burst"):
        [incident] = [i for i in incidents if i.kind == kind]
        assert len(flagged & set(incident.event_ids)) >= 2, kind


def test_no_risk_alert_on_a_tenants_first_day_and_about_the_budget_after(risk_run):
    start, incidents, alerts, (scored, with_score) = risk_run
    assert scored > 20_000 and with_score > 1_000  # every order and payment keeps its score
    assert all(ts - start >= DAY_MS for _, _, ts in alerts)
    fraud = {e for i in incidents for e in i.event_ids}
    false = [event_id for _, event_id, _ in alerts if event_id not in fraud]
    assert len(false) <= 3  # three tenants, one budgeted alert a day each after the first
