"""`pulse validate`: check a configs folder, also against the plans; list every error."""

from __future__ import annotations

import argparse
from pathlib import Path

from pulse.cli.common import PROJECT_CONFIGS, console, errors, load_configs_or_report
from pulse.tenants.config import ConfigSet


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check tenant configs; exit 1 and list every error")
    p.add_argument("configs", nargs="?", default=str(PROJECT_CONFIGS))
    p.add_argument("--plans", help="plans file (default: the folder's plans.yaml, else configs/plans.yaml)")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    configs = load_configs_or_report(args.configs)
    if configs is None:
        return 1
    try:
        over_plan = _over_plan(args.configs, configs, args.plans)
    except (OSError, ValueError) as exc:
        errors.print(f"plans: {exc}", markup=False, highlight=False)
        return 1
    if over_plan:
        for error in over_plan:
            errors.print(str(error), markup=False, highlight=False)
        errors.print(f"{len(over_plan)} config(s) exceed their plan in {args.configs}", markup=False)
        return 1
    rules = sum(len(c.rules) for c in configs.tenants.values())
    console.print(f"{args.configs}: default config and {len(configs.tenants)} tenant(s), {rules} rule(s): valid")
    return 0


def _over_plan(configs_dir: str, configs: ConfigSet, plans_path: str | None) -> list:
    """Where the configs exceed their plans (too many rules, models or webhooks, unknown plan)."""
    from pulse.tenants.plan_check import check_against_plan
    from pulse.tenants.plans import read_plans

    plans_file, plans = read_plans(configs_dir, plans_path)
    folder = Path(configs_dir)
    files = [(configs.default, folder / "default.yaml")]
    files += [(config, next((folder / "tenants").glob(f"{tenant}.y*ml"))) for tenant, config in configs.tenants.items()]
    return [error for config, file in files for error in check_against_plan(config, str(file), plans, str(plans_file))]
