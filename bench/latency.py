"""End-to-end latency: REST accept → alert detected → alert on Kafka → webhook delivered, at half the max rate.

`python -m bench.latency [--seconds 60] [--max-rate N | --rate N]` runs, with real components only and all
traffic on 127.0.0.1: the project's Kafka broker (started on $PULSE_KAFKA_PORT unless one already serves
there), `pulse serve` with one fresh API key per bench tenant, `pulse stream --alerts-topic` (the scoring job
on Flink's local mini-cluster) into an embedded chDB folder, and `pulse dispatch --kafka` delivering incident
webhooks to an HTTP receiver in this process. Every process is started in its own session, logs to a file
under a temporary folder, and is stopped at the end; the run ends by itself (`--timeout`, default 300 s).

Traffic: background events of a generated realistic mix (ts = now) are posted through the REST API at a
fixed rate; separately, every `--probe-every` seconds one probe (an order of 2,000,000 for a fresh customer)
that the tenant's condition rule `bench-probe` turns into an alert at once, and the dispatcher into a new
incident and a webhook. For each probe the accept time is when its 202 arrives. Without `--rate`/`--max-rate`
the run first measures the job's maximum rate: a backlog of events is posted as fast as the API takes them,
with probes inside it, and the rate is the events between the first and last probe over their detection span.

Where the alert time comes from (chDB allows one process per data folder, and the job's Python worker holds
it while the job runs): the alert's own `created_at` column is the detection time, stamped by the scoring
operator when it scores the event; this module reads it from the alerts topic while the job runs (the same
row the ClickHouse writer inserts) and, after the job is stopped, from `alerts FINAL` in the job's chDB
folder, to check every probe alert landed. chDB keeps no sub-second insert time (no `part_log`, parts carry
whole seconds), so the row's insert is not measured: it follows detection by the writer's flush age (1 s
timer, `operators/clickhouse_sink.py`) at most. Also measured: when the alert reaches this process from the
alerts topic (what the dispatcher consumes) and when the webhook reaches the receiver. All times are the
machine's wall clock (`time.time()` here, `datetime.now(UTC)` in the job).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from pulse.api.keys import key_hash, new_key
from pulse.dev.generate import Generator
from pulse.tenants.config import secret_prefix

PROJECT = Path(__file__).resolve().parent.parent
PULSE = str(Path(sys.executable).with_name("pulse"))
PROBE_RULE = "bench-probe"
PROBE_AMOUNT = 2_000_000.0
HOOK_SECRET = secrets.token_hex(32)  # every bench tenant's signing secret (each in a variable of its own)
# This process's environment before any Flink job ran in it: a local job runs its Python workers inside the
# client process and leaves their settings in os.environ (a loopback server address, a disabled gateway),
# which would break the jobs this module starts (`make bench` runs local jobs first).
ENVIRONMENT = dict(os.environ)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deadline:
    """The run's time budget; `check` raises once it is spent."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left."""
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise TimeoutError(f"time budget spent while {what}")


