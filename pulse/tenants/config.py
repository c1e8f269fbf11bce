"""Tenant configuration: the YAML file format, its validation, and loading a config folder.

A config folder holds `default.yaml` (applied to any tenant without a file of its own) and one
`tenants/<tenant>.yaml` per tenant. Every error names the file, the line and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pulse.events import EVENT_TYPES
from pulse.rules.language import TemplateText, derived_fields
from pulse.rules.types import RULE_TYPES, Rule, type_error
from pulse.tenants.channels import CHANNEL_TYPES, Channel, ChannelName
from pulse.tenants.limits import MAX_TABLE_ENTRIES, MAX_TABLE_TEXT_CHARS, MAX_TABLES_ENTRIES
from pulse.tenants.metric_names import METRIC_NAMES
from pulse.tenants.mute_windows import MuteWindow
from pulse.tenants.planned import PlannedEvent
from pulse.tenants.routes import InhibitRule, Route
from pulse.tenants.yaml_lines import line_of, load_yaml


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskModelConfig(Strict):
    """The per-tenant event risk model (HalfSpaceTrees over order and payment features)."""

    enabled: bool = True
    event_types: list[Literal[EVENT_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["order_placed", "payment_succeeded", "payment_failed"]
    )
    n_trees: Annotated[int, Field(ge=1, le=50)] = 10
    height: Annotated[int, Field(ge=2, le=12)] = 6
    window_size: Annotated[int, Field(ge=10, le=10000)] = 100
    warmup_events: Annotated[int, Field(ge=0)] = 150
    alerts_per_day: Annotated[int, Field(ge=1, le=100)] = 1
    min_score: Annotated[float, Field(ge=0.0, le=1.0)] = 0.95
    seed: int = 42

    @model_validator(mode="before")
    @classmethod
    def _replaced(cls, data: Any) -> Any:
        if isinstance(data, dict) and "alert_quantile" in data:
            raise ValueError(
                "alert_quantile was replaced by alerts_per_day (the risk alerts a normal day may raise for the "
                "tenant, default 1): remove alert_quantile, and set alerts_per_day if 1 is not what you want"
            )
        return data


class MetricDetectorConfig(Strict):
    """One metric's online detector; unset fields take the shipped default for that metric."""

    enabled: bool | None = None
    direction: Literal["drop", "spike", "both"] | None = None
    window_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    min_z: Annotated[float, Field(gt=0.0, le=50.0)] | None = None
    alert_quantile: Annotated[float, Field(gt=0.5, lt=1.0)] | None = None
    min_volume: Annotated[float, Field(ge=0.0)] | None = None


class MetricsConfig(Strict):
    """Per-minute business metric anomaly detection (orders, revenue, conversion, payments, traffic, campaigns)."""

    enabled: bool = True
    warmup_minutes: Annotated[int, Field(ge=0, le=100_000)] = 60
    max_campaigns: Annotated[int, Field(ge=0, le=200)] = 20
    detectors: dict[str, MetricDetectorConfig] = Field(default_factory=dict)

    @field_validator("detectors")
    @classmethod
    def _known_metrics(cls, detectors: dict[str, MetricDetectorConfig]) -> dict[str, MetricDetectorConfig]:
        unknown = sorted(set(detectors) - set(METRIC_NAMES))
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; metrics are: {', '.join(METRIC_NAMES)}")
        return detectors


class ModelsConfig(Strict):
    risk: RiskModelConfig = Field(default_factory=RiskModelConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)


class WebhookConfig(Strict):
    """One webhook endpoint of a tenant; secrets are names of environment variables, newest first."""

    url: Annotated[str, Field(pattern=r"^https?://")]
    name: ChannelName | None = None  # what routes call it (`route.receivers`)
    format: Literal["json", "alertmanager"] = "json"
    secrets: Annotated[list[str], Field(min_length=1)]
    enabled: bool = True

    @field_validator("secrets")
    @classmethod
    def _env_names(cls, names: list[str]) -> list[str]:
        for i, name in enumerate(names):
            if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
                raise ValueError(
                    f"entry {i} is not an environment variable name (not shown: it may be a secret); list the NAMES "
                    "of environment variables holding the signing secrets (e.g. ACME_HOOK_SECRET), never the secrets"
                )
        return names


