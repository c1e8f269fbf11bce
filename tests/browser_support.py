"""Helpers for the tests that drive the dashboard in a real headless Chromium (Debian's, through Playwright); the
`browser` fixture is in tests/api/conftest.py. Screenshots go to OUTPUT."""

import time
from pathlib import Path

from playwright.sync_api import Browser, Page, Request

OUTPUT = Path(__file__).resolve().parent.parent / ".data" / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def watched(browser: Browser) -> tuple[Page, list[str]]:
    """A page in a fresh context that records console errors, page errors and failed requests.

    A request the browser cancels because the test leaves the page (`net::ERR_ABORTED`: a refresh still in
    flight at a `goto`) is not a failure of the page, so it is not recorded."""
    page = browser.new_context(viewport={"width": 1280, "height": 1600}).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: _record_failed(problems, r))
    return page, problems


def _record_failed(problems: list[str], request: Request) -> None:
    if request.failure != "net::ERR_ABORTED":
        problems.append(f"request failed: {request.url} ({request.failure})")


def wait_renders(page: Page, count: int, timeout_s: float = 30) -> None:
    """Until the page's script has drawn `count` snapshots (polled from outside: the page's CSP forbids eval)."""
    deadline = time.monotonic() + timeout_s
    while page.evaluate("() => (window.pulse && window.pulse.renders) || 0") < count:
        assert time.monotonic() < deadline, f"the page did not render {count} times in {timeout_s} s"
        page.wait_for_timeout(200)


def sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/dashboard")
    page.fill("#api_key", key)
    page.click("button[type=submit]")
    wait_renders(page, 1)
