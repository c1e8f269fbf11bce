"""The dashboard's incident buttons in a real headless Chromium against a real `pulse serve` over real chDB, with
incidents made by a real `pulse dispatch`: every click becomes an action in the incident's history."""

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from browser_support import OUTPUT, sign_in, watched
from incident_support import dispatch, insert_alerts
from ingest_support import free_port, start_api
from playwright.sync_api import Page

from pulse.store.clickhouse import store

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
ALERTS = [
    ("acme", "x1", 0, "large-order", "c1"),
    ("acme", "y1", 5, "card-testing", "c2"),
    ("globex", "g1", 0, "large-order", "g1"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dashboard-actions")
    dsn = f"chdb://{folder / 'clickhouse'}"
    os.environ["PULSE_DASHBOARD_REFRESH_S"] = "2"
    try:
        server = start_api(folder, free_port(), "127.0.0.1:19899", "unused", "--clickhouse", dsn)
    finally:
        del os.environ["PULSE_DASHBOARD_REFRESH_S"]
    insert_alerts(
        dsn, ALERTS, {"acme": START, "globex": START}, {t: START + timedelta(minutes=6) for t in ("acme", "globex")}
    )
    dispatch(folder, dsn)
    record_held_back(dsn)
    ids = {}
    for tenant in ("acme", "globex"):
        headers = {"Authorization": f"Bearer {server.keys[tenant]}"}
        listed = requests.get(f"{server.url}/v1/incidents", headers=headers, timeout=30).json()["incidents"]
        ids |= {i["cause"] if tenant == "acme" else "globex": i["incident_id"] for i in listed}
    yield server, ids
    server.stop()


def record_held_back(dsn: str) -> None:
    """`usage` rows as the scoring job writes them when acme's labels held back alerts (pulse/job/usage.py): cumulative
    per (tenant, minute, run), the newest version replacing the older; 2 held back in all, none of globex's."""
    columns = ["tenant_id", "minute", "run_id", "accepted", "alerts", "alerts_held_back", "version"]
    now = time.time_ns()
    rows = [
        ["acme", START, "r", 5, 0, 1, now],
        ["acme", START, "r", 9, 0, 2, now + 1],
        ["globex", START, "r", 3, 0, 0, now],
    ]
    with store(dsn, wait_s=60) as s:
        s.client.insert("usage", rows, column_names=columns)


def card_text(page: Page, incident_id: str, expected: str, present: bool = True, timeout_s: float = 20) -> str:
    """Wait until the incident's work line does (or does not) contain `expected`."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = page.inner_text(f"[data-incident-id='{incident_id}'] .work")
        if (expected in text) == present:
            return text
        assert time.monotonic() < deadline, f"work line {text!r}: {expected!r} {'never came' if present else 'stayed'}"
        page.wait_for_timeout(200)


def test_buttons_acknowledge_assign_note_label_resolve_reopen_and_silence(served, browser):
    server, ids = served
    incident = ids["large-order"]
    page, problems = watched(browser)
    sign_in(page, server.url, server.keys["acme"])
    page.fill("#actor", "ana@acme.example")
    card = f"[data-incident-id='{incident}']"
    page.click(f"{card} button[name=acknowledge]")
    card_text(page, incident, "acknowledged by ana@acme.example")
    page.fill(f"{card} input[name=assignee]", "bo")
    page.click(f"{card} button[name=assign]")
    card_text(page, incident, "assigned to bo")
    page.fill(f"{card} input[name=note]", "customer confirmed the order")
    page.click(f"{card} button[name=note]")
    card_text(page, incident, "1 note")
    page.click(f"{card} button[name=label-false_alarm]")
    card_text(page, incident, "label: false alarm")
    page.click(f"{card} button[name=resolve]")
    card_text(page, incident, "resolved by hand")
    page.click(f"{card} button[name=reopen]")
    card_text(page, incident, "resolved by hand", present=False)
    page.click(f"{card} button[name=silence]")
    deadline = time.monotonic() + 20
    while page.evaluate("() => window.pulse.actions") < 7:
        assert time.monotonic() < deadline, "the silence was not acknowledged by the server"
        page.wait_for_timeout(200)
    other = ids["card-testing"]
    page.click(f"[data-incident-id='{other}'] button[name=label-true_problem]")
    card_text(page, other, "label: true problem")
    page.wait_for_selector("#precision tr[data-cause='large-order']")
    assert page.inner_text("#precision tr[data-cause='large-order'] .precision") == "0%"
    assert page.inner_text("#precision tr[data-cause='card-testing'] .precision") == "100%"
    assert page.inner_text("#held-back").startswith("2 alerts held back by labels")
    page.screenshot(path=str(OUTPUT / "dashboard-actions-acme.png"), full_page=True)
    assert problems == []

    headers = {"Authorization": f"Bearer {server.keys['acme']}"}
    history = requests.get(f"{server.url}/v1/incidents/{incident}/history", headers=headers, timeout=30).json()
    assert [(h["action"], h["actor"], h["via"]) for h in history["history"]] == [
        (a, "ana@acme.example", "dashboard")
        for a in ("acknowledge", "assign", "note", "label", "resolve", "reopen", "silence")
    ]
    silences = requests.get(f"{server.url}/v1/silences", headers=headers, timeout=30).json()["silences"]
    assert [(s["matchers"], s["until_resolved"], s["created_by"]) for s in silences] == [
        ([f"incident_id={incident}"], True, "ana@acme.example")
    ]


def test_the_page_cannot_act_on_another_tenants_incident_or_without_a_session(served, browser):
    server, ids = served
    page, _ = watched(browser)
    sign_in(page, server.url, server.keys["acme"])
    status = page.evaluate(
        """id => fetch('/dashboard/incidents/' + id + '/acknowledge', {method: 'POST', body: '{"by": "mallory"}',
             headers: {'content-type': 'application/json'}}).then(r => r.status)""",
        ids["globex"],
    )
    assert status == 404
    anonymous = requests.post(f"{server.url}/dashboard/incidents/{ids['large-order']}/acknowledge",
                              json={"by": "mallory"}, timeout=30)  # fmt: skip
    assert anonymous.status_code == 401
    headers = {"Authorization": f"Bearer {server.keys['globex']}"}
    history = requests.get(f"{server.url}/v1/incidents/{ids['globex']}/history", headers=headers, timeout=30).json()
    assert history["history"] == []
    page, problems = watched(browser)
    sign_in(page, server.url, server.keys["globex"])
    page.wait_for_selector("#held-back:has-text('held back')")
    assert page.inner_text("#held-back").startswith("0 alerts held back by labels") and problems == []


def test_an_action_needs_a_name(served, browser):
    server, ids = served
    page, _ = watched(browser)
    sign_in(page, server.url, server.keys["acme"])
    page.evaluate("() => localStorage.removeItem('pulse-actor')")
    page.fill("#actor", "")
    page.click(f"[data-incident-id='{ids['card-testing']}'] button[name=acknowledge]")
    assert "Type your name" in page.inner_text("#status")