class IncidentsConfig(Strict):
    """How alerts become incidents: quiet period before resolving (per cause), how often an open incident's
    updates are sent, and the tenant's notice rate limit."""

    quiet_minutes: Annotated[int, Field(ge=1, le=10080)] = 30
    quiet_minutes_by_cause: dict[str, Annotated[int, Field(ge=1, le=10080)]] = Field(default_factory=dict)
    update_minutes: Annotated[int, Field(ge=0, le=10080)] = 10
    max_notices_per_hour: Annotated[int, Field(ge=1, le=10000)] = 30


def secret_prefix(tenant: str) -> str:
    """The start every signing-secret variable of `tenant` must have: its id in capitals, `-` as `_`.

    >>> secret_prefix("acme-eu")
    'ACME_EU_'
    """
    return tenant.upper().replace("-", "_") + "_"


def secret_owner(name: str, tenants: Iterable[str]) -> str | None:
    """The tenant a secret variable belongs to: the one with the longest prefix it starts with.

    >>> secret_owner("ACME_EU_HOOK_SECRET", ["acme", "acme-eu"]), secret_owner("OTHER", ["acme"])
    ('acme-eu', None)
    """
    owners = [t for t in tenants if name.startswith(secret_prefix(t))]
    return max(owners, key=lambda t: len(secret_prefix(t)), default=None)


def _check_tables(tables: dict[str, list[str] | dict[str, str]]) -> dict[str, list[str] | dict[str, str]]:
    """Refuse tables over the size limits: every rule evaluation that reads a table costs its size."""
    total = 0
    for name, table in tables.items():
        texts = [*table.items()] if isinstance(table, dict) else [(v,) for v in table]
        if len(texts) > MAX_TABLE_ENTRIES:
            raise ValueError(f"table {name!r} has {len(texts):,} entries; the limit is {MAX_TABLE_ENTRIES:,} per table")
        longest = max((len(t) for entry in texts for t in entry), default=0)
        if longest > MAX_TABLE_TEXT_CHARS:
            raise ValueError(
                f"table {name!r} has an entry of {longest:,} characters; the limit is {MAX_TABLE_TEXT_CHARS}"
            )
        total += len(texts)
    if total > MAX_TABLES_ENTRIES:
        raise ValueError(f"the tables have {total:,} entries in all; the limit is {MAX_TABLES_ENTRIES:,}")
    return tables


