"""`pulse report`: one tenant's self-contained HTML incident report (charts inline, no external resources).

It is the dashboard's page with the snapshot, uPlot and the page's script embedded, so it opens offline,
from an e-mail attachment or a file share, and looks like the live view at the time it was made.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pulse.api.dashboard import STATIC, templates
from pulse.api.dashboard_data import snapshot
from pulse.store.clickhouse import Store


def parse_since(text: str) -> float:
    """Hours in a duration such as `24h`, `90m`, `7d`.

    >>> parse_since("24h"), parse_since("90m"), parse_since("7d")
    (24.0, 1.5, 168.0)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd])\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--since {text!r}: write a duration such as 90m, 24h or 7d")
    return float(match.group(1)) * {"m": 1 / 60, "h": 1.0, "d": 24.0}[match.group(2)]


def render_report(s: Store, tenant: str, hours: float, plan: str, now: datetime | None = None) -> str:
    data = snapshot(s, tenant, hours, now) | {"plan": plan}
    if not data["totals"]["events"] and not data["incidents"]:
        raise ValueError(
            f"tenant {tenant!r} has no events or incidents in this ClickHouse: check --tenant and --clickhouse"
        )
    made = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return templates.get_template("dashboard.html.j2").render(
        title=f"PulseEcom incident report (made {made})",
        tenant=tenant,
        plan=plan,
        inline=True,
        data=data,
        uplot_js=_script_safe((STATIC / "vendor" / "uPlot.iife.min.js").read_text()),
        uplot_css=(STATIC / "vendor" / "uPlot.min.css").read_text(),
        dashboard_js=_script_safe((STATIC / "dashboard.js").read_text()),
        dashboard_css=(STATIC / "dashboard.css").read_text(),
    )


def write_report(html: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")


def _script_safe(js: str) -> str:
    """Script text that cannot close its <script> element early."""
    return js.replace("</", "<\\/")
