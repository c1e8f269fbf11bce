"""The risk model on generated streams of tenants of 2 to 200 events a minute: a quiet day raises at most two alerts
(about one on average), injected fraud alerts, the first day raises nothing; its forests are built lazily, each a
copy of one built once per configuration, scoring the same."""

from __future__ import annotations

from collections import Counter

import pytest
from risk_streams import FRAUD, SizedStream, scored
from river import anomaly

from models import context, features
from models.risk import RiskModel
from pulse.dev.scenarios import DAY
from pulse.tenants.config import ConfigInvalid, RiskModelConfig, parse_tenant_config

QUIET_DAYS = 5
SEEDS = (3, 7, 11)


def alerts_per_day(rows: list, start: int, days: int) -> list[int]:
    """Risk alerts in each of the stream's days."""
    per_day = Counter((event["ts"] - start) // DAY for event, risk in rows if risk.is_alert)
    return [per_day[day] for day in range(days)]


@pytest.mark.parametrize("events_per_minute, seeds", [(2, SEEDS), (10, SEEDS), (40, SEEDS), (200, SEEDS[:1])])
def test_a_quiet_day_raises_at_most_two_alerts_and_the_first_day_nothing(events_per_minute, seeds):
    days = QUIET_DAYS if events_per_minute < 200 else 3
    counts = []
    for seed in seeds:
        stream = SizedStream(seed=seed, events_per_minute=events_per_minute, days=days, quiet=True)
        rows, _ = scored(stream)
        per_day = alerts_per_day(rows, stream.t0, days)
        assert per_day[0] == 0, per_day  # the tenant's first day
        assert all(risk.threshold is None for event, risk in rows if event["ts"] - rows[0][0]["ts"] < DAY)
        counts += per_day[1:]
    assert sum(counts) / len(counts) <= 1.0, counts  # the default budget: 1 a day
    assert max(counts) <= 2, counts


def test_a_larger_budget_raises_more_alerts_within_it():
    """The budget alone (no `min_score` floor, which would keep both at 0 on a quiet stream of this size)."""
    stream = SizedStream(seed=3, events_per_minute=24, days=QUIET_DAYS, quiet=True)
    default = alerts_per_day(scored(stream, RiskModelConfig(min_score=0.0))[0], stream.t0, QUIET_DAYS)[1:]
    stream = SizedStream(seed=3, events_per_minute=24, days=QUIET_DAYS, quiet=True)
    five = alerts_per_day(scored(stream, RiskModelConfig(alerts_per_day=5, min_score=0.0))[0], stream.t0, QUIET_DAYS)
    five = five[1:]
    assert sum(default) < sum(five) <= 1.5 * 5 * len(five), (default, five)


@pytest.mark.parametrize("events_per_minute, seed", [(2, 3), (2, 11), (24, 7), (24, 11), (200, 7)])
def test_injected_fraud_alerts(events_per_minute, seed):
    """A large order from a new country, card testing (tiny failed payments on one card) and a burst of large
    orders, on one day after two quiet ones: each raises risk alerts, and the day's other alerts stay few."""
    stream = SizedStream(seed=seed, events_per_minute=events_per_minute, days=3)
    rows, incidents = scored(stream)
    alerted = {event["event_id"] for event, risk in rows if risk.is_alert}
    caught = {incident.kind: len(alerted & set(incident.event_ids)) for incident in incidents}
    assert set(caught) == set(FRAUD) and min(caught.values()) >= 1, caught
    fraud_order = next(i for i in incidents if i.kind == "large_fraud_order").event_ids[0]
    assert fraud_order in alerted
    fraud = {event_id for incident in incidents for event_id in incident.event_ids}
    assert len(alerted - fraud) <= 6


def test_forests_are_built_with_the_first_full_window_and_score_as_if_built_at_once():
    """Also when another tenant's forests of the same settings (copies of the same empty forest) learned first."""
    config = RiskModelConfig(window_size=30, warmup_events=0)
    stream = SizedStream(seed=5, events_per_minute=24, days=1)
    events = [e for e in stream.run()[0] if e["event_type"] in ("order_placed", "payment_failed")][:200]
    other = RiskModel(config)
    for event in reversed(events):
        other.score(event)
    model = RiskModel(config)
    eager = [anomaly.HalfSpaceTrees(n_trees=config.n_trees, height=config.height, window_size=30, seed=config.seed)
             for _ in range(2)]  # fmt: skip
    for index, event in enumerate(events):
        risk = model.score(event)
        parts = [{n: risk.features[n] for n in names} for names in (features.NAMES, context.NAMES)]
        assert risk.score == round(max(float(t.score_one(p)) for t, p in zip(eager, parts, strict=True)), 4)
        for trees, part in zip(eager, parts, strict=True):
            trees.learn_one(part)
        built = index + 1 >= config.window_size
        assert (model.trees is not None) == built and len(model.pending) == (0 if built else index + 1)
    assert any(risk.score > 0 for risk in [model.score(e) for e in events[:10]])


def test_alert_quantile_is_refused_with_what_replaced_it():
    text = "tenant: shop\nmodels:\n  risk:\n    alert_quantile: 0.995\n"
    with pytest.raises(ConfigInvalid, match="alert_quantile was replaced by alerts_per_day"):
        parse_tenant_config(text, "shop.yaml")


def test_a_changed_budget_applies_to_a_running_model():
    stream = SizedStream(seed=3, events_per_minute=24, days=QUIET_DAYS, quiet=True)
    events = [e for e in stream.run()[0] if e["event_type"] in ("order_placed", "payment_succeeded")]
    kept, changed = RiskModel(RiskModelConfig(min_score=0.0)), RiskModel(RiskModelConfig(min_score=0.0))
    half = len(events) // 2
    for event in events[:half]:
        kept.score(event)
        changed.score(event)
    changed.configure(RiskModelConfig(alerts_per_day=20, min_score=0.0))
    assert changed.budget.per_day == 20 and len(changed.budget.today) <= 20
    alerts = [sum(model.score(e).is_alert for e in events[half:]) for model in (kept, changed)]
    assert alerts[0] < alerts[1], alerts
