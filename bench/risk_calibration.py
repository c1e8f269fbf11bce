"""Calibration of the risk model's alerts: per tenant size, risk alerts on each quiet day and the events of each
injected fraud that alert, on the generated streams of tests/models/risk_streams.py (one tenant, daily cycle).

    .venv/bin/python -m bench.risk_calibration [--sizes 2 10 40 200] [--seeds 3 7 11 13] [--days 8]

Quiet streams run `--days` days (at most 4 at 200 events a minute); fraud streams 4 days, the fraud on the last
one (a large order from a new country, card testing, a burst of large orders). The first day is left out of the
quiet days (it never alerts: no completed day, so no threshold).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "models"))

from risk_streams import FRAUD, SizedStream, scored  # noqa: E402

from pulse.dev.scenarios import DAY  # noqa: E402


def quiet_days(events_per_minute: float, seed: int, days: int) -> list[int]:
    """Risk alerts on each day after the first of a quiet stream."""
    stream = SizedStream(seed=seed, events_per_minute=events_per_minute, days=days, quiet=True)
    rows, _ = scored(stream)
    per_day = Counter((event["ts"] - stream.t0) // DAY for event, risk in rows if risk.is_alert)
    return [per_day[day] for day in range(1, days)]


def fraud_caught(events_per_minute: float, seed: int) -> dict[str, str]:
    """Per injected fraud: its events that alerted, of its scored events."""
    stream = SizedStream(seed=seed, events_per_minute=events_per_minute, days=4)
    rows, incidents = scored(stream)
    alerted = {event["event_id"] for event, risk in rows if risk.is_alert}
    return {i.kind: f"{len(alerted & set(i.event_ids))}/{len(i.event_ids)}" for i in incidents}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[2, 10, 40, 200], help="events a minute")
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 7, 11, 13])
    parser.add_argument("--days", type=int, default=8)
    args = parser.parse_args()
    print("| events a minute | seed | quiet days: alerts each | " + " | ".join(FRAUD) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in FRAUD) + " |")
    for size in args.sizes:
        counts = []
        for seed in args.seeds:
            days = quiet_days(size, seed, min(args.days, 4) if size >= 200 else args.days)
            counts += days
            caught = fraud_caught(size, seed)
            print(f"| {size:g} | {seed} | {' '.join(map(str, days))} | " + " | ".join(caught[k] for k in FRAUD) + " |")
        mean = sum(counts) / len(counts)
        print(f"| {size:g} | all | mean {mean:.2f}, max {max(counts)} over {len(counts)} days |", flush=True)


if __name__ == "__main__":
    main()
