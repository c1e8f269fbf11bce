"""`pulse dispatch`: alerts → incidents (with summaries) → `incidents` table → tenants' webhooks and channels.

Runs outside the scoring job, reading alerts from ClickHouse or Kafka, so a slow endpoint can never
slow the stream. It rebuilds incident state by re-reading alerts (incident ids are deterministic) and
skips notices whose webhook id was already delivered or dead-lettered, so a restart re-sends nothing.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pulse.incidents.channels import ReceiverConfig, receiver_key
from pulse.incidents.delivery import Dispatcher, RetryPolicy, message_id
from pulse.incidents.routing import Flush, Router, receiver_names
from pulse.incidents.silences import HoldBack, notice_time
from pulse.incidents.sources import Item, Watermark
from pulse.incidents.tracking import IncidentTracker
from pulse.job.metric_alerts import metric_headline, metric_next_step
from pulse.store.clickhouse import Store
from pulse.store.tables import INCIDENTS
from pulse.store.writer import BatchWriter
from pulse.summaries import default_template, incident_summary, next_step
from pulse.tenants.config import ConfigSet, TenantConfig

RISK_HEADLINE = "Unusual orders and payments flagged by the risk model"


class RowWriter:
    """Writes rows to ClickHouse from its own thread, so neither the alert loop nor a webhook worker ever waits
    for an insert; each insert takes every row queued meanwhile (batches grow when ClickHouse is slow)."""

    def __init__(self, store: Store, lock: threading.Lock, max_queued: int = 100_000):
        self.writer = BatchWriter(store)
        self.lock = lock
        self.rows: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize=max_queued)
        self.thread = threading.Thread(target=self._run, name="clickhouse rows", daemon=True)
        self.thread.start()

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row (blocks only when `max_queued` rows wait: ClickHouse has been down for long)."""
        self.rows.put((table, row))

    def close(self) -> None:
        """Write everything queued, then stop the thread."""
        self.rows.put(None)
        self.thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self.rows.get()]
            while True:
                try:
                    batch.append(self.rows.get_nowait())
                except queue.Empty:
                    break
            stopping = None in batch
            tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for item in batch:
                if item is not None:
                    tables[item[0]].append(item[1])
            with self.lock:
                for table, rows in tables.items():
                    self.writer.insert(table, rows)


