"""A synthetic e-commerce stream for several tenants, with injected incidents and a ground-truth file.

Deterministic for a given seed. Sessions arrive at a steady rate per tenant, or in a given number per tenant at
random times (`sessions`, e.g. from `zipf_sessions`: many small shops, a few large), and walk the funnel
(page views, cart, checkout, order, payment); incidents are added on top and listed in the truth file.

>>> names = [f"shop{i}" for i in range(4)]
>>> zipf_sessions(names, 20)
{'shop0': 9, 'shop1': 5, 'shop2': 3, 'shop3': 3}
>>> events, _ = Generator(minutes=10, tenants=dict.fromkeys(names, "USD"), sessions=zipf_sessions(names, 20)).run()
>>> len({e["session_id"] for e in events if e["session_id"].startswith("s0")}), len({e["tenant_id"] for e in events})
(20, 4)
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pulse.events import Event

DEFAULT_START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
TENANTS = {"acme": "USD", "globex": "EUR", "initech": "GBP"}
COUNTRIES = ["US", "US", "US", "GB", "DE", "FR", "CA", "NL"]
PAYMENT_METHODS = ["card", "card", "card", "paypal", "apple_pay"]
MINUTE = 60_000
ORDER_TYPES = ("order_placed", "payment_succeeded", "payment_failed")
SILENT_KINDS = ("order_gap", "outage")  # incidents made of events removed from the stream


@dataclass
class Incident:
    """One injected incident: what, for whom, and when (epoch ms)."""

    tenant_id: str
    kind: str
    start: int
    end: int
    description: str
    event_ids: list[str] = field(default_factory=list)

    def silences(self, event: dict[str, Any]) -> bool:
        """For an order gap: whether `event` is an order or payment of the tenant inside the gap; for an outage:
        whether it is any event of the tenant inside the outage."""
        return (
            self.kind in SILENT_KINDS
            and event["tenant_id"] == self.tenant_id
            and self.start <= event["ts"] < self.end
            and (self.kind == "outage" or event["event_type"] in ORDER_TYPES)
        )


@dataclass
class Generator:
    seed: int = 7
    minutes: int = 360
    sessions_per_minute: float = 4.0
    start: datetime = DEFAULT_START
    tenants: dict[str, str] = field(default_factory=lambda: dict(TENANTS))
    sessions: dict[str, int] | None = None  # tenant → sessions over the whole run (instead of sessions_per_minute)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.t0 = int(self.start.timestamp() * 1000)
        self.counter = 0

    def run(self) -> tuple[list[dict[str, Any]], list[Incident]]:
        """All events (sorted by time) and the incidents injected into them."""
        events: list[dict[str, Any]] = []
        for tenant in self.tenants:
            for ts in self._session_starts(tenant):
                events.extend(self._session(tenant, ts))
        incidents = list(self._incidents())
        for incident in incidents:
            events.extend(incident.events)  # type: ignore[attr-defined]
        gaps = [i for i in incidents if i.kind in SILENT_KINDS]
        events = [e for e in events if not any(i.silences(e) for i in gaps)]
        events.sort(key=lambda e: (e["ts"], e["event_id"]))
        return events, incidents

    def _session_starts(self, tenant: str) -> Iterator[int]:
        """When the tenant's sessions start: its given number at random times, or Poisson arrivals each minute.
        Lazy, so each start is drawn just before its session (the default stream stays as it was)."""
        if self.sessions is not None:
            yield from sorted(self.t0 + self.rng.randrange(self.minutes * MINUTE) for _ in range(self.sessions[tenant]))
            return
        for minute in range(self.minutes):
            for _ in range(self._poisson(self._rate(tenant, self.t0 + minute * MINUTE))):
                yield self.t0 + minute * MINUTE + self.rng.randrange(MINUTE)

    def _rate(self, tenant: str, ts: int) -> float:
        """Sessions per minute starting at `ts` (scenarios add seasonality)."""
        return self.sessions_per_minute

    def _order_factor(self, tenant: str, ts: int) -> float:
        """How likely a checkout becomes an order at `ts`, relative to usual (scenarios degrade it)."""
        return 1.0

    def _failure_rate(self, tenant: str, ts: int) -> float:
        """How likely a payment at `ts` fails (scenarios raise it)."""
        return 0.03

    def _id(self, tenant: str) -> str:
        self.counter += 1
        return f"{tenant[:3]}-{self.counter:07d}"

    def _poisson(self, rate: float) -> int:
        count, limit, product = 0, pow(2.718281828, -rate), self.rng.random()
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count

    def _event(self, tenant: str, event_type: str, ts: int, **fields: Any) -> dict[str, Any]:
        return {"event_id": self._id(tenant), "tenant_id": tenant, "event_type": event_type, "ts": ts, **fields}

    def _session(self, tenant: str, ts: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        customer = f"c{rng.randrange(5000):05d}"
        session = f"s{self.counter:08d}"
        base = {
            "customer_id": customer,
            "session_id": session,
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "country": rng.choice(COUNTRIES),
        }
        if rng.random() < 0.15:
            campaign = f"cmp-{rng.randrange(4)}"
            yield self._event(tenant, "campaign_click", ts, campaign_id=campaign, **base)
        product = f"p{rng.randrange(300):04d}"
        for i in range(1 + int(rng.expovariate(0.3))):
            yield self._event(tenant, "page_view", ts + i * 9000, product_id=product, **base)
        ts += 60_000
        if rng.random() > 0.3:
            return
        yield self._event(tenant, "add_to_cart", ts, product_id=product, **base)
        if rng.random() > 0.55:
            return
        yield self._event(tenant, "checkout_started", ts + 20_000, **base)
        if rng.random() > 0.7 * self._order_factor(tenant, ts):
            return
        amount = round(min(rng.lognormvariate(4.0, 0.6), 1500.0), 2)
        yield from self._checkout(tenant, ts + 40_000, amount, base, items=1 + int(rng.expovariate(0.8)))

    def _checkout(
        self,
        tenant: str,
        ts: int,
        amount: float,
        base: dict,
        items: int,
        card: str | None = None,
        failed: bool | None = None,
    ) -> list[dict[str, Any]]:
        """An order and its payment."""
        rng = self.rng
        order = f"o{self.counter:08d}"
        card = card or f"card-{rng.randrange(8000):05d}"
        method = rng.choice(PAYMENT_METHODS)
        money = {"amount": amount, "currency": self.tenants[tenant], "order_id": order, "payment_method": method}
        attrs = {"attributes": {"items": str(items)}}
        failed = rng.random() < self._failure_rate(tenant, ts) if failed is None else failed
        return [
            self._event(tenant, "order_placed", ts, **base, **money, **attrs),
            self._event(
                tenant,
                "payment_failed" if failed else "payment_succeeded",
                ts + 3000,
                card_fingerprint=card,
                **base,
                **money,
            ),
        ]

    def _incidents(self) -> Iterator[Incident]:
        names = list(self.tenants)
        yield self._large_fraud_order(names[0], self.t0 + self.minutes * MINUTE * 2 // 3)
        yield self._card_testing(names[1 % len(names)], self.t0 + self.minutes * MINUTE // 2)
        yield self._whale_orders(names[2 % len(names)], self.t0 + self.minutes * MINUTE * 3 // 4)
        yield self._order_gap(names[2 % len(names)], self.t0 + self.minutes * MINUTE // 4)

    def _large_fraud_order(self, tenant: str, ts: int) -> Incident:
        base = {"customer_id": "c99999", "session_id": "s-fraud", "ip": "203.0.113.9", "country": "NG"}
        events = self._checkout(tenant, ts, 8750.0, base, items=12, card="card-stolen-1")
        return _incident(
            tenant, "large_fraud_order", events, "An 8,750 order for 12 items from a new customer in a new country"
        )

    def _card_testing(self, tenant: str, ts: int) -> Incident:
        base = {"customer_id": "c88888", "session_id": "s-cardtest", "ip": "198.51.100.7", "country": "BR"}
        events = []
        for i in range(8):
            events += self._checkout(
                tenant, ts + i * 25_000, round(1.0 + i * 0.13, 2), base, items=1, card="card-tested-1", failed=i < 7
            )
        return _incident(tenant, "card_testing", events, "8 tiny payments on one card in 4 minutes, 7 of them failed")

    def _whale_orders(self, tenant: str, ts: int) -> Incident:
        events = []
        for i in range(3):
            base = {"customer_id": f"c7777{i}", "session_id": f"s-whale-{i}", "ip": "192.0.2.44", "country": "RU"}
            events += self._checkout(tenant, ts + i * 40_000, 4200.0 + i * 350, base, items=30)
        return _incident(tenant, "high_value_burst", events, "3 orders of over 4,000 with 30 items each in 2 minutes")

    def _order_gap(self, tenant: str, ts: int) -> Incident:
        """No checkout completes for 40 minutes (a broken payment page): orders and payments are removed."""
        gap = _incident(tenant, "order_gap", [], "No order placed for 40 minutes")
        gap.start, gap.end = ts, ts + 40 * MINUTE
        return gap


def zipf_sessions(tenants: list[str], total: int, exponent: float = 1.0) -> dict[str, int]:
    """`total` sessions over `tenants` (at least one each): the k-th tenant's share of the rest proportional to
    1 / k ** exponent, rounded so the counts add up to `total` (largest remainders)."""
    if total < len(tenants):
        raise ValueError(f"{total} sessions cannot give each of {len(tenants)} tenants one: raise the total")
    weights = [1 / (rank + 1) ** exponent for rank in range(len(tenants))]
    rest = total - len(tenants)
    shares = [rest * weight / sum(weights) for weight in weights]
    counts = [1 + int(share) for share in shares]
    by_remainder = sorted(range(len(tenants)), key=lambda i: int(shares[i]) - shares[i])
    for index in by_remainder[: total - sum(counts)]:
        counts[index] += 1
    return dict(zip(tenants, counts, strict=True))


def _incident(tenant: str, kind: str, events: list[dict], description: str) -> Incident:
    start, end = (events[0]["ts"], events[-1]["ts"]) if events else (0, 0)
    incident = Incident(tenant, kind, start, end, description, [e["event_id"] for e in events])
    incident.events = events  # type: ignore[attr-defined]
    return incident


BROKEN_KINDS = ("malformed_json", "missing_field", "wrong_type", "unknown_event_type", "oversized")


def break_record(event: dict[str, Any], kind: str) -> str:
    """One JSON Lines line that is broken in the given way."""
    if kind == "malformed_json":
        return json.dumps(event)[:-7]
    if kind == "missing_field":
        return json.dumps({k: v for k, v in event.items() if k != "event_type"})
    if kind == "wrong_type":
        return json.dumps({**event, "amount": "twelve dollars"})
    if kind == "unknown_event_type":
        return json.dumps({**event, "event_type": "teleport"})
    return json.dumps({**event, "attributes": {"blob": "x" * 70_000}})


def _columns() -> pa.Schema:
    """Every event field as a column (attributes as JSON text), so no field is lost to schema inference."""
    types = {"ts": pa.int64(), "amount": pa.float64()}
    return pa.schema([(name, types.get(name, pa.string())) for name in Event.model_fields])


def write(
    events: list[dict], incidents: list[Incident], out: Path, broken_rate: float = 0.0, seed: int = 7
) -> dict[str, int]:
    """Write events (JSON Lines, CSV or Parquet by suffix) and `<out>.truth.json`; return counts."""
    rng = random.Random(seed + 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    incident_ids = {eid for i in incidents for eid in i.event_ids}
    broken = 0
    if out.suffix in (".csv", ".parquet"):
        rows = [{**e, "attributes": json.dumps(e.get("attributes", {}))} for e in events]
        table = pa.Table.from_pylist(rows, schema=_columns())
        (pacsv.write_csv if out.suffix == ".csv" else pq.write_table)(table, out)
    else:
        with out.open("w") as f:
            for event in events:
                if broken_rate and event["event_id"] not in incident_ids and rng.random() < broken_rate:
                    f.write(break_record(event, rng.choice(BROKEN_KINDS)) + "\n")
                    broken += 1
                else:
                    f.write(json.dumps(event) + "\n")
    truth = [asdict(i) for i in incidents]
    truth_path = out.with_name(out.name + ".truth.json")
    truth_path.write_text(json.dumps(truth, indent=2))
    return {"records": len(events), "broken": broken, "incidents": len(incidents)}
