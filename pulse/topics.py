"""Kafka for PulseEcom: the broker address, the topics, and writing tenant-keyed records durably.

Every record is keyed by its (authenticated) tenant, so a tenant's events stay in one partition, in order.
A record the API refused goes to the same topic, marked by a `pulse-refused` header with its reason and detail, so
that the scoring job stores it in `rejected_events` (the job stays the one writer of the tables). The topics
PulseEcom creates stamp every record with the broker's append time: the receive time the job keeps.

>>> refusal(Refused(b"{", "malformed_json", "record 0 of request is not valid JSON").headers()[0][1])
{'reason': 'malformed_json', 'detail': 'record 0 of request is not valid JSON'}
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

EVENTS_TOPIC = "pulse.events"
RULES_TOPIC = "pulse.rules"
EVENTS_PARTITIONS = 4
FLUSH_MARGIN_S = 2.0
REFUSED_HEADER = "pulse-refused"
TOPIC_CONFIG = {"message.timestamp.type": "LogAppendTime"}  # a record's timestamp: when the broker stored it
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """A record the API refused, written with its reason so that the job stores it as a reject."""

    value: bytes
    reason: str
    detail: str

    def headers(self) -> list[tuple[str, bytes]]:
        return [(REFUSED_HEADER, json.dumps({"reason": self.reason, "detail": self.detail}).encode())]


def refusal(header: bytes | None) -> dict[str, str] | None:
    """The reason and detail of a `pulse-refused` header; None without one."""
    if header is None:
        return None
    refused = json.loads(header)
    return {"reason": str(refused["reason"]), "detail": str(refused["detail"])}


class KafkaUnavailable(RuntimeError):
    """Kafka did not confirm a write (or could not be reached): the caller must not report success.

    `stored` tells, per record of the failed write, which ones Kafka did confirm (empty if none is known).
    """

    def __init__(self, message: str, stored: list[bool] | None = None):
        super().__init__(message)
        self.stored = stored or []


def default_bootstrap() -> str:
    """`$PULSE_KAFKA`, else the project's local broker on `$PULSE_KAFKA_PORT` (default 19592)."""
    return os.environ.get("PULSE_KAFKA") or f"127.0.0.1:{os.environ.get('PULSE_KAFKA_PORT', '19592')}"


def ensure_topic(bootstrap: str, topic: str, partitions: int = EVENTS_PARTITIONS, timeout_s: float = 10) -> None:
    """Create `topic` if it does not exist yet, its records stamped with the broker's append time."""
    try:
        admin = _admin(bootstrap, timeout_s)
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} is not reachable: {exc}") from None
    try:
        admin.create_topics([NewTopic(topic, partitions, replication_factor=1, topic_configs=TOPIC_CONFIG)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def reachable(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """Whether a broker at `bootstrap` answers a metadata request now."""
    try:
        admin = _admin(bootstrap, timeout_s)
    except KafkaError:
        return False
    try:
        admin.describe_cluster()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


class BrokerCheck:
    """Whether Kafka answers, asked at most once every `every_s` seconds however often it is called: while one
    check runs, other callers get the last answer (only the very first is waited for)."""

    def __init__(self, bootstrap: str, every_s: float, clock: Callable[[], float] = time.monotonic):
        self.bootstrap = bootstrap
        self.every_s = every_s
        self.clock = clock
        self.answer: bool | None = None
        self.at = -math.inf
        self.lock = threading.Lock()

    def __call__(self) -> bool:
        if self.clock() - self.at >= self.every_s and self.lock.acquire(blocking=self.answer is None):
            try:
                if self.clock() - self.at >= self.every_s:
                    self.answer, self.at = reachable(self.bootstrap), self.clock()
                    if not self.answer:
                        log.warning("Kafka at %s is not reachable", self.bootstrap)
            finally:
                self.lock.release()
        return bool(self.answer)


class RecordWriter:
    """Produces raw records keyed by tenant with `acks=all`; `write` returns only once Kafka has stored them."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0):
        self.topic = topic
        self.timeout_s = timeout_s
        try:
            self.producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                batch_size=256 * 1024,
                max_block_ms=int(timeout_s * 1000),
                request_timeout_ms=int(timeout_s * 1000) // 2,
                delivery_timeout_ms=int(timeout_s * 1000),
            )
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka at {bootstrap} is not reachable: {exc}") from None

    def write(self, tenant: str, values: Sequence[bytes | Refused]) -> None:
        """Send every value (a refused one with its header) and wait for Kafka's confirmation; raise
        KafkaUnavailable if any is missing, saying which ones Kafka did confirm (also when the producer refused
        a value part-way)."""
        key = tenant.encode()
        futures, error = [], None
        try:
            for value in values:
                if isinstance(value, Refused):
                    futures.append(self.producer.send(self.topic, key=key, value=value.value, headers=value.headers()))
                else:
                    futures.append(self.producer.send(self.topic, key=key, value=value))
        except KafkaError as exc:
            error = f"Kafka did not take record {len(futures)} of {len(values)}: {exc}"
        with suppress(KafkaError):  # the futures not done by now count as not stored
            # Past the delivery timeout every record is confirmed or failed: waiting a little longer tells which.
            self.producer.flush(timeout=self.timeout_s + FLUSH_MARGIN_S)
        stored = [future.succeeded() for future in futures] + [False] * (len(values) - len(futures))
        if error is None and not all(stored):
            reason = next((f.exception for f in futures if f.failed()), "no confirmation in time")
            error = f"Kafka did not confirm {stored.count(False)} of {len(stored)} records: {reason}"
        if error:
            raise KafkaUnavailable(error, stored)

    def close(self, timeout_s: float | None = None) -> None:
        """Close, waiting up to `timeout_s` (default: the write timeout) for unsent records; 0 drops them."""
        try:
            self.producer.close(timeout=self.timeout_s if timeout_s is None else timeout_s)
        except KafkaTimeoutError:
            # kafka-python's close() flushes first and raises, before stopping its sender, while records are
            # unsent: fail them (nobody was told they were stored) so the second close completes at once
            self.producer._accumulator.abort_incomplete_batches()
            self.producer.close(timeout=0)


def _admin(bootstrap: str, timeout_s: float) -> KafkaAdminClient:
    timeout_ms = int(timeout_s * 1000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
