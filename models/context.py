"""Recent context of an order or payment: velocity per card, customer and IP, new-country flag, and the
amount relative to the customer's usual. Bounded: each kind of key keeps its most recent MAX_KEYS.

>>> context = RecentContext()
>>> for i in range(5):
...     f = context.features({"ts": i * 1000, "event_type": "payment_failed", "card_fingerprint": "c1", "amount": 1.0})
>>> f["card_failures_10m"], f["new_country"]
(4.0, 0.0)
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import Any

WINDOW_MS = 10 * 60_000
MAX_KEYS = 2000  # per kind of key (card, customer, IP)
MAX_EVENTS = 50  # per key inside the window

LIMITS: dict[str, tuple[float, float]] = {
    "card_failures_10m": (0.0, 10.0),
    "customer_orders_10m": (0.0, 10.0),
    "ip_orders_10m": (0.0, 10.0),
    "new_country": (0.0, 1.0),
    "amount_vs_usual": (-4.0, 4.0),
}


class RecentContext:
    """Per-tenant memory of recent orders and payments, used to compute context features."""

    def __init__(self) -> None:
        self.recent: dict[str, OrderedDict[str, deque]] = {k: OrderedDict() for k in ("card", "customer", "ip")}
        self.usual: OrderedDict[str, tuple[float, str]] = OrderedDict()  # customer → (mean log amount, country)

    def features(self, event: dict[str, Any]) -> dict[str, float]:
        """Context features of `event` (from what came before it), then remember it."""
        ts, kind = event["ts"], event["event_type"]
        card = self._window("card", event.get("card_fingerprint"), ts)
        customer = self._window("customer", event.get("customer_id"), ts)
        ip = self._window("ip", event.get("ip"), ts)
        usual_log, usual_country = self.usual.get(event.get("customer_id") or "", (None, None))
        amount_log = math.log1p(max(event.get("amount") or 0.0, 0.0))
        country = event.get("country") or ""
        features = {
            "card_failures_10m": min(float(sum(1 for _, k in card or () if k == "payment_failed")), 10.0),
            "customer_orders_10m": min(float(sum(1 for _, k in customer or () if k == "order_placed")), 10.0),
            "ip_orders_10m": min(float(sum(1 for _, k in ip or () if k == "order_placed")), 10.0),
            "new_country": 1.0 if usual_country and country and country != usual_country else 0.0,
            "amount_vs_usual": max(-4.0, min(4.0, amount_log - usual_log)) if usual_log is not None else 0.0,
        }
        for window in (card, customer, ip):
            if window is not None:
                window.append((ts, kind))
        self._learn_usual(event.get("customer_id"), amount_log, country, kind)
        return features

    def _window(self, kind: str, key: str | None, ts: int) -> deque | None:
        """The key's events of the last WINDOW_MS (created if new; least recent keys forgotten)."""
        if not key:
            return None
        keys = self.recent[kind]
        window = keys.get(key)
        if window is None:
            window = keys[key] = deque(maxlen=MAX_EVENTS)
            if len(keys) > MAX_KEYS:
                keys.popitem(last=False)
        keys.move_to_end(key)
        while window and window[0][0] < ts - WINDOW_MS:
            window.popleft()
        return window

    def _learn_usual(self, customer: str | None, amount_log: float, country: str, kind: str) -> None:
        if not customer or kind != "order_placed":
            return
        mean, usual_country = self.usual.get(customer, (amount_log, country))
        self.usual[customer] = (mean + 0.3 * (amount_log - mean), usual_country or country)
        self.usual.move_to_end(customer)
        if len(self.usual) > MAX_KEYS:
            self.usual.popitem(last=False)
