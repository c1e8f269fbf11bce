"""Subscription plans (`configs/plans.yaml`): the limits each plan gives a tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Plan(BaseModel):
    """What the ingestion API needs of a plan; other keys are for other parts of the product."""

    model_config = ConfigDict(extra="allow", frozen=True)

    events_per_second: Annotated[float, Field(gt=0)]


def load_plans(path: str | Path) -> dict[str, Plan]:
    """Read the `plans:` mapping of a plans file; raise ValueError naming the file on any problem."""
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
    return result
