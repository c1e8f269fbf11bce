"""REST endpoints for working incidents: acknowledge, assign, note, resolve by hand, reopen, label, silence;
the audit history; silences; precision per rule and detector from labels. A label is also sent to the scoring job,
when the API is given where (`publish`), as feedback for the tenant (pulse.job.feedback).

The same routes serve the API (`/v1`, tenant from the API key) and the dashboard (`/dashboard`, tenant from the
signed session): `work_router(tenant_of, open_store, prefix, via)`. Another tenant's incident is a 404,
for reading and for every action alike.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import AfterValidator, BaseModel, Field

from pulse.incidents.actions import (
    Label,
    history,
    incident_exists,
    last_update,
    opening_alert,
    precision,
    record_action,
    work_state,
)
from pulse.incidents.matchers import valid_matcher
from pulse.incidents.silences import new_silence_id
from pulse.job.feedback import lesson_record
from pulse.rules.durations import parse_duration
from pulse.store.clickhouse import Store
from pulse.store.tables import SILENCES
from pulse.store.usage import alerts_held_back
from pulse.store.writer import BatchWriter

MAX_SILENCE = timedelta(days=90)
log = logging.getLogger(__name__)
Publish = Callable[[str, str], str]  # (tenant, feedback record) → where it went


def Text(max_length: int, min_length: int = 1, **kw: Any) -> Any:  # noqa: N802
    """A text field of the given length (JSON bodies with lone surrogates are refused by the parser: 422)."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length, **kw)]


Who = Text(200, description="who acts, e.g. ana@acme.example")


class Act(BaseModel):
    by: Who


class Assign(Act):
    assignee: Text(200)


class Note(Act):
    text: Text(5000)


class LabelIt(Act):
    label: Label


class SilenceIt(Act):
    """Without `duration`: until the incident resolves."""

    duration: str | None = Field(None, description="e.g. 30m, 2h, 1d; omit to mute until resolved")
    comment: Text(1000, min_length=0) = ""


class NewSilence(Act):
    matchers: Annotated[list[Annotated[Text(500), AfterValidator(valid_matcher)]], Field(min_length=1, max_length=20)]
    duration: str = Field(description="e.g. 30m, 2h, 1d (at most 90d)")
    starts_at: datetime | None = Field(None, description="default: now")
    comment: Text(1000, min_length=0) = ""


