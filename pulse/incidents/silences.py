"""Which incident notices are held back: silences made through the API (matchers, for a duration or until
the incident resolves), the tenant's recurring mute windows, and incidents a person resolved by hand.

All of them are judged at the notice's event time (when its alerts happened, or when it resolved), so a
replay decides the same way. A held-back notice is recorded (`silenced_notices`), not sent; the
dispatcher still sends a resolve to the receivers that got the incident's earlier notices.

>>> from datetime import UTC, datetime, timedelta
>>> t = datetime(2026, 11, 2, 10, tzinfo=UTC)
>>> s = Silence("acme", "sil_1", ["cause=large-order"], t, t + timedelta(hours=1))
>>> notice = {"tenant_id": "acme", "cause": "large-order", "status": "updated", "updated_at": t}
>>> s.covers(notice), s.covers(notice | {"updated_at": t + timedelta(hours=2)})
(True, False)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pulse.incidents.matchers import matches
from pulse.store.clickhouse import Store
from pulse.tenants.mute_windows import MuteWindow


@dataclass(frozen=True)
class Silence:
    """`ends_at` None: until the incident it names (`incident_id=...`) resolves."""

    tenant_id: str
    silence_id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime | None

    def covers(self, notice: dict[str, Any]) -> bool:
        moment = notice_time(notice)
        in_time = self.starts_at <= moment and (self.ends_at is None or moment < self.ends_at)
        return in_time and notice["tenant_id"] == self.tenant_id and matches(self.matchers, notice)


def notice_time(notice: dict[str, Any]) -> datetime:
    """The event time a notice is judged at: its resolve time, else its last alert."""
    return notice.get("resolved_at") or notice["updated_at"]


def new_silence_id() -> str:
    return "sil_" + secrets.token_hex(8)


def load_silences(s: Store, tenant: str | None = None) -> list[Silence]:
    """Every silence (of one tenant), at its latest version."""
    where = " WHERE tenant_id = {t:String}" if tenant else ""
    _, rows = s.query(f"SELECT tenant_id, silence_id, matchers, starts_at, ends_at FROM silences FINAL{where}",
                      {"t": tenant})  # fmt: skip
    return [Silence(t, i, list(m), _utc(a), _utc(e) if e else None) for t, i, m, a, e in rows]


def hand_resolved(s: Store) -> set[str]:
    """Incidents whose latest resolve-or-reopen action is a resolve."""
    _, rows = s.query(
        "SELECT incident_id FROM incident_actions WHERE action IN ('resolve', 'reopen') "
        "GROUP BY tenant_id, incident_id HAVING argMax(action, (at, action_id)) = 'resolve'"
    )
    return {r[0] for r in rows}


class HoldBack:
    """The one check the delivery path calls: why a notice is held back, or None."""

    def __init__(self, windows: Callable[[str], list[MuteWindow]]):
        self.windows = windows
        self.silences: list[Silence] = []
        self.resolved_by_hand: set[str] = set()

    def refresh(self, s: Store) -> None:
        """Re-read the silences and hand resolves (people change them while the dispatcher runs)."""
        self.silences = load_silences(s)
        self.resolved_by_hand = hand_resolved(s)

    def reason(self, notice: dict[str, Any]) -> str | None:
        for silence in self.silences:
            if silence.covers(notice):
                return f"silence {silence.silence_id}"
        for window in self.windows(notice["tenant_id"]):
            if window.covers(notice_time(notice)) and matches(window.matchers, notice):
                return f"mute window {window.name}"
        if notice["incident_id"] in self.resolved_by_hand:
            return "resolved by hand"
        return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
