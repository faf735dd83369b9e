"""What a new user trips over on the site, over real HTTP and in a real Chromium: listens as counts and shares,
the seeding form that keeps what was typed, seeders "unknown" until a scrape counts them, separate links,
readable errors for bad filters that keep the search form, a genre filter without words, one player and one
file block per track, the file's own length, playable-only home and shuffle, a phone-sized layout, and the
OpenAPI address the README gives."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import orjson
import pytest

from fonoteca import archive as archive_mod
from tests.test_web_browser import Page, browser  # noqa: F401
from tests.test_web_fixtures import HOSTILE_TRACK, RELEASE, WebArchive, base_url, listed_url, web  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client(base_url: str):  # noqa: F811
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def listed(listed_url: str):  # noqa: F811
    """The site whose release lists torrents of every seeding health (see tests.test_web_fixtures)."""
    with httpx.Client(base_url=listed_url, timeout=30) as c:
        yield c


def _percentages(html: str) -> list[float]:
    return [float(p) for p in re.findall(r"([0-9][0-9,]*\.?[0-9]*)%", html.replace(",", ""))]


# --- torrents ---------------------------------------------------------------------------------------------------
def test_listens_are_counts_and_shares(listed: httpx.Client) -> None:
    data = listed.get("/api/torrents").json()
    bands = {b["band"]: b for b in data["bands"]}
    assert bands["pop_50-100"]["listens_covered"] == pytest.approx(1_100_000)  # estimated listens: a count
    assert sum(b["listens_share"] for b in data["bands"]) == pytest.approx(1.0)
    html = listed.get("/torrents").text
    table = html[html.index('<table class="bands') : html.index("</table>")]
    assert ">1,100,000<" in table
    share = 1_100_000 / data["totals"]["listens_covered"]
    assert f">{100 * share:.1f}%<" in table
    assert _percentages(table) and all(p <= 100 for p in _percentages(table)), _percentages(table)
    generated = listed.get("/torrents/generate?budget=1PB").text
    summary = re.search(r'<p id="generated-summary"[^>]*>(.*?)</p>', generated, re.S).group(1)
    assert "estimated listens" in summary and all(p <= 100 for p in _percentages(summary)), summary


def test_links_are_separate_words(listed: httpx.Client) -> None:
    for page in ("/torrents", "/torrents/generate?budget=1PB"):
        html = listed.get(page).text
        assert "</a><a" not in html, page
        assert re.search(r'>magnet</a> · <a class="torrent-file" href="[^"]+"[^>]*>\.torrent</a>', html), page


def test_the_seeding_form_keeps_what_was_typed(client: httpx.Client) -> None:
    html = client.get("/torrents/generate?budget=100MB&include_metadata=false").text
    assert 'name="budget" id="budget" value="100MB"' in html
    assert '<option value="false" selected>' in html
    # resubmitting the form as a browser would asks for the same list
    again = client.get("/api/torrents/generate?budget=100MB&include_metadata=false").json()
    assert again["budget"] == 100_000_000 and again["include_metadata"] is False


def test_the_seeding_form_resubmits_cleanly_in_the_browser(browser: Any, base_url: str) -> None:  # noqa: F811
    page = Page(browser, base_url)
    try:
        page.goto("/torrents")
        page.tab.fill("#budget", "1.5TiB")
        page.tab.select_option("#include-metadata", "false")
        page.tab.click("#generate")
        page.tab.wait_for_url(re.compile(r"/torrents/generate\?"))
        first = page.tab.url
        assert parse_qsl(urlsplit(first).query) == [("budget", "1.5TiB"), ("include_metadata", "false")]
        assert page.tab.input_value("#budget") == "1.5TiB"
        items = page.tab.locator("#generated li").all_inner_texts()
        assert items and not any("metadata" in i for i in items)
        page.tab.click("#generate")  # again, unchanged
        page.tab.wait_for_load_state("load")
        assert page.tab.url == first and page.tab.locator("#generated li").all_inner_texts() == items
        assert page.violations() == [] and not page.errors
    finally:
        page.close()


def _release_archive(root: Path, listing: list[dict[str, Any]]) -> Path:
    archive = archive_mod.init(root, name="Seeders")
    folder = archive.root / "releases" / "r1"
    folder.mkdir(parents=True)
    (folder / "torrents.json").write_bytes(orjson.dumps(listing))
    return archive.root


def test_zero_seeders_only_when_a_scrape_said_so(tmp_path: Path) -> None:
    from fonoteca.web import ServerThread, Settings, create_app

    def entry(name: str, seeders: int, **extra: Any) -> dict[str, Any]:
        btih = hashlib.sha1(name.encode()).hexdigest()
        return {
            "display_name": name,
            "btih": btih,
            "magnet_link": f"magnet:?xt=urn:btih:{btih}",
            "data_size": 10**9,
            "seeders": seeders,
            "leechers": 0,
            "band": "pop_0",
            "tracks": 10,
            "listens_covered": 100.0,
            **extra,
        }

    root = _release_archive(
        tmp_path / "a",
        [
            entry("scraped-zero", 0, stats_scraped_at="2026-11-20T00:00:00Z"),
            entry("never-scraped", 0, stats_scraped_at=None),  # what `fonoteca pack` writes before any scrape
            entry("no-scrape-field", 0),
            entry("two-seeders", 2),
        ],
    )
    with (
        ServerThread(create_app(Settings(archive=root, rate_limit=0))) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        by = {t["name"]: t for t in c.get("/api/torrents").json()["torrents"]}
        assert (by["scraped-zero"]["seeders"], by["scraped-zero"]["health"]) == (0, "none")
        for name in ("never-scraped", "no-scrape-field"):
            assert (by[name]["seeders"], by[name]["health"], by[name]["leechers"]) == (None, "unknown", None), name
        assert by["two-seeders"]["health"] == "low"
        assert c.get("/api/home").json()["releases"]["health"] == {
            "none": 1,
            "low": 1,
            "medium": 0,
            "good": 0,
            "unknown": 2,
        }
        assert '<dd id="at-risk">2</dd>' in c.get("/").text
        html = c.get("/torrents").text
        assert html.count('<span class="health unknown">unknown</span>') == 2
        assert html.count('<span class="health none">0</span>') == 1
        generated = c.get("/torrents/generate?budget=1PB").text
        # counted with no seeders at all: not suggested (nobody could download it); never counted: suggested
        assert generated.count("unknown seeders") == 2 and generated.count(">0 seeders") == 0


# --- search --------------------------------------------------------------------------------------------------------
def test_bad_filters_keep_the_form_with_a_readable_message(client: httpx.Client) -> None:
    page = client.get("/search?q=love&year=abc&genre=rock")
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert 'id="search-error"' in page.text
    assert "year: expected a year (1995) or a range (1990-1999), not &#39;abc&#39;" in page.text
    assert 'name="q" id="q" value="love"' in page.text and 'name="year" value="abc"' in page.text
    assert 'name="genre" value="rock"' in page.text and "String should match pattern" not in page.text
    api = client.get("/api/search?q=love&year=abc")
    assert api.status_code == 400 and api.headers["content-type"].startswith("application/json")
    assert api.json()["error"]["message"] == "year: expected a year (1995) or a range (1990-1999), not 'abc'"
    numbers = client.get("/api/search?q=love&min_popularity=lots").json()["error"]["message"]
    assert numbers == "min_popularity: expected a whole number, not 'lots'"
    for url, words in [
        ("/search?q=love&year=1900-2300", "a range of at most 200 years"),
        ("/search?q=love&min_popularity=101", "min_popularity: must be at most 100"),
        ("/search?q=love&explicit=maybe", "explicit: expected"),
        ("/search?genre=rock&year=0", "year: expected"),
    ]:
        r = client.get(url)
        assert r.status_code == 400 and 'class="search-form"' in r.text and words in r.text, (url, r.text[-800:])


def test_a_genre_without_words_lists_its_tracks(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    conn = sqlite3.connect(f"file:{web.root / 'catalog.sqlite3'}?mode=ro", uri=True)
    (genre,) = conn.execute(
        "SELECT g.name FROM genres g JOIN artist_genres ag ON ag.genre = g.rowid "
        "WHERE g.name NOT LIKE '%<%' GROUP BY g.rowid ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    expected = [
        r[0]
        for r in conn.execute(
            "SELECT t.id FROM tracks t WHERE t.level > 0 AND t.rowid IN (SELECT ta.track FROM track_artists ta "
            "JOIN artist_genres ag ON ag.artist = ta.artist JOIN genres g ON g.rowid = ag.genre WHERE g.name = ?) "
            "ORDER BY t.popularity DESC",
            (genre,),
        )
    ]
    conn.close()
    data = client.get(f"/api/search?genre={quote(genre)}&size=10").json()
    assert data["mode"] == "filter" and data["count"] == min(10, len(expected)) > 0
    pops = [h["popularity"] for h in data["results"]]
    assert pops == sorted(pops, reverse=True)
    assert {h["id"] for h in data["results"]} <= set(expected)
    if len(expected) > 10:
        assert data["next"] == f"/api/search?genre={quote(genre, safe='')}&size=10&page=2".replace("%20", "+")
    html = client.get(f"/search?genre={quote(genre)}").text
    assert 'id="filter-heading"' in html and html.count('<a class="title"') == min(20, len(expected))


# --- the track page -----------------------------------------------------------------------------------------------
def test_track_length_from_the_file_with_both_figures(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    for track in (web.archive_track, web.release_track):  # a files row, and a file known only from a release
        data = client.get(f"/api/track/{track}").json()
        assert data["length"]["file_ms"] == 4000 and data["length"]["catalog_ms"] == data["duration_ms"]
        assert data["length"]["disagrees"] is True  # the test files are 4 s tones; the catalog says minutes
        html = client.get(f"/track/{track}").text
        catalog = f"{data['duration_ms'] // 60000}:{data['duration_ms'] // 1000 % 60:02d}"
        assert f'<dd id="length">0:04 (the file); the catalog says {catalog}</dd>' in html, track
        assert 'data-duration-ms="4000"' in html


def test_track_page_has_one_player_and_one_file_block(
    browser: Any,  # noqa: F811
    base_url: str,  # noqa: F811
    web: WebArchive,  # noqa: F811
) -> None:
    page = Page(browser, base_url)
    try:
        for track in (web.archive_track, web.release_track):
            page.goto(f"/track/{track}")
            sha = httpx.get(f"{base_url}/api/track/{track}").json()["locations"][0]["sha256"]
            assert page.tab.locator("audio").count() == 1 and page.tab.locator("#play").count() == 1
            assert page.tab.evaluate("document.querySelector('audio').controls") is False  # no second control set
            assert page.tab.locator("section.file").count() == 1
            text = page.tab.locator("main").inner_text()
            assert text.count(sha) == 1, track
            assert "magnet · .torrent" in page.tab.locator("section.file").inner_text()
        assert page.violations() == [] and not page.errors
    finally:
        page.close()


# --- playable -----------------------------------------------------------------------------------------------------
def test_home_and_shuffle_can_show_only_playable_tracks(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    here = {web.archive_track, web.release_track}  # the plain track's files rows point outside files/
    home = client.get("/api/home?playable=1").json()
    assert home["playable"] is True and home["counts"]["playable"] == 2
    assert {t["id"] for t in home["top_tracks"]} == here
    assert len(client.get("/api/home").json()["top_tracks"]) == 10
    for _ in range(3):
        drawn = client.get("/api/shuffle?playable=1&count=10").json()
        assert {t["id"] for t in drawn["tracks"]} == here
    html = client.get("/?playable=1").text
    assert "you can play here" in html and html.count('<a class="title"') == 2
    assert 'href="/?playable=1"' in client.get("/").text
    assert 'name="playable" value="1" checked' in client.get("/shuffle?playable=1").text


# --- a phone ------------------------------------------------------------------------------------------------------
def test_mobile_layout_at_390_px(browser: Any, base_url: str, web: WebArchive) -> None:  # noqa: F811
    track = httpx.get(f"{base_url}/api/track/{web.archive_track}").json()
    pages = [
        "/",
        "/search?q=love",
        f"/track/{web.archive_track}",
        track["artists"][0]["url"],
        track["album"]["url"],
        f"/track/{HOSTILE_TRACK}",
        "/torrents",
        "/torrents/generate?budget=2",
        "/stats",
        "/api",
        "/shuffle",
        "/genres",
        "/search?q=love&year=abc",
    ]
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, base_url=base_url, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    try:
        tab = context.new_page()
        for path in pages:
            tab.goto(path, wait_until="load")
            width = tab.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
            assert width <= 390, (path, width)
            wide = tab.evaluate(
                "[...document.querySelectorAll('main *, header *')].filter(e => "
                "e.getBoundingClientRect().right > 391).map(e => e.tagName + '.' + e.className)"
            )
            assert wide == [], (path, wide[:5])
            nav = tab.evaluate(
                "[...document.querySelectorAll('header nav a')].map(a => a.getBoundingClientRect().right)"
            )
            assert nav and max(nav) <= 390, (path, nav)
            for table in tab.locator("main table").all():  # tables collapse into one block per row
                assert table.evaluate("t => !t.tHead || getComputedStyle(t.tHead).display === 'none'"), path
            if path in ("/torrents", "/search?q=love"):
                (REPO / "test-artifacts").mkdir(exist_ok=True)
                name = "site-mobile-" + path.strip("/").split("?")[0]
                tab.screenshot(path=str(REPO / "test-artifacts" / f"{name}.png"), full_page=True)
    finally:
        context.close()


# --- the README ---------------------------------------------------------------------------------------------------
def test_the_openapi_address_in_the_readme_is_served(client: httpx.Client) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    address = re.search(r"OpenAPI at `([^`]+)`", readme).group(1)
    spec = client.get(address, follow_redirects=True)
    assert spec.status_code == 200 and spec.json()["openapi"].startswith("3."), address
    assert client.get("/api/openapi.json").json()["paths"] == spec.json()["paths"]