def work_router(
    tenant_of: Callable[..., str],
    open_store: Callable[[], AbstractContextManager[Store]],
    prefix: str = "/v1",
    via: str = "api",
    publish: Publish | None = None,
) -> APIRouter:
    """`publish`: hands a label's feedback record to the scoring job (None: labels are stored only)."""
    router = APIRouter(prefix=prefix, tags=["incident work"])
    Tenant = Annotated[str, Depends(tenant_of)]  # noqa: N806
    missing = {404: {"description": "No such incident for this tenant"}}

    def act(tenant: str, incident_id: str, action: str, by: str, value: str = "") -> dict[str, Any]:
        with open_store() as s:
            if not incident_exists(s, tenant, incident_id):
                raise HTTPException(404, f"no incident {incident_id} for this tenant")
            record_action(s, tenant, incident_id, action, by, value, via)  # type: ignore[arg-type]
            actions = history(s, tenant, [incident_id])[incident_id]
        return {"incident_id": incident_id, "work": work_state(actions), "history": actions}

    @router.get("/incidents/stats")
    def stats(tenant: Tenant) -> dict[str, Any]:
        """Per rule or detector: incidents, labels given, precision (true problems among the labelled); and how
        many alerts the tenant's labels have held back in the scoring job (per minute: the usage table)."""
        with open_store() as s:
            return {"tenant": tenant, "causes": precision(s, tenant), "alerts_held_back": alerts_held_back(s, tenant)}

    @router.get("/incidents/{incident_id}/history", responses=missing)
    def incident_history(tenant: Tenant, incident_id: str) -> dict[str, Any]:
        """The incident's work state and every action on it, oldest first."""
        with open_store() as s:
            if not incident_exists(s, tenant, incident_id):
                raise HTTPException(404, f"no incident {incident_id} for this tenant")
            actions = history(s, tenant, [incident_id])[incident_id]
        return {"incident_id": incident_id, "work": work_state(actions), "history": actions}

    @router.post("/incidents/{incident_id}/acknowledge", responses=missing)
    def acknowledge(tenant: Tenant, incident_id: str, body: Act) -> dict[str, Any]:
        return act(tenant, incident_id, "acknowledge", body.by)

    @router.post("/incidents/{incident_id}/assign", responses=missing)
    def assign(tenant: Tenant, incident_id: str, body: Assign) -> dict[str, Any]:
        return act(tenant, incident_id, "assign", body.by, body.assignee)

    @router.post("/incidents/{incident_id}/note", responses=missing)
    def note(tenant: Tenant, incident_id: str, body: Note) -> dict[str, Any]:
        return act(tenant, incident_id, "note", body.by, body.text)

    @router.post("/incidents/{incident_id}/resolve", responses=missing)
    def resolve(tenant: Tenant, incident_id: str, body: Act) -> dict[str, Any]:
        """Resolve by hand: no more update notices; the dispatcher's own resolve still reaches who got the open."""
        return act(tenant, incident_id, "resolve", body.by)

    @router.post("/incidents/{incident_id}/reopen", responses=missing)
    def reopen(tenant: Tenant, incident_id: str, body: Act) -> dict[str, Any]:
        return act(tenant, incident_id, "reopen", body.by)

    @router.post("/incidents/{incident_id}/label", responses=missing)
    def label(tenant: Tenant, incident_id: str, body: LabelIt) -> dict[str, Any]:
        """Label the incident; `feedback` says where the label went for the detection to learn from it."""
        answer = act(tenant, incident_id, "label", body.by, body.label)
        return answer | {"feedback": _feed_back(tenant, incident_id, body.label)}

    def _feed_back(tenant: str, incident_id: str, label: str) -> str:
        """Send the label to the job, for the tenant of the key or session (never one named by the caller)."""
        if publish is None:
            return "not sent: this API sends no label feedback (pulse serve --rules-topic or --rules-folder)"
        with open_store() as s:
            alert = opening_alert(s, tenant, incident_id)
        if alert is None:
            return "not sent: the alert that opened the incident is no longer stored"
        try:
            return "sent to " + publish(tenant, lesson_record(incident_id, label, alert))
        except Exception as exc:  # the label is stored either way; the caller may label again
            log.error("label feedback for tenant %r on %s not sent: %s", tenant, incident_id, exc)
            return f"not sent: {exc}"

    @router.post("/incidents/{incident_id}/silence", responses=missing)
    def silence_incident(tenant: Tenant, incident_id: str, body: SilenceIt) -> dict[str, Any]:
        """Mute this incident's notices after its latest one, for `duration` (of event time), or until it resolves."""
        with open_store() as s:
            latest = last_update(s, tenant, incident_id)
            if latest is None:
                raise HTTPException(404, f"no incident {incident_id} for this tenant")
            starts = latest + timedelta(milliseconds=1)
            ends = starts + _duration(body.duration) if body.duration else None
            silence = _store_silence(s, tenant, [f"incident_id={incident_id}"], starts, ends, body.comment, body.by)
            record_action(s, tenant, incident_id, "silence", body.by, silence["silence_id"], via)
        return silence

    @router.get("/silences")
    def list_silences(tenant: Tenant) -> dict[str, Any]:
        """The tenant's silences, newest first; `active` says whether one holds notices back now."""
        with open_store() as s:
            _, rows = s.query(f"SELECT {', '.join(SILENCES)} FROM silences FINAL WHERE tenant_id = {{t:String}} "
                              "ORDER BY created_at DESC", {"t": tenant})  # fmt: skip
        now = datetime.now(UTC)
        silences = [_silence_view(dict(zip(SILENCES, r, strict=True)), now) for r in rows]
        return {"tenant": tenant, "silences": silences}

    @router.post("/silences", status_code=201)
    def create_silence(tenant: Tenant, body: NewSilence) -> dict[str, Any]:
        """Mute the notices of every incident the matchers select, from `starts_at` (default now) for `duration`."""
        starts = _aware(body.starts_at) if body.starts_at else datetime.now(UTC)
        if not 1970 <= starts.year <= 2200:
            raise HTTPException(422, f"starts_at {starts.isoformat()} is outside 1970..2200")
        with open_store() as s:
            return _store_silence(s, tenant, body.matchers, starts, starts + _duration(body.duration), body.comment,
                                  body.by)  # fmt: skip

    @router.delete("/silences/{silence_id}", responses={404: {"description": "No such silence for this tenant"}})
    def expire_silence(tenant: Tenant, silence_id: str) -> dict[str, Any]:
        """End a silence now (it stays listed, expired)."""
        now = datetime.now(UTC)
        with open_store() as s:
            _, rows = s.query(f"SELECT {', '.join(SILENCES)} FROM silences FINAL "
                              "WHERE tenant_id = {t:String} AND silence_id = {id:String}",
                              {"t": tenant, "id": silence_id})  # fmt: skip
            if not rows:
                raise HTTPException(404, f"no silence {silence_id} for this tenant")
            row = dict(zip(SILENCES, rows[0], strict=True))
            ends = row["ends_at"] and _aware(row["ends_at"])
            row |= {"ends_at": min(ends, now) if ends else now, "updated_at": now}
            BatchWriter(s, attempts=5).insert("silences", [row])
        return _silence_view(row, now)

    return router


def _store_silence(
    s: Store, tenant: str, matchers: list[str], starts: datetime, ends: datetime | None, comment: str, by: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    values = (tenant, new_silence_id(), matchers, starts, ends, comment, by, now, now)
    row = dict(zip(SILENCES, values, strict=True))
    BatchWriter(s, attempts=5).insert("silences", [row])
    return _silence_view(row, now)


def _silence_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    view = {k: _aware(v) if isinstance(v, datetime) else v for k, v in row.items() if k != "tenant_id"}
    view["matchers"] = list(view["matchers"])
    view["until_resolved"] = view["ends_at"] is None
    view["active"] = view["starts_at"] <= now and (view["ends_at"] is None or now < view["ends_at"])
    return view


def _duration(text: str) -> timedelta:
    try:
        duration = timedelta(milliseconds=parse_duration(text))
    except OverflowError:
        raise HTTPException(422, f"duration {text!r}: choose at most 90d") from None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if not timedelta(0) < duration <= MAX_SILENCE:
        raise HTTPException(422, f"duration {text!r}: choose more than 0 and at most 90d")
    return duration


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
