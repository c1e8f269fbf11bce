"""Routing and inhibition in a tenant's config, the Alertmanager model: a `route:` tree whose matchers send
notices to named receivers (the tenant's webhooks and channels), grouped and timed per route, and
`inhibit_rules` by which a firing incident mutes the ones it explains.

>>> route = Route.model_validate({"receivers": ["risk-desk"], "group_by": ["cause"], "group_wait": "30s",
...     "routes": [{"matchers": ["severity=critical"], "receivers": ["on-call"], "continue": True}]})
>>> route.routes[0].continue_, route.group_wait, route.routes[0].group_wait
(True, 30000, None)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pulse.incidents.matchers import FIELDS, valid_matcher
from pulse.rules.durations import Duration
from pulse.tenants.channels import ChannelName

Matcher = Annotated[str, AfterValidator(valid_matcher)]


def valid_field(name: str) -> str:
    """A field to group by or compare (`equal`): one of the matcher fields, or labels.NAME."""
    if name not in FIELDS and not (name.startswith("labels.") and len(name) > len("labels.")):
        raise ValueError(f"unknown field {name!r}: use one of {', '.join(FIELDS)} or labels.NAME")
    return name


FieldName = Annotated[str, AfterValidator(valid_field)]


class Route(BaseModel):
    """One node of the route tree; unset settings are inherited from the parent (the root's defaults are
    Alertmanager's: one group per route, group_wait 30s, group_interval 5m, repeat_interval 4h)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    matchers: list[Matcher] = Field(default_factory=list)
    receivers: list[ChannelName] | None = None
    continue_: bool = Field(False, alias="continue")
    group_by: list[FieldName] | None = None
    group_wait: Duration | None = None
    group_interval: Annotated[Duration, Field(gt=0)] | None = None
    repeat_interval: Annotated[Duration, Field(gt=0)] | None = None
    routes: list[Route] = Field(default_factory=list)


class InhibitRule(BaseModel):
    """While an incident matching `source_matchers` is open, notices of incidents matching `target_matchers`
    with the same values of the `equal` fields are held back (an incident never inhibits itself)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: Annotated[list[Matcher], Field(min_length=1)]
    target_matchers: Annotated[list[Matcher], Field(min_length=1)]
    equal: list[FieldName] = Field(default_factory=list)
