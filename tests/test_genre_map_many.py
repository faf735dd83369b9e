"""The genre map with hundreds of genres (a synthetic catalog with imported audio features): labels never pile
up (only what fits is named, largest first, and no two label boxes overlap, measured in a real Chromium too),
every genre is still on the map with a hover title and in a list set in columns; and a map with nothing to
draw says why, on the site and in `fonoteca genre-map` (exit 1, no blank image)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fonoteca import archive as archive_mod
from tests import spotify_samples as sp
from tests.conftest import run_cli
from tests.helpers import write_jsonl
from tests.test_web_browser import Page, browser  # noqa: F401


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    from fonoteca.web import ServerThread, Settings, create_app

    base = tmp_path_factory.mktemp("many-genres")
    synth = base / "catalog.jsonl.zst"
    assert run_cli("synth", "catalog", "--tracks", "8000", "--out", str(synth), "--seed", "4").exit_code == 0
    root = archive_mod.init(base / "archive", name="Many genres").root
    result = run_cli("import", "spotify", str(synth), archive=root)
    assert result.exit_code == 0, result.stderr
    with ServerThread(create_app(Settings(archive=root, rate_limit=0))) as server:
        yield root, server.url


def _overlaps(boxes: list[tuple[float, float, float, float]], slack: float = 0.0) -> list[tuple[int, int]]:
    found = []
    for i, (ax, ay, aw, ah) in enumerate(boxes):
        for j, (bx, by, bw, bh) in enumerate(boxes[i + 1 :], i + 1):
            if ax < bx + bw - slack and bx < ax + aw - slack and ay < by + bh - slack and by < ay + ah - slack:
                found.append((i, j))
    return found


def test_hundreds_of_genres_are_labelled_without_overlap(many: tuple[Path, str]) -> None:
    _, url = many
    data = httpx.get(url + "/api/genres", timeout=30).json()
    genres = data["genres"]
    assert data["available"] and data["count"] == len(genres) >= 400
    labelled = [g for g in genres if g["labelled"]]
    boxes = [(g["left"], g["top"], g["label_width"], 15.0) for g in labelled]
    assert _overlaps(boxes) == []
    assert 50 <= data["labelled"] == len(labelled) < len(genres)  # only what fits is named
    for g in labelled:  # inside the map, clear of the axis captions
        assert 0 <= g["left"] and g["left"] + g["label_width"] <= data["width"]
        assert 20 <= g["top"] and g["top"] + 15 <= data["height"] - 20
    largest = max(genres, key=lambda g: (g["tracks"], g["name"]))
    assert largest["labelled"]  # the largest genres are named first
    html = httpx.get(url + "/genres", timeout=30).text
    for g in genres:  # every genre stays on the map, with its name on hover
        assert f'<a href="{g["url"]}" class="genre"><circle' in html.replace("&#39;", "'"), g["name"]
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count("<title>") == len(genres) + len(labelled)
    assert svg.count("<text ") == 4 + len(labelled)  # four axis captions and the labels that fit


def test_labels_do_not_overlap_in_the_browser(browser: Any, many: tuple[Path, str]) -> None:  # noqa: F811
    _, url = many
    page = Page(browser, url)
    try:
        page.goto("/genres")
        boxes = page.tab.evaluate(
            "[...document.querySelectorAll('svg text[data-genre]')].map(t => { const r = t.getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })"
        )
        assert len(boxes) >= 50
        clashes = _overlaps([tuple(b) for b in boxes], slack=0.5)
        assert clashes == [], f"{len(clashes)} overlapping label pairs"
        assert page.tab.locator("svg circle[data-genre] title").count() >= 400
        columns = page.tab.evaluate("getComputedStyle(document.querySelector('ul.genre-list')).columnWidth")
        assert columns not in ("auto", ""), columns
        height = page.tab.evaluate("document.querySelector('ul.genre-list').getBoundingClientRect().height")
        rows = page.tab.locator("ul.genre-list li").count()
        assert rows >= 400 and height < rows * 22 / 3  # at least three columns at 1280 px
        page.shot("genre-map-many")
        assert page.violations() == [] and not page.errors, page.errors
    finally:
        page.close()


def _archive_without_genres(root: Path) -> Path:
    archive = archive_mod.init(root, name="No genres")
    source = write_jsonl(root.parent / "plain.jsonl", [sp.full_artist(genres=[]), sp.full_track(), sp.audio_features()])
    result = run_cli("import", "spotify", str(source), archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return archive.root


def test_an_archive_without_genres_says_so(tmp_path: Path) -> None:
    from fonoteca.web import ServerThread, Settings, create_app

    root = _archive_without_genres(tmp_path / "a")
    with ServerThread(create_app(Settings(archive=root, rate_limit=0))) as server:
        data = httpx.get(server.url + "/api/genres").json()
        assert data["available"] is False and data["reason"] == "no_genres" and "no genres" in data["message"]
        page = httpx.get(server.url + "/genres").text
        assert "this catalog has no genres" in page and "fonoteca features" not in page


def test_genre_map_with_nothing_to_draw_fails_with_the_reason(tmp_path: Path) -> None:
    root = _archive_without_genres(tmp_path / "a")
    for name in ("map.png", "map.svg", "map.html"):
        out = tmp_path / name
        result = run_cli("genre-map", "--out", str(out), archive=root)
        assert result.exit_code == 1, (name, result.stdout, result.stderr)
        assert re.search(r"no genres", result.stderr), result.stderr
        assert not out.exists(), name
    features_only = archive_mod.init(tmp_path / "b", name="Genres, no features")
    source = write_jsonl(tmp_path / "genres.jsonl", [sp.full_artist(), sp.full_track()])
    assert run_cli("import", "spotify", str(source), archive=features_only.root).exit_code == 0
    result = run_cli("genre-map", "--out", str(tmp_path / "b.png"), archive=features_only.root)
    assert result.exit_code == 1 and "fonoteca features" in result.stderr
    assert not (tmp_path / "b.png").exists()