class Processes:
    """Child processes, each in its own session (process group) with its log file; stopped in reverse order."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        self.started.append((name, proc))
        return proc

    def stop(self, name: str, grace_s: float = 20.0) -> None:
        """SIGTERM the process group of `name`, SIGKILL it after `grace_s`."""
        for label, proc in self.started:
            if label == name:
                _stop_group(proc, grace_s)

    def stop_all(self) -> None:
        """Stop every process still running, the last started first."""
        for _, proc in reversed(self.started):
            _stop_group(proc, 20.0)


def _stop_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the process's own group, then SIGKILL what is left of it."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)  # the group this module created for it (start_new_session)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            time.sleep(0.5)  # let the group's other members (JVM, Python workers) exit with it
        except subprocess.TimeoutExpired:
            continue
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return


@dataclass
class Receiver:
    """An HTTP webhook receiver on 127.0.0.1 that records each body with its wall-clock arrival time."""

    port: int = field(default_factory=free_port)
    arrivals: list[tuple[float, dict]] = field(default_factory=list)

    def start(self) -> None:
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                arrivals.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()


@dataclass
class AlertWatcher:
    """Reads the alerts topic from its beginning in a thread; keeps (arrival time, alert row) per message."""

    bootstrap: str
    topic: str
    seen: list[tuple[float, dict]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.topic, bootstrap_servers=self.bootstrap, group_id=None, auto_offset_reset="earliest",
            enable_auto_commit=False, fetch_max_wait_ms=50,
        )  # fmt: skip
        try:
            while not self.stopping.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    now = time.time()
                    self.seen.extend((now, json.loads(r.value)) for r in records)
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread:
            self.thread.join(10)


@dataclass
class Probe:
    """One injected event and the times of its way through the system (wall clock, seconds)."""

    event_id: str
    tenant: str
    sent: float
    accepted: float | None = None


class Traffic:
    """Posts background events and probes through the REST API."""

    def __init__(self, api: str, keys: dict[str, str], background: list[dict]):
        self.api = api
        self.keys = keys
        self.background = itertools.cycle(background)
        self.counter = itertools.count()
        self.tenants = itertools.cycle(sorted(keys))
        self.probes: list[Probe] = []
        self.sent = 0
        self.refused = 0
        self.lock = threading.Lock()

    def post(self, client: httpx.Client, tenant: str, events: list[dict]) -> bool:
        """POST events as NDJSON for `tenant`; True when every record is accepted (202)."""
        body = "\n".join(json.dumps(e) for e in events).encode()
        headers = {"authorization": f"Bearer {self.keys[tenant]}", "content-type": "application/x-ndjson"}
        response = client.post(f"{self.api}/v1/events", content=body, headers=headers)
        ok = response.status_code == 202 and response.json()["accepted"] == len(events)
        with self.lock:
            self.sent += len(events) if ok else 0
            self.refused += 0 if ok else len(events)
        return ok

    def batch(self, n: int) -> tuple[str, list[dict]]:
        """The next `n` background events of one tenant, with fresh ids and ts = now."""
        tenant = next(self.tenants)
        now = int(time.time() * 1000)
        events = []
        for event in itertools.islice(self.background, n):
            events.append({**event, "tenant_id": tenant, "event_id": f"bg-{next(self.counter)}", "ts": now})
        return tenant, events

    def probe(self, client: httpx.Client) -> Probe:
        """Post one probe event alone and record when it was accepted."""
        tenant = next(self.tenants)
        probe = Probe(f"probe-{len(self.probes)}", tenant, time.time())
        event = {"event_id": probe.event_id, "tenant_id": tenant, "event_type": "order_placed",
                 "ts": int(probe.sent * 1000), "amount": PROBE_AMOUNT, "currency": "USD",
                 "customer_id": probe.event_id, "order_id": probe.event_id, "country": "DE"}  # fmt: skip
        if self.post(client, tenant, [event]):
            probe.accepted = time.time()
        self.probes.append(probe)
        return probe


def tenant_configs(folder: Path, tenants: int, hook_url: str) -> dict[str, str]:
    """A copy of configs/ plus one enterprise-plan bench tenant per key; returns tenant → API key (never saved)."""
    shutil.copytree(PROJECT / "configs", folder)
    keys = {f"bench{i:02d}": new_key() for i in range(tenants)}
    plans = yaml.safe_load((folder / "plans.yaml").read_text())
    plans["tenants"] |= {tenant: "enterprise" for tenant in keys}
    (folder / "plans.yaml").write_text(yaml.safe_dump(plans, sort_keys=False))
    for tenant, key in keys.items():
        config = {
            "tenant": tenant,
            "display_name": f"Bench {tenant}",
            "currency": "USD",
            "rules": [
                {
                    "id": PROBE_RULE,
                    "description": "Latency probe: an order above 1,000,000",
                    "severity": "high",
                    "when": 'event_type == "order_placed" && amount > 1000000.0',
                },
                {
                    "id": "large-order",
                    "description": "Order above 2,000 USD",
                    "severity": "medium",
                    "when": 'event_type == "order_placed" && amount > 2000.0 && amount <= 1000000.0',
                },
            ],  # fmt: skip
            "models": {"risk": {"enabled": True}},
            "incidents": {"max_notices_per_hour": 10000},
            "webhooks": [{"url": f"{hook_url}/{tenant}", "format": "json", "secrets": [hook_secret_env(tenant)]}],
            "api_keys": [key_hash(key)],
        }
        (folder / "tenants" / f"{tenant}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return keys


def hook_secret_env(tenant: str) -> str:
    """The environment variable of a bench tenant's signing secret (a tenant may only name its own)."""
    return f"{secret_prefix(tenant)}HOOK_SECRET"


def background_events(tenants: int) -> list[dict]:
    """A realistic mix of events (mostly page views, a few percent orders and payments) to cycle through."""
    names = {f"bench{i:02d}": "USD" for i in range(tenants)}
    events, _ = Generator(seed=42, minutes=30, tenants=names).run()
    return [{k: v for k, v in e.items() if k not in ("tenant_id", "event_id", "ts")} for e in events]


