"""Changing a tenant's rules while the scoring job runs.

An update is a tenant's whole config file, published with `pulse rules publish` to the rules topic (Kafka)
or into the job's rule-updates folder, as a raw-record envelope whose tenant is the one it was published for.
The job checks it as `pulse validate` does (schema, expressions, plan limits): a valid update becomes the
tenant's active config, and the rules it did not change keep their state (`RuleEngine.sync`); an invalid
one is refused and the previous version stays active. Either way one `config_updates` row says so.

>>> update = RuleUpdate("acme", "acme.yaml", 0, "tenant: acme\\nrules: []\\n")
>>> from pulse.tenants.plans import Plan
>>> plans = PlanBook({"free": Plan(events_per_second=100, max_rules=20)})
>>> validate_update(update, plans, "plans.yaml").tenant
'acme'
>>> try:
...     validate_update(RuleUpdate("globex", "acme.yaml", 1, update.text), plans, "plans.yaml")
... except ConfigInvalid as refused:
...     print(refused)
acme.yaml#1:1: tenant: must be 'globex', the tenant the update was published for (found 'acme')
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulse.inputs import RawRecord
from pulse.tenants.config import ConfigError, ConfigInvalid, TenantConfig, parse_tenant_config
from pulse.tenants.plan_check import check_against_plan
from pulse.tenants.plans import PlanBook
from pulse.topics import RULES_TOPIC, RecordWriter, ensure_topic


@dataclass(frozen=True)
class RuleUpdate:
    """One published config: for which tenant, from where (file or topic partition) and at which position."""

    tenant: str
    source: str
    index: int
    text: str

    @property
    def version(self) -> str:
        return f"{self.source}#{self.index}"

    @staticmethod
    def from_envelope(line: str) -> RuleUpdate:
        record = RawRecord.from_json(line)
        text = record.payload if isinstance(record.payload, str) else ""
        return RuleUpdate(record.tenant or "", record.source, record.index, text)

    def envelope(self) -> str:
        return RawRecord(self.source, self.index, self.text, self.tenant).to_json()


def validate_update(
    update: RuleUpdate, plans: PlanBook, plans_file: str, file: str | None = None, tenants: Iterable[str] = ()
) -> TenantConfig:
    """The update's config; ConfigInvalid with every error, located in `file` (default: the update's version),
    if it is invalid or exceeds its tenant's plan. `tenants`: the other tenants (whose secrets it may not name)."""
    file = file or update.version
    config = parse_tenant_config(update.text, file, tenants)
    if config.tenant != update.tenant:
        found = f"found {config.tenant!r}" if config.tenant else "the file names no tenant"
        message = f"must be {update.tenant!r}, the tenant the update was published for ({found})"
        raise ConfigInvalid([ConfigError(file, 1, "tenant", message)])
    errors = check_against_plan(config, file, plans, plans_file, text=update.text)
    if errors:
        raise ConfigInvalid(errors)
    return config


def update_row(update: RuleUpdate, config: TenantConfig | None, error: str, run_id: str) -> dict[str, Any]:
    """The `config_updates` row of an accepted (`config` given) or refused (`error`) update."""
    return {
        "tenant_id": update.tenant,
        "version": update.version,
        "accepted": config is not None,
        "error": error,
        "rules": len(config.rules) if config else 0,
        "run_id": run_id,
        "received_at": datetime.now(UTC),
    }


def suspension_row(tenant: str, rule_id: str, why: str, run_id: str) -> dict[str, Any]:
    """The `config_updates` row saying the job suspended rule `rule_id` of `tenant` (its expression was too slow)."""
    return {
        "tenant_id": tenant,
        "version": f"rule {rule_id} suspended",
        "accepted": False,
        "error": why,
        "rules": 0,
        "run_id": run_id,
        "received_at": datetime.now(UTC),
    }


def publish(
    update: RuleUpdate, folder: str | None = None, bootstrap: str | None = None, topic: str = RULES_TOPIC
) -> str:
    """Hand `update` to the running job: a new file in its rules folder, or a record (key: the tenant) on its
    rules topic; return where it went."""
    if folder:
        name = f"{update.tenant}-{time.time_ns()}.ndjson"
        hidden = Path(folder) / f".{name}"  # the job ignores hidden files: rename once complete
        hidden.write_text(update.envelope() + "\n")
        return str(hidden.rename(Path(folder) / name))
    ensure_topic(bootstrap, topic, partitions=1)  # one partition: a tenant's updates stay in order
    writer = RecordWriter(bootstrap, topic)
    try:
        writer.write(update.tenant, [update.text.encode()])
    finally:
        writer.close()
    return f"topic {topic} at {bootstrap}"
