"""The dashboard and `pulse report` in a real headless Chromium (Debian's, driven by Playwright) against a real
`pulse serve` over a copy of the shared job run's ClickHouse, with incidents made by `pulse dispatch`.
Screenshots go to .data/test-output/.
"""

import os
import re
import subprocess
import sys

import pytest
import requests
from browser_support import OUTPUT, sign_in, wait_renders, watched
from conftest import STREAM_START
from ingest_support import start_api
from playwright.sync_api import Page

from pulse.api.dashboard_data import CHART_METRICS
from pulse.store.clickhouse import store

pytestmark = pytest.mark.flink

PORT = 19811
HOURS = 6


def expected_state(dsn: str, tenant: str) -> dict:
    """Straight from ClickHouse: per chart metric, the minutes in the dashboard's window; the tenant's incidents."""
    with store(dsn, wait_s=60) as s:
        end = s.query("SELECT max(minute) + 60 FROM tenant_minute_metrics WHERE tenant_id = {t:String}", {"t": tenant})
        end = end[1][0][0]
        sql = (
            "SELECT metric, count() FROM metric_values FINAL WHERE tenant_id = {t:String} "
            "AND minute >= {end:DateTime('UTC')} - INTERVAL {h:UInt32} HOUR AND minute < {end:DateTime('UTC')} "
            "GROUP BY metric"
        )
        points = dict(s.query(sql, {"t": tenant, "end": end, "h": HOURS})[1])
        _, rows = s.query(
            "SELECT incident_id, summary FROM incidents FINAL WHERE tenant_id = {t:String}", {"t": tenant}
        )
        accepted = s.query("SELECT count() FROM scored_events FINAL WHERE tenant_id = {t:String}", {"t": tenant})[1]
    return {"points": {m: points.get(m, 0) for m in CHART_METRICS}, "incidents": dict(rows), "accepted": accepted[0][0]}


@pytest.fixture(scope="module")
def served(incidents_run):
    """The copy's expected contents, and `pulse serve` over it."""
    dsn, folder = incidents_run.dsn, incidents_run.folder
    expected = {tenant: expected_state(dsn, tenant) for tenant in ("acme", "globex")}
    os.environ["PULSE_DASHBOARD_REFRESH_S"] = "2"
    try:
        server = start_api(folder, PORT, "127.0.0.1:19899", "unused", "--clickhouse", dsn)
    finally:
        del os.environ["PULSE_DASHBOARD_REFRESH_S"]
    yield server, dsn, expected, folder
    server.stop()


def chart_points(page: Page) -> dict[str, int]:
    """Points uPlot actually holds per chart, and that each chart drew a canvas of non-zero size."""
    return page.evaluate(
        """() => Object.fromEntries(Object.entries(window.pulse.charts).map(([k, u]) =>
             [k, u.ctx.canvas.width > 0 && u.ctx.canvas.height > 0 ? u.data[0].length : -1]))"""
    )


def test_dashboard_shows_the_tenants_live_charts_and_incidents(served, browser):
    server, _, expected, _ = served
    page, problems = watched(browser)
    sign_in(page, server.url, server.keys["acme"])
    assert server.keys["acme"] not in page.url
    assert chart_points(page) == expected["acme"]["points"]
    assert all(n > 100 for n in expected["acme"]["points"].values())
    shown = set(page.eval_on_selector_all("[data-incident-id]", "cards => cards.map(c => c.dataset.incidentId)"))
    assert shown and shown <= set(expected["acme"]["incidents"])
    assert page.locator("#rules tbody tr").count() >= 1
    usage = page.inner_text("#usage")
    assert f"month\t{STREAM_START:%Y-%m}" in usage and f"accepted\t{expected['acme']['accepted']}" in usage
    wait_renders(page, 3)  # it refreshes by itself
    page.screenshot(path=str(OUTPUT / "dashboard-acme.png"), full_page=True)
    assert problems == []


def test_one_tenant_sees_none_of_another_tenants_data(served, browser):
    server, _, expected, _ = served
    page, problems = watched(browser)
    sign_in(page, server.url, server.keys["acme"])
    other = expected["globex"]["incidents"]
    assert other, "the job run must give globex incidents for this test to mean anything"
    text = page.content()
    assert not [i for i in other if i in text]
    assert not [s for s in other.values() if s in text]
    assert "Globex" not in text
    forced = page.evaluate("() => fetch('/dashboard/data?tenant=globex').then(r => r.json())")  # ignored
    assert forced["tenant"] == "acme" and not {i["incident_id"] for i in forced["incidents"]} & set(other)
    assert problems == []