class IncidentPipeline:
    """Holds the tracker, the dispatcher and the store lock shared by every writer thread."""

    def __init__(
        self,
        store: Store,
        configs: ConfigSet,
        policy: RetryPolicy | None = None,
        allow_private: bool = False,
        dashboard_url: str | None = None,
    ):
        self.store = store
        self.configs = configs
        self.lock = threading.Lock()
        self.rows = RowWriter(store, self.lock)
        self.tracker = IncidentTracker(lambda tenant: configs.for_tenant(tenant).incidents)
        self.delivered = self._delivered()
        self.dispatcher = Dispatcher(
            self._receivers, self.record, policy, allow_private, self._disabled(), dashboard_url
        )
        self.hold_back = HoldBack(lambda tenant: self._config(tenant).mute_windows if self._config(tenant) else [])
        self.held_before = self._held_before()
        self.routers: dict[str, Router] = {}
        self.clocks: dict[str, datetime] = {}  # per tenant: the latest event time seen
        self.refreshed = 0.0
        self.counts = {"alerts": 0, "notices": 0, "submitted": 0, "already_delivered": 0, "no_webhook": 0,
                       "silenced": 0, "inhibited": 0}  # fmt: skip

    def run(self, items: Iterable[Item]) -> dict[str, int]:
        """Consume alerts and watermarks until the source ends; then wait for every delivery and every row."""
        try:
            for item in items:
                self._refresh_hold_back()
                if isinstance(item, Watermark):
                    notices = self.tracker.advance(item.tenant_id, item.ts)
                else:
                    self.counts["alerts"] += 1
                    notices = self.tracker.observe(item)
                for notice in notices:
                    self.handle(notice)
                if isinstance(item, Watermark):
                    self._due(item.tenant_id, item.ts)
                else:
                    self._due(item["tenant_id"], item["ts"])
            for tenant, router in self.routers.items():
                self._send(tenant, router.close(self.clocks[tenant]))
        finally:
            self.dispatcher.close()
            self.rows.close()
        return self.counts

    def handle(self, notice: dict[str, Any]) -> None:
        """Summarise a notice, record it, and route it to the tenant's receivers (unless it is held back)."""
        notice["summary"] = self.summarise(notice)
        self.counts["notices"] += 1
        row = {c: notice.get(c) for c in INCIDENTS} | {"recorded_at": datetime.now(UTC)}
        self.rows.add("incidents", row)
        tenant = notice["tenant_id"]
        if not notice["notify"] or not any(r.enabled for r in self._receivers(tenant)):
            self.counts["no_webhook"] += bool(notice["notify"])
            return
        at = notice_time(notice)
        self._due(tenant, at)  # what was due before this notice
        router = self._router(tenant)
        delivered = {receiver_key(r) for r in self._receivers(tenant) if message_id(notice, r) in self.delivered}
        router.reached[notice["incident_id"]] |= delivered  # by an earlier run, whatever holds it back now
        if not delivered and self._held(notice) and notice["status"] != "resolved":
            router.mute(notice)
        else:  # a resolve still goes to the receivers that got the incident before
            router.add(notice, at)
        self._due(tenant, at)

    def _held(self, notice: dict[str, Any]) -> bool:
        """Whether a notice is held back (silenced, muted, resolved by hand); recorded once, and one held back
        before (a replay) stays held back."""
        key = (notice["incident_id"], notice["version"])
        reason = "held back before" if key in self.held_before else self.hold_back.reason(notice)
        if reason is None:
            return False
        self.counts["silenced"] += 1
        if key not in self.held_before:
            self._record_held(notice, reason)
        return True

    def _record_held(self, notice: dict[str, Any], reason: str) -> None:
        row = {k: notice[k] for k in ("tenant_id", "incident_id", "version", "status")}
        self.rows.add("silenced_notices", row | {"reason": reason, "silenced_at": datetime.now(UTC)})
        self.held_before.add((notice["incident_id"], notice["version"]))

    def _router(self, tenant: str) -> Router:
        if tenant not in self.routers:
            config = self.configs.for_tenant(tenant)
            names = receiver_names(self._receivers(tenant), receiver_key)
            self.routers[tenant] = Router(config.route, names, config.inhibit_rules)
        return self.routers[tenant]

    def _due(self, tenant: str, at: datetime) -> None:
        """Send the tenant's notifications due by event time `at` (its clock never goes back)."""
        self.clocks[tenant] = max(self.clocks.get(tenant, at), at)
        if tenant in self.routers:
            self._send(tenant, self.routers[tenant].due(self.clocks[tenant]))

    def _send(self, tenant: str, flush: Flush) -> None:
        """Record the inhibited notices; queue each notification's notices not delivered by an earlier run."""
        for notice, reason in flush.inhibited:
            self.counts["inhibited"] += 1
            if (notice["incident_id"], notice["version"]) not in self.held_before:
                self._record_held(notice, reason)
        configs = {receiver_key(r): r for r in self._receivers(tenant)}
        for notification in flush.notifications:
            config = configs[notification.receiver]
            extra = {"group_labels": notification.group_labels, "group": notification.group_key}
            extra |= {"repeat": notification.repeat} if notification.repeat else {}
            left = [n | extra for n in notification.notices if message_id(n | extra, config) not in self.delivered]
            if not left:
                self.counts["already_delivered"] += 1
                continue
            self.counts["submitted"] += 1
            self.dispatcher.send(tenant, config, left)

    def summarise(self, notice: dict[str, Any]) -> str:
        config = self.configs.for_tenant(notice["tenant_id"])
        rules = {r.id: r.description for r in config.rules}
        headline = rules.get(notice["cause"]) or metric_headline(notice) or RISK_HEADLINE
        template = config.templates.get("incident") or default_template("incident")
        name = config.display_name or notice["tenant_id"]
        shipped = metric_next_step(notice["cause"])
        notice["headline"] = headline  # for the channels' titles
        notice["next_step"] = next_step(notice["cause"], config.playbooks, shipped)
        return incident_summary(notice, headline, name, config.currency, template, config.playbooks, shipped)

    def record(self, table: str, row: dict[str, Any]) -> None:
        """Thread-safe row write for the delivery workers (attempts, dead letters, disabled); never waits for it."""
        self.rows.add(table, row)

    def _receivers(self, tenant: str) -> list[ReceiverConfig]:
        config = self._config(tenant)
        return [*config.webhooks, *config.channels] if config else []

    def _config(self, tenant: str) -> TenantConfig | None:
        return self.configs.for_tenant(tenant) if tenant in self.configs.tenants else None

    def _refresh_hold_back(self, every_s: float = 2.0) -> None:
        """Re-read silences and hand resolves at most every `every_s` seconds."""
        if time.monotonic() - self.refreshed >= every_s:
            with self.lock:
                self.hold_back.refresh(self.store)
            self.refreshed = time.monotonic()

    def _held_before(self) -> set[tuple[str, int]]:
        _, rows = self.store.query("SELECT incident_id, version FROM silenced_notices")
        return {(i, v) for i, v in rows}

    def _delivered(self) -> set[str]:
        _, rows = self.store.query(
            "SELECT webhook_id FROM webhook_attempts WHERE ok "
            "UNION DISTINCT SELECT webhook_id FROM webhook_dead_letters"
        )
        return {r[0] for r in rows}

    def _disabled(self) -> dict[tuple[str, str], str]:
        _, rows = self.store.query("SELECT tenant_id, endpoint, reason FROM webhook_disabled FINAL")
        return {(t, e): reason for t, e, reason in rows}
