"""Helpers for the incident-work tests: alerts written as the scoring job writes them, and `pulse dispatch --once`."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from pulse.store.clickhouse import store
from pulse.store.tables import ALERTS

SECRET = "whsec_" + base64.b64encode(b"work-secret").decode()
EVENT_COLUMNS = ["tenant_id", "event_id", "event_type", "ts", "amount", "currency", "run_id", "ingested_at"]


def insert_alerts(dsn: str, alerts: list[tuple], start: dict[str, datetime], watermarks: dict[str, datetime]) -> None:
    """Alert rows `(tenant, alert id, minutes after start[tenant], cause, group key[, severity[, labels]])` (high,
    no labels unless given), each with its event, and per tenant an event at its newest time (what
    `pulse dispatch` reads as the tenant's watermark)."""
    now = datetime.now(start["acme"].tzinfo)
    rows, events = [], []
    for tenant, alert_id, minutes, cause, group, *more in alerts:
        severity, labels = (*more, *("high", {})[len(more) :])
        ts = start[tenant] + timedelta(minutes=minutes)
        rows.append([tenant, alert_id, ts, "rule", cause, severity, group, f"e-{alert_id}", None, None, "", labels,
                     "t", now])  # fmt: skip
        events.append([tenant, f"e-{alert_id}", "order_placed", ts, 100.0, "USD", "t", now])
    for tenant, ts in watermarks.items():
        events.append([tenant, f"wm-{tenant}-{ts.isoformat()}", "page_view", ts, None, "USD", "t", now])
    with store(dsn, wait_s=60) as s:
        s.client.insert("alerts", rows, column_names=ALERTS)
        s.client.insert("scored_events", events, column_names=EVENT_COLUMNS)


def webhook_config(url: str, tenant: str) -> str:
    """A tenant config's webhooks section for one endpoint, signed with SECRET (see `dispatch`)."""
    return f"\nwebhooks:\n  - url: {url}\n    secrets: [{tenant.upper()}_HOOK]\n"


def dispatch(folder: Path, dsn: str) -> str:
    """`pulse dispatch --once` over the configs in `folder/configs`; its output."""
    command = [sys.executable, "-m", "pulse", "dispatch", "--once", "--allow-private", "--configs",
               str(folder / "configs"), "--clickhouse", dsn]  # fmt: skip
    env = {**os.environ, "ACME_HOOK": SECRET, "GLOBEX_HOOK": SECRET}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=folder, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
