"""Search: relevance on a hand-made catalog, Unicode and punctuation, filters, lookups, bad input, shuffle."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.errors import UsageError
from fonoteca.search import Searcher
from fonoteca.search import docs as docs_mod
from fonoteca.search.docs import key_popularity, key_rowid
from fonoteca.search.text import query_groups, query_pairs, title_terms, tokens
from tests.conftest import run_cli
from tests.helpers import write_jsonl

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sid(text: str) -> str:
    """A stable Spotify-shaped id (22 base62 characters) for a name."""
    number = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    out = []
    for _ in range(22):
        number, digit = divmod(number, 62)
        out.append(BASE62[digit])
    return "".join(out)


def artist_obj(name: str, genres: tuple[str, ...] = (), popularity: int = 50) -> dict[str, Any]:
    id_ = sid("artist:" + name)
    return {
        "followers": {"href": None, "total": 10},
        "genres": list(genres),
        "id": id_,
        "images": [],
        "name": name,
        "popularity": popularity,
        "type": "artist",
        "uri": f"spotify:artist:{id_}",
    }


def _simple_artist(name: str) -> dict[str, Any]:
    id_ = sid("artist:" + name)
    return {"id": id_, "name": name, "type": "artist", "uri": f"spotify:artist:{id_}"}


def track_obj(
    name: str,
    artists: list[str],
    popularity: int,
    *,
    album: str | None = None,
    year: str = "2015",
    explicit: bool = False,
    isrc: str | None = None,
    upc: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    """A full Spotify track with its simplified album (named after the track unless given)."""
    album_name = album if album is not None else name
    album_id = sid("album:" + album_name + ":" + artists[0])
    track_id = sid("track:" + (key or name + ":" + ",".join(artists)))
    album_obj: dict[str, Any] = {
        "album_type": "album",
        "artists": [_simple_artist(artists[0])],
        "id": album_id,
        "name": album_name,
        "release_date": year,
        "release_date_precision": "year" if len(year) == 4 else "day",
        "total_tracks": 1,
        "type": "album",
        "uri": f"spotify:album:{album_id}",
    }
    if upc:
        album_obj["external_ids"] = {"upc": upc}
    return {
        "album": album_obj,
        "artists": [_simple_artist(a) for a in artists],
        "disc_number": 1,
        "duration_ms": 200000,
        "explicit": explicit,
        "external_ids": {"isrc": isrc or _isrc(track_id)},
        "id": track_id,
        "name": name,
        "popularity": popularity,
        "track_number": 1,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


def _isrc(seed: str) -> str:
    digits = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % 10_000_000
    return f"QZ{'ABC'}{digits % 100:02d}{digits % 100000:05d}"


ARTISTS = [
    artist_obj("Adele", ("british soul", "pop"), 90),
    artist_obj("Beyoncé", ("pop", "r&b"), 88),
    artist_obj("$uicideboy$", ("underground hip hop",), 80),
    artist_obj("AC/DC", ("hard rock", "rock"), 84),
    artist_obj('"Weird Al" Yankovic', ("comedy rock",), 60),
    artist_obj("P!nk", ("pop", "dance pop"), 82),
    artist_obj("宇多田ヒカル", ("j-pop",), 75),
    artist_obj("아이유", ("k-pop",), 78),
]

CATALOG = [
    track_obj("Hello", ["Adele"], 85, album="25", year="2015-10-23", isrc="GBBKS1500214", upc="811481022128"),
    track_obj("Hello", ["Nobody Band"], 5, album="Garage Tapes", year="2011"),
    track_obj("Hello", ["Quiet Person"], 12, album="Hello", year="1999"),
    track_obj("Hello Goodbye", ["The Fab Four"], 60, album="Magical", year="1967"),
    track_obj("Say Hello Again", ["Cover Crew"], 45, album="Covers", year="2008"),
    track_obj("Fuzz", ["Loud DJ"], 95, album="Hello World Megamix", year="2020", explicit=True),
    track_obj("Halo", ["Beyoncé"], 80, album="I Am... Sasha Fierce", year="2008"),
    track_obj("Déjà Vu", ["Beyoncé"], 70, album="B'Day", year="2006"),
    track_obj("Paris", ["$uicideboy$"], 65, album="Kill Yourself Part III", year="2015", explicit=True),
    track_obj("Back In Black", ["AC/DC"], 83, album="Back In Black", year="1980"),
    track_obj("White & Nerdy", ['"Weird Al" Yankovic'], 55, album="Straight Outta Lynwood", year="2006"),
    track_obj("So What", ["P!nk"], 72, album="Funhouse", year="2008", explicit=True),
    track_obj("First Love", ["宇多田ヒカル"], 68, album="First Love", year="1999"),
    track_obj("光", ["宇多田ヒカル"], 64, album="Deep River", year="2002"),
    track_obj("좋은 날", ["아이유"], 66, album="Real", year="2010"),
    track_obj("Любовь", ["Иван Петров"], 30, album="Песни", year="2012"),
    track_obj("Straße der Liebe", ["Kapelle Süd"], 20, album="Heimat", year="1994"),
]


def write_catalog(path: Path, tracks: list[dict[str, Any]], artists: list[dict[str, Any]] = ARTISTS) -> Path:
    return write_jsonl(path, artists + tracks)


@pytest.fixture(scope="module")
def hand_archive(tmp_path_factory: pytest.TempPathFactory) -> archive_mod.Archive:
    """The hand-made catalog, imported (the import builds the index)."""
    root = tmp_path_factory.mktemp("search")
    archive = archive_mod.init(root / "archive", name="search test")
    source = write_catalog(root / "catalog.jsonl", CATALOG)
    result = run_cli("import", "spotify", str(source), "--strict", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return archive


@pytest.fixture(scope="module")
def searcher(hand_archive: archive_mod.Archive):
    with Searcher(hand_archive) as s:
        yield s


def names(response) -> list[str]:
    return [hit["name"] for hit in response.results]


def first(response) -> tuple[str, list[str]]:
    hit = response.results[0]
    return hit["name"], [a["name"] for a in hit["artists"]]


# --- normalisation -------------------------------------------------------------------------------------------


def test_tokens_fold_accents_split_cjk_and_keep_punctuated_names() -> None:
    assert tokens("Beyoncé Déjà Vu") == ["beyonce", "deja", "vu"]
    assert tokens("Straße") == ["strasse"]
    assert tokens("東京タワー") == ["東", "京", "タ", "ワ", "ー"]
    assert tokens("$uicideboy$") == ["uicideboy", "suicideboys"]
    assert tokens("AC/DC") == ["ac", "dc", "acdc"]
    assert tokens("नमस्ते") == ["नमस्ते"]  # Devanagari vowel signs are part of the word, not separators
    assert query_groups("AC/DC") == [[("acdc",), ("ac", "dc")]]
    assert query_groups("!!! ... ???") == []


TITLES = [t["name"] for t in CATALOG] + [
    "AC/DC Live",
    "Don't Stop Me Now",
    "東京タワー",
    "Heart$ of P!nk",
    "M.I.A. - Paper",
]


@pytest.mark.parametrize("title", TITLES)
def test_title_pairs_cover_every_typed_window(title: str) -> None:
    """Any run of a title's words, typed as they appear, finds its word pairs among the title's indexed pairs."""
    words, pairs = title_terms(title)
    chunks = title.split()
    for size in range(2, len(chunks) + 1):
        for start in range(len(chunks) - size + 1):
            for clause in query_pairs(query_groups(" ".join(chunks[start : start + size]))):
                assert set(clause) & set(pairs), (title, chunks[start : start + size], clause)


# --- relevance -----------------------------------------------------------------------------------------------


def test_popular_exact_match_first_for_bare_title(searcher: Searcher) -> None:
    response = searcher.search("hello")
    assert response.mode == "text"
    assert first(response) == ("Hello", ["Adele"])
    found = names(response)
    # the album-only match ("Fuzz" on "Hello World Megamix") is the most popular, yet ranks below title matches
    assert found.index("Fuzz") > found.index("Hello Goodbye")
    assert set(found) >= {"Hello", "Hello Goodbye", "Say Hello Again", "Fuzz"}


def test_title_and_artist_words_together(searcher: Searcher) -> None:
    assert first(searcher.search("hello adele")) == ("Hello", ["Adele"])
    assert first(searcher.search("ADELE hello")) == ("Hello", ["Adele"])
    # every word must match: no Adele track is called Goodbye
    assert searcher.search("adele goodbye").results == []


def test_accents_folded_both_ways(searcher: Searcher) -> None:
    assert first(searcher.search("beyonce halo")) == ("Halo", ["Beyoncé"])
    assert first(searcher.search("deja vu")) == ("Déjà Vu", ["Beyoncé"])
    assert first(searcher.search("Déjà")) == ("Déjà Vu", ["Beyoncé"])
    assert first(searcher.search("strasse")) == ("Straße der Liebe", ["Kapelle Süd"])
    assert first(searcher.search("kapelle sud")) == ("Straße der Liebe", ["Kapelle Süd"])


def test_cjk_cyrillic_and_hangul_found(searcher: Searcher) -> None:
    assert first(searcher.search("宇多田")) == ("First Love", ["宇多田ヒカル"])
    assert "光" in names(searcher.search("ヒカル"))
    assert first(searcher.search("光")) == ("光", ["宇多田ヒカル"])
    assert first(searcher.search("좋은")) == ("좋은 날", ["아이유"])
    assert first(searcher.search("아이유")) == ("좋은 날", ["아이유"])
    assert first(searcher.search("любовь")) == ("Любовь", ["Иван Петров"])
    assert first(searcher.search("ЛЮБОВЬ петров")) == ("Любовь", ["Иван Петров"])


@pytest.mark.parametrize(
    "query, title",
    [
        ("$uicideboy$", "Paris"),
        ("suicideboys", "Paris"),
        ("uicideboy paris", "Paris"),
        ("AC/DC", "Back In Black"),
        ("acdc back in black", "Back In Black"),
        ("ac dc", "Back In Black"),
        ('"Weird Al" Yankovic', "White & Nerdy"),
        ("weird al white nerdy", "White & Nerdy"),
        ("P!nk so what", "So What"),
        ("pink so what", "So What"),
    ],
)
def test_punctuation_in_names(searcher: Searcher, query: str, title: str) -> None:
    response = searcher.search(query)
    assert response.results, query
    assert response.results[0]["name"] == title


# --- filters -------------------------------------------------------------------------------------------------


def test_min_popularity_filter(searcher: Searcher) -> None:
    hits = searcher.search("hello", min_popularity=50).results
    assert {h["name"] for h in hits} == {"Hello", "Hello Goodbye", "Fuzz"}
    assert all(h["popularity"] >= 50 for h in hits)


def test_year_filter_single_and_range(searcher: Searcher) -> None:
    hits = searcher.search("hello", year="1999").results
    assert [(h["name"], h["artists"][0]["name"]) for h in hits] == [("Hello", "Quiet Person")]
    hits = searcher.search("hello", year="2010-2020").results
    assert {h["artists"][0]["name"] for h in hits} == {"Adele", "Nobody Band", "Loud DJ"}


def test_genre_filter(searcher: Searcher) -> None:
    hits = searcher.search("hello", genre="British Soul").results
    assert [h["artists"][0]["name"] for h in hits] == ["Adele"]
    assert [h["name"] for h in searcher.search("love", genre="j-pop").results] == ["First Love"]
    # the words of a genre find the genres containing them: "rock" is AC/DC's and "Weird Al"'s
    assert {h["name"] for h in searcher.search("black", genre="rock").results} == {"Back In Black"}


def test_documents_do_not_depend_on_how_much_the_builder_remembers(
    hand_archive: archive_mod.Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builder's memos are bounded (flat memory at any catalog size); with room for one entry each they
    overflow on every track, and the documents, genre tags in the artists' order included, are the same."""
    conn = hand_archive.connect(readonly=True)
    try:
        roomy = docs_mod.DocBuilder(conn).docs(1, 1_000)
        monkeypatch.setattr(docs_mod, "MEMO_ENTRIES", 1)
        forgetful = docs_mod.DocBuilder(conn)
        assert forgetful.titles.limit == 1
        tight = forgetful.docs(1, 1_000)
    finally:
        conn.close()
    assert tight == roomy
    assert len(roomy) == len(CATALOG)
    tags = {doc[1]: doc[4] for doc in roomy}
    assert "_g" in tags["halo"]  # Beyonce's genres reached the document


