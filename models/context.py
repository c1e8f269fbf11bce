"""Recent context of an order or payment, each feature in [0, 1]: velocity per card, customer and IP, and the
amount relative to the customer's usual. Bounded: each kind of key keeps its most recent MAX_KEYS.

>>> context = RecentContext()
>>> for i in range(5):
...     f = context.features({"ts": i * 1000, "event_type": "payment_failed", "card_fingerprint": "c1", "amount": 1.0})
>>> f["card_failures_10m"], f["amount_vs_usual"]
(0.4, 0.5)
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import Any

WINDOW_MS = 10 * 60_000
MAX_KEYS = 2000  # per kind of key (card, customer, IP)
MAX_EVENTS = 50  # per key inside the window
MAX_COUNT = 10  # events of a key in the window at which a velocity feature reaches 1
MAX_LOG_RATIO = 4.0  # the customer's log amount ratio mapped from [-4, 4] onto [0, 1]

NAMES = ("card_failures_10m", "customer_orders_10m", "ip_orders_10m", "amount_vs_usual")


class RecentContext:
    """Per-tenant memory of recent orders and payments, used to compute context features."""

    def __init__(self) -> None:
        self.recent: dict[str, OrderedDict[str, deque]] = {k: OrderedDict() for k in ("card", "customer", "ip")}
        self.usual: OrderedDict[str, float] = OrderedDict()  # customer → mean log amount of their orders

    def features(self, event: dict[str, Any]) -> dict[str, float]:
        """Context features of `event` (from what came before it), then remember it."""
        ts, kind = event["ts"], event["event_type"]
        card = self._window("card", event.get("card_fingerprint"), ts)
        customer = self._window("customer", event.get("customer_id"), ts)
        ip = self._window("ip", event.get("ip"), ts)
        usual_log = self.usual.get(event.get("customer_id") or "")
        amount_log = math.log1p(max(event.get("amount") or 0.0, 0.0))
        ratio = max(-MAX_LOG_RATIO, min(MAX_LOG_RATIO, amount_log - usual_log)) if usual_log is not None else 0.0
        features = {
            "card_failures_10m": _velocity(card, "payment_failed"),
            "customer_orders_10m": _velocity(customer, "order_placed"),
            "ip_orders_10m": _velocity(ip, "order_placed"),
            "amount_vs_usual": (ratio + MAX_LOG_RATIO) / (2 * MAX_LOG_RATIO),
        }
        for window in (card, customer, ip):
            if window is not None:
                window.append((ts, kind))
        self._learn_usual(event.get("customer_id"), amount_log, kind)
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

    def _learn_usual(self, customer: str | None, amount_log: float, kind: str) -> None:
        if not customer or kind != "order_placed":
            return
        mean = self.usual.get(customer, amount_log)
        self.usual[customer] = mean + 0.3 * (amount_log - mean)
        self.usual.move_to_end(customer)
        if len(self.usual) > MAX_KEYS:
            self.usual.popitem(last=False)


def _velocity(window: deque | None, kind: str) -> float:
    """The window's events of `kind`, as a share of MAX_COUNT (capped at 1)."""
    return min(sum(1 for _, k in window or () if k == kind), MAX_COUNT) / MAX_COUNT
