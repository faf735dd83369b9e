"""The reference layout (spotify_clean*.sqlite3): import, export, and the rules on the bulk path."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.catalog import layout
from tests.conftest import run_cli
from tests.helpers import catalog_dump, rejects, write_jsonl

TRACKS = 5000


@pytest.fixture(scope="module")
def layout_dbs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four databases of the layout, synthesised (5,000 tracks)."""
    out = tmp_path_factory.mktemp("layout")
    result = run_cli("synth", "spotify-clean", "--tracks", str(TRACKS), "--out", str(out), "--seed", "5")
    assert result.exit_code == 0, result.stderr
    return out


def make_archive(root: Path, bulk: str | None = None, chunk: int | None = None) -> Path:
    archive = archive_mod.init(root).root
    settings = [f'bulk = "{bulk}"'] * (bulk is not None) + [f"chunk_rows = {chunk}"] * (chunk is not None)
    if settings:
        with open(archive / "fonoteca.toml", "a", encoding="utf-8") as handle:
            handle.write("\n[catalog]\n" + "\n".join(settings) + "\n")
    return archive


def owner_column(table: str) -> str | None:
    names = layout.TABLES[table].column_names
    return next(
        (
            c
            for c in ("track_rowid", "artist_rowid", "album_rowid", "playlist_rowid")
            if c in names and not (table == "artist_albums" and c == "artist_rowid")
        ),
        None,
    )


def layout_dump(folder: Path) -> dict[str, list[tuple]]:
    """Every table of the four databases: rows with a rowid by rowid; rows that belong to an owner grouped by
    owner in their order (their position); rows keyed by track id by that id."""
    out: dict[str, list[tuple]] = {}
    for database, name in layout.FILE_NAMES.items():
        conn = sqlite3.connect(folder / name)
        for table in layout.DATABASE_TABLES[database]:
            columns = layout.TABLES[table].column_names
            if table == "playlist_tracks":
                rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY playlist_rowid, position")
            elif "rowid" in columns:
                rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
            elif "track_id" in columns:
                rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY track_id")
            else:
                owner = columns.index(owner_column(table))
                rows = sorted(
                    conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"), key=lambda row: row[owner]
                )  # stable: each owner's rows stay in their order
            out[table] = list(rows)
        conn.close()
    return out


def import_layout(archive: Path, *paths: Path, expect: int = 0) -> dict:
    result = run_cli("import", "spotify-clean", *map(str, paths), "--json", archive=archive)
    assert result.exit_code == expect, result.stderr
    return orjson.loads(result.stdout)


def test_the_synthetic_layout_holds_every_table_status_and_entry_kind(layout_dbs):
    dump = layout_dump(layout_dbs)
    assert all(dump[table] for table in layout.TABLES), [t for t in layout.TABLES if not dump[t]]
    conn = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.TRACK_FILES])
    statuses = {s for (s,) in conn.execute("SELECT DISTINCT status FROM track_files")}
    assert statuses == set(layout.STATUSES)
    conn = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.PLAYLISTS])
    kinds = conn.execute(
        "SELECT sum(is_episode), sum(is_local), sum(track_rowid IS NULL AND "
        "id_if_not_in_tracks_table IS NOT NULL AND is_episode = 0), sum(track_rowid IS NOT NULL) "
        "FROM playlist_tracks"
    ).fetchone()
    assert all(kinds), kinds
    conn = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.FEATURES])
    assert conn.execute("SELECT count(*) FROM track_audio_features WHERE null_response = 1").fetchone()[0] > 0
    conn = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.MAIN])
    assert conn.execute("SELECT count(*) FROM tracks WHERE external_id_ean IS NOT NULL").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM albums WHERE external_id_amgid IS NOT NULL").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM artist_albums WHERE is_appears_on = 1").fetchone()[0] > 0


@pytest.mark.parametrize("bulk", ["always", "never"])
def test_import_then_export_gives_the_same_rows(layout_dbs, tmp_path, bulk):
    archive = make_archive(tmp_path / "archive", bulk=bulk)
    summary = import_layout(archive, layout_dbs)
    assert summary["rejected"] == 0 and summary["written"]["tracks"] == TRACKS
    out = tmp_path / "export"
    result = run_cli("export", "spotify-clean", "--out", str(out), archive=archive)
    assert result.exit_code == 0, result.stderr
    assert sorted(Path(p).name for p in result.stdout.split()) == sorted(layout.FILE_NAMES.values())
    expected, got = layout_dump(layout_dbs), layout_dump(out)
    for table in layout.TABLES:
        assert got[table] == expected[table], table
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    indexes = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    }
    assert {"tracks_id", "tracks_isrc", "artists_id", "albums_id", "playlists_id", "tracks_name_nocase"} <= indexes
    assert conn.execute("SELECT count(*) FROM bulk_loads").fetchone()[0] == 0


