"""How long a tenant's raw rows are kept, from its plan: `configs/plans.yaml` when present, else defaults.

>>> retention_days("growth", plans_file=None)
180
>>> retention_days("no-such-plan", plans_file=None)
30
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PLANS_FILE = Path(__file__).resolve().parent.parent / "configs" / "plans.yaml"
DEFAULT_RETENTION_DAYS = {"free": 30, "growth": 180, "enterprise": 730}
FALLBACK_DAYS = 30


@lru_cache(maxsize=64)
def retention_days(plan: str, plans_file: Path | None = PLANS_FILE) -> int:
    """`retention_days` of the plan in plans.yaml (top level or under `plans:`), else the shipped default."""
    if plans_file is not None and plans_file.is_file():
        data = yaml.safe_load(plans_file.read_text()) or {}
        plans = data.get("plans", data) if isinstance(data, dict) else {}
        entry = plans.get(plan) if isinstance(plans, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get("retention_days"), int):
            return entry["retention_days"]
    return DEFAULT_RETENTION_DAYS.get(plan, FALLBACK_DAYS)