class TenantConfig(Strict):
    """One tenant's configuration file. Its plan is not in it: the operator assigns plans (pulse.tenants.plans)."""

    tenant: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] | None = None
    display_name: str | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    rules: list[Rule] = Field(default_factory=list)
    # Small lookup tables for rules, e.g. `tables.high_risk_countries` (a list) or `tables.vip_customers` (a map).
    tables: dict[str, list[str] | dict[str, str]] = Field(default_factory=dict)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    templates: dict[Literal["rule_alert", "risk_alert", "metric_alert", "incident"], TemplateText] = Field(
        default_factory=dict
    )
    playbooks: dict[str, str] = Field(default_factory=dict)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    mute_windows: list[MuteWindow] = Field(default_factory=list)  # recurring silences (pulse.tenants.mute_windows)
    planned: list[PlannedEvent] = Field(default_factory=list)  # sales, campaigns, maintenance (pulse.tenants.planned)
    route: Route | None = None  # None: every notice to every receiver, at once (pulse.tenants.routes)
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    # Hashes of the tenant's ingestion API keys (`pulse keys new --tenant T` prints one), never the keys.
    api_keys: list[Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _unique_channel_names(cls, channels: list[Channel], info: ValidationInfo) -> list[Channel]:
        names = [c.name for c in channels] + [w.name for w in info.data.get("webhooks", []) if w.name]
        if twice := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(
                f"receiver name(s) {', '.join(twice)} used more than once (channels and webhooks): "
                "every receiver needs its own"
            )
        return channels

    @field_validator("tables")
    @classmethod
    def _small_tables(cls, tables: dict[str, list[str] | dict[str, str]]) -> dict[str, list[str] | dict[str, str]]:
        return _check_tables(tables)


@dataclass(frozen=True)
class ConfigError:
    """One problem in a config file, located for the person who has to fix it."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigInvalid(Exception):
    """Raised when one or more config files are invalid; `errors` lists every problem found."""

    def __init__(self, errors: list[ConfigError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class ConfigSet:
    """All tenant configs of a folder, and the default for tenants without one; `refused` holds the errors of
    the tenant files that could not be used (only when loaded with `skip_invalid`)."""

    default: TenantConfig
    tenants: dict[str, TenantConfig]
    refused: dict[str, list[ConfigError]] = field(default_factory=dict)

    def for_tenant(self, tenant: str) -> TenantConfig:
        return self.tenants.get(tenant, self.default)


PLAN_IS_THE_OPERATORS = (
    "a tenant's plan is set by the operator, not in the tenant's config: remove this line "
    "(the operator assigns plans under `tenants:` in plans.yaml)"
)


def parse_tenant_config(text: str, file: str, tenants: Iterable[str] = ()) -> TenantConfig:
    """Validate one config file's text (`tenants`: the other tenants there are, whose signing secrets it may not
    name); raise ConfigInvalid with located errors."""
    try:
        data, lines = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise ConfigInvalid([ConfigError(file, line, "", f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ConfigInvalid([ConfigError(file, 1, "", "a tenant config must be a YAML mapping (key: value)")])
    errors = []
    if "plan" in data:
        errors.append(ConfigError(file, line_of(lines, ("plan",)), "plan", PLAN_IS_THE_OPERATORS))
        data = {k: v for k, v in data.items() if k != "plan"}
    try:
        config = TenantConfig.model_validate(data, context={"fields": derived_fields(data)})
    except ValidationError as exc:
        raise ConfigInvalid([*errors, *(_locate(err, file, lines) for err in exc.errors(include_url=False))]) from None
    errors += _duplicate_rule_ids(config, file, lines) + _foreign_secrets(config, file, lines, tenants)
    errors += _unknown_receivers(config, file, lines)
    if errors:
        raise ConfigInvalid(errors)
    return config


def _duplicate_rule_ids(config: TenantConfig, file: str, lines: dict) -> list[ConfigError]:
    seen: set[str] = set()
    errors = []
    for i, rule in enumerate(config.rules):
        if rule.id in seen:
            message = f"duplicate rule id {rule.id!r}: every rule needs its own id"
            errors.append(ConfigError(file, line_of(lines, ("rules", i, "id")), f"rules[{i}].id", message))
        seen.add(rule.id)
    return errors


def _unknown_receivers(config: TenantConfig, file: str, lines: dict) -> list[ConfigError]:
    """Every receiver a route names is one of the tenant's named webhooks or channels."""
    known = {c.name for c in config.channels} | {w.name for w in config.webhooks if w.name}
    errors = []
    stack = [(("route",), config.route)] if config.route else []
    while stack:
        path, route = stack.pop()
        for i, name in enumerate(route.receivers or []):
            if name not in known:
                where = (*path, "receivers", i)
                listed = ", ".join(sorted(known)) or "none yet"
                message = (
                    f"no webhook or channel is named {name!r} (named: {listed}); give the receiver "
                    "`name: " + name + "` or correct the name"
                )
                errors.append(ConfigError(file, line_of(lines, where), _field(where), message))
        stack += [((*path, "routes", i), child) for i, child in enumerate(route.routes)]
    return sorted(errors, key=lambda e: e.line or 0)


