"""Checking tenant configs against their plans: a config may not declare more rules, models or webhooks
than its plan allows, nor name a plan that does not exist. Errors name the file, line and field."""

from __future__ import annotations

from pathlib import Path

from pulse.config import ConfigError, TenantConfig
from pulse.plans import Plan
from pulse.yaml_lines import line_of, load_yaml


def enabled_models(config: TenantConfig) -> int:
    """How many models the config turns on (each field of `models:` is one model)."""
    return sum(1 for name in type(config.models).model_fields if getattr(config.models, name).enabled)


def check_against_plan(
    config: TenantConfig, file: str, plans: dict[str, Plan], plans_file: str, text: str | None = None
) -> list[ConfigError]:
    """Every way `config` (read from `file`, whose `text` is read from disk unless given) exceeds its plan;
    empty when it fits."""
    if text is None and Path(file).is_file():
        text = Path(file).read_text()
    _, lines = load_yaml(text) if text is not None else (None, {})
    plan = plans.get(config.plan)
    if plan is None:
        known = ", ".join(sorted(plans))
        message = f"plan {config.plan!r} is not in {plans_file} (plans there: {known})"
        return [ConfigError(file, line_of(lines, ("plan",)), "plan", message)]
    used = {
        "rules": (len(config.rules), plan.max_rules, "rules"),
        "models": (enabled_models(config), plan.max_models, "enabled models"),
        "webhooks": (len(config.webhooks), plan.max_webhooks, "webhook endpoints"),
    }
    errors = []
    for field, (count, limit, what) in used.items():
        if limit is not None and count > limit:
            message = (
                f"{count} {what}, but plan {config.plan!r} allows {limit}; remove {count - limit} "
                f"or move the tenant to a larger plan in {plans_file}"
            )
            errors.append(ConfigError(file, line_of(lines, (field,)), field, message))
    return errors
