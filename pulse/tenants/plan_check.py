"""Checking tenant configs against their plans: a config may not declare more rules, models or webhooks
than the plan the operator put its tenant on allows. Errors name the file, line and field."""

from __future__ import annotations

from pathlib import Path

from pulse.tenants.config import ConfigError, TenantConfig
from pulse.tenants.plans import PlanBook
from pulse.tenants.yaml_lines import line_of, load_yaml


def enabled_models(config: TenantConfig) -> int:
    """How many models the config turns on (each field of `models:` is one model)."""
    return sum(1 for name in type(config.models).model_fields if getattr(config.models, name).enabled)


def check_against_plan(
    config: TenantConfig, file: str, plans: PlanBook, plans_file: str, text: str | None = None
) -> list[ConfigError]:
    """Every way `config` (read from `file`, whose `text` is read from disk unless given) exceeds the plan of its
    tenant (the default plan for the default config); empty when it fits."""
    name = plans.name_of(config.tenant) if config.tenant else plans.default
    plan = plans.plans[name]
    used = {
        "rules": (len(config.rules), plan.max_rules, "rules"),
        "models": (enabled_models(config), plan.max_models, "enabled models"),
        "webhooks": (len(config.webhooks), plan.max_webhooks, "webhook endpoints"),
    }
    errors = []
    lines = _lines(file, text)
    for field, (count, limit, what) in used.items():
        if limit is not None and count > limit:
            message = (
                f"{count} {what}, but plan {name!r} allows {limit}; remove {count - limit} "
                f"or move the tenant to a larger plan in {plans_file}"
            )
            errors.append(ConfigError(file, line_of(lines, (field,)), field, message))
    return errors


def _lines(file: str, text: str | None) -> dict:
    """The lines of `file`'s fields (its `text` is read from disk unless given)."""
    if text is None and Path(file).is_file():
        text = Path(file).read_text()
    return load_yaml(text)[1] if text is not None else {}
