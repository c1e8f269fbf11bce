"""Slack, Teams, PagerDuty and email channels on the real delivery path (queues, retries, dead letters, attempt
log in a real chDB), each against a local receiver speaking the vendor's wire format: HTTP receivers that check
the documented payload schema and answer as the vendor does, and a real SMTP server (aiosmtpd) requiring
STARTTLS and AUTH."""

import email
import json
import ssl
import subprocess
import threading
from datetime import UTC, datetime
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from vendor_schemas import PAGERDUTY, SLACK, TEAMS

from pulse.incidents.channels import slack
from pulse.incidents.delivery import Dispatcher, RetryPolicy
from pulse.incidents.tracking import IncidentTracker
from pulse.store.clickhouse import store
from pulse.tenants.channels import EmailChannel, PagerDutyChannel, SlackChannel, TeamsChannel
from pulse.tenants.config import IncidentsConfig

ROUTING_KEY = "R0UT1NGK3Y0123456789abcdefABCDEF"
DASHBOARD = "https://pulse.example.com"


class VendorReceiver:
    """Answers like Slack (200 `ok`, 400 `invalid_payload`), Teams (202) or PagerDuty (202 JSON, 400 `Invalid
    event`) after validating each body against the vendor's schema; keeps what it accepted."""

    ANSWERS = {"/slack": (200, b"ok", 400, b"invalid_payload"),
               "/teams": (202, b"", 400, b"Bad Request"),
               "/pagerduty": (202, b'{"status":"success","message":"Event processed"}', 400,
                              b'{"status":"invalid event","message":"Event object is invalid"}')}  # fmt: skip
    SCHEMAS = {"/slack": SLACK, "/teams": TEAMS, "/pagerduty": PAGERDUTY}

    def __init__(self, port: int):
        self.accepted: dict[str, list[dict]] = {path: [] for path in self.SCHEMAS}
        self.invalid: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["content-length"]))
                ok_status, ok_body, bad_status, bad_body = receiver.ANSWERS[self.path]
                try:
                    document = json.loads(raw)
                    jsonschema.validate(document, receiver.SCHEMAS[self.path],
                                        format_checker=jsonschema.FormatChecker())  # fmt: skip
                    receiver.accepted[self.path].append(document)
                    status, answer = ok_status, ok_body
                except (ValueError, jsonschema.ValidationError) as exc:
                    receiver.invalid.append(f"{self.path}: {exc}")
                    status, answer = bad_status, bad_body
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    with store(f"chdb://{tmp_path_factory.mktemp('channels') / 'ch'}") as s:
        s.migrate()
        yield s


@pytest.fixture(scope="module")
def vendor():
    receiver = VendorReceiver(19631)
    yield receiver
    receiver.stop()


@pytest.fixture(autouse=True)
def env(monkeypatch, vendor):
    monkeypatch.setenv("ACME_SLACK_URL", vendor.url + "/slack")
    monkeypatch.setenv("ACME_TEAMS_URL", vendor.url + "/teams")
    monkeypatch.setenv("ACME_PD_KEY", ROUTING_KEY)


def notices(tenant: str, group: str, resolve: bool = False) -> list[dict]:
    """An open (and with `resolve`, its resolved) notice as `pulse dispatch` makes them."""
    tracker = IncidentTracker(lambda t: IncidentsConfig(quiet_minutes=10))
    alert = {"tenant_id": tenant, "alert_id": f"a-{group}", "ts": datetime(2026, 11, 2, 10, tzinfo=UTC),
             "kind": "rule", "cause": "large-order", "severity": "critical", "group_key": group, "amount": 2500.0,
             "country": "NG", "campaign_id": "bf", "currency": "USD", "baseline_amount": 200.0}  # fmt: skip
    made = tracker.observe(alert)
    if resolve:
        made += tracker.advance(tenant, datetime(2026, 11, 2, 11, tzinfo=UTC))
    extra = {"summary": f"Order above 2,000 USD for {group} <!channel>", "headline": "Order above 2,000 USD",
             "next_step": "call the customer before shipping."}  # fmt: skip
    return [n | extra for n in made]


def deliver(db, tenant, channel, batches: list[list[dict]], policy=None) -> None:
    lock = threading.Lock()

    def record(table, row):
        with lock:
            db.client.insert(table, [list(row.values())], column_names=list(row))

    dispatcher = Dispatcher(lambda t: [], record, policy or RetryPolicy(attempts=2, base_s=0.01), allow_private=True,
                            dashboard_url=DASHBOARD)  # fmt: skip
    for batch in batches:
        dispatcher.send(tenant, channel, batch)
    dispatcher.close()


