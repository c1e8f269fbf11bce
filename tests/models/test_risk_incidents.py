"""Risk alerts through the job's scorer and the dispatcher's incident tracking: every event of a fraud burst above
the bar is an alert (each order or payment to look at, its score on the row), and the burst's alerts are one
incident per customer, sent once, not one notice per event."""

from __future__ import annotations

from collections import defaultdict

from risk_streams import FRAUD, SCORED, SizedStream

from pulse.incidents.tracking import IncidentTracker
from pulse.job.scoring import TenantScorer
from pulse.tenants.config import IncidentsConfig, parse_tenant_config


def test_a_fraud_bursts_alerts_are_one_incident_per_customer_sent_once():
    stream = SizedStream(seed=3, events_per_minute=2, days=3)
    events, incidents = stream.run()
    scorer = TenantScorer("acme", parse_tenant_config("tenant: acme\nrules: []\n", "acme.yaml"))
    state = scorer.new_state()
    tracker = IncidentTracker(lambda tenant: IncidentsConfig())
    fraud_of = {event_id: incident.kind for incident in incidents for event_id in incident.event_ids}
    customers, alerted, opened, sent = defaultdict(set), defaultdict(int), defaultdict(set), defaultdict(int)
    for event in (e for e in events if e["event_type"] in SCORED):
        _, alerts = scorer.score(event, state, "test")
        for alert in (a for a in alerts if a["cause"] == "risk_score"):
            kind = fraud_of.get(event["event_id"], "none")
            customers[kind].add(event["customer_id"])
            alerted[kind] += 1
            for notice in tracker.observe(alert):
                opened[kind] |= {notice["incident_id"]} if notice["status"] == "open" else set()
                sent[kind] += notice["status"] != "resolved" and notice["notify"]
    assert set(FRAUD) <= set(alerted) and alerted["card_testing"] >= 3, alerted  # several alerts, one incident
    for kind in FRAUD:
        assert len(opened[kind]) == len(customers[kind]) == sent[kind], (kind, opened, customers, sent)
    assert len(customers["card_testing"]) == 1 and len(customers["large_fraud_order"]) == 1
