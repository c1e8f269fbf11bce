"""Subscription plans (`configs/plans.yaml`, the operator's file): the limits each plan gives a tenant, and
which plan each tenant is on. A tenant's own config cannot choose its plan.

>>> book = PlanBook({"free": Plan(events_per_second=5), "growth": Plan(events_per_second=50)}, {"acme": "growth"})
>>> book.name_of("acme"), book.name_of("someone-else"), book.of("acme")[1].events_per_second
('growth', 'free', 50.0)
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)
DEFAULT_BURST_SECONDS = 2.0
MAX_RETENTION_DAYS = 3650  # ClickHouse's DateTime ends in 2106: an expiry must stay before it


class Plan(BaseModel):
    """The limits of a plan; a limit left out (or null) is unlimited. Other keys are for other parts of the product."""

    model_config = ConfigDict(extra="allow", frozen=True)

    events_per_second: Annotated[float, Field(gt=0)]
    # Usage limits (see pulse/job/usage.py and pulse/tenants/plan_check.py).
    burst_events: Annotated[int, Field(ge=1)] | None = None
    events_per_month: Annotated[int, Field(ge=1)] | None = None
    max_rules: Annotated[int, Field(ge=0)] | None = None
    max_models: Annotated[int, Field(ge=0)] | None = None
    max_webhooks: Annotated[int, Field(ge=0)] | None = None
    retention_days: Annotated[int, Field(ge=1, le=MAX_RETENTION_DAYS)] | None = None
    overage: Literal["flag", "store_unscored"] = "flag"

    @property
    def burst(self) -> int:
        """The API's token bucket size: `burst_events`, or 2 s of `events_per_second` when left out."""
        return self.burst_events or max(1, math.ceil(self.events_per_second * DEFAULT_BURST_SECONDS))

    @property
    def kept_days(self) -> int:
        """The `retention_days` column of a raw row: days kept after arrival, 0 for kept until deleted.

        >>> Plan(events_per_second=1, retention_days=30).kept_days, Plan(events_per_second=1).kept_days
        (30, 0)
        """
        return self.retention_days or 0


def plans_file_for(configs_dir: str | Path) -> Path:
    """The plans file that goes with a config folder: its own `plans.yaml`, else the one shipped in configs/."""
    own = Path(configs_dir) / "plans.yaml"
    return own if own.is_file() else Path(__file__).resolve().parent.parent.parent / "configs" / "plans.yaml"


def read_plans(configs_dir: str | Path, plans_file: str | Path | None = None) -> tuple[Path, PlanBook]:
    """The plans file (`plans_file`, else the one that goes with the config folder) and what it says, read once."""
    path = Path(plans_file) if plans_file else plans_file_for(configs_dir)
    return path, load_plans(path)


@dataclass(frozen=True)
class PlanBook:
    """The plans of a plans file and the operator's assignment of tenants to them (`tenants:`); a tenant not
    listed is on `default_plan`."""

    plans: dict[str, Plan]
    tenants: dict[str, str] = field(default_factory=dict)
    default: str = "free"

    def name_of(self, tenant: str) -> str:
        """The name of the plan `tenant` is on."""
        return self.tenants.get(tenant, self.default)

    def of(self, tenant: str) -> tuple[str, Plan]:
        """The name and limits of the plan `tenant` is on."""
        name = self.name_of(tenant)
        return name, self.plans[name]


def load_plans(path: str | Path) -> PlanBook:
    """Read the `plans:`, `tenants:` and `default_plan:` of a plans file; raise ValueError naming the file on any
    problem (a tenant or the default on a plan the file does not define, among others)."""
    data = yaml.safe_load(Path(path).read_text())
    plans = (data or {}).get("plans") if isinstance(data, dict) else None
    if not isinstance(plans, dict) or not plans:
        raise ValueError(f"{path}: expected a 'plans:' mapping of plan name to limits")
    result = {}
    for name, limits in plans.items():
        try:
            result[str(name)] = Plan.model_validate(limits)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'limits'}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{path}: plan {name!r}: {problems}") from None
    tenants = data.get("tenants") or {}
    if not isinstance(tenants, dict) or not all(isinstance(v, str) for v in tenants.values()):
        raise ValueError(f"{path}: 'tenants:' must map each tenant id to the name of its plan")
    default = str(data.get("default_plan", "free"))
    known = ", ".join(result)
    for tenant, name in [*((f"tenant {t}", n) for t, n in tenants.items()), ("default_plan", default)]:
        if name not in result:
            raise ValueError(f"{path}: {tenant}: plan {name!r} is not defined under plans: (plans there: {known})")
    return PlanBook(result, {str(t): n for t, n in tenants.items()}, default)


class PlanWatcher:
    """The plans and tenant assignments of a file, re-read when the file changes, checked at most every
    `check_every_s` seconds; a file that became invalid is logged and what was read before stays in force."""

    def __init__(self, path: str | Path, check_every_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.check_every_s = check_every_s
        self.clock = clock
        self.stamp = self._stamp()
        self.book = load_plans(self.path)
        self.next_check = clock() + check_every_s
        self.lock = threading.Lock()  # the API asks from several threads

    def plan(self, name: str) -> Plan:
        """The current limits of plan `name`; KeyError if the plans file never had it."""
        return self.current().plans[name]

    def of(self, tenant: str) -> tuple[str, Plan]:
        """The name and current limits of the plan `tenant` is on now."""
        return self.current().of(tenant)

    def label(self, tenant: str) -> str:
        """The plan as the dashboard shows it, e.g. `free (50 events/s)`."""
        name, plan = self.of(tenant)
        return f"{name} ({plan.events_per_second:g} events/s)"

    def current(self) -> PlanBook:
        """The plans and assignments in force (the file is checked for changes at most every `check_every_s`)."""
        with self.lock:
            now = self.clock()
            if now >= self.next_check:
                self.next_check = now + self.check_every_s
                self._reload()
            return self.book

    def _reload(self) -> None:
        stamp = self._stamp()
        if stamp == self.stamp:
            return
        self.stamp = stamp
        try:
            new = load_plans(self.path)
            self.book = PlanBook({**self.book.plans, **new.plans}, new.tenants, new.default)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            log.error("plans file %s is invalid, keeping the plans read before: %s", self.path, exc)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size