def test_a_link_to_an_incident_scrolls_to_it_and_marks_it(served, browser):
    server, _, _, _ = served
    page, problems = watched(browser)
    sign_in(page, server.url, server.keys["acme"])
    last = page.eval_on_selector_all("[data-incident-id]", "cards => cards[cards.length - 1].dataset.incidentId")
    page.set_viewport_size({"width": 1280, "height": 400})  # the last card is below the fold
    page.goto("about:blank")
    page.goto(f"{server.url}/dashboard#{last}")  # as a Slack, Teams or Alertmanager link opens it
    wait_renders(page, 1)
    card = page.locator(f"[data-incident-id='{last}']")
    assert "linked" in card.get_attribute("class")
    top, scrolled = card.evaluate("c => [c.getBoundingClientRect().top, window.scrollY]")
    assert 0 <= top < 400 and scrolled > 0
    page.goto("about:blank")
    page.goto(f"{server.url}/dashboard#inc_not_here")
    wait_renders(page, 1)
    assert "inc_not_here is not in this time window" in page.inner_text("#linked-note")
    assert page.locator(".incident.linked").count() == 0
    assert problems == []


def test_sign_in_refuses_bad_keys_and_forged_sessions(served, browser):
    server, _, _, _ = served
    page, _ = watched(browser)
    page.goto(f"{server.url}/dashboard")
    page.fill("#api_key", "pk_not_a_real_key")
    page.click("button[type=submit]")
    assert "not valid" in page.inner_text(".error")
    assert requests.get(f"{server.url}/dashboard/data", timeout=10).status_code == 401
    huge = requests.post(f"{server.url}/dashboard/login", data={"api_key": "x" * 10_000}, timeout=10)
    assert huge.status_code == 413
    forged = requests.get(f"{server.url}/dashboard/data", cookies={"pulse_session": "globex"}, timeout=10)
    assert forged.status_code == 401
    login = requests.post(f"{server.url}/dashboard/login", data={"api_key": server.keys["acme"]},
                          allow_redirects=False, timeout=10)  # fmt: skip
    cookie = login.headers["set-cookie"]
    assert login.status_code == 303 and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert server.keys["acme"] not in cookie
    value = re.search(r"pulse_session=([^;]+)", cookie).group(1)
    tampered = value.replace("acme", "globex") if "acme" in value else value[:-2] + "xx"
    assert (
        requests.get(f"{server.url}/dashboard/data", cookies={"pulse_session": tampered}, timeout=10).status_code == 401
    )


def test_report_is_self_contained_and_renders_offline(served, browser):
    _, dsn, expected, folder = served
    out = folder / "report-globex.html"
    result = subprocess.run(
        [sys.executable, "-m", "pulse", "report", "--tenant", "globex", "--since", f"{HOURS}h", "--out", str(out),
         "--clickhouse", dsn],
        capture_output=True, text=True, cwd=folder, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    html = out.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)
    page, problems = watched(browser)
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(out.as_uri())
    wait_renders(page, 1)
    assert chart_points(page) == expected["globex"]["points"]
    shown = set(page.eval_on_selector_all("[data-incident-id]", "cards => cards.map(c => c.dataset.incidentId)"))
    assert shown and shown <= set(expected["globex"]["incidents"])
    assert not set(expected["acme"]["incidents"]) & shown
    assert [u for u in requested if not u.startswith(("file:", "data:"))] == []
    page.screenshot(path=str(OUTPUT / "report-globex.png"), full_page=True)
    assert problems == []


def test_report_for_a_tenant_without_data_says_so(incidents_run):
    command = [sys.executable, "-m", "pulse", "report", "--tenant", "nobody", "--clickhouse", incidents_run.dsn]
    result = subprocess.run(command, capture_output=True, text=True, cwd=incidents_run.folder, timeout=300)
    assert result.returncode == 1
    assert "tenant 'nobody' has no events or incidents" in result.stdout + result.stderr
    assert not (incidents_run.folder / "report.html").exists()