def wait_for(condition: Callable[[], bool], deadline: Deadline, what: str, step: float = 0.5) -> None:
    """Poll `condition` until true; raise TimeoutError once the run's budget is spent."""
    while not condition():
        deadline.check(what)
        time.sleep(step)


def ensure_kafka(port: str, folder: Path, env: dict[str, str]) -> bool:
    """Start the project's broker on `port` unless one serves there; True if this run started it."""
    if subprocess.run([str(PROJECT / "scripts" / "kafka.sh"), "status"], env=env).returncode == 0:
        return False
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", int(port))) == 0:
            return False  # another broker (not from this data folder) serves on the port: use it
    log = (folder / "kafka-up.log").open("wb")
    script = str(PROJECT / "scripts" / "kafka.sh")
    subprocess.run([script, "up"], env=env, stdout=log, stderr=log, check=True, timeout=150)
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its table, return its figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured phase")
    parser.add_argument("--rate", type=float, help="events/s of the measured phase (default: half of --max-rate)")
    parser.add_argument("--max-rate", type=float, help="the job's max events/s (default: measured first)")
    parser.add_argument("--probe-every", type=float, default=0.5, help="seconds between probes")
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--burst", type=int, default=40_000, help="events posted at once to measure the max rate")
    parser.add_argument("--timeout", type=float, default=300.0, help="the whole run ends within this (seconds)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) afterwards")
    args = parser.parse_args(argv)
    deadline = Deadline(args.timeout)
    folder = Path(tempfile.mkdtemp(prefix="pulse-latency-"))
    (folder / "logs").mkdir()
    port = ENVIRONMENT.get("PULSE_KAFKA_PORT", "19592")
    bootstrap = f"127.0.0.1:{port}"
    env = {**ENVIRONMENT, "PULSE_KAFKA": bootstrap, "PULSE_KAFKA_PORT": port}
    env |= {hook_secret_env(f"bench{i:02d}"): HOOK_SECRET for i in range(args.tenants)}
    env.setdefault("PULSE_KAFKA_DIR", str(folder / "kafka"))
    processes = Processes(folder / "logs")
    receiver = Receiver()
    run = time.strftime("%Y%m%dT%H%M%S")
    events_topic, alerts_topic = f"bench.events.{run}", f"bench.alerts.{run}"
    watcher = AlertWatcher(bootstrap, alerts_topic)
    started_kafka = False
    print(f"bench.latency: logs in {folder / 'logs'}", file=sys.stderr)
    try:
        started_kafka = ensure_kafka(port, folder, env)
        receiver.start()
        configs = folder / "configs"
        keys = tenant_configs(configs, args.tenants, f"http://127.0.0.1:{receiver.port}/hooks")
        traffic = Traffic(f"http://127.0.0.1:{free_port()}", keys, background_events(args.tenants))
        from pulse.topics import ensure_topic

        ensure_topic(bootstrap, events_topic)
        ensure_topic(bootstrap, alerts_topic, partitions=1)
        api_port = traffic.api.rsplit(":", 1)[1]
        processes.start("serve", [PULSE, "serve", "--port", api_port, "--configs", str(configs), "--plans",
                                  str(configs / "plans.yaml"), "--topic", events_topic], env, folder)  # fmt: skip
        processes.start("stream", [PULSE, "stream", "--topic", events_topic, "--group", f"bench-{run}",
                                   "--alerts-topic", alerts_topic, "--rules-topic", "", "--configs", str(configs),
                                   "--clickhouse", f"chdb://{folder / 'ch-job'}", "--run-id", f"bench-{run}"],
                        env, folder)  # fmt: skip
        processes.start("dispatch", [PULSE, "dispatch", "--kafka", bootstrap, "--topic", alerts_topic, "--configs",
                                     str(configs), "--clickhouse", f"chdb://{folder / 'ch-dispatch'}",
                                     "--allow-private"], env, folder)  # fmt: skip
        watcher.start()
        with httpx.Client(timeout=15) as client:
            wait_for(lambda: _ready(client, traffic.api), deadline, "waiting for pulse serve")
            warm_up(traffic, client, receiver, deadline)
        max_rate = args.max_rate or measure_max_rate(traffic, watcher, receiver, args.burst, deadline)
        rate = args.rate or max_rate / 2
        first_probe = len(traffic.probes)
        sent_before = traffic.sent
        steady(traffic, rate, args.seconds, args.probe_every, deadline)
        probes = traffic.probes[first_probe:]
        settle(probes, watcher, receiver, deadline)
        sent = traffic.sent - sent_before
        watcher.stop()
        time.sleep(3.0)  # the job's ClickHouse writer flushes by age (1 s timer) after its bundle: let it
        processes.stop("dispatch")
        processes.stop("stream")
        processes.stop("serve")
        stored = stored_alerts(f"chdb://{folder / 'ch-job'}", [p.event_id for p in probes])
        figures = report(probes, watcher.seen, receiver.arrivals, stored, rate, max_rate, args, sent, traffic.refused)
        return figures
    finally:
        watcher.stop()
        processes.stop_all()
        if hasattr(receiver, "server"):
            receiver.stop()
        if started_kafka:
            subprocess.run([str(PROJECT / "scripts" / "kafka.sh"), "down"], env=env, capture_output=True, timeout=60)
        if args.keep:
            print(f"bench.latency: kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def _ready(client: httpx.Client, api: str) -> bool:
    """Whether `pulse serve` answers /readyz (it reaches Kafka)."""
    try:
        return client.get(f"{api}/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def alert_times(seen: list[tuple[float, dict]]) -> dict[str, tuple[float, float]]:
    """event id → (detection time from created_at, arrival on the topic here) of each probe alert, first copy."""
    times: dict[str, tuple[float, float]] = {}
    for arrived, row in seen:
        if row.get("cause") == PROBE_RULE and row["event_id"] not in times:
            created = _epoch(row["created_at"])
            times[row["event_id"]] = (created, arrived)
    return times


def webhook_times(arrivals: list[tuple[float, dict]]) -> dict[str, float]:
    """event id (= the probe's customer, the incident's group key) → first webhook arrival of its incident."""
    times: dict[str, float] = {}
    for arrived, body in arrivals:
        incident = body.get("incident", {})
        match = re.search(r"probe-\d+", str(incident.get("group_key", "")))
        if incident.get("cause") == PROBE_RULE and match and match.group() not in times:
            times[match.group()] = arrived
    return times


def _epoch(value: str | int | float) -> float:
    from pulse.incidents.sources import _timestamp

    return _timestamp(value).timestamp()


def warm_up(traffic: Traffic, client: httpx.Client, receiver: Receiver, deadline: Deadline) -> None:
    """Send a probe every second until the job has started and one webhook has come back."""
    while not webhook_times(receiver.arrivals):
        deadline.check("waiting for the job and the dispatcher to start (see the logs)")
        traffic.probe(client)
        tenant, events = traffic.batch(100)
        traffic.post(client, tenant, events)
        time.sleep(1.0)
    time.sleep(2.0)


def measure_max_rate(
    traffic: Traffic, watcher: AlertWatcher, receiver: Receiver, burst: int, deadline: Deadline
) -> float:
    """Post `burst` events as fast as the API takes them, a probe every 2,000; the job's rate through the backlog."""
    marks: list[tuple[Probe, int]] = []
    start = traffic.sent
    with httpx.Client(timeout=15) as client:
        while traffic.sent - start < burst:
            deadline.check("posting the burst")
            marks.append((traffic.probe(client), traffic.sent))
            for _ in range(2):
                traffic.post(client, *traffic.batch(1000))
        marks.append((traffic.probe(client), traffic.sent))
    ids = {p.event_id for p, _ in marks}
    wait_for(lambda: ids <= set(alert_times(watcher.seen)), deadline, "waiting for the job to work off the burst")
    detected = alert_times(watcher.seen)
    marks.sort(key=lambda m: detected[m[0].event_id][0])
    first, last = marks[0], marks[-1]
    span = detected[last[0].event_id][0] - detected[first[0].event_id][0]
    rate = abs(last[1] - first[1]) / max(span, 1e-3)
    wait_for(lambda: ids <= set(webhook_times(receiver.arrivals)), deadline, "waiting for the burst's webhooks", 1.0)
    print(f"bench.latency: max rate {rate:,.0f} events/s ({abs(last[1] - first[1])} events in {span:.1f} s)",
          file=sys.stderr)  # fmt: skip
    time.sleep(3.0)
    return rate


def steady(traffic: Traffic, rate: float, seconds: float, probe_every: float, deadline: Deadline) -> None:
    """Background events at `rate` (a request every 100 ms) and, from another thread, a probe every `probe_every`."""
    stop = threading.Event()

    def probes() -> None:
        with httpx.Client(timeout=15) as client:
            next_at = time.monotonic()
            while not stop.is_set():
                traffic.probe(client)
                next_at += probe_every
                stop.wait(max(0.0, next_at - time.monotonic()))

    thread = threading.Thread(target=probes, daemon=True)
    started = time.monotonic()
    thread.start()
    tick, owed = 0.1, 0.0
    with httpx.Client(timeout=15) as client:
        next_at = started
        while time.monotonic() - started < seconds:
            deadline.check("posting the measured phase")
            owed += rate * tick
            n, owed = int(owed), owed - int(owed)
            if n:
                traffic.post(client, *traffic.batch(n))
            next_at += tick
            time.sleep(max(0.0, next_at - time.monotonic()))
    stop.set()
    thread.join()


def settle(probes: list[Probe], watcher: AlertWatcher, receiver: Receiver, deadline: Deadline) -> None:
    """Wait (up to 30 s) until every accepted probe's webhook has arrived."""
    ids = {p.event_id for p in probes if p.accepted}
    until = time.monotonic() + min(30.0, max(deadline.left() - 60, 1.0))
    while not ids <= set(webhook_times(receiver.arrivals)) and time.monotonic() < until:
        time.sleep(0.5)


def stored_alerts(dsn: str, event_ids: list[str]) -> dict[str, float]:
    """event id → created_at of the probe alerts in the job's ClickHouse (read once the job has released it)."""
    from pulse.store.clickhouse import store

    with store(dsn, wait_s=60) as s:
        _, rows = s.query(
            "SELECT event_id, toUnixTimestamp64Milli(created_at) FROM alerts FINAL "
            "WHERE cause = {rule:String} AND event_id IN {ids:Array(String)}",
            {"rule": PROBE_RULE, "ids": event_ids},
        )
    return {event_id: ms / 1000 for event_id, ms in rows}


def report(
    probes: list[Probe],
    seen: list[tuple[float, dict]],
    arrivals: list[tuple[float, dict]],
    stored: dict[str, float],
    rate: float,
    max_rate: float,
    args: argparse.Namespace,
    sent: int,
    refused: int,
) -> dict[str, Any]:
    """Print the results table; return the figures."""
    alerts, hooks = alert_times(seen), webhook_times(arrivals)
    accepted = [p for p in probes if p.accepted]
    seen_ids = [p for p in accepted if p.event_id in alerts]
    hooked = [p for p in accepted if p.event_id in hooks]
    series = {
        "accept → alert detected (alerts.created_at)": [alerts[p.event_id][0] - p.accepted for p in seen_ids],
        "accept → alert on the alerts topic": [alerts[p.event_id][1] - p.accepted for p in seen_ids],
        "accept → webhook delivered": [hooks[p.event_id] - p.accepted for p in hooked],
        "send → accept (REST 202)": [p.accepted - p.sent for p in accepted],
        "detected → on the alerts topic (job's last operators, Kafka sink)": [
            alerts[p.event_id][1] - alerts[p.event_id][0] for p in seen_ids
        ],
        "on the alerts topic → webhook delivered (dispatcher)": [
            hooks[p.event_id] - alerts[p.event_id][1] for p in hooked if p.event_id in alerts
        ],
    }
    origin = "given" if args.max_rate else "measured"
    print(f"rate {rate:,.0f} events/s for {args.seconds:.0f} s (max {max_rate:,.0f} events/s, {origin}), "
          f"{args.tenants} tenants, a probe every {args.probe_every:g} s")  # fmt: skip
    print("| latency | p50 | p95 | p99 | max | n |\n| --- | --- | --- | --- | --- | --- |")
    figures: dict[str, Any] = {"rate": rate, "max_rate": max_rate}
    for name, values in series.items():
        p50, p95, p99 = np.percentile(values, (50, 95, 99)) if values else (float("nan"),) * 3
        top = max(values, default=float("nan"))
        print(f"| {name} | {p50:.2f} s | {p95:.2f} s | {p99:.2f} s | {top:.2f} s | {len(values)} |")
        figures[name] = {"p50": p50, "p95": p95, "p99": p99, "n": len(values)}
    in_ch = sum(p.event_id in stored for p in accepted)
    print(f"\nevents accepted {sent:,} (refused {refused:,}); probes sent {len(probes)}, accepted {len(accepted)}; "
          f"probe alerts seen {len(seen_ids)} on the topic, {in_ch} in ClickHouse; "
          f"probe webhooks received {len(hooked)} "
          f"(all alerts on the topic {len(seen)}, all webhooks {len(arrivals)})")  # fmt: skip
    figures |= {"sent": sent, "probes": len(accepted), "alerts": len(alerts), "in_clickhouse": in_ch,
                "webhooks": len(hooked)}  # fmt: skip
    return figures


if __name__ == "__main__":
    main()
