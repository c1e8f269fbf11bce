"""False alerts and detection delays of the `no-orders` absence rule, by tenant size, without Flink.

Streams are `seasonal_quiet` scenarios (pulse/dev/scenarios.py: quiet nights, busy evenings, a quieter
weekend) at several sizes; each is replayed through the tenant rule engine twice: as it is (every alert is a
false one) and with every order of a two-hour outage removed (an afternoon one and a night one, on day 10).
The rules compared are the plain `for: 20m` rule and the same rule with `min_expected` values.

Usage: .venv/bin/python -m bench.absence [--days 10] [--seeds 1 2 3] [--min-expected 6 8 10 12]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from pulse.dev.scenarios import DAY, HOUR, ScenarioGenerator
from pulse.eventtime import END_OF_INPUT
from pulse.rules.engine import EngineState, RuleEngine
from pulse.rules.language import AbsenceRule

SIZES = (0.6, 1.5, 4.2, 15.0)  # sessions per minute: about 2, 5, 14 and 50 events per minute
OUTAGES = {"afternoon": 9 * DAY + 14 * HOUR, "night": 9 * DAY + 2 * HOUR}  # from the stream's start
OUTAGE_MS = 2 * HOUR


def rule(min_expected: float | None) -> AbsenceRule:
    """The shipped `no-orders` rule, with `min_expected` if given."""
    fields = {"id": "no-orders", "type": "absence", "description": "No order", "for": "20m"}
    fields["filter"] = 'event_type == "order_placed"'
    return AbsenceRule.model_validate({**fields, **({"min_expected": min_expected} if min_expected else {})})


def alerts(events: Iterable[dict], rules: list[AbsenceRule]) -> dict[str, list[int]]:
    """Per rule id, the times of its alerts over `events` (in time order)."""
    engine = RuleEngine(rules, {})
    state = EngineState()
    raised = []
    for event in events:
        raised += engine.observe(engine.enrich(event), state)[1]
    raised += engine.advance(state, END_OF_INPUT)
    times: dict[str, list[int]] = {r.id: [] for r in rules}
    for alert in raised:
        times[alert.rule.id].append(alert.ts)
    return times


def without_orders(events: list[dict], start: int) -> list[dict]:
    """The stream with no order in the outage from `start`."""
    return [e for e in events if not (e["event_type"] == "order_placed" and 0 <= e["ts"] - start < OUTAGE_MS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--min-expected", type=float, nargs="+", default=[6, 8, 10, 12])
    parser.add_argument("--sizes", type=float, nargs="+", default=SIZES, help="sessions per minute")
    args = parser.parse_args()
    variants = {"for 20m": None, **{f"min_expected {n:g}": n for n in args.min_expected}}
    print(f"{args.days} days, seeds {args.seeds}; false alerts per tenant-day, outage delays in minutes")
    print(f"{'events/min':>10} {'orders/min':>10} {'rule':>16} {'false/day':>9} {'afternoon':>18} {'night':>18}")
    for size in args.sizes:
        false = {name: 0 for name in variants}
        delays: dict[str, dict[str, list[str]]] = {name: {o: [] for o in OUTAGES} for name in variants}
        volume = orders = 0
        for seed in args.seeds:
            generator = ScenarioGenerator(scenario="seasonal_quiet", sessions_per_minute=size, seed=seed)
            generator.minutes = args.days * 24 * 60
            events, _ = generator.run()
            volume += len(events)
            orders += sum(e["event_type"] == "order_placed" for e in events)
            named = {name: rule(n).model_copy(update={"id": f"r{i}"}) for i, (name, n) in enumerate(variants.items())}
            quiet = alerts(events, list(named.values()))
            for name, r in named.items():
                false[name] += len(quiet[r.id])
            for outage, offset in OUTAGES.items():
                start = generator.t0 + offset
                found = alerts(without_orders(events, start), list(named.values()))
                for name, r in named.items():
                    inside = [t for t in found[r.id] if start <= t <= start + OUTAGE_MS]
                    delays[name][outage].append(f"{(inside[0] - start) // 60_000}" if inside else "-")
        minutes = args.days * 24 * 60 * len(args.seeds)
        for name in variants:
            per_day = false[name] / (args.days * len(args.seeds))
            cells = [",".join(delays[name][o]) for o in OUTAGES]
            rates = f"{volume / minutes:10.1f} {orders / minutes:10.2f}"
            print(f"{rates} {name:>16} {per_day:9.2f} {cells[0]:>18} {cells[1]:>18}")


if __name__ == "__main__":
    main()