def test_explicit_filter(searcher: Searcher) -> None:
    assert [h["name"] for h in searcher.search("hello", explicit=True).results] == ["Fuzz"]
    clean = searcher.search("hello", explicit=False).results
    assert "Fuzz" not in [h["name"] for h in clean] and len(clean) == 5


def test_filters_on_the_command_line(hand_archive: archive_mod.Archive) -> None:
    result = run_cli(
        "search",
        "hello",
        "--min-popularity",
        "50",
        "--year",
        "2015",
        "--genre",
        "pop",
        "--json",
        archive=hand_archive.root,
    )
    assert result.exit_code == 0, result.stderr
    data = orjson.loads(result.stdout)
    assert [(h["name"], h["year"]) for h in data["results"]] == [("Hello", 2015)]


# --- lookups -------------------------------------------------------------------------------------------------


def test_isrc_upc_and_id_short_circuit_to_lookup(searcher: Searcher) -> None:
    for query in ("GBBKS1500214", "isrc:GB-BKS-15-00214", "  gbbks1500214 "):
        response = searcher.search(query)
        assert response.mode == "lookup", query
        assert first(response) == ("Hello", ["Adele"])
    response = searcher.search("811481022128")
    assert response.mode == "lookup" and response.results[0]["kind"] == "album"
    track_id = CATALOG[0]["id"]
    for query in (track_id, f"spotify:track:{track_id}", f"https://open.spotify.com/track/{track_id}"):
        response = searcher.search(query)
        assert response.mode == "lookup" and response.results[0]["id"] == track_id


