"""Outbound webhooks: Standard Webhooks signing, payload formats (own JSON, Alertmanager v4), URL checks.

The address check and the connection use one resolution: `PinnedTransport` resolves the host when it
connects, refuses private addresses (also IPv6 forms that embed a private IPv4 address), and connects
to the address it checked, so a name that resolves to a public address for the check and to a private
one a moment later (DNS rebinding) cannot reach the private one. TLS still verifies the certificate of
the host name (and sends it as SNI).

>>> refusal(ipaddress.ip_address("64:ff9b::7f00:1"))
'64:ff9b::7f00:1 embeds the non-public IPv4 address 127.0.0.1'
>>> refusal(ipaddress.ip_address("2002:808:808::1")) is None
True
>>> sign_headers("msg_1", 1700000000, b'{"a":1}', ["whsec_" + "c2VjcmV0"])["webhook-signature"]
'v1,Q5nZ7DiOGwijBBqvBVAK6c0zDr2JLkXI7TaV4f+Q2vY='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import typing
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx


class EndpointRefused(ValueError):
    """A webhook URL that the dispatcher will not call."""


def secret_bytes(secret: str) -> bytes:
    """A Standard Webhooks secret (`whsec_` + base64) as key bytes; any other string is used as UTF-8."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_headers(webhook_id: str, timestamp: int, body: bytes, secrets: list[str]) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret, so receivers can rotate keys."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, webhook_id, timestamp, body) for s in secrets),
    }


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300, now: int | None = None) -> bool:
    """The receiver's check: a fresh timestamp and one matching `v1` signature (constant-time compare)."""
    timestamp = int(headers["webhook-timestamp"])
    now = int(datetime.now(UTC).timestamp()) if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, headers["webhook-id"], timestamp, body)
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())


def webhook_id(incident: dict[str, Any], url: str) -> str:
    """Stable for one notice to one endpoint: the same across retries and replays, so receivers deduplicate
    (a reminder of an unchanged group, `repeat` n, has an id of its own)."""
    key = f"{incident['incident_id']}\x1f{incident['version']}\x1f{url}"
    key += f"\x1frepeat {incident['repeat']}" if incident.get("repeat") else ""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def body(notices: list[dict[str, Any]], fmt: str, dashboard_url: str | None = None) -> bytes:
    """The request body in the endpoint's format: one notice as JSON, or a group's notices as one Alertmanager
    notification."""
    payload = alertmanager_payload(notices, dashboard_url) if fmt == "alertmanager" else json_payload(*notices)
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=_iso).encode()


def json_payload(incident: dict[str, Any]) -> dict[str, Any]:
    """PulseEcom's own format: `type` (incident.opened/updated/resolved) and the incident."""
    fields = (
        "incident_id", "version", "status", "tenant_id", "kind", "cause", "severity", "group_key", "opened_at",
        "updated_at", "resolved_at", "alert_count", "observed", "expected", "top_dimensions", "summary", "labels",
    )  # fmt: skip
    return {"type": f"incident.{incident['status']}", "incident": {f: incident[f] for f in fields}}


VOLATILE_LABELS = ("observed", "expected", "since", "window_minutes")
"""Values that change while an alert lasts: annotations, since Alertmanager labels identify an alert."""


def alertmanager_payload(notices: list[dict[str, Any]], dashboard_url: str | None = None) -> dict[str, Any]:
    """The Alertmanager webhook format, version 4, each notice an alert: `fingerprint` and `groupKey` as
    Alertmanager makes them (the group of the tenant's route, else the incident's cause), `externalURL` the
    dashboard and `generatorURL` the incident on it (`pulse dispatch --dashboard-url`), empty without one."""
    base = dashboard_url.rstrip("/") if dashboard_url else ""
    alerts = [_alert(n, base) for n in notices]
    first = notices[0]
    group = {"tenant": first["tenant_id"]} | (
        {_label_name(k): v for k, v in first["group_labels"].items()}
        if "group_labels" in first
        else {"alertname": first["cause"]}
    )
    route = first["group"].split(":{", 1)[0] if "group" in first else "{}"
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    shared = {k: v for k, v in alerts[0]["annotations"].items() if all(a["annotations"].get(k) == v for a in alerts)}
    return {
        "version": "4",
        "groupKey": f"{route}:{label_set(group)}",
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": first["tenant_id"],
        "groupLabels": group,
        "commonLabels": common,
        "commonAnnotations": shared,
        "externalURL": base,
        "alerts": alerts,
    }


