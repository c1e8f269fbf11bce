"""Silences, mute windows and matchers as plain logic: what is held back and why."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from pulse.incidents.matchers import check_matcher, matches
from pulse.incidents.silences import HoldBack, Silence
from pulse.tenants.mute_windows import MuteWindow

T = datetime(2026, 11, 2, 10, tzinfo=UTC)  # a Monday


def notice(**fields) -> dict:
    return {"tenant_id": "acme", "incident_id": "inc_1", "status": "updated", "cause": "large-order",
            "severity": "high", "kind": "rule", "group_key": "c1", "labels": {"team": "risk"}, "updated_at": T,
            "resolved_at": None} | fields  # fmt: skip


def test_matchers_select_on_the_tenants_fields():
    n = notice()
    assert matches([], n)
    assert matches(["cause=large-order", "labels.team=risk|growth", "severity!=low"], n)
    assert not matches(["cause=large-order", "group_key=c2"], n)
    assert not matches(["labels.missing=x"], n) and matches(["labels.missing!=x"], n)
    for bad in ("tenant_id=acme", "cause", "cause~=x", "labels=x"):
        with pytest.raises(ValueError, match="FIELD=VALUE"):
            check_matcher(bad)


def test_a_silence_holds_only_its_tenants_matching_notices_inside_its_time():
    s = Silence("acme", "sil_1", ["cause=large-order"], T, T + timedelta(hours=1))
    assert s.covers(notice())
    assert not s.covers(notice(tenant_id="globex"))
    assert not s.covers(notice(cause="card-testing"))
    assert not s.covers(notice(updated_at=T - timedelta(seconds=1)))
    assert not s.covers(notice(updated_at=T + timedelta(hours=1)))  # the end is exclusive: expired, it stops
    resolved = notice(status="resolved", resolved_at=T + timedelta(hours=2))
    assert not s.covers(resolved)  # judged at the resolve time
    assert Silence("acme", "sil_2", ["incident_id=inc_1"], T, None).covers(resolved)  # until resolved


def test_windows_span_midnight_by_local_weekday_and_follow_daylight_saving():
    night = MuteWindow(name="n", weekdays=["mon"], hours="22:00-06:00", timezone="Europe/Berlin")
    assert night.covers(datetime(2026, 11, 2, 21, 30, tzinfo=UTC))  # Monday 22:30 Berlin
    assert night.covers(datetime(2026, 11, 1, 23, 30, tzinfo=UTC))  # Monday 00:30 Berlin (Sunday in UTC)
    assert not night.covers(datetime(2026, 11, 3, 0, 30, tzinfo=UTC))  # Tuesday 01:30 Berlin: not a listed day
    assert not night.covers(datetime(2026, 11, 2, 12, 0, tzinfo=UTC))
    summer = MuteWindow(name="s", hours="09:00-10:00", timezone="Europe/Berlin")
    assert summer.covers(datetime(2026, 7, 1, 7, 30, tzinfo=UTC)) and not summer.covers(
        datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    )
    assert summer.covers(datetime(2026, 12, 1, 8, 30, tzinfo=UTC))  # CET in winter
    assert MuteWindow(name="all").covers(T)
    for bad in ({"hours": "25:00-06:00"}, {"hours": "24:00-06:00"}, {"timezone": "Mars/Olympus"},
                {"weekdays": ["monday"]}, {"matchers": ["tenant_id=x"]}):  # fmt: skip
        with pytest.raises(ValidationError):
            MuteWindow(name="bad", **bad)


def test_hold_back_names_the_first_reason():
    hold = HoldBack(lambda tenant: [MuteWindow(name="mornings", matchers=["severity=high"], hours="10:00-11:00")]
                    if tenant == "acme" else [])  # fmt: skip
    assert hold.reason(notice()) == "mute window mornings"
    assert hold.reason(notice(tenant_id="globex")) is None
    assert hold.reason(notice(severity="low")) is None
    hold.resolved_by_hand = {"inc_1"}
    assert hold.reason(notice(severity="low")) == "resolved by hand"
    hold.silences = [Silence("acme", "sil_9", [], T, T + timedelta(minutes=5))]
    assert hold.reason(notice()) == "silence sil_9"
