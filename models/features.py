"""Features of one event for the risk model, each scaled into a known range.

>>> f = event_features({"amount": 99.0, "ts": 0, "event_type": "payment_failed", "attributes": {}})
>>> sorted(f)
['amount_log', 'hour_of_day', 'is_payment_failure', 'items']
"""

from __future__ import annotations

import math
from typing import Any

# Every feature's (low, high) range: HalfSpaceTrees needs them to split its space.
LIMITS: dict[str, tuple[float, float]] = {
    "amount_log": (0.0, 12.0),
    "hour_of_day": (0.0, 24.0),
    "is_payment_failure": (0.0, 1.0),
    "items": (0.0, 50.0),
}


def event_features(event: dict[str, Any]) -> dict[str, float]:
    """Amount (log scale), hour of day (UTC), payment failure flag and item count."""
    amount = event.get("amount") or 0.0
    items = event.get("attributes", {}).get("items", "1")
    return {
        "amount_log": min(math.log1p(max(amount, 0.0)), LIMITS["amount_log"][1]),
        "hour_of_day": float((event["ts"] // 3_600_000) % 24),
        "is_payment_failure": 1.0 if event["event_type"] == "payment_failed" else 0.0,
        "items": min(float(items), LIMITS["items"][1]) if items.isdigit() else 1.0,
    }
