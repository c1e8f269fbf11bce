"""Repeated event ids within a tenant: the first event with an id is scored, a repeat is kept visible with its reason.

A tenant's event whose `event_id` was seen before is, compared with the first record of that id:
- the same event again (every field equal after validation, e.g. a producer's retry): `duplicate_event_id`,
  counted as a duplicate;
- another event under an id already used: `conflicting_event_id`, a reject (the first event stays);
- the very same record (same source and index: read again after a failure): not a repeat, scored again (its rows
  replace themselves).

Bounded per tenant: the ids of records received in the last 24 hours (receive time, see `pulse.inputs.RawRecord`),
at most 200,000 ids (about 250 bytes each in memory), the oldest forgotten first. The ids are kept in chunks in the
order they were first seen, so the job's state (Flink MapState, see operators/pipeline.py) rewrites only the chunk
that changed and drops whole chunks.

>>> seen = SeenIds()
>>> order = {"event_id": "e1", "tenant_id": "t", "ts": 1, "amount": 2.0}
>>> seen.check(order, Origin("f.jsonl", 0, 0)) is None
True
>>> seen.check(dict(order), Origin("f.jsonl", 1, 0))
Repeat(reason='duplicate_event_id', source='f.jsonl', index=0)
>>> seen.check({**order, "amount": 3.0}, Origin("f.jsonl", 2, 0)).reason
'conflicting_event_id'
>>> seen.check(order, Origin("f.jsonl", 0, 0)) is None  # the first record itself, replayed
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

HORIZON_MS = 24 * 3600 * 1000
MAX_IDS = 200_000
CHUNK_IDS = 1000
DUPLICATE = "duplicate_event_id"
CONFLICT = "conflicting_event_id"

# One chunk as stored: (newest receive time in it, [(event_id, digest, source, index), ...]).
Chunk = tuple[int, list[tuple[str, int, str, int]]]


class Origin(NamedTuple):
    """Where a record was read (source and index, as in `rejected_events`) and when it was received (epoch ms)."""

    source: str
    index: int
    received: int


@dataclass(frozen=True, slots=True)
class Repeat:
    """A record whose event id was seen before: why it is not scored, and where the first one was read."""

    reason: str
    source: str
    index: int


def digest(event: dict[str, Any]) -> int:
    """A 64-bit fingerprint of the event's content, equal for equal events in any process."""
    text = json.dumps(event, sort_keys=True, separators=(",", ":"))  # a validated event holds JSON values only
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class SeenIds:
    """The event ids one tenant has used recently, with the fingerprint and origin of each id's first record."""

    def __init__(self, horizon_ms: int = HORIZON_MS, max_ids: int = MAX_IDS, chunk_ids: int = CHUNK_IDS):
        self.horizon_ms = horizon_ms
        self.max_ids = max_ids
        self.chunk_ids = chunk_ids
        self.ids: dict[str, tuple[int, str, int]] = {}  # event id → (digest, source, index) of its first record
        self.chunks: dict[int, Chunk] = {}  # chunk number → the ids first seen in it, oldest chunk first
        self.newest = -(2**63)  # the newest receive time seen
        self.changed: set[int] = set()  # chunks to store
        self.dropped: set[int] = set()  # chunks to delete from storage
        self.sources: dict[str, str] = {}  # one string per source name, shared by its ids

    def check(self, event: dict[str, Any], origin: Origin) -> Repeat | None:
        """None for a new id (now remembered) or a replay of its first record; otherwise why it repeats."""
        event_id = event["event_id"]
        fingerprint = digest(event)
        first = self.ids.get(event_id)
        if first is not None:
            if (first[1], first[2]) == (origin.source, origin.index):
                return None
            return Repeat(DUPLICATE if first[0] == fingerprint else CONFLICT, first[1], first[2])
        self._remember(event_id, fingerprint, origin)
        return None

    def restore(self, chunks: Iterable[tuple[int, Chunk]]) -> None:
        """Take back the chunks stored before (after a restart), in any order."""
        for number, chunk in sorted(chunks):
            self.chunks[number] = chunk
            self.newest = max(self.newest, chunk[0])
            for event_id, fingerprint, source, index in chunk[1]:
                self.ids[event_id] = (fingerprint, self.sources.setdefault(source, source), index)

    def changes(self) -> tuple[dict[int, Chunk], set[int]]:
        """The chunks changed since the last call (to store) and those dropped (to delete)."""
        changed = {number: self.chunks[number] for number in self.changed if number in self.chunks}
        dropped = self.dropped
        self.changed, self.dropped = set(), set()
        return changed, dropped

    def _remember(self, event_id: str, fingerprint: int, origin: Origin) -> None:
        source = self.sources.setdefault(origin.source, origin.source)
        self.ids[event_id] = (fingerprint, source, origin.index)
        self.newest = max(self.newest, origin.received)
        number = max(self.chunks, default=0)
        chunk = self.chunks.get(number)
        if chunk is None or len(chunk[1]) >= self.chunk_ids:
            number += 1
            chunk = (origin.received, [])
        self.chunks[number] = (max(chunk[0], origin.received), chunk[1])
        chunk[1].append((event_id, fingerprint, source, origin.index))
        self.changed.add(number)
        self._forget()

    def _forget(self) -> None:
        """Drop the oldest chunks while there are too many ids or the oldest chunk is past the horizon."""
        while self.chunks:
            number = next(iter(self.chunks))
            received, ids = self.chunks[number]
            if len(self.ids) <= self.max_ids and received >= self.newest - self.horizon_ms:
                return
            del self.chunks[number]
            for event_id, *_ in ids:
                self.ids.pop(event_id, None)
            self.changed.discard(number)
            self.dropped.add(number)
