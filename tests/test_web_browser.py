"""The site in a real Chromium (Debian's chromium driven by Playwright): search and open a result, play audio
(the player reports progress), generate a seeding list, see the statistics charts. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.test_web_fixtures import WebArchive, base_url, listed_url, web  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("FONOTECA_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking switches Chromium tries to reach Google's services, which a closed network
# refuses; the rest keeps it headless and quiet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]
# Recorded in every page before its own scripts: CSP violations and errors, to prove nothing tried to run.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
                          e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def _missing_browser() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/setup does)"
    return None


_BROWSER: dict[str, Any] = {}


def _shared_browser() -> Any:
    """One Chromium for the whole test process (several test modules import the fixture)."""
    if "browser" not in _BROWSER:
        import atexit

        from playwright.sync_api import sync_playwright

        driver = sync_playwright().start()
        chromium = driver.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=CHROMIUM_ARGS,
            timeout=60_000,
        )
        _BROWSER.update(browser=chromium, driver=driver)

        def stop() -> None:
            chromium.close()
            driver.stop()

        atexit.register(stop)
    return _BROWSER["browser"]


@pytest.fixture(scope="session")
def browser() -> Any:
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)  # in CI the browser tests must run
        pytest.skip(reason)
    return _shared_browser()


class Page:
    """A browser tab on the test site that records console errors, page errors and CSP violations."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base)
        self.context.set_default_timeout(15_000)
        self.context.add_init_script(WATCH)
        self.tab = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.tab.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.tab.on(
            "console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        self.tab.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def goto(self, path: str) -> Any:
        response = self.tab.goto(path, wait_until="load")
        assert response is not None and response.ok, (path, response and response.status)
        return response

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.tab.screenshot(path=str(path), full_page=full_page)
        return path

    def violations(self) -> list[str]:
        return self.tab.evaluate("window.__violations || []")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Page]:  # noqa: F811
    tab = Page(browser, base_url)
    yield tab
    tab.close()
    assert not tab.dialogs, tab.dialogs
    assert not tab.errors, tab.errors


def test_search_and_open_a_result(page: Page, base_url: str) -> None:  # noqa: F811
    page.goto("/")
    page.tab.fill("#home-q", "love")
    page.tab.press("#home-q", "Enter")
    page.tab.wait_for_url(re.compile(r"/search\?q=love"))
    rows = page.tab.locator("table.tracks tbody tr")
    assert rows.count() == 20
    expected = httpx.get(base_url + "/api/search?q=love").json()["results"]
    titles = page.tab.locator("table.tracks tbody a.title").all_inner_texts()
    assert titles == [hit["name"] for hit in expected]
    page.shot("site-search")
    # filters work from the form, without JavaScript doing anything special
    page.tab.fill("input[name=min_popularity]", "30")
    page.tab.select_option("select[name=explicit]", "clean")
    page.tab.click("form.search-form button[type=submit]")
    page.tab.wait_for_url(re.compile(r"min_popularity=30"))
    pops = [int(t) for t in page.tab.locator("table.tracks tbody td:nth-child(7)").all_inner_texts()]
    assert pops and all(p >= 30 for p in pops)
    # open the first result
    first = page.tab.locator("table.tracks tbody a.title").first
    name = first.inner_text()
    first.click()
    page.tab.wait_for_url(re.compile(r"/track/"))
    assert page.tab.locator("h1").inner_text().strip().startswith(name)
    assert page.tab.title().startswith(name)
    page.shot("site-track")
    assert page.violations() == []


