"""The evaluation harness's user labelling the first false alarms of a stream whose false alarms repeat: a wholesale
account's big morning orders, ordinary for the shop, alert the risk model and the revenue detector each day until
labelled; after two labels the rest of the week is quiet and every true incident is still detected."""

import random

import pytest

from models.evaluation import Labeller, Report, episodes, product_alerts, score, while_streaming
from pulse.dev.scenarios import DAY, HOUR, MINUTE, LabelledStream


def wholesale_orders(stream: LabelledStream, tenant: str, rng: random.Random) -> list[dict]:
    """Three orders of 25 items for 2,400 to 3,000, four minutes apart, between 09:00 and 10:00 of each day after
    the first, by one customer from one address."""
    events = []
    for day in range(1, round(stream.days)):
        at = stream.t0 + day * DAY + 9 * HOUR + rng.randrange(60) * MINUTE
        for k in range(3):
            base = {
                "customer_id": "c-wholesale",
                "session_id": f"s-wh-{day}-{k}",
                "ip": "198.51.100.20",
                "country": "US",
            }
            amount = 2400.0 + rng.randrange(600)
            events += stream._checkout(tenant, at + k * 4 * MINUTE, amount, base, items=25, failed=False)
    return events


@pytest.fixture(scope="module")
def runs() -> tuple[Report, Report, Labeller]:
    stream = LabelledStream(seed=1, days=6, sizes=("s",), kinds=("outage", "bot_burst"))
    events, incidents = stream.run()
    events = sorted(events + wholesale_orders(stream, "shop-s-1", random.Random(7)), key=lambda e: e["ts"])
    days_of = {tenant: stream.days_of(tenant) for tenant in stream.size_of}
    labeller = Labeller(2, incidents)
    without, with_labels = product_alerts(events), product_alerts(events, labeller=labeller)
    judged = [score(while_streaming(a, stream), incidents, stream.size_of, days_of) for a in (without, with_labels)]
    return judged[0], judged[1], labeller


def test_the_repeated_false_alarms_stop_after_the_first_ones_are_labelled(runs):
    without, with_labels, labeller = runs
    false_without = episodes(a.at for a in without.false_alerts)
    false_with = episodes(a.at for a in with_labels.false_alerts)
    assert false_without >= 4  # one a day: the risk model and revenue on the morning orders
    assert {a.source for a in without.false_alerts} == {"risk", "metric:revenue"}
    assert false_with == 1 and sum(labeller.labels.values()) == 2  # the first, labelled: its risk and revenue incidents


def test_no_true_incident_is_lost_to_the_labels(runs):
    without, with_labels, _ = runs
    assert [d.first is not None for d in with_labels.detections] == [d.first is not None for d in without.detections]
    assert all(d.first is not None for d in with_labels.detections) and len(with_labels.detections) == 9
