"""Where notices go: a tenant's signed webhooks and its Slack, Teams, PagerDuty and email channels.

A receiver's `key` makes each notice's message id (`webhook_id`): stable per notice and receiver, so a
restart skips what was delivered.
"""

from __future__ import annotations

from typing import Any, Protocol

from pulse.incidents.channels.base import Outcome
from pulse.incidents.channels.email import EmailTarget
from pulse.incidents.channels.http import WebhookTarget
from pulse.incidents.channels.pagerduty import PagerDutyTarget
from pulse.incidents.channels.slack import SlackTarget
from pulse.incidents.channels.teams import TeamsTarget
from pulse.tenants.channels import Channel, EmailChannel, PagerDutyChannel, SlackChannel, TeamsChannel
from pulse.tenants.config import WebhookConfig

ReceiverConfig = WebhookConfig | Channel
TARGETS = {WebhookConfig: WebhookTarget, SlackChannel: SlackTarget, TeamsChannel: TeamsTarget,
           PagerDutyChannel: PagerDutyTarget, EmailChannel: EmailTarget}  # fmt: skip


class Target(Protocol):
    """One receiver as the delivery worker sees it."""

    key: str
    name: str  # what logs and tables show: never a credential
    digest_from: int  # from how many notices at once they go as one message (0: never)
    grouped: bool  # each batch (a group's notification) is one message

    def message_id(self, notice: dict[str, Any]) -> str: ...
    def payload(self, notices: list[dict[str, Any]], message_id: str) -> bytes: ...
    def prepare(self) -> None: ...
    def send(self, message_id: str, payload: bytes) -> Outcome: ...
    def close(self) -> None: ...


def receiver_key(config: ReceiverConfig) -> str:
    """A webhook's URL, else `type:name`.

    >>> receiver_key(SlackChannel(name="risk", type="slack", url_env="ACME_SLACK_URL"))
    'slack:risk'
    """
    return config.url if isinstance(config, WebhookConfig) else f"{config.type}:{config.name}"


def target(config: ReceiverConfig, timeout_s: float, allow_private: bool, dashboard_url: str | None) -> Target:
    return TARGETS[type(config)](config, timeout_s, allow_private, dashboard_url)