def test_importing_twice_changes_nothing(layout_dbs, tmp_path):
    archive = make_archive(tmp_path / "archive", bulk="always")
    import_layout(archive, layout_dbs)
    first = catalog_dump(archive / "catalog.sqlite3")
    again = import_layout(archive, layout_dbs)
    assert sum(again["written"].values()) == 0
    assert catalog_dump(archive / "catalog.sqlite3") == first


def test_databases_imported_one_by_one_equal_one_run(layout_dbs, tmp_path):
    """Any subset, in any number of runs: playlists find their tracks by the rowids of the main database."""
    together = make_archive(tmp_path / "together")
    import_layout(together, layout_dbs)
    apart = make_archive(tmp_path / "apart")
    for database in (layout.PLAYLISTS, layout.MAIN, layout.TRACK_FILES, layout.FEATURES):
        import_layout(apart, layout_dbs / layout.FILE_NAMES[database], expect=0)
    out = tmp_path / "export"
    assert run_cli("export", "spotify-clean", "--out", str(out), archive=apart).exit_code == 0
    got, expected = layout_dump(out), layout_dump(layout_dbs)
    for table in layout.TABLES:
        if table != "playlist_tracks":
            assert got[table] == expected[table], table
    # imported before the main database, entries that point at tracks by rowid had nothing to point at
    entries = [row for row in expected["playlist_tracks"] if row[3] is None]
    assert got["playlist_tracks"] == entries
    found = [r for r in rejects(apart) if r.get("table") == "playlist_tracks"]
    assert len(found) == len(expected["playlist_tracks"]) - len(entries)
    assert all("refers to no row of tracks" in r["reason"] for r in found)


def test_export_spotify_gives_the_json_the_rows_describe(layout_dbs, tmp_path):
    archive = make_archive(tmp_path / "archive")
    import_layout(archive, layout_dbs)
    main = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.MAIN])
    track_id, ean, isrc, album_rowid, popularity = main.execute(
        "SELECT id, external_id_ean, external_id_isrc, album_rowid, popularity FROM tracks "
        "WHERE external_id_ean IS NOT NULL LIMIT 1"
    ).fetchone()
    album = main.execute(
        "SELECT id, name, copyright_c, copyright_p, external_id_upc, label FROM albums WHERE rowid = ?", (album_rowid,)
    ).fetchone()
    artists = [
        r[0]
        for r in main.execute(
            "SELECT a.id FROM track_artists l JOIN artists a ON a.rowid = l.artist_rowid "
            "WHERE l.track_rowid = (SELECT rowid FROM tracks WHERE id = ?) ORDER BY l.rowid",
            (track_id,),
        )
    ]
    result = run_cli("export", "spotify", "--kind", "track", "--id", track_id, archive=archive)
    assert result.exit_code == 0, result.stderr
    track = orjson.loads(result.stdout)
    assert track["external_ids"] == {"isrc": isrc, "ean": ean}
    assert track["popularity"] == popularity and track["is_local"] is False and track["type"] == "track"
    assert [a["id"] for a in track["artists"]] == artists
    assert track["album"]["id"] == album[0] and "copyrights" not in track["album"]
    result = run_cli("export", "spotify", "--kind", "album", "--id", album[0], archive=archive)
    full = orjson.loads(result.stdout)
    assert full["copyrights"] == [{"text": album[2], "type": "C"}, {"text": album[3], "type": "P"}]
    assert full["external_ids"]["upc"] == album[4] and full["label"] == album[5]
    (amgid,) = main.execute(
        "SELECT external_id_amgid FROM albums WHERE external_id_amgid IS NOT NULL LIMIT 1"
    ).fetchone()
    albums = [
        orjson.loads(line)
        for line in run_cli("export", "spotify", "--kind", "album", archive=archive).stdout.splitlines()
    ]
    assert any(a["external_ids"].get("amgid") == amgid for a in albums)
    features = run_cli("export", "spotify", "--kind", "audio-features", archive=archive).stdout.splitlines()
    conn = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.FEATURES])
    assert (
        len(features) == conn.execute("SELECT count(*) FROM track_audio_features WHERE null_response = 0").fetchone()[0]
    )
    playlists = [
        orjson.loads(line)
        for line in run_cli("export", "spotify", "--kind", "playlist", archive=archive).stdout.splitlines()
    ]
    items = [item for p in playlists for item in p["tracks"]["items"]]
    kinds = {(item["track"] or {}).get("type") for item in items} | {"local" for item in items if item["is_local"]}
    assert kinds == {"track", "episode", "local"}
    local = next(item for item in items if item["is_local"])
    assert local["track"]["is_local"] is True and local["track"]["uri"].startswith("spotify:local:")
    owner = playlists[0]["owner"]
    assert owner["type"] == "user" and owner["display_name"]


