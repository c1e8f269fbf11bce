"""Helpers for the ingestion tests: the project's real Kafka broker and a real `pulse serve` on a port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from kafka import KafkaConsumer, TopicPartition

from pulse.api.keys import key_hash, new_key
from pulse.topics import EVENTS_PARTITIONS, REFUSED_HEADER, default_bootstrap, ensure_topic, reachable, refusal

ROOT = Path(__file__).resolve().parent.parent
KAFKA_DIR = Path(os.environ.get("PULSE_KAFKA_DIR", ROOT / ".data" / "kafka"))
TENANTS = {"acme": "growth", "globex": "growth", "tinyshop": "free"}
TEST_PLANS = """plans:
  free: {events_per_second: 5}
  growth: {events_per_second: 100000}
  enterprise: {events_per_second: 100000}
tenants:
""" + "".join(f"  {tenant}: {plan}\n" for tenant, plan in TENANTS.items())


def kafka_bootstrap() -> str:
    """The project's broker; fail (not skip) when it is down, since these tests are about Kafka."""
    bootstrap = default_bootstrap()
    if not reachable(bootstrap, timeout_s=5):
        pytest.fail(f"Kafka is not reachable at {bootstrap}: run 'make services-up' (make test does)")
    return bootstrap


def free_port() -> int:
    """A port nothing listens on now (the OS picks it), so test runs side by side do not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def unique_topic(name: str) -> str:
    return f"test.{name}.{uuid.uuid4().hex[:8]}"


@dataclass
class ApiServer:
    url: str
    keys: dict[str, str]
    topic: str
    bootstrap: str
    process: subprocess.Popen
    log: Path

    def post(self, tenant: str, body: str | bytes, content_type: str = "application/x-ndjson", **kwargs):
        headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Content-Type": content_type}
        return requests.post(f"{self.url}/v1/events", data=body, headers=headers, timeout=60, **kwargs)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_api(
    folder: Path,
    port: int,
    bootstrap: str,
    topic: str,
    *extra: str,
    plans: str = TEST_PLANS,
    edit: Callable[[Path], None] | None = None,
) -> ApiServer:
    """Copy the project's configs with a fresh API key per test tenant and start `pulse serve` on `port`
    with `plans` as its plans file (`folder/plans.yaml`); `edit` changes the configs folder before the start."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            pytest.fail(f"port {port} is already taken: stop whatever listens there")
    configs = folder / "configs"
    shutil.copytree(ROOT / "configs", configs)
    keys = {}
    for tenant in TENANTS:
        keys[tenant] = new_key()
        path = configs / "tenants" / f"{tenant}.yaml"
        text = path.read_text() if path.exists() else f"tenant: {tenant}\n"
        path.write_text(text + f'\napi_keys:\n  - "{key_hash(keys[tenant])}"\n')
    (folder / "plans.yaml").write_text(plans)
    if edit is not None:
        edit(configs)
    log = folder / "api.log"
    command = [sys.executable, "-m", "pulse", "serve", "--port", str(port), "--kafka", bootstrap, "--topic", topic]
    command += ["--configs", str(configs), "--plans", str(folder / "plans.yaml"), *extra]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    server = ApiServer(f"http://127.0.0.1:{port}", keys, topic, bootstrap, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pulse serve exited: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).ok:
                return server
        except requests.ConnectionError:
            time.sleep(0.3)
    server.stop()
    pytest.fail(f"pulse serve did not answer on port {port}: {log.read_text()[-2000:]}")


def read_topic(bootstrap: str, topic: str, partitions: int = EVENTS_PARTITIONS) -> list[tuple[str | None, dict | str]]:
    """Every record of `topic` but those the API wrote as refused, as (key, value parsed as JSON if it is JSON),
    up to the current end."""
    return [(key, value) for key, value, refused in _records(bootstrap, topic, partitions) if refused is None]


def read_refusals(bootstrap: str, topic: str) -> list[tuple[str | None, dict, str]]:
    """(key, reason and detail, value) of every record the API wrote to `topic` as refused."""
    return [(key, refused, value) for key, value, refused in _records(bootstrap, topic) if refused is not None]


def _records(bootstrap: str, topic: str, partitions: int = EVENTS_PARTITIONS) -> list[tuple]:
    ensure_topic(bootstrap, topic, partitions)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        partitions = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records = []
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            for batch in consumer.poll(timeout_ms=2000).values():
                for message in batch:
                    key = message.key.decode() if message.key else None
                    refused = refusal(dict(message.headers or []).get(REFUSED_HEADER))
                    records.append((key, _json(message.value), refused))
        return records
    finally:
        consumer.close()


def _json(value: bytes) -> dict | str:
    try:
        return json.loads(value)
    except ValueError:
        return value.decode("utf-8", "replace")


def broker_pid() -> int:
    return int((KAFKA_DIR / "kafka.pid").read_text())


def restart_broker() -> None:
    subprocess.run([str(ROOT / "scripts" / "kafka.sh"), "up"], check=True, capture_output=True, timeout=180)