# words as typed, several words, folded accents, a completed prefix, a typo, an ISRC looked up
ROWID_QUERIES = ["hello", "hello goodbye", "beyonce", "back in black", "hel", "goodbey", "GBBKS1500214"]


@pytest.mark.parametrize("query", ROWID_QUERIES)
@pytest.mark.parametrize("limit", [1, 3, 20])
def test_track_rowids_are_the_tracks_search_lists(searcher: Searcher, query: str, limit: int) -> None:
    listed = [hit["rowid"] for hit in searcher.search(query, limit=limit).results]
    assert listed  # every query here finds something, so an empty answer would not pass as equal
    assert searcher.track_rowids(query, limit=limit) == listed


def test_track_rowids_deeper_than_the_limit_add_the_further_matches_read(searcher: Searcher) -> None:
    every = [hit["rowid"] for hit in searcher.search("hello", limit=20).results]
    assert len(every) >= 4  # Hello x3, Hello Goodbye, Say Hello Again, the Hello World Megamix track
    deeper = searcher.track_rowids("hello", limit=2, depth=20)
    assert deeper[:2] == [hit["rowid"] for hit in searcher.search("hello", limit=2).results]  # the page, as is
    assert sorted(deeper) == sorted(every) and len(set(deeper)) == len(deeper)  # then the rest, once each


