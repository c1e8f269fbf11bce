"""Kafka for PulseEcom: the broker address, the topics, and writing tenant-keyed records durably.

Every record is keyed by its (authenticated) tenant, so a tenant's events stay in one partition, in order.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

EVENTS_TOPIC = "pulse.events"
ALERTS_TOPIC = "pulse.alerts"
RULES_TOPIC = "pulse.rules"
EVENTS_PARTITIONS = 4


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
    """Create `topic` if it does not exist yet."""
    try:
        admin = _admin(bootstrap, timeout_s)
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} is not reachable: {exc}") from None
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
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

    def write(self, tenant: str, values: Sequence[bytes]) -> None:
        """Send every value and wait for Kafka's confirmation; raise KafkaUnavailable if any is missing."""
        key = tenant.encode()
        try:
            futures = [self.producer.send(self.topic, key=key, value=value) for value in values]
            self.producer.flush(timeout=self.timeout_s)
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka did not take the records: {exc}") from None
        stored = [future.succeeded() for future in futures]
        if not all(stored):
            error = next((f.exception for f in futures if f.failed()), "no confirmation in time")
            message = f"Kafka did not confirm {stored.count(False)} of {len(stored)} records: {error}"
            raise KafkaUnavailable(message, stored)

    def close(self, timeout_s: float | None = None) -> None:
        """Close, waiting up to `timeout_s` (default: the write timeout) for unsent records; 0 drops them."""
        self.producer.close(timeout=self.timeout_s if timeout_s is None else timeout_s)


def _admin(bootstrap: str, timeout_s: float) -> KafkaAdminClient:
    timeout_ms = int(timeout_s * 1000)
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms)
