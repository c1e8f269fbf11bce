"""Scoring-job throughput with 20 active rules per tenant against the same job with none, same input.

Both runs are the real job (`pulse run`, Flink mini-cluster, chDB) with the risk model off, so the
difference is the rules' cost. Each figure includes the job's fixed start-up (~10 s here), reported apart.
Checkpoints go to files in the run's folder (.run/RUN_ID/checkpoints); the largest one is reported.
Usage: .venv/bin/python bench/rules.py [--minutes 240] [--sessions-per-minute 6]  (work files: .data/bench-rules)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pulse.dev.generate import Generator, write

TWENTY_RULES = """\
models: {risk: {enabled: false}}
tables:
  high_risk_countries: [NG, RU, KP]
  vip_customers: {c00001: gold, c00002: silver}
rules:
  - {id: enrich, type: enrichment, description: Tags, set: {vip: customer_id in tables.vip_customers},
     tags: {high_risk_country: country in tables.high_risk_countries}}
  - {id: c1, description: Large order, when: 'event_type == "order_placed" && amount > 2000.0'}
  - {id: c2, description: Risky country, when: '"high_risk_country" in tags'}
  - {id: c3, description: Tiny failure, when: 'event_type == "payment_failed" && amount < 5.0'}
  - {id: c4, description: Refund, when: 'event_type == "refund" && amount > 500.0'}
  - {id: c5, description: VIP order, when: 'vip && event_type == "order_placed"'}
  - {id: c6, description: Many items, when: 'has(attributes.items) && int(attributes.items) > 20'}
  - {id: c7, description: Odd method, when: 'payment_method == "crypto"'}
  - {id: c8, description: Campaign from risky country, when: 'campaign_id != "" && "high_risk_country" in tags'}
  - {id: t1, type: threshold, description: Card testing, filter: 'event_type == "payment_failed"',
     group_by: [card_fingerprint], window: {size: 10m, every: 1m}, limit: 5, cooldown: 1h}
  - {id: t2, type: threshold, description: Busy IP, group_by: [ip], window: 5m, limit: 200}
  - {id: t3, type: threshold, description: Spend per customer, filter: 'event_type == "order_placed"',
     group_by: [customer_id], aggregate: sum, field: amount, window: 1h, limit: 10000}
  - {id: t4, type: threshold, description: Countries per session, group_by: [session_id],
     aggregate: distinct_count, field: country, window: 10m, limit: 3}
  - {id: b1, type: baseline, description: Revenue drop, filter: 'event_type == "payment_succeeded"',
     aggregate: sum, field: amount, window: 15m, limit: 0.2}
  - {id: b2, type: baseline, description: Traffic spike, filter: 'event_type == "page_view"',
     window: 15m, direction: above, limit: 5}
  - {id: a1, type: absence, description: No orders, filter: 'event_type == "order_placed"', for: 45m}
  - {id: a2, type: absence, description: No page views, filter: 'event_type == "page_view"', for: 30m}
  - {id: n1, type: new_value, description: New country, field: country, group_by: [customer_id]}
  - {id: n2, type: new_value, description: New card, filter: 'card_fingerprint != ""',
     field: card_fingerprint, group_by: [customer_id]}
  - {id: s1, type: sequence, description: Tiny then large, group_by: [card_fingerprint],
     first: 'event_type == "payment_succeeded" && amount < 2.0',
     then: 'event_type == "payment_succeeded" && amount > 500.0', within: 1m}
"""
NO_RULES = "models: {risk: {enabled: false}}\nrules: []\n"


@dataclass
class Checkpoints:
    """What the run's checkpoint folder showed while the job ran (sampled twice a second)."""

    completed: int = 0
    largest_bytes: int = 0

    def sample(self, folder: Path) -> None:
        """Note the newest completed checkpoint and the size of the largest one (with the state files it uses)."""
        for job in folder.glob("*") if folder.is_dir() else ():
            shared = _size(job / "shared")
            for chk in job.glob("chk-*"):
                if (chk / "_metadata").is_file():
                    self.completed = max(self.completed, int(chk.name.removeprefix("chk-")))
                    self.largest_bytes = max(self.largest_bytes, _size(chk) + shared)


def _size(path: Path) -> int:
    try:
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    except FileNotFoundError:  # Flink removed a checkpoint while we counted
        return 0


def run_job(folder: Path, name: str, config: str, events: Path) -> tuple[float, str, Checkpoints]:
    configs = folder / name
    configs.mkdir()
    (configs / "default.yaml").write_text(config)
    log = folder / f"{name}.log"
    checkpoints = Checkpoints()
    started = time.perf_counter()
    with log.open("w") as out:
        job = subprocess.Popen(
            [sys.executable, "-m", "pulse", "run", "--input", str(events), "--configs", str(configs),
             "--clickhouse", f"chdb://{folder / name}-ch", "--run-id", name],
            stdout=out, stderr=subprocess.STDOUT, text=True, cwd=folder,
        )  # fmt: skip
        while job.poll() is None:
            checkpoints.sample(folder / ".run" / name / "checkpoints")
            time.sleep(0.5)
    elapsed = time.perf_counter() - started
    if job.returncode:
        raise SystemExit(f"the {name} run failed; its output is in {log}")
    return elapsed, log.read_text().splitlines()[0], checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=240)
    parser.add_argument("--sessions-per-minute", type=float, default=6.0)
    args = parser.parse_args()
    folder = (Path(".data") / "bench-rules").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    events, incidents = Generator(seed=9, minutes=args.minutes, sessions_per_minute=args.sessions_per_minute).run()
    write(events, incidents, folder / "events.jsonl")
    count = len(events)
    none_s, none_line, none_cp = run_job(folder, "none", NO_RULES, folder / "events.jsonl")
    rules_s, rules_line, rules_cp = run_job(folder, "rules", TWENTY_RULES, folder / "events.jsonl")
    print(f"input: {count} events, 3 tenants; risk model off in both runs")
    for label, seconds, line, cp in [
        ("no rules", none_s, none_line, none_cp),
        ("20 rules", rules_s, rules_line, rules_cp),
    ]:
        print(
            f"{label + ':':10} {seconds:6.1f} s  {count / seconds:8.0f} events/s   {cp.completed} checkpoints, "
            f"largest {cp.largest_bytes / 1e6:.2f} MB   ({line})"
        )
    print(f"ratio (20 rules / none): {none_s / rules_s:.2f} of the throughput")


if __name__ == "__main__":
    main()