def test_track_rowids_of_a_looked_up_album_are_none(searcher: Searcher) -> None:
    assert searcher.search("811481022128").results[0]["kind"] == "album"  # a UPC names an album, not a track
    assert searcher.track_rowids("811481022128") == []
    with pytest.raises(UsageError):
        searcher.track_rowids("?!")


def test_unknown_typed_reference_says_so(searcher: Searcher) -> None:
    response = searcher.search("isrc:USRC17607839")
    assert response.mode == "lookup" and response.results == []
    assert "nothing in the catalog" in response.message


def test_word_shaped_like_an_id_falls_back_to_text(searcher: Searcher) -> None:
    # 22 letters is also the shape of a Spotify id: no such id, so it is searched as words
    response = searcher.search("Supercalifragilisticx")
    assert response.mode == "text"


# --- bad input -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_empty_query_is_a_usage_error(hand_archive: archive_mod.Archive, query: str) -> None:
    result = run_cli("search", query, archive=hand_archive.root)
    assert result.exit_code == 2
    assert "empty query" in result.stderr


@pytest.mark.parametrize("query", ["!!!", "...", "*", "* * *", '"', "()", "-- ::", "%_%"])
def test_punctuation_only_query_is_explained(hand_archive: archive_mod.Archive, query: str) -> None:
    result = run_cli("search", "--", query, archive=hand_archive.root)
    assert result.exit_code == 2
    assert "nothing to search for" in result.stderr


