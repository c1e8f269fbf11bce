"""`pulse dispatch` over the shared real job run: alerts → incidents → signed webhooks, and a re-run
re-sends nothing."""

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from receiver import Receiver

from pulse.incidents.webhooks import verify

pytestmark = pytest.mark.flink

PROJECT_CONFIGS = Path(__file__).resolve().parent.parent.parent / "configs"
SECRET = "whsec_" + base64.b64encode(b"e2e-secret").decode()


@pytest.fixture(scope="module")
def dispatched(job_run, tmp_path_factory):
    receiver = Receiver(port=19612)
    receiver.start()
    configs = tmp_path_factory.mktemp("configs")
    shutil.copytree(PROJECT_CONFIGS, configs, dirs_exist_ok=True)
    for tenant, fmt in (("acme", "json"), ("globex", "alertmanager")):
        with (configs / "tenants" / f"{tenant}.yaml").open("a") as f:
            f.write(f"\nwebhooks:\n  - url: {receiver.url('/' + tenant)}\n    format: {fmt}\n"
                    f"    secrets: [{tenant.upper()}_HOOK_SECRET]\n"
                    "playbooks:\n  default: escalate to the risk desk.\n")  # fmt: skip
    command = [sys.executable, "-m", "pulse", "dispatch", "--once", "--allow-private", "--configs", str(configs),
               "--clickhouse", job_run.dsn]  # fmt: skip
    env = {**os.environ, "ACME_HOOK_SECRET": SECRET, "GLOBEX_HOOK_SECRET": SECRET}
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    sent = list(receiver.requests)
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    receiver.stop()
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-3000:] + second.stderr[-3000:]
    return job_run, sent, receiver.requests[len(sent) :], second.stdout


def test_alerts_become_incidents_with_summaries(dispatched):
    job_run, _, _, _ = dispatched
    rows = job_run.query("SELECT tenant_id, status, summary, alert_count FROM incidents FINAL")
    assert rows and {r[0] for r in rows} <= {"acme", "globex", "initech"}
    alerts = job_run.query("SELECT count() FROM alerts FINAL")[0][0]
    assert sum(r[3] for r in rows) == alerts  # every alert is in exactly one incident
    acme = [r for r in rows if r[0] == "acme"]
    assert all(r[1] == "resolved" for r in rows)  # the stream ran on past every incident's quiet period
    assert all(" since 20" in r[2] and "Next step: escalate to the risk desk." in r[2] for r in acme)


def test_webhooks_delivered_signed_once_and_not_again_on_rerun(dispatched):
    job_run, sent, resent, output = dispatched
    assert sent and resent == []
    assert f"0 notifications sent to receivers, {len(sent)} already delivered" in output
    for request in sent:
        assert verify(SECRET, request.headers, request.body)
    acme = [json.loads(r.body) for r in sent if r.path == "/acme"]
    globex = [json.loads(r.body) for r in sent if r.path == "/globex"]
    assert {p["type"] for p in acme} <= {"incident.open", "incident.updated", "incident.resolved"}
    assert all(p["version"] == "4" and p["alerts"][0]["labels"]["tenant"] == "globex" for p in globex)
    assert len({r.headers["webhook-id"] for r in sent}) == len(sent)
    attempts = job_run.query("SELECT count() FROM webhook_attempts WHERE ok")[0][0]
    assert attempts == len(sent)
