"""Features of one event for the risk model, each in [0, 1], relative to what is usual for the tenant.

>>> usual = TenantUsual()
>>> for i in range(200):
...     f = event_features({"amount": 40.0 + i % 20, "country": "US", "attributes": {"items": "2"}}, usual)
>>> f = event_features({"amount": 9000.0, "country": "NG", "attributes": {"items": "12"}}, usual)
>>> f["amount_vs_tenant"], f["country_rarity"], round(f["items"], 2)
(1.0, 1.0, 0.65)
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from river import stats

NAMES = ("amount_vs_tenant", "items", "country_rarity")
MAX_ITEMS = 50
Z_RANGE = (-4.0, 8.0)  # the amount's standard scores mapped onto [0, 1]: far below usual (card tests) to far above
MIN_SPREAD = 0.1  # of log amounts: a shop whose orders all cost the same still has a finite scale
MAX_COUNTRIES = 300


class TenantUsual:
    """What is usual for one tenant: its log amounts (mean and spread) and how often each country occurred."""

    def __init__(self) -> None:
        self.amount = stats.Var()  # of log(1 + amount), with its mean
        self.countries: OrderedDict[str, int] = OrderedDict()  # the most recently seen MAX_COUNTRIES

    def learn(self, event: dict[str, Any]) -> None:
        if event.get("amount"):
            self.amount.update(_log_amount(event))
        country = event.get("country")
        if country:
            self.countries[country] = self.countries.get(country, 0) + 1
            self.countries.move_to_end(country)
            if len(self.countries) > MAX_COUNTRIES:
                self.countries.popitem(last=False)


def event_features(event: dict[str, Any], usual: TenantUsual) -> dict[str, float]:
    """The event's amount against the tenant's usual (standard score), item count (log scale) and the rarity of
    its country for the tenant (1 for a country never seen, 1/(1+n) after n events); then `usual` learns it."""
    items = event.get("attributes", {}).get("items", "1")
    country = event.get("country")
    features = {
        "amount_vs_tenant": _amount_score(event, usual.amount),
        "items": math.log1p(min(int(items), MAX_ITEMS) if items.isdigit() else 1) / math.log1p(MAX_ITEMS),
        "country_rarity": 1.0 / (1 + usual.countries.get(country, 0)) if country else 0.0,
    }
    usual.learn(event)
    return features


def _amount_score(event: dict[str, Any], amount: stats.Var) -> float:
    if not event.get("amount") or amount.mean.n < 2:
        return _unit(0.0)
    return _unit((_log_amount(event) - amount.mean.get()) / max(amount.get() ** 0.5, MIN_SPREAD))


def _log_amount(event: dict[str, Any]) -> float:
    return math.log1p(max(event["amount"], 0.0))


def _unit(z: float) -> float:
    low, high = Z_RANGE
    return (min(max(z, low), high) - low) / (high - low)
