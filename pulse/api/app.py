"""The ingestion API (`pulse serve`): tenants POST events or files; records reach Kafka before the answer.

The tenant of every record is the one the API key belongs to. A 202 answers every record: accepted
(stored in Kafka, acks=all), duplicate, or rejected with its reason (and written to Kafka too, marked
refused, for the job to store in `rejected_events`). A problem of the request as a whole is a 4xx; if
Kafka does not confirm, the answer is 503 and nothing is reported accepted (the records Kafka did confirm
are answered `duplicate` when the request is sent again).
"""

import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pyarrow import ArrowException
from pydantic import BaseModel

from pulse.api.auth_failures import AuthFailures
from pulse.api.dashboard import dashboard_router, mount_static, session_secret
from pulse.api.dedup import RecentIds
from pulse.api.incident_work import Publish, work_router
from pulse.api.incidents import incidents_router
from pulse.api.keys import KeyRing
from pulse.api.ratelimit import RateLimiter, retry_after_header
from pulse.api.upload import UploadLimits, UploadRefused, UploadStopped, check_limits, upload
from pulse.api.usage import usage_router
from pulse.events import JSON_WHITESPACE, MAX_RECORD_BYTES, json_schema, parse_record
from pulse.job import rule_updates
from pulse.job.rule_updates import RuleUpdate
from pulse.store.clickhouse import Store, StoreBusy, open_store, store
from pulse.tenants.config import load_config_dir
from pulse.tenants.plans import PlanWatcher
from pulse.topics import EVENTS_TOPIC, BrokerCheck, KafkaUnavailable, RecordWriter, Refused, ensure_topic

log = logging.getLogger(__name__)
SOURCE = "request"
KAFKA_RETRY_AFTER_S = 5
EMBEDDED_TURN_S = 30
_EMBEDDED_TURN = threading.Lock()


@dataclass(frozen=True)
class ApiSettings:
    bootstrap: str
    configs_dir: str
    plans_path: str
    topic: str = EVENTS_TOPIC
    max_body_bytes: int = 5 * 1024 * 1024
    max_records: int = 10_000
    max_upload_bytes: int = 2 * 1024**3  # as sent, and for Parquet also once decoded
    max_upload_rows: int = 1_000_000
    dedup_ttl_s: float = 3600.0
    dedup_max_per_tenant: int = 200_000
    clickhouse: str | None = None  # where incidents are read for GET /v1/incidents; None: not served
    plans_check_s: float = 10.0  # how often at most the plans file is checked for changes
    ready_check_s: float = 5.0  # how often at most GET /readyz asks Kafka
    rules_topic: str | None = None  # where labels go to the scoring job as feedback (on `bootstrap`), or
    rules_folder: str | None = None  # the job's rule-updates folder; neither: labels are stored only


class RecordResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    event_id: str | None = None
    reason: str | None = None
    detail: str | None = None


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[RecordResult]


class RowReject(BaseModel):
    row: int
    reason: str
    detail: str


class UploadResult(BaseModel):
    rows: int
    accepted: int
    rejected: int
    rejects: list[RowReject]
    rejects_truncated: bool


class Problem(BaseModel):
    detail: str


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped, so text echoed from a request (even a lone surrogate) always encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def _event_schema() -> dict[str, Any]:
    schema = json_schema()
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    return schema


EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "description": "One event, a JSON array of events, or NDJSON (one event per line).",
        "content": {
            "application/json": {"schema": {"oneOf": [_event_schema(), {"type": "array", "items": _event_schema()}]}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file's bytes (not multipart): CSV with a header row, JSON Lines or Parquet.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
ERRORS = {
    code: {"model": Problem, "description": text}
    for code, text in {
        400: "The body cannot be read (not UTF-8, no records, unreadable file)",
        401: "Missing or unknown API key",
        413: "Body too large, more records in one request than --max-records or the plan's burst_events, "
        "or an upload of more rows or decoded bytes than allowed",
        429: "Over the plan's rate, or too many failed authentications from this client; retry after "
        "Retry-After seconds",
        503: "Kafka did not confirm the write: nothing was accepted, retry later",
    }.items()
}


class Ingestion:
    """The state behind the API: keys, plans, rate limits, recent ids, and one Kafka writer."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings
        configs = load_config_dir(settings.configs_dir, skip_invalid=True)
        for tenant, problems in configs.refused.items():
            log.error(
                "tenant %s is not served: its config is invalid, so its API keys are refused until it is fixed "
                "(the other tenants are served):\n%s",
                tenant,
                "\n".join(map(str, problems)),
            )
        if configs.default.api_keys:
            raise ValueError(f"{settings.configs_dir}/default.yaml: api_keys belong in a tenant's own file")
        self.keys = KeyRing.from_configs(configs)
        self.plans = PlanWatcher(settings.plans_path, settings.plans_check_s)
        self.limiter = RateLimiter()
        self.failures = AuthFailures()
        self.recent = RecentIds(settings.dedup_ttl_s, settings.dedup_max_per_tenant)
        self._writer: RecordWriter | None = None
        self._writer_lock = threading.Lock()

    def admit(self, tenant: str, records: int) -> None:
        """Charge `records` to the tenant's token bucket (its plan's rate and burst now); 413 or 429 if over."""
        name, plan = self.plans.of(tenant)
        if records > plan.burst:
            raise HTTPException(
                413,
                f"{records} records in one request, but plan {name!r} takes at most {plan.burst} at once "
                f"(burst_events): split the request",
            )
        wait = self.limiter.admit(tenant, plan.events_per_second, plan.burst, records)
        if wait:
            raise HTTPException(
                429,
                f"over the rate of plan {name!r} ({plan.events_per_second:g} events/s, burst {plan.burst}): "
                f"{records} records fit in {wait:.2f} s; retry after Retry-After seconds",
                headers={"Retry-After": retry_after_header(wait)},
            )

    def writer(self) -> RecordWriter:
        """The Kafka writer, created on first use (so the API starts, unready, while Kafka is down)."""
        with self._writer_lock:
            if self._writer is None:
                ensure_topic(self.settings.bootstrap, self.settings.topic)
                self._writer = RecordWriter(self.settings.bootstrap, self.settings.topic)
            return self._writer

    def drop_writer(self) -> None:
        """Abandon the writer after a failure: its unsent records are dropped (they were not reported
        accepted) and the next request starts with a fresh connection."""
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close(timeout_s=0)
                self._writer = None

    def ingest(self, tenant: str, records: list[str]) -> IngestResult:
        """Validate each record (JSON text) as `tenant`'s, write the new valid ones to Kafka exactly as they were
        validated and the refused ones marked (for `rejected_events`), and say what became of each."""
        results: list[RecordResult] = []
        values: list[bytes | Refused] = []
        ids: list[str | None] = []  # per value: the accepted event's id, None for a refused record
        in_request: set[str] = set()
        for index, record in enumerate(records):
            parsed = parse_record(record, source=SOURCE, index=index, tenant=tenant)
            if not parsed.ok:
                results.append(RecordResult(index=index, status="rejected", reason=parsed.reason, detail=parsed.detail))
                values.append(Refused(record.encode()[:MAX_RECORD_BYTES], parsed.reason, parsed.detail))
                ids.append(None)
                continue
            event_id = parsed.event["event_id"]
            if event_id in in_request or self.recent.contains(tenant, event_id):
                results.append(RecordResult(index=index, status="duplicate", event_id=event_id))
                continue
            in_request.add(event_id)
            ids.append(event_id)
            values.append(record.encode())
            results.append(RecordResult(index=index, status="accepted", event_id=event_id))
        if values:
            try:
                self.writer().write(tenant, values)
            except KafkaUnavailable as exc:
                stored = [i for i, done in zip(ids, exc.stored, strict=False) if done and i is not None]
                self.recent.remember(tenant, stored)
                self.drop_writer()
                raise _kafka_down(exc) from None
            self.recent.remember(tenant, [i for i in ids if i is not None])
        counts = {s: sum(r.status == s for r in results) for s in ("accepted", "duplicate", "rejected")}
        return IngestResult(
            accepted=counts["accepted"], duplicates=counts["duplicate"], rejected=counts["rejected"], results=results
        )


def create_app(settings: ApiSettings) -> FastAPI:
    ingestion = Ingestion(settings)
    app = FastAPI(
        title="PulseEcom ingestion API",
        version="1",
        description=__doc__,
        default_response_class=AsciiJSONResponse,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> AsciiJSONResponse:
        """FastAPI's 422, rendered ASCII-safe: the errors echo the input, which may hold a lone surrogate."""
        return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    bearer = HTTPBearer(auto_error=False, description="The tenant's API key: `Authorization: Bearer pk_...`")

    def tenant_of(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> str:
        if credentials is None:
            detail = "missing API key: send 'Authorization: Bearer <key>'"
            raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
        client = request.client.host if request.client else None
        if wait := ingestion.failures.retry_after(client):
            raise HTTPException(
                429,
                "too many unknown API keys or failed sign-ins from this address: check the key, then retry "
                "after Retry-After seconds",
                headers={"Retry-After": retry_after_header(wait)},
            )
        tenant = ingestion.keys.tenant_for(credentials.credentials)
        if tenant is None:
            ingestion.failures.failed(client)
            raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        return tenant

    Tenant = Annotated[str, Depends(tenant_of)]

    @app.get("/healthz", responses={200: {"description": "The API process is up"}})
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    broker_answers = BrokerCheck(settings.bootstrap, settings.ready_check_s)

    @app.get("/readyz", responses={503: {"model": Problem, "description": "Kafka is not reachable"}})
    async def readyz() -> dict[str, str]:
        """Ready while Kafka answered its last check (Kafka is asked at most every --ready-check-s seconds)."""
        if not await run_in_threadpool(broker_answers):
            raise HTTPException(503, "Kafka is not reachable: this instance cannot accept events now")
        return {"status": "ready"}

    @app.post(
        "/v1/events", status_code=202, responses=ERRORS, openapi_extra=EVENTS_BODY, response_model_exclude_none=True
    )
    async def post_events(request: Request, tenant: Tenant) -> IngestResult:
        """Validate and ingest events; per record: accepted, duplicate (accepted before) or rejected."""
        body = await _read_body(request, settings.max_body_bytes)
        records = _split_records(body)
        if not records:
            raise HTTPException(400, "the body holds no records: send an event, a JSON array or NDJSON")
        if len(records) > settings.max_records:
            raise HTTPException(413, f"{len(records)} records in one request; the limit is {settings.max_records}")
        ingestion.admit(tenant, len(records))
        return await run_in_threadpool(ingestion.ingest, tenant, records)

    @app.post("/v1/uploads", status_code=202, responses=ERRORS, openapi_extra=UPLOAD_BODY)
    async def post_upload(
        request: Request, tenant: Tenant, format: Annotated[Literal["csv", "jsonl", "parquet"], Query()]
    ) -> UploadResult:
        """Ingest a whole file; invalid rows are listed by row number (the first 100)."""
        folder = Path(tempfile.mkdtemp(prefix="pulse-upload-"))
        try:
            path = folder / f"upload.{format}"
            await _spool(request, path, settings.max_upload_bytes)
            limits = UploadLimits(rows=settings.max_upload_rows, decoded_bytes=settings.max_upload_bytes)
            try:
                await run_in_threadpool(check_limits, path, limits)
            except UploadRefused as exc:
                raise HTTPException(413, str(exc)) from None
            except (ValueError, OSError, ArrowException) as exc:
                raise HTTPException(400, f"{path.name} could not be read: {exc}; nothing was sent") from None
            try:
                writer = await run_in_threadpool(ingestion.writer)
                report = await run_in_threadpool(upload, path, tenant, writer, None)
            except KafkaUnavailable as exc:
                raise _kafka_down(exc) from None
            except UploadStopped as exc:
                if not exc.kafka_down:
                    raise HTTPException(400, str(exc)) from None
                ingestion.drop_writer()
                raise _kafka_down(exc) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return UploadResult(
            rows=report.rows,
            accepted=report.accepted,
            rejected=report.rejected,
            rejects=[RowReject(**r) for r in report.first_rejects],
            rejects_truncated=report.rejected > len(report.first_rejects),
        )

    if settings.clickhouse:
        with store(settings.clickhouse, wait_s=30) as ready:  # the schema the incident queries need
            ready.migrate()
        router = incidents_router(tenant_of, lambda: _store_for_request(settings.clickhouse))
        publish = _feedback_publisher(settings)
        work = work_router(tenant_of, lambda: _store_for_request(settings.clickhouse), publish=publish)
        for routes in (work, router):  # work first: /v1/incidents/stats before /v1/incidents/{incident_id}
            app.include_router(routes, responses={code: ERRORS[code] for code in (400, 401, 429, 503)})
        opener = lambda: _store_for_request(settings.clickhouse)  # noqa: E731
        app.include_router(
            dashboard_router(
                ingestion.keys.tenant_for, opener, ingestion.plans.label, session_secret(), ingestion.failures, publish
            )
        )
        mount_static(app)
        app.include_router(
            usage_router(tenant_of, lambda: _store_for_request(settings.clickhouse), ingestion.plans.of),
            responses={code: ERRORS[code] for code in (401, 429, 503)},
        )
    return app


def _feedback_publisher(settings: ApiSettings) -> Publish | None:
    """Where a label's feedback goes: the job's rule-updates topic or folder, as `pulse rules publish` sends."""
    if not (settings.rules_topic or settings.rules_folder):
        return None

    def publish(tenant: str, record: str) -> str:
        update = RuleUpdate(tenant, "label-feedback", 0, record)
        return rule_updates.publish(update, settings.rules_folder, settings.bootstrap, settings.rules_topic or "")

    return publish


@contextmanager
def _store_for_request(dsn: str) -> Iterator[Store]:
    """A ClickHouse connection for one request; 503 while the embedded chDB folder is held by a job.

    chDB serves one connection at a time, so this process's requests take turns (up to EMBEDDED_TURN_S each)
    rather than answer 503 to one another; a ClickHouse server serves them at once."""
    embedded = dsn.startswith("chdb://")
    if embedded and not _EMBEDDED_TURN.acquire(timeout=EMBEDDED_TURN_S):
        detail = f"the incident store has served other requests for {EMBEDDED_TURN_S} s, retry shortly"
        raise HTTPException(503, detail, headers={"Retry-After": "5"})
    try:
        with _opened_for_request(dsn) as opened:
            yield opened
    finally:
        if embedded:
            _EMBEDDED_TURN.release()


@contextmanager
def _opened_for_request(dsn: str) -> Iterator[Store]:
    try:
        opened = open_store(dsn, wait_s=2)
    except StoreBusy as exc:
        detail = f"the incident store is busy, retry shortly ({exc})"
        raise HTTPException(503, detail, headers={"Retry-After": "5"}) from None
    try:
        yield opened
    finally:
        opened.close()


def _kafka_down(exc: Exception) -> HTTPException:
    """503 for a write Kafka did not confirm; the cause (which names the broker) goes to the log only."""
    log.warning("a write to Kafka failed: %s", exc)
    detail = "Kafka did not confirm the write, so nothing in this request was accepted: retry after Retry-After seconds"
    return HTTPException(503, detail, headers={"Retry-After": str(KAFKA_RETRY_AFTER_S)})


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes `limit` bytes."""
    _check_declared_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body over {limit} bytes: split it into several requests")
        chunks.append(chunk)
    return b"".join(chunks)


async def _spool(request: Request, path: Path, limit: int) -> None:
    """Stream the request body to `path` (never all in memory), refusing it with 413 past `limit` bytes."""
    _check_declared_length(request, limit)
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"upload over {limit} bytes: split the file")
            out.write(chunk)


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"body of {declared} bytes is over the limit of {limit}")


def _split_records(body: bytes) -> list[str]:
    """The body's records as JSON text: one JSON value gives its items (an array) or itself; otherwise NDJSON gives
    each non-blank line. Lines end at \\n only: U+2028 or U+0085 in a string is a character, not a line end."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        lines = (line.removesuffix("\r") for line in text.split("\n"))
        return [line for line in lines if line.strip(JSON_WHITESPACE)]
    return [_item_text(item) for item in (data if isinstance(data, list) else [data])]


def _item_text(item: Any) -> str:
    """One value of a JSON body as JSON text, in UTF-8 as sent; escaped only if it holds a lone surrogate (which
    UTF-8 cannot carry)."""
    text = json.dumps(item, ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(item)
    return text