def _field(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _foreign_secrets(config: TenantConfig, file: str, lines: dict, tenants: Iterable[str]) -> list[ConfigError]:
    """Secrets are the tenant's own `<TENANT>_...` variables: one naming another tenant's secret would sign this
    tenant's notices as that tenant (or post to that tenant's Slack, page its on-call, use its mail account)."""
    if config.tenant is None:
        errors = []
        for key in ("webhooks", "channels"):
            if getattr(config, key):
                message = f"{key} belong in a tenant's own file (tenants/<tenant>.yaml), not in the default"
                errors.append(ConfigError(file, line_of(lines, (key,)), key, message))
        return errors
    tenants = {*tenants, config.tenant}
    prefix = secret_prefix(config.tenant)
    named = [(("webhooks", i, "secrets", j), name) for i, hook in enumerate(config.webhooks)
             for j, name in enumerate(hook.secrets)]  # fmt: skip
    for i, channel in enumerate(config.channels):
        named += [(("channels", i, key), name) for key, name in channel.secret_names().items()]
    errors = []
    for path, name in named:
        owner = secret_owner(name, tenants)
        if owner != config.tenant:
            whose = f"it belongs to tenant {owner}" if owner else f"it does not start with {prefix}"
            verb = "sign" if path[0] == "webhooks" else "be used for"
            message = (
                f"{name} cannot {verb} {config.tenant}'s notices ({whose}); name an environment variable "
                f"of this tenant's, e.g. {prefix}HOOK_SECRET"
            )
            errors.append(ConfigError(file, line_of(lines, path), _field(path), message))
    return errors


def load_config_dir(folder: str | Path, skip_invalid: bool = False) -> ConfigSet:
    """Load `default.yaml` and `tenants/*.yaml`; collect every error of every file before raising. With
    `skip_invalid`, an invalid tenant file is left out and its errors kept in `refused` (the default's still raise)."""
    folder = Path(folder)
    files = sorted((folder / "tenants").glob("*.y*ml"))
    names = [path.stem for path in files]
    errors: list[ConfigError] = []
    default = TenantConfig()
    default_file = folder / "default.yaml"
    if default_file.exists():
        try:
            default = parse_tenant_config(default_file.read_text(), str(default_file), names)
        except ConfigInvalid as exc:
            errors.extend(exc.errors)
    tenants: dict[str, TenantConfig] = {}
    refused: dict[str, list[ConfigError]] = {}
    for path in files:
        try:
            config = parse_tenant_config(path.read_text(), str(path), names)
        except ConfigInvalid as exc:
            refused[path.stem] = exc.errors
            continue
        if config.tenant != path.stem:
            message = f"must be {path.stem!r}, the file's name (found {config.tenant!r})"
            refused[path.stem] = [ConfigError(str(path), 1, "tenant", message)]
            continue
        tenants[config.tenant] = config
    if errors or (refused and not skip_invalid):
        raise ConfigInvalid(errors + [e for problems in refused.values() for e in problems])
    return ConfigSet(default=default, tenants=tenants, refused=refused)


def _locate(err: dict[str, Any], file: str, lines: dict) -> ConfigError:
    tags = {"rules": RULE_TYPES, "channels": CHANNEL_TYPES}.get(err["loc"][0], ())  # union tags are not keys
    path = tuple(p for i, p in enumerate(err["loc"]) if not (i == 2 and p in tags))
    field = _field(path)
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key: check its spelling or remove it"
    elif err["type"] == "unknown_rule_type":
        message = type_error(err["input"])
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "string_type" and isinstance(err.get("input"), bool):
        message += ": YAML reads yes/no/on/off/true/false as a boolean; put the value in quotes"
    return ConfigError(file, line_of(lines, path), field, message)