def test_play_audio_reports_progress(page: Page, web: WebArchive) -> None:  # noqa: F811
    page.goto(f"/track/{web.archive_track}")
    status = page.tab.locator("#player-status")
    assert "ready" in status.inner_text()
    page.tab.click("#play")
    page.tab.wait_for_function(
        "() => { const f = document.querySelector('[data-player]');"
        " return f && parseFloat(f.dataset.position || '0') > 0.5 && f.dataset.state === 'playing'; }",
        timeout=20_000,
    )
    assert re.match(r"playing 0:0\d / 0:04", status.inner_text())
    assert page.tab.evaluate("document.querySelector('#player').currentTime") > 0.5
    assert page.tab.evaluate("document.querySelector('#player-progress').value") > 0
    page.shot("site-player", full_page=False)
    page.tab.click("#play")  # pause
    page.tab.wait_for_function("() => document.querySelector('[data-player]').dataset.state === 'paused'")
    assert page.tab.locator("#play").inner_text() == "Play"
    # the mirror case: a file found only in a release's payload plays too
    page.goto(f"/track/{web.release_track}")
    page.tab.click("#play")
    page.tab.wait_for_function(
        "() => parseFloat(document.querySelector('[data-player]').dataset.position || '0') > 0.2", timeout=20_000
    )
    assert page.violations() == []


def test_torrents_page_generates_a_seeding_list(browser: Any, listed_url: str) -> None:  # noqa: F811
    page = Page(browser, listed_url)
    try:
        _generate_a_seeding_list(page, listed_url)
    finally:
        page.close()
    assert not page.dialogs and not page.errors, (page.dialogs, page.errors)


def _generate_a_seeding_list(page: Page, site_url: str) -> None:
    page.goto("/torrents")
    assert page.tab.locator("table.torrents tbody tr").count() == 9
    assert page.tab.locator("table.bands tbody tr").count() == 4
    assert page.tab.locator("table.torrents .health.none").count() == 3
    page.shot("site-torrents")
    page.tab.fill("#budget", "2")
    page.tab.click("#generate")
    page.tab.wait_for_url(re.compile(r"/torrents/generate\?budget=2"))
    expected = httpx.get(site_url + "/api/torrents/generate?budget=2").json()
    items = page.tab.locator("#generated li")
    assert items.count() == expected["count"] > 1
    assert "metadata" in items.first.inner_text()
    assert f"{expected['count']} torrents" in page.tab.locator("#generated-summary").inner_text()
    magnets = page.tab.locator("#generated a.magnet")
    assert all(h.startswith("magnet:?") for h in magnets.evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    page.shot("site-generate")
    with page.tab.expect_response(lambda r: "generate.txt" in r.url) as info:
        page.tab.click("text=magnet links")
    assert info.value.ok and info.value.text().startswith("magnet:?")
    assert page.violations() == []


def test_statistics_page_shows_its_charts(page: Page, base_url: str) -> None:  # noqa: F811
    page.goto("/stats")
    charts = page.tab.locator("figure.chart img")
    expected = len(httpx.get(base_url + "/api/stats").json()["charts"])
    assert charts.count() == expected >= 10
    for i in range(expected):
        image = charts.nth(i)
        image.scroll_into_view_if_needed()
        page.tab.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    sizes = charts.evaluate_all("els => els.map(e => [e.naturalWidth, e.getBoundingClientRect().height])")
    assert all(w > 100 and h > 100 for w, h in sizes), sizes
    page.tab.evaluate("window.scrollTo(0, 0)")
    page.shot("site-stats", full_page=False)
    assert page.violations() == []


def test_pages_work_without_javascript(browser: Any, base_url: str, web: WebArchive) -> None:  # noqa: F811
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    try:
        tab = context.new_page()
        tab.goto("/")
        tab.fill("#home-q", "love")
        tab.press("#home-q", "Enter")
        tab.wait_for_url(re.compile(r"/search\?q=love"))
        assert tab.locator("table.tracks tbody tr").count() == 20
        tab.goto(f"/track/{web.archive_track}")
        assert tab.locator("audio#player[controls]").count() == 1  # the browser's own controls
        tab.goto("/torrents")
        tab.fill("#budget", "1")
        tab.click("#generate")
        tab.wait_for_url(re.compile(r"/torrents/generate"))
        assert tab.locator("#generated li").count() >= 1
    finally:
        context.close()
