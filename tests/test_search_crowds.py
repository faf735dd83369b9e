"""Little-played tracks called what was typed, in a catalog where more popular tracks hold the same words: the
title passes that read "title words, then artist words", the less popular part of a large catalog searched when
the popular part gave too few results, and a word typed twice counted twice. Each case below is one the search
missed at 1M tracks before (bench/results/search-typing.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.search import Searcher, engine
from fonoteca.search.docs import popularity_bound
from fonoteca.search.text import name_keys, name_tags, query_groups, query_words
from tests.conftest import run_cli
from tests.test_search import artist_obj, first, track_obj, write_catalog

CROWD = 80  # more than the broad pass's candidates (engine.MIN_CANDIDATES) for a search of 10


def _archive_of(root: Path, tracks: list[dict]) -> archive_mod.Archive:
    """An archive holding these tracks (and their artists), imported through the real entry point."""
    archive = archive_mod.init(root / "archive", name=root.name)
    artists = [artist_obj(name) for name in sorted({a["name"] for t in tracks for a in t["artists"]})]
    result = run_cli("import", "spotify", str(write_catalog(root / "c.jsonl", tracks, artists)), archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return archive


def _crowds() -> list[dict]:
    return [
        # "storm lil ghost": Storm by Lil Ghost, against many more played tracks with the three words elsewhere
        track_obj("Storm", ["Lil Ghost"], 1, album="Quiet", key="intended-storm"),
        *[
            track_obj("Ghost Town Lights Forever", ["Lil Storm"], 2 + n % 18, album=f"Crowd {n}", key=f"crowd-{n}")
            for n in range(CROWD)
        ],
        # "run rain night dj low": one popular near miss, the track itself among the least played
        track_obj("Sugar Run Night", ["DJ Low"], 90, album="Rain", key="decoy-run"),
        track_obj("Run Rain Night", ["DJ Low"], 0, album="Late", key="intended-run"),
        # "midnight baby midnight": the repeated word tells the titles apart
        track_obj("Midnight Baby", ["Anna North"], 25, album="Baby", key="short-midnight"),
        track_obj("Midnight Baby Midnight", ["Anna South"], 5, album="Long", key="long-midnight"),
    ]


@pytest.fixture(scope="module")
def crowd_archive(tmp_path_factory: pytest.TempPathFactory) -> archive_mod.Archive:
    return _archive_of(tmp_path_factory.mktemp("crowds"), _crowds())


def test_title_then_artist_finds_the_little_played_track(crowd_archive: archive_mod.Archive) -> None:
    with Searcher(crowd_archive) as searcher:
        response = searcher.search("storm lil ghost", limit=10)
        assert first(response) == ("Storm", ["Lil Ghost"])
        assert first(searcher.search("storm lil ghots", limit=10)) == ("Storm", ["Lil Ghost"])  # with a typo
        crowd = searcher.search("ghost town lil storm", limit=10)
        assert first(crowd)[0] == "Ghost Town Lights Forever"  # the crowd is still found by its own words


def test_the_less_played_part_is_searched_when_the_popular_part_has_too_few(
    crowd_archive: archive_mod.Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a large catalog is searched in two parts, the most popular tracks first: here the first 40
    monkeypatch.setattr(engine, "PREFIX_TRACKS", 40)
    with Searcher(crowd_archive) as searcher:
        response = searcher.search("run rain night dj low", limit=10)
        assert {h["name"] for h in response.results} == {"Run Rain Night", "Sugar Run Night"}
        assert searcher._split is not None  # the two parts were in use


def test_both_parts_are_read_in_one_walk_of_the_posting_lists(
    crowd_archive: archive_mod.Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FTS5 stops an AND of words at a rowid bound only when it finds a match past it: a walk of the popular part
    alone read on into the rest, which a second walk then read again. One walk reads both parts, and stops at the
    first match past the popular part when that part gave enough results."""
    monkeypatch.setattr(engine, "PREFIX_TRACKS", 40)
    walks: list[tuple[str, int, int]] = []
    original = Searcher._matches

    def recording(conn, text, extra, clean, bound, after, want):  # type: ignore[no-untyped-def]
        walks.append((text, after, bound))
        return original(conn, text, extra, clean, bound, after, want)

    monkeypatch.setattr(Searcher, "_matches", staticmethod(recording))
    with Searcher(crowd_archive) as searcher:
        few = searcher.search("run rain night dj low", limit=10)  # one match in the popular part, one after it
        assert {h["name"] for h in few.results} == {"Run Rain Night", "Sugar Run Night"} and few.complete
        assert searcher._split is not None
        broad = [w for w in walks if w[0] == '"run" AND "rain" AND "night" AND "dj" AND "low"']
        assert broad == [(broad[0][0], -1, popularity_bound(0))]  # one walk, over the whole catalog
        walks.clear()
        enough = searcher.search("ghost town", limit=10)  # 40 crowd tracks in the popular part: enough
        assert len(enough.results) == 10 and not enough.complete  # the rest was not read
        assert [w for w in walks if w[0] == '"ghost" AND "town"'] == [('"ghost" AND "town"', -1, popularity_bound(0))]


