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
