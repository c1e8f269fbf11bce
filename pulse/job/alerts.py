"""The `alerts` row, built here for every producer: rules and the risk model (pulse.job.scoring), the metric
detectors (pulse.job.metric_alerts) and quota notices (pulse.job.usage).

>>> from datetime import UTC, datetime
>>> at = datetime(2026, 11, 2, 10, tzinfo=UTC)
>>> row = alert_row("acme", key=("large-order", "e1"), ts=at, kind="rule", cause="large-order", severity="high",
...                 group_key="c1", event_id="e1", score=2500, threshold=None, summary="Big order", labels={},
...                 run_id="r1", created_at=at)
>>> row["alert_id"] == alert_id("acme", "large-order", "e1"), row["score"], tuple(row) == ALERTS
(True, 2500.0, True)
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pulse.store.tables import ALERTS


def alert_id(tenant: str, *parts: str) -> str:
    """A deterministic alert id from what identifies the alert, so a replayed event yields the same alert row."""
    return hashlib.sha256("\x1f".join((tenant, *parts)).encode()).hexdigest()[:24]


def alert_row(
    tenant: str,
    *,
    key: tuple[str, ...],
    ts: datetime,
    kind: str,
    cause: str,
    severity: str,
    group_key: str,
    event_id: str,
    score: float | None,
    threshold: float | None,
    summary: str,
    labels: dict[str, str],
    run_id: str,
    created_at: datetime,
) -> dict[str, Any]:
    """One `alerts` row; its id is made from the tenant and `key` (what tells the alert apart from every other of
    the tenant: its cause and event id, a window's group and end, a quota's month)."""
    values = (
        tenant,
        alert_id(tenant, *key),
        ts,
        kind,
        cause,
        severity,
        group_key,
        event_id,
        None if score is None else float(score),
        None if threshold is None else float(threshold),
        summary,
        dict(labels),
        run_id,
        created_at,
    )
    return dict(zip(ALERTS, values, strict=True))