def test_a_word_typed_twice_counts_twice(crowd_archive: archive_mod.Archive) -> None:
    assert query_groups("midnight baby midnight") == [[("midnight",)], [("baby",)]]
    assert query_words("midnight baby midnight")[1] == [0, 1, 0]
    with Searcher(crowd_archive) as searcher:
        assert first(searcher.search("midnight baby midnight")) == ("Midnight Baby Midnight", ["Anna South"])
        assert first(searcher.search("midnight baby")) == ("Midnight Baby", ["Anna North"])  # more played


def test_query_words_keeps_the_word_limit(tmp_path: Path) -> None:
    words = " ".join(f"w{n}" for n in range(40))
    groups, order = query_words(words + " w0")
    assert len(groups) == 16 and order == list(range(16))  # the repeat after the limit is not counted either


# --- "title words, then the artist's whole name" ---------------------------------------------------------------


def test_whole_name_tokens_match_the_query_side() -> None:
    assert name_tags("Fire$") == ["_nfire", "_nfires"]  # as typed on a phone, and spelled out
    assert name_tags("AC/DC") == ["_nacdc", "_nac_dc"]
    assert name_tags("The Weeknd") == ["_nthe_weeknd"]
    assert name_tags("Beyoncé") == ["_nbeyonce"]
    assert name_tags("One Two Three Four Five Six") == []  # too long to be typed after a title
    assert name_tags("!!!") == [] and name_tags(None) == []
    # what the query side makes of the typed words is one of the name's tokens, however it was typed
    for typed, name in (("fire", "Fire$"), ("fire$", "Fire$"), ("acdc", "AC/DC"), ("ac dc", "AC/DC")):
        keys = name_keys(query_groups(typed), engine.MAX_NAME_TERMS)
        assert keys and set(keys) & set(name_tags(name)), (typed, name)
    assert name_keys(query_groups("a b c d e f"), 64) is None  # more words than a name
    assert name_keys([[("a",), ("b",)]] * 3, 4) is None  # 8 spellings, more than asked for


def _named_crowd() -> list[dict]:
    return [
        # "low fire": Low by Fire$, little played, against many more played tracks with "low" in the title and
        # "fire" further on in it, enough to fill every pass that does not know the artist's whole name
        track_obj("Low", ["Fire$"], 1, album="Quiet", key="intended-low"),
        *[
            track_obj("Low Embers Fire Road", [f"Crowd {n}"], 2 + n % 11, album=f"Crowd {n}", key=f"crowd-{n}")
            for n in range(CROWD)
        ],
        # a track called what was typed, as little played: the artist's whole name tips the balance
        track_obj("Low Fire", ["Nia North"], 1, album="Other", key="equal-low-fire"),
    ]


@pytest.fixture(scope="module")
def named_archive(tmp_path_factory: pytest.TempPathFactory) -> archive_mod.Archive:
    return _archive_of(tmp_path_factory.mktemp("named"), _named_crowd())


def test_title_then_the_artists_whole_name_finds_the_artists_track(named_archive: archive_mod.Archive) -> None:
    with Searcher(named_archive) as searcher:
        for typed in ("low fire", "low fire$", "Low Fire$"):
            response = searcher.search(typed, limit=10)
            names = [(h["name"], [a["name"] for a in h["artists"]]) for h in response.results]
            assert names[:2] == [("Low", ["Fire$"]), ("Low Fire", ["Nia North"])], (typed, names[:3])
        # the crowd is still found by its own words, and a more popular track called what was typed stays first
        assert first(searcher.search("low embers fire road", limit=10))[0] == "Low Embers Fire Road"


def test_a_more_popular_track_called_what_was_typed_stays_first(tmp_path: Path) -> None:
    archive = _archive_of(
        tmp_path,
        [
            track_obj("Low", ["Fire$"], 10, key="artist-track"),
            track_obj("Low Fire", ["Nia North"], 30, key="title-track"),
        ],
    )
    with Searcher(archive) as searcher:
        response = searcher.search("low fire", limit=10)
        assert [h["name"] for h in response.results] == ["Low Fire", "Low"]


def test_title_passes_read_only_past_the_broad_pass(
    named_archive: archive_mod.Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int, dict[int, tuple[str, str, str]]]] = []
    original = Searcher._matches

    def recording(conn, text, extra, clean, bound, after, want):  # type: ignore[no-untyped-def]
        rows = original(conn, text, extra, clean, bound, after, want).fetchall()
        calls.append((text, after, {key: tuple(texts) for key, *texts in rows}))
        return rows

    monkeypatch.setattr(Searcher, "_matches", staticmethod(recording))
    with Searcher(named_archive) as searcher:
        assert first(searcher.search("low fire", limit=10)) == ("Low", ["Fire$"])
    broad, *title_passes = calls
    assert len(broad[2]) == engine.MIN_CANDIDATES and title_passes  # the broad pass stopped early
    last = max(broad[2])
    for text, after, found in title_passes:
        assert after == last and all(key > last for key in found), text  # no row read twice
        assert len(found) <= engine.TITLE_CANDIDATES
    assert any('"_nfire"' in text and found for text, _, found in title_passes)  # the artist's whole name