def _label_name(field: str) -> str:
    """A routing field as an Alertmanager label: `cause` is `alertname`, `labels.NAME` is `NAME`."""
    return "alertname" if field == "cause" else field.removeprefix("labels.")


def _alert(incident: dict[str, Any], base: str) -> dict[str, Any]:
    status = "resolved" if incident["status"] == "resolved" else "firing"
    labels = {
        "alertname": incident["cause"],
        "tenant": incident["tenant_id"],
        "severity": incident["severity"],
        "kind": incident["kind"],
        "group_key": incident["group_key"],
        **{k: v for k, v in incident["labels"].items() if k not in VOLATILE_LABELS},
    }
    annotations = {"summary": incident["summary"], "incident_id": incident["incident_id"]}
    annotations |= {k: str(v) for k, v in incident["labels"].items() if k in VOLATILE_LABELS}
    return {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": incident["opened_at"],
        "endsAt": incident["resolved_at"] if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": f"{base}/dashboard#{incident['incident_id']}" if base else "",
        "fingerprint": fingerprint(labels),
    }


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's alert fingerprint: FNV-1a (64 bit) over the sorted label names and values, each followed
    by the byte 0xff, as 16 hex digits (Prometheus `model.LabelSet.Fingerprint`).

    >>> fingerprint({}), fingerprint({"foo": "bar"}), fingerprint({"foo": "bar", "baz": "qux"})
    ('cbf29ce484222325', '3fff2c2d7595e046', 'e4d83091cd448e77')
    """
    value = 0xCBF29CE484222325
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def label_set(labels: dict[str, str]) -> str:
    """A label set as Alertmanager writes it in a group key: sorted, values quoted as Go's strconv.Quote.

    >>> label_set({"tenant": "acme", "alertname": 'say "hi"\\n'})
    '{alertname="say \\\\"hi\\\\"\\\\n", tenant="acme"}'
    """
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
              "\\": "\\\\", '"': '\\"'}  # fmt: skip


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes; backslash, quote and control characters escaped; printable text kept."""
    out = []
    for char in text:
        if char in GO_ESCAPES:
            out.append(GO_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif not char.isprintable():
            out.append(f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, IPv4-compatible, NAT64, 6to4 or Teredo."""
    if address.version == 4:
        return None
    last_32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):
        return last_32
    return None


def refusal(address: Address) -> str | None:
    """Why a webhook may not be sent to `address` (not public), or None."""
    embedded = embedded_ipv4(address)
    if embedded is not None and not embedded.is_global:
        return f"{address} embeds the non-public IPv4 address {embedded}"
    if address in NAT64_LOCAL or not address.is_global:
        return f"non-public address {address}"
    return None


def resolve(host: str, port: int) -> list[Address]:
    """The addresses `host` resolves to (the one resolution that both the check and the connection use)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise EndpointRefused(f"webhook host {host} does not resolve: {exc}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


def allowed_addresses(host: str, port: int, allow_private: bool = False) -> list[Address]:
    """Resolve `host` once; refuse it if any address is not public (unless the operator allows them)."""
    addresses = resolve(host, port)
    for address in addresses:
        why = None if allow_private else refusal(address)
        if why:
            raise EndpointRefused(
                f"webhook host {host} resolves to {why}; an operator can allow private addresses with "
                "`pulse dispatch --allow-private`"
            )
    return addresses


def check_form(url: str) -> None:
    """Refuse URLs that are not http(s) with a host, or that carry credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointRefused(f"webhook URL {redact(url)} must be http(s)://host/...")
    if parts.username or parts.password:
        raise EndpointRefused(f"webhook URL {redact(url)} must not carry credentials; use the signing secret")


def check_url(url: str, allow_private: bool = False) -> None:
    """`check_form`, and refuse URLs whose host resolves to private, loopback or link-local addresses (unless the
    operator allows them): a tenant must not make us call our own network. Delivery does not rely on this
    answer: `PinnedTransport` checks the addresses of its own resolution and connects to one of them."""
    check_form(url)
    parts = urlsplit(url)
    allowed_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), allow_private)


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to an address `allowed_addresses` accepted for the host, resolved once per connection."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in allowed_addresses(host, port, self.allow_private):
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} has no address")


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over `_PinnedBackend`; proxies from the environment are not used (a proxy would
    resolve the name again). EndpointRefused comes out of a request whose host resolves to a refused address."""

    def __init__(self, allow_private: bool = False):
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=_PinnedBackend(allow_private)
        )


def redact(url: str) -> str:
    """Scheme, host and path only: query strings and user info may hold tokens and are never logged."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot serialise {type(value).__name__}")