@pytest.mark.parametrize(
    "query",
    [
        '"hello',
        'hello"',
        "hello*",
        "NEAR(hello adele)",
        "hello NEAR adele",
        "hello OR adele",
        "hello AND",
        "NOT hello",
        "title:hello",
        "{title}: hello",
        "hello^2",
        "(hello",
        "hello)",
        "-hello",
        "+hello",
        "hello:adele",
        "'; DROP TABLE tracks; --",
        "hello' OR '1'='1",
        "hello\\",
        "%hello_%",
        "hello\u200b adele",
    ],
)
def test_query_syntax_and_sql_are_plain_words(hand_archive: archive_mod.Archive, query: str) -> None:
    result = run_cli("search", "--json", "--", query, archive=hand_archive.root)
    assert result.exit_code == 0, result.stderr
    data = orjson.loads(result.stdout)
    assert data["mode"] == "text"
    assert isinstance(data["results"], list)


def test_a_nul_character_is_plain_text(searcher: Searcher) -> None:
    # argv cannot carry a NUL, the site and the API can: the engine takes it as text
    response = searcher.search("\x00hello")
    assert response.mode == "text" and isinstance(response.results, list)


def test_operators_are_matched_as_words(searcher: Searcher) -> None:
    # "OR" is not an operator: both queries require a word "or", which no track has
    assert searcher.search("hello OR adele").results == []
    assert first(searcher.search('"hello" adele*')) == ("Hello", ["Adele"])


def test_sql_in_query_leaves_catalog_intact(hand_archive: archive_mod.Archive, searcher: Searcher) -> None:
    searcher.search("'); DELETE FROM tracks; --")
    assert first(searcher.search("hello adele")) == ("Hello", ["Adele"])
    conn = hand_archive.connect(readonly=True)
    assert conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0] == len(CATALOG)
    conn.close()


def test_ten_kilobyte_query(hand_archive: archive_mod.Archive) -> None:
    long_query = ("hello adele " * 853).strip()
    assert 10_000 < len(long_query.encode()) <= 10_240
    result = run_cli("search", "--json", long_query, archive=hand_archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["results"][0]["name"] == "Hello"
    noise = "x" * 10240
    result = run_cli("search", "--json", noise, archive=hand_archive.root)
    assert result.exit_code == 0 and orjson.loads(result.stdout)["results"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["hello", "--year", "nineties"], "--year"),
        (["hello", "--year", "2000-1990"], "--year"),
        (["hello", "--limit", "0"], "--limit"),
        (["hello", "--min-popularity", "101"], "--min-popularity"),
    ],
)
def test_bad_filter_values(hand_archive: archive_mod.Archive, args: list[str], message: str) -> None:
    result = run_cli("search", *args, archive=hand_archive.root)
    assert result.exit_code == 2
    assert message in result.stderr


def test_unknown_genre(hand_archive: archive_mod.Archive) -> None:
    result = run_cli("search", "hello", "--genre", "polka metal", archive=hand_archive.root)
    assert result.exit_code == 1
    assert "no genre" in result.stderr


def test_search_without_index_explains(archive: archive_mod.Archive) -> None:
    result = run_cli("search", "hello", archive=archive.root)
    assert result.exit_code == 1
    assert "fonoteca index rebuild" in result.stderr


