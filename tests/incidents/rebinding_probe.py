"""Run by tests/test_dns_rebinding.py inside a network namespace of its own (`unshare --net`): a public address
on the namespace's loopback interface (nothing leaves the namespace), a webhook receiver on it and another on
127.0.0.1, and a resolver that answers a public address once and 127.0.0.1 after (DNS rebinding). Delivers one
notice per scenario with the real dispatcher and prints what each receiver got, as JSON."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from receiver import Receiver

from pulse.incidents.delivery import Dispatcher, RetryPolicy
from pulse.tenants.config import WebhookConfig

PUBLIC = "192.0.0.9"  # a globally routable address, here only on this namespace's loopback interface
PORT = 19614


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{PUBLIC}/32", "dev", "lo"], check=True)
    public, loopback = Receiver(PORT, host=PUBLIC), Receiver(PORT, host="127.0.0.1")
    public.start()
    loopback.start()
    asked: list[tuple[str, str]] = []
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):  # the one seam: the resolution the product calls
        if host.endswith(".test"):
            answer = PUBLIC if host == "rebind.test" and not any(h == host for h, _ in asked) else "127.0.0.1"
            asked.append((host, answer))
            host = answer
        return real(host, port, *args, **kwargs)

    socket.getaddrinfo = resolver
    rows: list[tuple[str, dict]] = []
    hooks = {
        "rebind": [WebhookConfig(url=f"http://rebind.test:{PORT}/rebind", secrets=["REBIND_SECRET"])],
        "private": [WebhookConfig(url=f"http://private.test:{PORT}/private", secrets=["PRIVATE_SECRET"])],
    }
    dispatcher = Dispatcher(lambda t: hooks[t], lambda table, row: rows.append((table, row)), RetryPolicy(attempts=2))
    for tenant in hooks:
        dispatcher.submit({"tenant_id": tenant, "incident_id": f"i-{tenant}", "version": 1, "status": "open",
                           "kind": "rule", "cause": "c", "severity": "high", "group_key": "g", "opened_at": None,
                           "updated_at": None, "resolved_at": None, "alert_count": 1, "observed": None,
                           "expected": None, "top_dimensions": {}, "summary": "s", "labels": {}})  # fmt: skip
    dispatcher.close()
    json.dump(
        {
            "public": [(r.path, r.headers.get("host")) for r in public.requests],
            "loopback": [r.path for r in loopback.requests],
            "asked": asked,
            "attempts": [(row["tenant_id"], row["ok"], row["error"]) for t, row in rows if t == "webhook_attempts"],
            "dead": [(row["tenant_id"], row["reason"]) for t, row in rows if t == "webhook_dead_letters"],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
