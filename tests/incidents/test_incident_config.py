"""Tenant config additions for incidents and webhooks: validated with file, line and field."""

import pytest

from pulse.tenants.config import ConfigInvalid, parse_tenant_config

GOOD = """\
tenant: acme
webhooks:
  - url: https://hooks.example.com/pulse
    format: alertmanager
    secrets: [ACME_HOOK_SECRET, ACME_HOOK_SECRET_OLD]
playbooks:
  large-order: call the customer before shipping.
incidents:
  quiet_minutes: 20
  quiet_minutes_by_cause: {card-testing: 5}
  max_notices_per_hour: 10
api_keys: ["sha256:%s"]
""" % ("ab" * 32)


def test_a_full_config_parses():
    config = parse_tenant_config(GOOD, "acme.yaml")
    assert config.webhooks[0].format == "alertmanager" and config.webhooks[0].secrets[1] == "ACME_HOOK_SECRET_OLD"
    assert config.incidents.quiet_minutes_by_cause == {"card-testing": 5}
    assert config.playbooks["large-order"].startswith("call")


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ("format: alertmanager", "format: slack", "acme.yaml:4: webhooks[0].format", "'json' or 'alertmanager'"),
        ("url: https://hooks.example.com/pulse", "url: hooks.example", "acme.yaml:3: webhooks[0].url", "pattern"),
        ("[ACME_HOOK_SECRET, ACME_HOOK_SECRET_OLD]", "[whsec_literal-secret]", "acme.yaml:5: webhooks[0].secrets",
         "NAMES of environment variables"),
        ("quiet_minutes: 20", "quiet_minutes: 0", "acme.yaml:9: incidents.quiet_minutes", "greater than or equal"),
    ],
)  # fmt: skip
def test_mistakes_are_located(old, new, where, message):
    with pytest.raises(ConfigInvalid) as error:
        parse_tenant_config(GOOD.replace(old, new), "acme.yaml")
    text = str(error.value)
    assert text.startswith(where) and message in text
    assert "whsec" not in text and "literal" not in text  # a secret pasted by mistake is not echoed back


CHANNELS = """\
tenant: acme
channels:
  - {name: risk-desk, type: slack, url_env: ACME_SLACK_WEBHOOK_URL}
  - {name: ops, type: teams, url_env: ACME_TEAMS_WORKFLOW_URL}
  - {name: on-call, type: pagerduty, routing_key_env: ACME_PAGERDUTY_ROUTING_KEY}
  - name: risk-mail
    type: email
    smtp_host: smtp.acme.example
    sender: pulse@acme.example
    to: [risk@acme.example]
    username_env: ACME_SMTP_USER
    password_env: ACME_SMTP_PASSWORD
"""


def test_channels_parse_with_their_defaults():
    slack, teams, pagerduty, mail = parse_tenant_config(CHANNELS, "acme.yaml").channels
    assert (slack.type, teams.type, pagerduty.url) == ("slack", "teams", "https://events.pagerduty.com/v2/enqueue")
    assert (mail.smtp_port, mail.digest_from, mail.to) == (587, 3, ["risk@acme.example"])


@pytest.mark.parametrize(
    "old, new, where, message",
    [
        ("ACME_PAGERDUTY_ROUTING_KEY", "GLOBEX_PD_KEY", "acme.yaml:5: channels[2].routing_key_env",
         "GLOBEX_PD_KEY cannot be used for acme's notices (it belongs to tenant globex)"),
        ("ACME_SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/x", "acme.yaml:3: channels[0].url_env",
         "String should match pattern"),
        ("name: ops", "name: risk-desk", "acme.yaml:2: channels", "receiver name(s) risk-desk used more than once"),
        ("    password_env: ACME_SMTP_PASSWORD\n", "", "acme.yaml:6: channels[3]:",
         "give both username_env and password_env"),
        ("type: teams", "type: discord", "acme.yaml:4: channels[1]", "'slack', 'teams', 'pagerduty', 'email'"),
    ],
)  # fmt: skip
def test_channel_mistakes_are_located(old, new, where, message):
    with pytest.raises(ConfigInvalid) as failure:
        parse_tenant_config(CHANNELS.replace(old, new), "acme.yaml", ["acme", "globex"])
    assert where in str(failure.value) and message in str(failure.value)
    assert "hooks.slack.com/services" not in str(failure.value)  # a credential put in the wrong place is not echoed


def test_channels_do_not_belong_in_the_default():
    with pytest.raises(ConfigInvalid, match="default.yaml:2: channels: channels belong in a tenant's own file"):
        parse_tenant_config(CHANNELS.replace("tenant: acme\n", "display_name: x\n"), "default.yaml")
