"""The site's search as people type: /api/suggest (completions with typos, bad input answered, never a 500),
artists and albums above the tracks, did you mean on the page and in the API."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from tests.test_web_fixtures import WebArchive, base_url, web  # noqa: F401


@pytest.fixture(scope="module")
def client(base_url: str):  # noqa: F811
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def _popular_artist(web: WebArchive) -> str:  # noqa: F811
    """A two-word artist name with a 5+ letter word, of the most popular track that has one."""
    conn = sqlite3.connect(web.root / "catalog.sqlite3")
    try:
        for (name,) in conn.execute(
            "SELECT ar.name FROM tracks t JOIN track_artists l ON l.track = t.rowid JOIN "
            "artists ar ON ar.rowid = l.artist WHERE t.level > 0 ORDER BY t.popularity DESC"
        ):
            words = (name or "").split()
            if len(words) == 2 and all(w.isalpha() and w.isascii() for w in words) and len(words[1]) >= 6:
                return name
    finally:
        conn.close()
    raise AssertionError("no such artist in the test catalog")


def test_suggest_completes_the_last_word(client: httpx.Client) -> None:
    data = client.get("/api/suggest", params={"q": "thund"}).json()
    assert data["query"] == "thund"
    tracks = [s for s in data["suggestions"] if s["kind"] == "track"]
    assert tracks and all("thund" in s["name"].lower() for s in tracks)
    assert all(s["url"].startswith("/track/") for s in tracks)
    assert len(data["suggestions"]) <= 8


def test_suggest_with_a_typo_and_an_artist(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    name = _popular_artist(web)
    first, last = name.split()
    typo = last[:2] + last[3] + last[2] + last[4:]  # two letters swapped
    data = client.get("/api/suggest", params={"q": f"{first} {typo}".lower()}).json()
    artists = [s for s in data["suggestions"] if s["kind"] == "artist"]
    assert artists and artists[0]["name"] == name and artists[0]["url"].startswith("/artist/")


def test_search_lists_artists_above_tracks(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    name = _popular_artist(web)
    data = client.get("/api/search", params={"q": name[:-1]}).json()  # the last letter not typed yet
    assert data["artists"] and data["artists"][0]["name"] == name
    page = client.get("/search", params={"q": name[:-1]}).text
    assert page.index('id="artist-matches"') < page.index('class="tracks stack"')
    # filters are about tracks: no artist block with them, nor past page 1
    assert client.get("/api/search", params={"q": name, "min_popularity": 1}).json()["artists"] == []
    assert client.get("/api/search", params={"q": name, "page": 2}).json()["artists"] == []


def test_did_you_mean_on_the_page_and_in_the_api(client: httpx.Client) -> None:
    data = client.get("/api/search", params={"q": "lvoe"}).json()  # 4 letters: no typo allowed
    assert data["results"] == [] and data["did_you_mean"] == "love"
    assert data["did_you_mean_url"].startswith("/search?q=love")
    page = client.get("/search", params={"q": "lvoe"}).text
    assert 'id="did-you-mean"' in page and 'href="/search?q=love' in page
    assert client.get("/api/suggest", params={"q": "lvoe"}).json()["did_you_mean"] == "love"


@pytest.mark.parametrize(
    "q",
    [
        "",
        " ",
        "!!!",
        "*",
        "x",
        "\x00",
        "\x1b[31m",
        "AND OR NOT",
        "NEAR(a b)",
        "a:b",
        '"',
        "{title}: love",
        "love*",
        "'; DROP TABLE tracks; --",
        "é" * 200,
        "lo" * 100,
    ],
)
def test_suggest_bad_input_is_answered(client: httpx.Client, q: str) -> None:
    started = time.perf_counter()
    response = client.get("/api/suggest", params={"q": q})
    assert response.status_code == 200, response.text
    data = response.json()
    assert isinstance(data["suggestions"], list)
    if q.strip() and not any(ch.isalnum() for ch in q):
        assert "nothing to search for" in data["message"]
    assert time.perf_counter() - started < 2.0


def test_suggest_too_long_is_a_clear_400(client: httpx.Client) -> None:
    response = client.get("/api/suggest", params={"q": "x" * 10_000})
    assert response.status_code in (400, 414)
    assert "200" in response.text or "too long" in response.text.lower()