def test_text_output_lists_results(hand_archive: archive_mod.Archive) -> None:
    result = run_cli("search", "hello", "adele", archive=hand_archive.root)
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0] == ["#", "title", "artists", "album", "year", "pop", "id"]
    assert rows[1][1] == "Hello" and rows[1][2] == "Adele"
    assert "Hello" not in result.stderr


# --- shuffle -------------------------------------------------------------------------------------------------


def chi_square_critical(df: int, z: float = 3.09) -> float:
    """Upper critical value of chi-square (Wilson-Hilferty); z = 3.09 is p = 0.001."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def test_shuffle_is_uniform(searcher: Searcher) -> None:
    rng = np.random.default_rng(12345)
    draws = 34_000
    counts: dict[int, int] = {}
    for _ in range(draws):
        key = int(searcher.shuffle_keys(0, 1, rng)[0])
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == len(CATALOG)  # every track can come up, stubs never
    expected = draws / len(CATALOG)
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < chi_square_critical(len(CATALOG) - 1)
    # a popularity-weighted draw would give Adele's Hello (85) 17 times the share of the (5) garage "Hello"
    assert max(counts.values()) / min(counts.values()) < 1.3


def test_shuffle_with_min_popularity_is_uniform_among_matches(searcher: Searcher) -> None:
    rng = np.random.default_rng(7)
    eligible = [t for t in CATALOG if t["popularity"] >= 70]
    counts: dict[int, int] = {}
    for _ in range(16_000):
        key = int(searcher.shuffle_keys(70, 1, rng)[0])
        assert key_popularity(key) >= 70
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == len(eligible)
    expected = 16_000 / len(eligible)
    chi2 = sum((n - expected) ** 2 / expected for n in counts.values())
    assert chi2 < chi_square_critical(len(eligible) - 1)


def test_shuffle_command(hand_archive: archive_mod.Archive) -> None:
    result = run_cli("shuffle", "--count", "5", "--min-popularity", "60", "--json", archive=hand_archive.root)
    assert result.exit_code == 0, result.stderr
    tracks = orjson.loads(result.stdout)
    assert len(tracks) == 5 and len({t["id"] for t in tracks}) == 5
    assert all(t["popularity"] >= 60 for t in tracks)
    result = run_cli("shuffle", "--min-popularity", "100", archive=hand_archive.root)
    assert result.exit_code == 1 and "no tracks with popularity >= 100" in result.stderr


def test_shuffle_keys_name_indexed_tracks(searcher: Searcher, hand_archive: archive_mod.Archive) -> None:
    conn = hand_archive.connect(readonly=True)
    indexed = {r for (r,) in conn.execute("SELECT rowid FROM tracks WHERE level > 0")}
    conn.close()
    keys = searcher.shuffle_keys(0, len(CATALOG), np.random.default_rng(1))
    assert {key_rowid(int(k)) for k in keys} == indexed


def test_title_matches_beyond_the_popular_candidates(tmp_path: Path) -> None:
    """More popular tracks than the candidate pool mention the words only in their album: the tracks actually
    called that are found by the title pass (column filter for one word, title word pairs for several)."""
    archive = archive_mod.init(tmp_path / "archive")
    megamix = [
        track_obj(f"Track {n}", ["Loud DJ"], 90 + n % 10, album="Hello Goodbye Megamix", key=f"mix{n}")
        for n in range(80)
    ]
    catalog = megamix + [
        track_obj("Hello Goodbye", ["The Fab Four"], 10, album="Magical"),
        track_obj("Hello", ["Adele"], 40, album="25"),
    ]
    source = write_catalog(tmp_path / "catalog.jsonl", catalog)
    assert run_cli("import", "spotify", str(source), "--strict", archive=archive.root).exit_code == 0
    with Searcher(archive) as searcher:
        assert first(searcher.search("hello goodbye")) == ("Hello Goodbye", ["The Fab Four"])
        assert first(searcher.search("hello")) == ("Hello", ["Adele"])
        assert first(searcher.search("megamix")) != ("Hello Goodbye", ["The Fab Four"])
