"""Hostile metadata renders inert: names with script tags, quotes, template syntax, control and bidi characters
(in tracks, albums, artists, genres and torrents.json) show as text, and no script runs (checked in Chromium,
where any injected script or handler would also show up as a CSP violation)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.test_web_browser import Page, browser  # noqa: F401
from tests.test_web_fixtures import (  # noqa: F401
    CONTROL,
    HOSTILE_ALBUM,
    HOSTILE_ARTIST,
    HOSTILE_TRACK,
    TEMPLATE,
    XSS_ATTR,
    XSS_SCRIPT,
    XSS_SINGLE,
    XSS_TITLE,
    WebArchive,
    base_url,
    listed_url,
    web,
)

PAGES = [
    f"/track/{HOSTILE_TRACK}",
    f"/album/{HOSTILE_ALBUM}",
    f"/artist/{HOSTILE_ARTIST}",
    "/search?q=hostile",
    "/search?q=" + quote(XSS_SCRIPT),
    "/search?q=quote+hostile",
    "/isrc/QZHOS2600001",
    "/",
    "/torrents",
    "/torrents/generate?budget=1PB",
    "/stats",
    "/search?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/track/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/search?q=love&genre=" + quote(XSS_ATTR),
    "/genres",
    "/genres/" + quote(XSS_ATTR, safe=""),
    "/genres/" + quote("</text><script>x</script>-->", safe=""),
]
# the site whose torrent list carries a hostile entry (display name, url and magnet link)
LISTED_PAGES = ["/torrents", "/torrents/generate?budget=1PB", "/torrents?health=none"]
RAW = ["<script>window.__pwned", "<img src=x", 'onerror="window', "' onmouseover='", "</title><script>"]


def test_raw_html_escapes_every_value(base_url: str, listed_url: str) -> None:  # noqa: F811
    for site, path in [(base_url, p) for p in PAGES] + [(listed_url, p) for p in LISTED_PAGES]:
        with httpx.Client(base_url=site) as client:
            r = client.get(path)
            assert r.status_code in (200, 404), path
            html = r.text
            for raw in RAW:
                assert raw not in html, (path, raw)
            assert "\x00" not in html and "\x1b" not in html and "\x07" not in html and "\x7f" not in html, path
            assert html.count("<script") == 1, path  # our one script file, nothing else
            assert "javascript:" not in html, path
    with httpx.Client(base_url=base_url) as client:
        track = client.get(f"/track/{HOSTILE_TRACK}").text
        assert "&lt;/title&gt;&lt;script&gt;window.__pwned=" in track
        assert "&#34;&gt;&lt;img src=x onerror=&#34;" in track or "&quot;&gt;&lt;img src=x onerror=&quot;" in track
        assert "{{ 7*7 }}{% raw %}" in track  # template syntax in data is text, not evaluated
        assert "␀" in track and "␛" in track  # control characters are shown as visible symbols


def test_json_keeps_the_data_exactly(base_url: str) -> None:  # noqa: F811
    with httpx.Client(base_url=base_url) as client:
        track = client.get(f"/api/track/{HOSTILE_TRACK}").json()
        assert track["name"] == XSS_TITLE + " " + XSS_ATTR
        assert track["album"]["name"] == XSS_SINGLE + " " + CONTROL + " " + TEMPLATE
        assert track["artists"][0]["name"] == XSS_SCRIPT
        r = client.get(f"/api/artist/{HOSTILE_ARTIST}")
        assert r.headers["content-type"] == "application/json" and r.headers["x-content-type-options"] == "nosniff"
        assert XSS_ATTR in r.json()["genres"]


@pytest.mark.parametrize("site,path", [("base", p) for p in PAGES] + [("listed", p) for p in LISTED_PAGES])
def test_no_script_runs_in_the_browser(
    browser: Any,  # noqa: F811
    base_url: str,  # noqa: F811
    listed_url: str,  # noqa: F811
    site: str,
    path: str,
) -> None:
    page = Page(browser, base_url if site == "base" else listed_url)
    try:
        page.tab.goto(path, wait_until="load")
        # move over and focus every element that could carry an injected handler
        for selector in ("main a", "main td", "main h1", "main li", "main code", "main dd"):
            items = page.tab.locator(selector)
            for i in range(min(items.count(), 12)):
                try:
                    items.nth(i).hover(timeout=1000)
                except Exception:  # noqa: BLE001 (hidden or detached: nothing to hover)
                    pass
        page.tab.wait_for_timeout(100)
        assert page.tab.evaluate("typeof window.__pwned") == "undefined", path
        assert page.dialogs == [], path
        assert page.violations() == [], (path, page.violations())
        scripts = page.tab.evaluate("[...document.scripts].map(s => s.getAttribute('src'))")
        assert len(scripts) == 1 and scripts[0].startswith("/static/site.js"), scripts
        handlers = page.tab.evaluate(
            "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
            ".filter(n => n.startsWith('on'))"
        )
        assert handlers == [], (path, handlers)
        links = page.tab.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
        assert not [h for h in links if h.lower().lstrip().startswith(("javascript:", "data:", "vbscript:"))]
        errors = [e for e in page.errors if "404" not in e]  # a missing id is a 404 page, not an error
        assert errors == [], errors
    finally:
        page.close()


def test_hostile_names_read_as_text(browser: Any, base_url: str, listed_url: str) -> None:  # noqa: F811
    page = Page(browser, base_url)
    try:
        page.tab.goto(f"/track/{HOSTILE_TRACK}")
        heading = page.tab.locator("h1").inner_text()
        assert XSS_TITLE in heading and '"><img src=x onerror=' in heading
        assert page.tab.title().startswith(XSS_TITLE)
        assert XSS_SCRIPT in page.tab.locator("p.by").inner_text()
        page.tab.goto(f"/artist/{HOSTILE_ARTIST}")
        assert page.tab.locator("h1").inner_text() == XSS_SCRIPT
        assert XSS_ATTR in page.tab.locator("p.genres").inner_text()
        page.tab.goto(listed_url + "/torrents")
        assert XSS_SCRIPT in page.tab.locator("table.torrents").inner_text()
        page.shot("site-hostile-torrents")
        page.tab.goto(f"/album/{HOSTILE_ALBUM}")
        page.shot("site-hostile-album")
        assert page.violations() == []
    finally:
        page.close()
