"""Notification channels in a tenant's config: Slack, Microsoft Teams, PagerDuty and email.

Every credential is the *name* of an environment variable (a Slack or Teams webhook URL is itself a
credential: whoever has it can post), never the value, like webhook signing secrets.

>>> SlackChannel(name="risk", type="slack", url_env="ACME_SLACK_URL").secret_names()
{'url_env': 'ACME_SLACK_URL'}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, model_validator

EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
ChannelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Address = Annotated[str, Field(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$", max_length=254)]
Host = Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$", max_length=253)]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ChannelName
    enabled: bool = True

    def secret_names(self) -> dict[str, str]:
        """The environment-variable names this channel reads, by field."""
        return {f: v for f, v in self if f.endswith("_env") and v is not None}


class SlackChannel(_Channel):
    """A Slack incoming webhook; `url_env` names the variable holding its https://hooks.slack.com/... URL."""

    type: Literal["slack"]
    url_env: EnvName


class TeamsChannel(_Channel):
    """A Microsoft Teams workflow webhook ("Post to a channel when a webhook request is received")."""

    type: Literal["teams"]
    url_env: EnvName


class PagerDutyChannel(_Channel):
    """PagerDuty Events API v2: `routing_key_env` names the variable holding the service's integration key."""

    type: Literal["pagerduty"]
    routing_key_env: EnvName
    url: Annotated[str, Field(pattern=r"^https?://")] = "https://events.pagerduty.com/v2/enqueue"


class EmailChannel(_Channel):
    """Mail over SMTP with STARTTLS (always; the password never crosses the network in clear)."""

    type: Literal["email"]
    smtp_host: Host
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    sender: Address
    to: Annotated[list[Address], Field(min_length=1, max_length=50)]
    username_env: EnvName | None = None
    password_env: EnvName | None = None
    digest_from: Annotated[int, Field(ge=2, le=1000)] = 3

    @model_validator(mode="after")
    def _auth_pair(self) -> EmailChannel:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both username_env and password_env (SMTP AUTH), or neither")
        return self


Channel = Annotated[SlackChannel | TeamsChannel | PagerDutyChannel | EmailChannel, Discriminator("type")]
CHANNEL_TYPES = ("slack", "teams", "pagerduty", "email")