def attempts(db, tenant):
    return db.query("SELECT endpoint, status_code, ok, error FROM webhook_attempts WHERE tenant_id = {t:String} "
                    "ORDER BY attempted_at", {"t": tenant})[1]  # fmt: skip


def dead(db, tenant):
    return db.query("SELECT endpoint, reason, payload FROM webhook_dead_letters WHERE tenant_id = {t:String}",
                    {"t": tenant})[1]  # fmt: skip


def test_slack_block_kit_message_is_accepted_and_says_everything(db, vendor):
    open_, resolved = notices("sl", "c1", resolve=True)
    deliver(db, "sl", SlackChannel(name="risk", type="slack", url_env="ACME_SLACK_URL"), [[open_], [resolved]])
    assert vendor.invalid == []
    first, second = vendor.accepted["/slack"]
    [attachment] = first["attachments"]
    assert attachment["color"] == "#B3261E" and second["attachments"][0]["color"] == "#2F9E44"
    header, summary, facts, top, step, actions, context = attachment["blocks"]
    assert header["text"]["text"] == "CRITICAL: Order above 2,000 USD (opened)"
    assert summary["text"]["text"] == "Order above 2,000 USD for c1 &lt;!channel&gt;"  # no mention of the channel
    assert [f["text"] for f in facts["fields"]][:3] == ["*Observed*\n2,500.00 USD", "*Expected*\n200.00 USD",
                                                         "*Change*\n+1150.0%"]  # fmt: skip
    assert {f["text"] for f in top["fields"]} == {"*Campaign*\nbf", "*Country*\nNG"}
    assert step["text"]["text"] == "*Next step*\ncall the customer before shipping."
    assert actions["elements"][0]["url"] == f"{DASHBOARD}/dashboard#{open_['incident_id']}"
    assert open_["incident_id"] in context["elements"][0]["text"]
    assert attempts(db, "sl") == [("slack risk", 200, True, "")] * 2  # the URL (a secret) is never shown


def test_a_payload_slack_refuses_is_not_retried_and_dead_lettered(db, vendor, monkeypatch):
    [n] = notices("sl-bad", "c1")
    long = n | {"headline": "x" * 200}  # Slack refuses header texts over 150 characters: it is cut
    original = slack.message  # a key Slack does not know makes Slack answer 400 invalid_payload
    monkeypatch.setattr(slack, "message", lambda notice, url: original(notice, url) | {"unfurl": "no such key"})
    deliver(db, "sl-bad", SlackChannel(name="risk", type="slack", url_env="ACME_SLACK_URL"), [[long]])
    assert any("unfurl" in problem for problem in vendor.invalid)
    vendor.invalid.clear()
    [(endpoint, reason, payload)] = dead(db, "sl-bad")
    assert (endpoint, reason) == ("slack risk", "HTTP 400 Bad Request: not retried")
    assert len(json.loads(payload)["attachments"][0]["blocks"][0]["text"]["text"]) == 150  # cut to Slack's limit


def test_teams_adaptive_card_is_accepted(db, vendor):
    [n] = notices("tm", "c1")
    deliver(db, "tm", TeamsChannel(name="ops", type="teams", url_env="ACME_TEAMS_URL"), [[n]])
    assert vendor.invalid == []
    [message] = vendor.accepted["/teams"]
    card = message["attachments"][0]["content"]
    heading, summary, facts, step = card["body"]
    assert heading["style"] == "attention" and heading["items"][0]["text"].startswith("CRITICAL: Order above")
    assert summary["text"] == n["summary"]
    assert {"title": "Country", "value": "NG"} in facts["facts"]
    assert step["text"] == "Next step: call the customer before shipping."
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in dashboard",
                                "url": f"{DASHBOARD}/dashboard#{n['incident_id']}"}]  # fmt: skip
    assert attempts(db, "tm") == [("teams ops", 202, True, "")]


def group(tenant: str, size: int) -> list[dict]:
    """A route group's notification: the open notices of `size` incidents."""
    return [n for i in range(size) for n in notices(tenant, f"c{i}")]


def test_a_group_of_notices_is_one_slack_message_with_an_attachment_each(db, vendor):
    deliver(db, "slg", SlackChannel(name="risk", type="slack", url_env="ACME_SLACK_URL"), [group("slg", 3)])
    assert vendor.invalid == []
    [message] = vendor.accepted["/slack"][-1:]
    assert message["text"].startswith("3 notices: CRITICAL: Order above 2,000 USD (opened)")
    sections = [a["blocks"][0]["text"]["text"] for a in message["attachments"]]
    assert [s.split("\n")[1] for s in sections] == [
        f"Order above 2,000 USD for c{i} &lt;!channel&gt;" for i in range(3)
    ]
    links = [a["blocks"][1]["elements"][0]["url"] for a in message["attachments"]]
    assert all(link.startswith(f"{DASHBOARD}/dashboard#inc_") for link in links) and len(set(links)) == 3
    assert [row[:3] for row in attempts(db, "slg")] == [("slack risk", 200, True)] * 3  # one attempt, logged per notice


