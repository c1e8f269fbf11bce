"""Email over SMTP: STARTTLS always (refused when the server does not offer it), AUTH with credentials
from the environment, a plain-text and an HTML part per message. When `digest_from` or more notices
come at once (one flush of a group, a burst of resolves), they go as one digest mail.

The SMTP host is checked like a webhook host: resolved once, refused when not public (unless the
operator allows private addresses), and the connection goes to the address checked; TLS verifies the
certificate for the host name.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections import Counter
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from pulse.incidents.channels.base import Outcome, env_secret
from pulse.incidents.channels.message import colour, dimensions, incident_link, numbers, title
from pulse.incidents.webhooks import allowed_addresses, webhook_id
from pulse.tenants.channels import EmailChannel

_html = Environment(loader=PackageLoader("pulse", "templates"), autoescape=select_autoescape(["j2"]))


def _facts(notice: dict[str, Any], dashboard_url: str | None) -> dict[str, Any]:
    return {
        "title": title(notice),
        "colour": colour(notice),
        "summary": notice["summary"],
        "facts": numbers(notice) + dimensions(notice),
        "next_step": notice.get("next_step") or "",
        "link": incident_link(notice, dashboard_url),
        "incident_id": notice["incident_id"],
    }


def plain_text(notices: list[dict[str, Any]], dashboard_url: str | None) -> str:
    """The text/plain part: each notice's title, summary, facts, next step and link."""
    parts = []
    for notice in notices:
        facts = _facts(notice, dashboard_url)
        lines = [facts["title"], "", facts["summary"], ""] + [f"{k}: {v}" for k, v in facts["facts"]]
        if facts["next_step"]:
            lines += ["", f"Next step: {facts['next_step']}"]
        lines += ["", facts["link"] or f"Incident {facts['incident_id']}"]
        parts.append("\n".join(lines))
    return ("\n\n" + "-" * 60 + "\n\n").join(parts) + "\n"


def subject(notices: list[dict[str, Any]]) -> str:
    """One notice: its title; a digest: how many, of which severities.

    >>> subject([{"severity": "critical", "status": "open"}] + [{"severity": "high", "status": "resolved"}] * 2)
    'PulseEcom: 3 notices (1 critical, 2 high; 2 resolved)'
    """
    if len(notices) == 1:
        return f"PulseEcom {title(notices[0])}"
    severities = Counter(n["severity"] for n in notices)
    counts = ", ".join(f"{severities[s]} {s}" for s in ("critical", "high", "medium", "low", "info") if severities[s])
    resolved = sum(n["status"] == "resolved" for n in notices)
    return f"PulseEcom: {len(notices)} notices ({counts}" + (f"; {resolved} resolved)" if resolved else ")")


def mail(config: EmailChannel, notices: list[dict[str, Any]], message_id: str, dashboard_url: str | None) -> bytes:
    """The MIME message (multipart/alternative: text, then HTML)."""
    message = EmailMessage(policy=SMTP)  # CRLF line ends, as SMTP wants them
    message["Subject"] = subject(notices)
    message["From"] = config.sender
    message["To"] = ", ".join(config.to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = f"<{message_id}@pulseecom>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(plain_text(notices, dashboard_url))
    html = _html.get_template("email.html.j2").render(
        subject=message["Subject"], notices=[_facts(n, dashboard_url) for n in notices]
    )
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


class _PinnedSMTP(smtplib.SMTP):
    """smtplib's client connecting only to an address `allowed_addresses` accepted for the host; the host name
    stays the one STARTTLS verifies the certificate for."""

    def __init__(self, host: str, port: int, allow_private: bool, timeout: float):
        self.allow_private = allow_private
        super().__init__(host, port, timeout=timeout)  # connects; STARTTLS verifies the certificate for `host`

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        failure: OSError | None = None
        for address in allowed_addresses(host, port, self.allow_private):
            try:
                return socket.create_connection((str(address), port), timeout, self.source_address)
            except OSError as exc:
                failure = exc
        raise failure or OSError(f"{host} has no address")


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH with one mechanism (PLAIN, else LOGIN: the link is encrypted by then), so a wrong password is one
    535 answer (smtplib's `login` would try the next mechanism, and servers hang up on repeated failures)."""
    offered = smtp.esmtp_features.get("auth", "").upper().split()
    mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError(f"the server offers neither AUTH PLAIN nor LOGIN (it offers {offered})")
    smtp.user, smtp.password = user, password
    smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))


class EmailTarget:
    def __init__(self, config: EmailChannel, timeout_s: float, allow_private: bool, dashboard_url: str | None):
        self.config = config
        self.key = f"email:{config.name}"
        self.name = f"email {config.name}"
        self.digest_from = config.digest_from
        self.grouped = False
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self.dashboard_url = dashboard_url

    def message_id(self, notice: dict[str, Any]) -> str:
        return webhook_id(notice, self.key)

    def payload(self, notices: list[dict[str, Any]], message_id: str) -> bytes:
        return mail(self.config, notices, message_id, self.dashboard_url)

    def prepare(self) -> None:
        """Read the SMTP credentials (MissingSecret names the variable, never a value)."""
        self.login = None
        if self.config.username_env and self.config.password_env:
            user = env_secret(self.config.username_env, "SMTP user name")
            self.login = (user, env_secret(self.config.password_env, "SMTP password"))

    def send(self, message_id: str, payload: bytes) -> Outcome:
        config = self.config
        try:
            with _PinnedSMTP(config.smtp_host, config.smtp_port, self.allow_private, self.timeout_s) as smtp:
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    return Outcome(None, f"{config.smtp_host} offers no STARTTLS; mail is never sent in clear",
                                   retryable=False)  # fmt: skip
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                if self.login:
                    _login(smtp, *self.login)
                smtp.sendmail(config.sender, config.to, payload)
        except smtplib.SMTPRecipientsRefused as exc:
            code = min(c for c, _ in exc.recipients.values())
            return Outcome(code, f"SMTP {code}: every recipient refused", retryable=400 <= code < 500)
        except smtplib.SMTPAuthenticationError as exc:
            return Outcome(exc.smtp_code, f"SMTP {exc.smtp_code}: authentication failed", retryable=False)
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            return Outcome(code, f"SMTP {code}", retryable=400 <= code < 500)
        except ssl.SSLError as exc:
            return Outcome(None, f"TLS with {config.smtp_host} failed ({type(exc).__name__})")
        except (OSError, smtplib.SMTPException) as exc:
            return Outcome(None, f"no response ({type(exc).__name__})")
        return Outcome(250, "", ok=True)

    def close(self) -> None:
        pass
