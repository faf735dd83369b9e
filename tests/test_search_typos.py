"""Search as people type: the last word as a prefix, typos within the budget (each kind people make), the
ranking order (exact before fuzzy, fewer edits before more, popular before obscure), did you mean, artists and
albums, [search] settings and --exact, and bad input in bounded time."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.search import Searcher
from tests.conftest import run_cli
from tests.test_search import ARTISTS, CATALOG, artist_obj, first, names, track_obj, write_catalog

MORE_ARTISTS = [artist_obj("Metallica", ("metal",), 85), artist_obj("Oasis", ("britpop",), 80)]
MORE = [
    track_obj("Enter Sandman", ["Metallica"], 82, album="Metallica", year="1991"),
    track_obj("Nothing Else Matters", ["Metallica"], 78, album="Metallica", year="1991"),
    track_obj("Thunderstruck", ["AC/DC"], 81, album="The Razors Edge", year="1990"),
    track_obj("Wonderwall", ["Oasis"], 79, album="Morning Glory", year="1995"),
    track_obj("Hallo", ["Obscure Band"], 3, album="Demo", year="2001"),
    track_obj("Moonlights", ["Night Crew"], 90, album="Shine", year="2019"),
    track_obj("Moonlight", ["Quiet Crew"], 10, album="Shade", year="2019"),
    track_obj("Hell", ["Small Band"], 20, album="Fire", year="2003"),
]


@pytest.fixture(scope="module")
def typo_archive(tmp_path_factory: pytest.TempPathFactory) -> archive_mod.Archive:
    root = tmp_path_factory.mktemp("typos")
    archive = archive_mod.init(root / "archive", name="typo test")
    source = write_catalog(root / "catalog.jsonl", CATALOG + MORE, ARTISTS + MORE_ARTISTS)
    result = run_cli("import", "spotify", str(source), "--strict", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return archive


@pytest.fixture(scope="module")
def searcher(typo_archive: archive_mod.Archive):
    with Searcher(typo_archive) as s:
        yield s


# --- prefix --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, title",
    [
        ("thun", "Thunderstruck"),
        ("thunders", "Thunderstruck"),
        ("enter sand", "Enter Sandman"),
        ("back in bl", "Back In Black"),
        ("wonderw", "Wonderwall"),
        ("metallica noth", "Nothing Else Matters"),
        ("sasha fie", "Halo"),  # album words, the last one a prefix
    ],
)
def test_last_word_matches_as_a_prefix(searcher: Searcher, query: str, title: str) -> None:
    assert first(searcher.search(query))[0] == title


def test_only_the_last_word_is_a_prefix(searcher: Searcher) -> None:
    assert searcher.search("thun sandman").results == []  # "thun" is not last: it must be a word (or a typo)


def test_a_one_letter_last_word_is_completed_within_a_bound(searcher: Searcher) -> None:
    assert first(searcher.search("enter s"))[0] == "Enter Sandman"
    started = time.perf_counter()
    for letter in "abcdefghijklmnopqrstuvwxyz0123456789":
        searcher.search(letter)
        searcher.search("hello " + letter)
    assert time.perf_counter() - started < 5  # 72 searches


def test_exact_word_before_its_completions(searcher: Searcher) -> None:
    found = names(searcher.search("hell"))
    assert found[0] == "Hell"  # typed as it is indexed, though the Hello tracks are more popular
    assert "Hello" in found  # ... and the completions fill the rest


# A rare word among many more frequent ones that start the same way: the vocabulary's most frequent completions
# of "bis" (stored for 3 letters) and of "bisqu" (a bounded range scan) leave it out.
FREQUENT_BIS = [f"Bisqu{a}{b} Song" for a in "abcdefgh" for b in "abcde"]  # 40 words, in two tracks each


# More popular titles holding "moon" with another word than one search reads (its 50 most popular matches, then
# 20 more in the title), all less popular than a title match of the whole title outweighs
MOON_AND_MORE = [f"Moon {a}{b}{c}" for a in "bcdf" for b in "aeiou" for c in "klmnr"]  # 100 titles


@pytest.fixture(scope="module")
def crowded_prefix_archive(tmp_path_factory: pytest.TempPathFactory) -> archive_mod.Archive:
    root = tmp_path_factory.mktemp("crowded")
    archive = archive_mod.init(root / "archive", name="crowded prefix")
    tracks = [
        track_obj(title, [band], 60, album=f"{title} {band}") for title in FREQUENT_BIS for band in ("Crew", "Band")
    ]
    tracks += [track_obj(f"Love {n}", ["Crew"], 50) for n in ("Me", "You", "Song")]
    tracks.append(track_obj("Love Bisquit", ["Rare Band"], 1))
    tracks += [track_obj(title, ["Crew"], 10) for title in MOON_AND_MORE]
    tracks.append(track_obj("Moon", ["Rare Band"], 0))
    artists = [artist_obj("Crew"), artist_obj("Band"), artist_obj("Rare Band", popularity=1)]
    source = write_catalog(root / "catalog.jsonl", tracks, artists)
    result = run_cli("import", "spotify", str(source), "--strict", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return archive


@pytest.mark.parametrize("how", ["fts5 prefix query", "words of the tracks matching the rest"])
@pytest.mark.parametrize("query", ["love bis", "love bisqu"])
def test_a_rare_completion_is_found_through_the_other_words(
    crowded_prefix_archive: archive_mod.Archive, monkeypatch: pytest.MonkeyPatch, how: str, query: str
) -> None:
    from fonoteca.search import engine, vocab

    if how != "fts5 prefix query":  # as when the prefix starts too many words for one FTS5 prefix query
        monkeypatch.setattr(engine, "PREFIX_QUERY_US", -1.0)
    with Searcher(crowded_prefix_archive) as searcher:
        conn, _ = searcher.index()
        assert "bisquit" not in vocab.completions(conn, query.split()[-1], 32)  # what the test is about
        assert first(searcher.search(query)) == ("Love Bisquit", ["Rare Band"])
        assert first(searcher.search("bis"))[0] in FREQUENT_BIS  # alone, the frequent ones still come first


@pytest.mark.parametrize("popular_part", [None, 80 + 3 + 20])
def test_a_one_word_title_is_found_behind_more_popular_titles_holding_the_word(
    crowded_prefix_archive: archive_mod.Archive, monkeypatch: pytest.MonkeyPatch, popular_part: int | None
) -> None:
    from fonoteca.search import engine

    if popular_part:  # the popular part searched first holds 20 of the "Moon ..." tracks: enough for 10 results
        monkeypatch.setattr(engine, "PREFIX_TRACKS", popular_part)
    with Searcher(crowded_prefix_archive) as searcher:
        found = searcher.search("moon", limit=10)
        assert (searcher._split is not None) == bool(popular_part)  # two phases when asked for
        assert first(found) == ("Moon", ["Rare Band"])  # unplayed, behind 100 popular tracks called "Moon ..."
        assert set(names(found)[1:]) <= set(MOON_AND_MORE)


# --- typos, each kind people make ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, query, title",
    [
        ("dropped", "metalica", "Enter Sandman"),
        ("dropped", "wondewall", "Wonderwall"),
        ("doubled", "enter sanddman", "Enter Sandman"),
        ("doubled", "beyoncce halo", "Halo"),
        ("swapped", "beyocne halo", "Halo"),
        ("swapped", "wodnerwall", "Wonderwall"),
        ("neighbour_key", "wonderqall", "Wonderwall"),
        ("neighbour_key", "nothinf else matters", "Nothing Else Matters"),
        ("no_marks", "suicideboy paris", "Paris"),
        ("no_marks", "beyonce deja vu", "Déjà Vu"),
        ("no_marks", "acdc thunderstruck", "Thunderstruck"),
        ("two_typos", "thudnerstrcuk", "Thunderstruck"),
        ("two_typos", "metalica sandmna", "Enter Sandman"),
    ],
)
def test_typos_within_the_budget(searcher: Searcher, kind: str, query: str, title: str) -> None:
    assert first(searcher.search(query))[0] == title, kind


@pytest.mark.parametrize(
    "query",
    [
        "halp",  # 4 letters: no typo allowed
        "metlica",  # 7 letters, 2 edits: over the budget of 1
        "thndrstrck",  # 10 letters, 3 edits
    ],
)
def test_typos_beyond_the_budget_do_not_match(searcher: Searcher, query: str) -> None:
    assert searcher.search(query).results == []


def test_exact_only_on_request(searcher: Searcher, typo_archive: archive_mod.Archive) -> None:
    assert searcher.search("metalica", exact=True).results == []
    assert searcher.search("thun", exact=True).results == []
    result = run_cli("search", "--exact", "--json", "metalica", archive=typo_archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["results"] == []
    result = run_cli("search", "--json", "metalica", archive=typo_archive.root)
    assert orjson.loads(result.stdout)["results"][0]["artists"][0]["name"] == "Metallica"


# --- ranking order -----------------------------------------------------------------------------------------------


def test_exact_before_fuzzy(searcher: Searcher) -> None:
    # "hallo" is an indexed word: its obscure track comes first, not Adele's far more popular "Hello"
    assert first(searcher.search("hallo")) == ("Hallo", ["Obscure Band"])


def test_fewer_edits_before_more(searcher: Searcher) -> None:
    # 9 letters, 2 edits allowed: "moonlight" is 1 edit away (obscure), "moonlights" 2 (popular)
    found = names(searcher.search("moonlighx"))
    assert found[:2] == ["Moonlight", "Moonlights"]


def test_popular_before_obscure_at_equal_match(searcher: Searcher) -> None:
    response = searcher.search("helloo")  # one doubled letter: every "Hello" is 1 edit away
    assert first(response) == ("Hello", ["Adele"])
    hellos = [h for h in response.results if h["name"] == "Hello"]
    assert [h["popularity"] for h in hellos] == sorted((h["popularity"] for h in hellos), reverse=True)


# --- did you mean ----------------------------------------------------------------------------------------------


def test_did_you_mean_when_nothing_matches(searcher: Searcher, typo_archive: archive_mod.Archive) -> None:
    response = searcher.search("halp")  # 4 letters: no typo allowed, but "halo" is one edit away
    assert response.results == [] and response.did_you_mean == "halo"
    assert "did you mean: halo" in response.message
    assert searcher.search("qqqqzzzz").did_you_mean is None
    result = run_cli("search", "halp", archive=typo_archive.root)
    assert result.exit_code == 0 and "did you mean: halo" in result.stderr


# --- artists and albums --------------------------------------------------------------------------------------------


def test_artists_and_albums_with_prefix_and_typos(searcher: Searcher) -> None:
    assert [a["name"] for a in searcher.entities("metalica")["artists"]] == ["Metallica"]
    assert [a["name"] for a in searcher.entities("beyon")["artists"]] == ["Beyoncé"]
    assert [a["name"] for a in searcher.entities("suicideboy")["artists"]] == ["$uicideboy$"]
    albums = searcher.entities("razors ed")["albums"]
    assert [(a["name"], a["artists"][0]["name"]) for a in albums] == [("The Razors Edge", "AC/DC")]
    # a track's credits together are not one artist: no artist is called "adele beyonce"
    assert searcher.entities("adele beyonce")["artists"] == []


# --- settings ------------------------------------------------------------------------------------------------------


def _set_search_config(archive: archive_mod.Archive, text: str) -> None:
    path = archive.root / "fonoteca.toml"
    config = path.read_text().split("\n[search]")[0]
    path.write_text(config + "\n[search]\n" + text)


def test_search_settings_in_fonoteca_toml(typo_archive: archive_mod.Archive, tmp_path: Path) -> None:
    original = (typo_archive.root / "fonoteca.toml").read_text()
    try:
        _set_search_config(typo_archive, "typos = false\nprefix = false\n")
        result = run_cli("search", "--json", "metalica", archive=typo_archive.root)
        assert result.exit_code == 0 and orjson.loads(result.stdout)["results"] == []
        result = run_cli("search", "--json", "thun", archive=typo_archive.root)
        assert orjson.loads(result.stdout)["results"] == []
        _set_search_config(typo_archive, "one_typo_length = 4\n")
        result = run_cli("search", "--json", "halp", archive=typo_archive.root)  # 4 letters now get a typo
        assert orjson.loads(result.stdout)["results"][0]["name"] == "Halo"
        _set_search_config(typo_archive, "typos = 'yes'\n")
        result = run_cli("search", "metalica", archive=typo_archive.root)
        assert result.exit_code == 1 and "[search] typos" in result.stderr
        _set_search_config(typo_archive, "one_typo_length = 6\ntwo_typos_length = 5\n")
        result = run_cli("search", "metalica", archive=typo_archive.root)
        assert result.exit_code == 1 and "two_typos_length" in result.stderr
    finally:
        (typo_archive.root / "fonoteca.toml").write_text(original)


def test_rules_budget() -> None:
    from fonoteca.search.expand import Rules

    rules = Rules()
    assert [rules.budget(w) for w in ("halo", "hallo", "metallic", "metallica", "1999999", "x" * 65)] == [
        0,
        1,
        1,
        2,
        0,
        0,
    ]
    assert rules.exact().budget("metallica") == 0


# --- bad input, in bounded time ------------------------------------------------------------------------------------

OPERATORS = [
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "hel*",
    "^hel",
    "title:hel",
    "{title}: hel",
    "NEAR(hel adele, 2)",
    '"hel',
    "hel)",
    "(hel",
    "-hel",
    "+hel",
    "hel AND",
    "OR hel",
    "hel NOT adele",
    "a:b:c",
    "' OR 1=1 --",
    "\\hel",
]


@pytest.mark.parametrize(
    "query",
    OPERATORS
    + ["x", "é", "7", "\x00hel", "hel\x1b[31m", "\u202ehel", "hel\u200b", "\x01\x02\x03 adele", "hel\nadele\tmetalica"],
)
def test_bad_input_gives_a_result_or_a_message_quickly(searcher: Searcher, query: str) -> None:
    started = time.perf_counter()
    response = searcher.search(query)
    assert response.mode in ("text", "lookup")
    assert isinstance(response.results, list)
    assert response.results or response.message
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("query", ["!!!", "...", "*", "* * *", "()", '"""', "%_%", "\x00\x01", "--"])
def test_punctuation_only_is_a_clear_message(searcher: Searcher, query: str) -> None:
    from fonoteca.errors import UsageError

    with pytest.raises(UsageError, match="nothing to search for"):
        searcher.search(query)


@pytest.mark.parametrize(
    "query",
    [
        "metalica " * 1111,  # 10,000 characters of one typo
        "x" * 10_000,  # one 10,000-letter word
        ("wondrewall thudnerstrcuk beyocne " * 300)[:10_000],
        ("ab" * 5000),
    ],
)
def test_ten_thousand_characters_in_bounded_time(searcher: Searcher, query: str) -> None:
    started = time.perf_counter()
    response = searcher.search(query)
    assert response.mode == "text" and isinstance(response.results, list)
    assert time.perf_counter() - started < 1.0