def test_a_group_past_ten_notices_shows_ten_and_counts_the_rest(db, vendor):
    deliver(db, "slb", SlackChannel(name="risk", type="slack", url_env="ACME_SLACK_URL"), [group("slb", 12)])
    deliver(db, "tmb", TeamsChannel(name="ops", type="teams", url_env="ACME_TEAMS_URL"), [group("tmb", 12)])
    assert vendor.invalid == []
    slack_message, teams_message = vendor.accepted["/slack"][-1], vendor.accepted["/teams"][-1]
    *shown, more = slack_message["attachments"]
    assert len(shown) == 10 and more["blocks"][0]["elements"][0]["text"].startswith("and 2 more notices")
    card = teams_message["attachments"][0]["content"]
    heading, *sections, rest = card["body"]
    assert heading["text"] == "12 notices" and len(sections) == 10 and rest["text"].startswith("and 2 more notices")
    assert len(card["actions"]) == 5


def test_a_group_of_notices_is_one_teams_card_with_a_section_each(db, vendor):
    deliver(db, "tmg", TeamsChannel(name="ops", type="teams", url_env="ACME_TEAMS_URL"), [group("tmg", 2)])
    assert vendor.invalid == []
    card = vendor.accepted["/teams"][-1]["attachments"][0]["content"]
    heading, first, second = card["body"]
    assert heading["text"] == "2 notices"
    assert [c["items"][1]["text"] for c in (first, second)] == [
        f"Order above 2,000 USD for c{i} <!channel>" for i in range(2)
    ]
    assert (
        first["style"] == "attention" and {"title": "Observed", "value": "2,500.00 USD"} in first["items"][2]["facts"]
    )
    links = [a["url"] for a in card["actions"]]
    assert len(set(links)) == 2 and all(link.startswith(f"{DASHBOARD}/dashboard#inc_") for link in links)
    assert [row[:3] for row in attempts(db, "tmg")] == [("teams ops", 202, True)] * 2


def test_pagerduty_triggers_on_open_and_resolves_with_one_dedup_key(db, vendor):
    open_, resolved = notices("pd", "c1", resolve=True)
    channel = PagerDutyChannel(name="oncall", type="pagerduty", routing_key_env="ACME_PD_KEY",
                               url=vendor.url + "/pagerduty")  # fmt: skip
    deliver(db, "pd", channel, [[open_], [resolved]])
    assert vendor.invalid == []
    trigger, resolve = vendor.accepted["/pagerduty"]
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == open_["incident_id"]
    assert trigger["routing_key"] == resolve["routing_key"] == ROUTING_KEY
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "pulseecom/pd"
    assert trigger["payload"]["custom_details"]["Country"] == "NG"
    assert trigger["client_url"] == f"{DASHBOARD}/dashboard#{open_['incident_id']}"
    assert attempts(db, "pd") == [("pagerduty oncall", 202, True, "")] * 2


def test_pagerduty_key_missing_is_dead_lettered_naming_the_variable_and_never_stored(db, vendor, monkeypatch):
    monkeypatch.delenv("ACME_PD_KEY")
    [n] = notices("pd-nokey", "c1")
    channel = PagerDutyChannel(name="oncall", type="pagerduty", routing_key_env="ACME_PD_KEY",
                               url=vendor.url + "/pagerduty")  # fmt: skip
    deliver(db, "pd-nokey", channel, [[n]])
    [(_, reason, payload)] = dead(db, "pd-nokey")
    assert reason == "PagerDuty routing key environment variable ACME_PD_KEY is not set"
    assert "routing_key" not in json.loads(payload)  # the stored payload never holds the key


# --- email ------------------------------------------------------------------------------------------------


def self_signed(folder, host: str):
    """A self-signed certificate and key for `host` (openssl)."""
    cert, key = folder / f"{host}.pem", folder / f"{host}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("tls"), "localhost")


