"""Ingestion throughput on this machine: events/s accepted by the API and by `pulse upload`.

Baseline, measured in the same run: kafka-python alone producing the same records (acks=all) to the same
broker, so the figures read as "fraction of what the client library can do here".
Needs the project's broker (`make services-up`). Usage: .venv/bin/python bench/ingest.py [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from pulse.api.keys import key_hash, new_key
from pulse.api.upload import SEND_BATCH
from pulse.dev.generate import Generator, write
from pulse.topics import RecordWriter, default_bootstrap, ensure_topic

ROOT = Path(__file__).resolve().parent.parent
PORT = 19570
# Runs `pulse ARGS` and prints its peak resident memory (VmHWM is per process image, unlike ru_maxrss,
# which a child inherits from the parent that forked it).
PEAK_MEMORY = """
import atexit, sys
atexit.register(lambda: print(open("/proc/self/status").read(), file=sys.stderr))
sys.argv = ["pulse", *sys.argv[1:]]
from pulse.cli import main
main()
"""


def records(count: int) -> list[str]:
    """`count` valid acme events as JSON lines, repeated from a generated stream with fresh event ids."""
    events, _ = Generator(seed=3, minutes=120).run()
    acme = [e for e in events if e["tenant_id"] == "acme"]
    out = []
    for i in range(count):
        event = dict(acme[i % len(acme)], event_id=f"bench-{i}")
        out.append(json.dumps(event))
    return out


def baseline(bootstrap: str, lines: list[str], batch: int) -> float:
    topic = f"bench.baseline.{uuid.uuid4().hex[:6]}"
    ensure_topic(bootstrap, topic)
    writer = RecordWriter(bootstrap, topic)
    writer.write("acme", [line.encode() for line in lines[:batch]])  # connection and partition leaders warm
    started = time.perf_counter()
    for i in range(0, len(lines), batch):
        writer.write("acme", [line.encode() for line in lines[i : i + batch]])
    seconds = time.perf_counter() - started
    writer.close()
    return len(lines) / seconds


def start_api(folder: Path, bootstrap: str, topic: str) -> tuple[subprocess.Popen, str]:
    configs = folder / "configs"
    shutil.copytree(ROOT / "configs", configs)
    key = new_key()
    tenant_file = configs / "tenants" / "acme.yaml"
    tenant_file.write_text(tenant_file.read_text() + f'\napi_keys:\n  - "{key_hash(key)}"\n')
    (folder / "plans.yaml").write_text(
        "plans:\n" + "".join(f"  {p}: {{events_per_second: 10000000}}\n" for p in ("free", "growth", "enterprise"))
    )
    command = [sys.executable, "-m", "pulse", "serve", "--port", str(PORT), "--kafka", bootstrap, "--topic", topic]
    command += ["--configs", str(configs), "--plans", str(folder / "plans.yaml"), "--max-records", "10000"]
    log = (folder / "api.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            if requests.get(f"http://127.0.0.1:{PORT}/readyz", timeout=5).ok:
                return process, key
        except requests.ConnectionError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit(f"pulse serve did not start; see {folder / 'api.log'}")


def api_rate(key: str, lines: list[str], batch: int, clients: int) -> float:
    url = f"http://127.0.0.1:{PORT}/v1/events"
    bodies = ["\n".join(lines[i : i + batch]) for i in range(0, len(lines), batch)]

    def send(body: str) -> int:
        with requests.Session() as session:
            response = session.post(
                url, data=body, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
            )
            response.raise_for_status()
            return response.json()["accepted"]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        accepted = sum(pool.map(send, bodies))
    seconds = time.perf_counter() - started
    assert accepted == len(lines), f"accepted {accepted} of {len(lines)}"
    return accepted / seconds


def upload_rate(folder: Path, bootstrap: str, topic: str, events: int, suffix: str) -> tuple[float, float, float]:
    """events/s of `pulse upload` (including its ~1.5 s start), the file's size in MB, its peak memory in MB."""
    generated, incidents = Generator(seed=4, minutes=max(60, events // 30)).run()
    path = folder / f"upload{suffix}"
    write(generated[:events], incidents, path)
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_MEMORY,
            "upload",
            str(path),
            "--tenant",
            "acme",
            "--kafka",
            bootstrap,
            "--topic",
            topic,
        ],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(result.stderr)
    peak_kb = int(result.stderr.rsplit("VmHWM:", 1)[1].split()[0])
    rows = min(events, len(generated))
    return rows / seconds, path.stat().st_size / 1e6, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per API request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    args = parser.parse_args()
    bootstrap = default_bootstrap()
    lines = records(args.events)
    folder = Path(tempfile.mkdtemp(prefix="pulse-bench-"))
    topic = f"bench.api.{uuid.uuid4().hex[:6]}"
    try:
        base = baseline(bootstrap, lines, SEND_BATCH)
        print(f"baseline  kafka-python alone, acks=all, {SEND_BATCH}/batch: {base:>10,.0f} events/s")
        process, key = start_api(folder, bootstrap, topic)
        try:
            for clients in (1, args.clients):
                rate = api_rate(key, [line.replace("bench-", f"c{clients}-") for line in lines], args.batch, clients)
                print(f"API       POST /v1/events, {clients} client(s): {rate:>10,.0f} events/s ({rate / base:.2f}x)")
        finally:
            process.terminate()
            process.wait()
        for suffix, events in (
            (".jsonl", args.events),
            (".jsonl", args.events * 4),
            (".csv", args.events),
            (".parquet", args.events),
        ):
            rate, size_mb, rss_mb = upload_rate(folder, bootstrap, topic, events, suffix)
            print(
                f"upload    pulse upload {suffix:<8} ({size_mb:,.0f} MB): {rate:>10,.0f} events/s "
                f"({rate / base:.2f}x), peak RSS {rss_mb:,.0f} MB"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
