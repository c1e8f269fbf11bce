"""What every delivery target shares: the outcome of one attempt, and credentials read from the environment.

>>> http_outcome(503, None).retryable, http_outcome(404, None).retryable, http_outcome(410, None).gone
(True, False, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from http import HTTPStatus


@dataclass(frozen=True)
class Outcome:
    """One attempt's answer: `status` is the HTTP status or SMTP reply code (None: no answer at all)."""

    status: int | None
    error: str
    ok: bool = False
    retryable: bool = True
    gone: bool = False
    retry_after: float | None = None


def http_outcome(status: int, retry_after: float | None) -> Outcome:
    """2xx delivered; network errors, 5xx and 429 retried; 410 Gone disables the endpoint; other 4xx fail."""
    return Outcome(
        status=status,
        error=status_text(status),
        ok=200 <= status < 300,
        retryable=status == 429 or status >= 500,
        gone=status == 410,
        retry_after=retry_after,
    )


def status_text(status: int) -> str:
    """What is stored of a response (tenants' analysts read webhook_attempts): the status only, never the body.

    >>> status_text(503), status_text(599)
    ('HTTP 503 Service Unavailable', 'HTTP 599')
    """
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


class MissingSecret(ValueError):
    """A credential's environment variable is not set (its value is never logged)."""


def env_secret(name: str, what: str = "signing secret") -> str:
    """The value of the environment variable `name`, or MissingSecret naming the variable (never a value)."""
    if not os.environ.get(name):
        raise MissingSecret(f"{what} environment variable {name} is not set")
    return os.environ[name]