class Inbox:
    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content,
                                                                          policy=email_policy.default)))  # fmt: skip
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    login = (bytes(auth_data.login), bytes(auth_data.password)) if isinstance(auth_data, LoginPassword) else None
    ok = login == (b"pulse", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(certificate, monkeypatch):
    """aiosmtpd on 127.0.0.1:19641 with STARTTLS required (no mail, no AUTH before it) and AUTH required; the
    client trusts its self-signed certificate (SSL_CERT_FILE), issued for `localhost`."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=19641, server_hostname="localhost",
                            tls_context=context, require_starttls=True, auth_required=True,
                            auth_require_tls=True, authenticator=authenticator)  # fmt: skip
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("ACME_SMTP_USER", "pulse")
    monkeypatch.setenv("ACME_SMTP_PASSWORD", "s3cret")
    yield inbox
    controller.stop()


def mail_channel(**changes) -> EmailChannel:
    fields = {"name": "risk-mail", "type": "email", "smtp_host": "localhost", "smtp_port": 19641,
              "sender": "pulse@acme.example", "to": ["risk@acme.example", "cfo@acme.example"],
              "username_env": "ACME_SMTP_USER", "password_env": "ACME_SMTP_PASSWORD"}  # fmt: skip
    return EmailChannel(**fields | changes)


def parts(message) -> tuple[str, str]:
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


def test_one_mail_per_notice_over_starttls_with_auth_in_text_and_html(db, smtp):
    [n] = notices("em", "c1")
    deliver(db, "em", mail_channel(), [[n]])
    [(recipients, message)] = smtp.messages
    assert recipients == ["risk@acme.example", "cfo@acme.example"]
    assert message["Subject"] == "PulseEcom CRITICAL: Order above 2,000 USD (opened)"
    text, html = parts(message)
    assert "Order above 2,000 USD for c1 <!channel>" in text and "Country: NG" in text
    assert "Next step: call the customer before shipping." in text
    assert f"{DASHBOARD}/dashboard#{n['incident_id']}" in text
    assert "for c1 &lt;!channel&gt;" in html and f'href="{DASHBOARD}/dashboard#{n["incident_id"]}"' in html
    assert attempts(db, "em") == [("email risk-mail", 250, True, "")]


def test_many_notices_at_once_come_as_one_digest(db, smtp):
    burst = [n for group in ("c1", "c2", "c3", "c4") for n in notices("dg", group)]
    deliver(db, "dg", mail_channel(), [burst, notices("dg", "c5")])  # 4 at once, then 1 more queued meanwhile
    [(_, message)] = smtp.messages
    assert message["Subject"] == "PulseEcom: 5 notices (5 critical)"
    text, html = parts(message)
    assert all(f"Order above 2,000 USD for c{i}" in text and f"for c{i}" in html for i in range(1, 6))
    assert len(attempts(db, "dg")) == 5  # one attempt row per notice the digest carried


def test_two_notices_are_two_mails(db, smtp):
    deliver(db, "two", mail_channel(), [notices("two", "c1") + notices("two", "c2")])
    assert [m["Subject"] for _, m in smtp.messages] == ["PulseEcom CRITICAL: Order above 2,000 USD (opened)"] * 2


def test_wrong_password_is_not_retried_and_dead_lettered(db, smtp, monkeypatch):
    monkeypatch.setenv("ACME_SMTP_PASSWORD", "wrong")
    deliver(db, "badpw", mail_channel(), [notices("badpw", "c1")], RetryPolicy(attempts=3, base_s=0.01))
    assert smtp.messages == []
    [(_, reason, _)] = dead(db, "badpw")
    assert reason == "SMTP 535: authentication failed: not retried"
    assert [a[1] for a in attempts(db, "badpw")] == [535]


def test_an_untrusted_certificate_sends_nothing(db, smtp, monkeypatch, tmp_path):
    other, _ = self_signed(tmp_path, "localhost")  # right name, but not the server's certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    deliver(db, "badtls", mail_channel(), [notices("badtls", "c1")], RetryPolicy(attempts=2, base_s=0.01))
    assert smtp.messages == []
    [(_, reason, _)] = dead(db, "badtls")
    assert reason == "gave up after 2 attempts: TLS with localhost failed (SSLCertVerificationError)"


def test_private_smtp_hosts_are_refused_unless_allowed(db, smtp):
    lock = threading.Lock()

    def record(table, row):
        with lock:
            db.client.insert(table, [list(row.values())], column_names=list(row))

    dispatcher = Dispatcher(lambda t: [], record, RetryPolicy(attempts=1))
    dispatcher.send("priv", mail_channel(), notices("priv", "c1"))
    dispatcher.close()
    assert smtp.messages == []
    [(_, reason, _)] = dead(db, "priv")
    assert "resolves to non-public address" in reason and "--allow-private" in reason
