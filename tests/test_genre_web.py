"""The genre map on the website: /genres and /genres/{name} with their JSON twins, and in a real Chromium: open
the map, click a genre, play its example track."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fonoteca import archive as archive_mod
from tests.test_features import GENRES, GenreArchive, build_genre_archive
from tests.test_web_browser import Page, browser  # noqa: F401


@pytest.fixture(scope="module")
def genre_site(tmp_path_factory) -> Iterator[tuple[GenreArchive, str]]:
    from fonoteca.features import compute_features
    from fonoteca.web import ServerThread, Settings, create_app

    built = build_genre_archive(tmp_path_factory.mktemp("genre-site"))
    summary = compute_features(archive_mod.open_archive(built.root), workers=1)  # the demo's Python API
    assert summary.computed == 2 * len(GENRES) and summary.failed == 0
    app = create_app(Settings(archive=built.root, rate_limit=0))
    with ServerThread(app) as server:
        yield built, server.url


def test_api_genres_and_pages(genre_site):
    built, base = genre_site
    data = httpx.get(base + "/api/genres").json()
    assert data["available"] and data["count"] == len(GENRES) + 1
    by = {g["name"]: g for g in data["genres"]}
    assert by["industrial"]["y"] > by["quiet folk"]["y"] and by["industrial"]["x"] > by["quiet folk"]["x"]
    page = httpx.get(base + "/genres")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    assert 'href="/genres/quiet%20folk"' in page.text and "<svg" in page.text
    one = httpx.get(base + "/api/genres/shoegaze").json()
    assert one["name"] == "shoegaze" and one["artists"][0]["name"] == "Band of shoegaze"
    assert [t["id"] for t in one["top_tracks"]] == built.tracks["shoegaze"]
    assert one["example"]["track"]["id"] == built.example["shoegaze"]
    assert one["example"]["audio_url"] == f"/audio/{built.example['shoegaze']}"
    assert httpx.get(base + one["example"]["audio_url"]).status_code == 200
    assert one["map"]["computed"] == 2
    imported = httpx.get(base + "/api/genres/field%20recordings").json()
    assert imported["example"] is None and imported["map"]["imported"] == 2
    assert "no audio" in httpx.get(base + "/genres/field%20recordings").text
    missing = httpx.get(base + "/api/genres/no-such-genre")
    assert missing.status_code == 404
    assert httpx.get(base + "/genres/no-such-genre").status_code == 404


def test_browser_opens_the_map_clicks_a_genre_and_plays_it(browser: Any, genre_site) -> None:  # noqa: F811
    built, base = genre_site
    page = Page(browser, base)
    try:
        page.goto("/genres")
        link = page.tab.locator('svg a[href="/genres/shoegaze"]')
        assert link.count() == 1
        page.shot("genre-map")
        link.click()
        page.tab.wait_for_url(re.compile(r"/genres/shoegaze$"))
        assert page.tab.locator("h1").inner_text().strip() == "shoegaze"
        page.tab.click("#play")
        page.tab.wait_for_function(
            "() => { const f = document.querySelector('[data-player]');"
            " return f && parseFloat(f.dataset.position || '0') > 0.5 && f.dataset.state === 'playing'; }",
            timeout=20_000,
        )
        assert page.tab.evaluate("document.querySelector('#player').currentTime") > 0.5
        page.shot("genre-page")
        assert page.violations() == []
        assert not page.errors, page.errors
    finally:
        page.close()