def _wait_for_progress(archive: Path, child: subprocess.Popen, steps: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        try:
            conn = sqlite3.connect(f"file:{archive / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=1)
            row = conn.execute("SELECT state FROM bulk_loads").fetchone()
            conn.close()
        except sqlite3.OperationalError:
            row = None
        if row is not None and len(orjson.loads(row[0]).get("steps", {})) >= steps:
            return
        time.sleep(0.02)


def test_kill_9_at_any_moment_then_the_same_import_gives_the_clean_catalog(layout_dbs, tmp_path):
    clean = make_archive(tmp_path / "clean", bulk="always", chunk=400)
    import_layout(clean, layout_dbs)
    expected = catalog_dump(clean / "catalog.sqlite3")
    crashed = make_archive(tmp_path / "crashed", bulk="always", chunk=400)
    for steps in (2, 6, 12):  # killed in the entities, in their links, in the playlists
        child = subprocess.Popen(
            [sys.executable, "-m", "fonoteca", "-A", str(crashed), "import", "spotify-clean", str(layout_dbs)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_progress(crashed, child, steps)
        assert child.poll() is None, "the import finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    conn = sqlite3.connect(crashed / "catalog.sqlite3")
    assert conn.execute("SELECT count(*) FROM bulk_loads").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'tracks_isrc'").fetchone()[0] == 0
    conn.close()
    other = run_cli("import", "spotify", str(write_jsonl(tmp_path / "x.jsonl", [])), archive=crashed)
    assert other.exit_code == 1 and "run that same import again" in " ".join(other.stderr.split())
    import_layout(crashed, layout_dbs)
    assert catalog_dump(crashed / "catalog.sqlite3") == expected

    def schema(root: Path) -> list[Any]:
        conn = sqlite3.connect(root / "catalog.sqlite3")
        return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall(), key=repr)

    assert schema(crashed) == schema(clean)


def _json_track(track_id: str, name: str, popularity: int) -> dict:
    from tests import spotify_samples as s

    return s.full_track(track_id, name, 1, isrc="USABC2500001", popularity=popularity)


def test_fuller_and_newer_win_against_rows_the_catalog_holds(layout_dbs, tmp_path):
    """A small catalog imported from JSON, then the layout on the bulk path: newer rows win either way, and a
    held row that wins keeps its own links."""
    main = sqlite3.connect(layout_dbs / layout.FILE_NAMES[layout.MAIN])
    (old_id, old_at), (new_id, new_at) = main.execute(
        "SELECT id, fetched_at FROM tracks WHERE rowid IN (10, 20) ORDER BY rowid"
    ).fetchall()
    archive = make_archive(tmp_path / "archive", bulk="always")
    older = write_jsonl(tmp_path / "older.jsonl", [_json_track(old_id, "Old JSON name", 1)])
    newer = write_jsonl(tmp_path / "newer.jsonl", [_json_track(new_id, "New JSON name", 2)])
    assert (
        run_cli("import", "spotify", str(older), "--fetched-at", str(old_at // 1000 - 86400), archive=archive).exit_code
        == 0
    )
    assert (
        run_cli("import", "spotify", str(newer), "--fetched-at", str(new_at // 1000 + 86400), archive=archive).exit_code
        == 0
    )
    import_layout(archive, layout_dbs)
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    names = dict(conn.execute("SELECT id, name FROM tracks WHERE id IN (?, ?)", (old_id, new_id)))
    (layout_name,) = main.execute("SELECT name FROM tracks WHERE id = ?", (old_id,)).fetchone()
    assert names == {old_id: layout_name, new_id: "New JSON name"}
    assert conn.execute("SELECT count(*) FROM tracks WHERE id IN (?, ?)", (old_id, new_id)).fetchone()[0] == 2
    kept_artists = conn.execute(
        "SELECT a.name FROM track_artists l JOIN artists a ON a.rowid = l.artist JOIN tracks t "
        "ON t.rowid = l.track WHERE t.id = ?",
        (new_id,),
    ).fetchall()
    from tests import spotify_samples as s

    assert [n for (n,) in kept_artists] == [a["name"] for a in _json_track(new_id, "x", 0)["artists"]]
    replaced = conn.execute(
        "SELECT count(*) FROM track_artists l JOIN tracks t ON t.rowid = l.track WHERE t.id = ?", (old_id,)
    ).fetchone()[0]
    assert replaced == main.execute("SELECT count(*) FROM track_artists WHERE track_rowid = 10").fetchone()[0]
    assert conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0] == TRACKS
    del s
