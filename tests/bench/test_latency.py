"""The latency benchmark's own bookkeeping: matching alerts and webhooks to the probes that caused them."""

from __future__ import annotations

from bench.latency import PROBE_RULE, alert_times, webhook_times


def test_probe_alerts_and_webhooks_keep_their_first_copy_only():
    alert = {"cause": PROBE_RULE, "event_id": "probe-7", "created_at": "2026-12-01T08:00:00.250000+00:00"}
    seen = [(100.0, alert), (101.0, alert), (100.5, {"cause": "risk_score", "event_id": "bg-1", "created_at": 0})]
    assert alert_times(seen) == {"probe-7": (1796112000.25, 100.0)}
    opened = {"incident": {"cause": PROBE_RULE, "group_key": "probe-7"}}
    other = {"incident": {"cause": "large-order", "group_key": "probe-8"}}
    assert webhook_times([(102.0, opened), (103.0, opened), (102.5, other)]) == {"probe-7": 102.0}
