"""The index follows the catalog: built by the first import, updated in place by later ones, rebuilt on demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson

from fonoteca import archive as archive_mod
from fonoteca.search import Searcher
from fonoteca.search import index as search_index
from fonoteca.search.docs import key_popularity, key_rowid
from tests.conftest import run_cli
from tests.helpers import write_jsonl
from tests.spotify_samples import audio_features
from tests.test_search import ARTISTS, CATALOG, artist_obj, sid, track_obj


def _import(archive: archive_mod.Archive, path: Path, *extra: str) -> None:
    result = run_cli("import", "spotify", str(path), "--strict", *extra, archive=archive.root)
    assert result.exit_code == 0, result.stderr


def _status(archive: archive_mod.Archive) -> dict:
    result = run_cli("index", "status", "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)


def _all_keys(searcher: Searcher) -> list[int]:
    """Every key the shuffle draws from (the catalogs here are far below the 1,000 a draw may take)."""
    return sorted(int(k) for k in searcher.shuffle_keys(0, count=1000))


def _top(searcher: Searcher, query: str) -> list[tuple[str, str]]:
    return [(h["name"], h["artists"][0]["name"]) for h in searcher.search(query).results]


def test_imports_update_the_index(archive: archive_mod.Archive, tmp_path: Path) -> None:
    _import(archive, write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG), "--fetched-at", "2024-01-01")
    status = _status(archive)
    assert status["exists"] and status["tracks"] == len(CATALOG) and status["imports_not_indexed"] == 0
    searcher = Searcher(archive)
    assert _top(searcher, "hello adele")[0] == ("Hello", "Adele")

    # a new track arrives
    new = track_obj("Rolling in the Deep", ["Adele"], 82, album="21", year="2011")
    _import(archive, write_jsonl(tmp_path / "b.jsonl", [new]), "--fetched-at", "2024-02-01")
    assert _top(searcher, "rolling deep") == [("Rolling in the Deep", "Adele")]
    status = _status(archive)
    assert status["tracks"] == len(CATALOG) + 1 and status["updates_since_build"] == 1

    # a newer copy of an existing track replaces its row in place: same rowid, new name and popularity
    conn = archive.connect(readonly=True)
    hello_rowid = conn.execute("SELECT rowid FROM tracks WHERE id = ?", (CATALOG[0]["id"],)).fetchone()[0]
    conn.close()
    renamed = dict(CATALOG[0], name="Hello (Live at the BBC)", popularity=20)
    _import(archive, write_jsonl(tmp_path / "c.jsonl", [renamed]), "--fetched-at", "2024-03-01")
    assert ("Hello (Live at the BBC)", "Adele") == _top(searcher, "hello live bbc")[0]
    assert searcher.search("adele bbc").results[0]["rowid"] == hello_rowid
    assert ("Hello", "Adele") not in _top(searcher, "hello adele")  # the old document is gone
    keys = [k for k in _all_keys(searcher) if key_rowid(k) == hello_rowid]
    assert [key_popularity(k) for k in keys] == [20]  # one key, with the new popularity
    assert len(_all_keys(searcher)) == len(CATALOG) + 1

    # an artist renamed by a newer artist object: their tracks are found under the new name
    adele = dict(artist_obj("Adele", ("british soul", "pop"), 90), name="Adele Adkins")
    _import(archive, write_jsonl(tmp_path / "d.jsonl", [adele]), "--fetched-at", "2024-04-01")
    assert {name for name, _ in _top(searcher, "adkins")} == {"Hello (Live at the BBC)", "Rolling in the Deep"}
    assert _status(archive)["imports_not_indexed"] == 0

    # the incrementally updated index answers like a fresh rebuild
    queries = ["hello", "adkins", "rolling", "beyonce", "ac/dc", "宇多田", "love"]
    before = {q: searcher.search(q).results for q in queries}
    result = run_cli("index", "rebuild", "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["tracks"] == len(CATALOG) + 1
    after = {q: searcher.search(q).results for q in queries}  # the open searcher switches to the new files
    assert after == before
    assert _status(archive)["updates_since_build"] == 0
    searcher.close()


def test_stub_tracks_are_not_indexed(archive: archive_mod.Archive, tmp_path: Path) -> None:
    # audio features of a track the catalog has never seen create a stub row (level 0): not searchable, not shuffled
    stub_id = sid("track:unknown")
    _import(archive, write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG[:3] + [audio_features(stub_id)]))
    conn = archive.connect(readonly=True)
    stub_rowid = conn.execute("SELECT rowid FROM tracks WHERE id = ? AND level = 0", (stub_id,)).fetchone()[0]
    conn.close()
    with Searcher(archive) as searcher:
        keys = _all_keys(searcher)
        assert len(keys) == 3 and stub_rowid not in {key_rowid(k) for k in keys}
        rng = np.random.default_rng(3)
        drawn = {key_rowid(int(searcher.shuffle_keys(0, 1, rng)[0])) for _ in range(300)}
        assert stub_rowid not in drawn and len(drawn) == 3


def test_reimporting_the_same_file_changes_nothing(archive: archive_mod.Archive, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG)
    _import(archive, path)
    with Searcher(archive) as searcher:
        before = searcher.search("hello").results
        _import(archive, path)
        assert searcher.search("hello").results == before
        assert len(_all_keys(searcher)) == len(CATALOG)


def test_large_change_rebuilds(archive: archive_mod.Archive, tmp_path: Path) -> None:
    _import(archive, write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG[:4]))
    with open(archive.root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[search]\nrebuild_min = 2\n")  # a tiny catalog: make 'a large share' reachable
    archive = archive_mod.open_archive(archive.root)
    _import(archive, write_jsonl(tmp_path / "b.jsonl", CATALOG[4:]), "--fetched-at", "2024-05-01")
    stats = search_index.update_after_import(archive)
    assert stats.mode == "none"  # already up to date: the import itself rebuilt it
    status = _status(archive)
    assert status["tracks"] == len(CATALOG) and status["updates_since_build"] == 0
    files = sorted(p.name for p in (archive.root / "index").iterdir() if p.name.startswith(("search-", "shuffle-")))
    assert len([f for f in files if f.endswith(".sqlite3")]) == 1  # the replaced index files were removed


def test_replaced_catalog_is_reindexed(archive: archive_mod.Archive, tmp_path: Path) -> None:
    _import(archive, write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG[:2]))
    _import(archive, write_jsonl(tmp_path / "b.jsonl", CATALOG[2:4]))
    # the operator swaps in a fresh catalog: its import log restarts below what the index has seen
    for suffix in ("", "-wal", "-shm"):
        Path(str(archive.catalog_path) + suffix).unlink(missing_ok=True)
    archive.connect().close()
    _import(archive, write_jsonl(tmp_path / "c.jsonl", ARTISTS + CATALOG[5:7]))
    with Searcher(archive) as searcher:
        assert {h["name"] for h in searcher.search("beyonce").results} == {"Halo"}
        assert searcher.search("hello adele").results == []
        assert len(_all_keys(searcher)) == 2


def test_imports_keep_the_vocabulary_for_prefixes_and_typos(archive: archive_mod.Archive, tmp_path: Path) -> None:
    """Words that arrive with an import are completed and corrected at once (the update adds them to the
    vocabulary), and a word whose only track was renamed away is no longer offered."""
    _import(archive, write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG), "--fetched-at", "2024-01-01")
    searcher = Searcher(archive)
    assert searcher.search("bohemain rhapsody").results == []
    queen = artist_obj("Queen", ("rock",), 85)
    song = track_obj("Bohemian Rhapsody", ["Queen"], 88, album="A Night at the Opera", year="1975")
    _import(archive, write_jsonl(tmp_path / "b.jsonl", [queen, song]), "--fetched-at", "2024-02-01")
    assert _status(archive)["updates_since_build"] == 1  # updated in place, not rebuilt
    assert _top(searcher, "bohemain rhapsody") == [("Bohemian Rhapsody", "Queen")]  # swapped letters
    assert _top(searcher, "rhaps") == [("Bohemian Rhapsody", "Queen")]  # a prefix
    renamed = dict(song, name="Killer Queen", popularity=70)
    _import(archive, write_jsonl(tmp_path / "c.jsonl", [renamed]), "--fetched-at", "2024-03-01")
    conn, _ = searcher.index()
    assert conn.execute("SELECT docs FROM terms WHERE term = 'rhapsody'").fetchone() == (0,)
    assert "rhapsody" not in conn.execute("SELECT terms FROM completions WHERE prefix = 'rha'").fetchone()[0]
    assert searcher.search("rhaps").results == []
    assert _top(searcher, "killer que")[0] == ("Killer Queen", "Queen")
    searcher.close()


def test_the_tracks_an_import_wrote_are_found_through_indexes(archive: archive_mod.Archive, tmp_path: Path) -> None:
    """After every import the index re-reads the tracks of the new runs' files: through the catalog's source
    indexes, so an import of a few tracks into a catalog of 256M does not scan it."""
    _import(archive, write_jsonl(tmp_path / "a.jsonl", ARTISTS + CATALOG))
    new = track_obj("Rolling in the Deep", ["Adele"], 82, album="21", year="2011")
    _import(archive, write_jsonl(tmp_path / "b.jsonl", [new]))
    conn = archive.connect(readonly=True)
    try:
        sources = [s for (s,) in conn.execute("SELECT DISTINCT source FROM tracks WHERE source IS NOT NULL")]
        assert len(sources) == 2
        sql = search_index.changed_tracks_sql(1)
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [sources[-1]] * 3))
        assert "SCAN" not in plan and "tracks_source" in plan and "artists_source" in plan, plan
        later = {r for (r,) in conn.execute(sql, [sources[-1]] * 3)}
        named = {r for (r,) in conn.execute("SELECT rowid FROM tracks WHERE name = 'Rolling in the Deep'")}
        every = {r for (r,) in conn.execute("SELECT rowid FROM tracks")}
        assert len(named) == 1 and named <= later < every  # that file's track, not the whole catalog
    finally:
        conn.close()
