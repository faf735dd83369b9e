"""Bad input in the reference layout: files that are not the layout, unreadable databases, rows that break the
rules. Each bad row goes to rejects/ with database, table, rowid and reason; every good row is imported."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest
import zstandard

from fonoteca import archive as archive_mod
from fonoteca.catalog import layout
from tests.conftest import run_cli
from tests.helpers import rejects

GOOD = ["T" + str(i).rjust(21, "a") for i in range(10)]
ARTIST = "A" + "r" * 21
ALBUM = "B" + "l" * 21


def words(text: str) -> str:
    return " ".join(text.split())


def build_main(path: Path, *, unique_ids: bool = True) -> Path:
    """A small main database of the layout, rows good and bad (without unique id indexes when asked, so that a
    duplicate id can be written at all)."""
    conn = layout.create_database(str(path), layout.MAIN)
    conn.execute("INSERT INTO artists VALUES (1, ?, 1700000000000, 'Artist', 10, 50)", (ARTIST,))
    conn.execute("INSERT INTO artists VALUES (2, NULL, 1700000000000, 'No id', 1, 1)")
    conn.execute("INSERT INTO artists VALUES (3, 'short', 1700000000000, 'Bad id', 1, 1)")
    conn.execute("INSERT INTO artist_genres VALUES (1, 'pop')")
    conn.execute("INSERT INTO artist_genres VALUES (9, 'dangling')")
    conn.execute("INSERT INTO artist_images VALUES (1, 64, 64, 'https://i.scdn.co/image/x')")
    conn.execute("INSERT INTO available_markets VALUES (1, 'DE,FR')")
    conn.execute(
        "INSERT INTO albums VALUES (1, ?, 1700000000000, 'Album', 'album', 1, '634904074006', NULL, "
        "'C', 'P', 'Label', 200, '2020-13-45', 'day', 2)",
        (ALBUM,),
    )
    conn.execute("INSERT INTO album_images VALUES (1, 640, 640, 'https://i.scdn.co/image/y')")
    conn.execute("INSERT INTO artist_albums VALUES (1, 1, 0, 0, 0)")
    conn.execute("INSERT INTO artist_albums VALUES (7, 1, 0, 0, 1)")
    rows = [
        (1, GOOD[0], "Good one", "GBBKS1500214", None, 1, 1),
        (2, GOOD[1], "Bad ISRC", "NOT-AN-ISRC", None, 1, 1),
        (3, GOOD[2], "Bad EAN", "GBBKS1500215", "1234567890123", 1, 1),
        (4, None, "No id", "GBBKS1500216", None, 1, 1),
        (5, "Z" * 23, "Too long an id", "GBBKS1500217", None, 1, 1),
        (6, GOOD[3], "Dangling album", "GBBKS1500218", None, 99, 1),
        (7, GOOD[4], "Lower-case ISRC", "gbbks1500219", None, 1, 1),
        (8, GOOD[5], "Dangling market", "GBBKS1500220", None, 1, 42),
    ]
    if not unique_ids:
        rows.append((9, GOOD[0], "Duplicate id", "GBBKS1500221", None, 1, 1))
    for rowid, id_, name, isrc, ean, album, market in rows:
        conn.execute(
            "INSERT INTO tracks VALUES (?, ?, 1700000000000, ?, NULL, ?, 1, ?, ?, NULL, 5, ?, 1, 180000, 0)",
            (rowid, id_, name, album, isrc, ean, market),
        )
    conn.executemany(
        "INSERT INTO track_artists VALUES (?, ?)", [(1, 1), (2, 1), (3, 1), (6, 1), (7, 1), (8, 1), (1, 5)]
    )
    if unique_ids:
        layout.create_indexes(conn, layout.MAIN)
    conn.close()
    return path


def build_playlists(path: Path) -> Path:
    conn = layout.create_database(str(path), layout.PLAYLISTS)
    conn.execute(
        "INSERT INTO playlists VALUES (1, ?, 'snap', 1700000000000, 'Mix', '', 0, 1, NULL, 'u1', 'U', 3, 4)",
        ("P" * 22,),
    )
    entries = [
        (1, 0, 0, 1, None, "2020-01-01T00:00:00Z", "u1", 0, None, None, None, None, None),
        (1, 1, 0, 777, None, "2020-01-01T00:00:00Z", None, 0, None, None, None, None, None),
        (1, 2, 1, None, "E" * 22, "2020-01-01T00:00:00Z", None, 0, None, None, None, None, None),
        (1, 3, 0, None, None, "2020-01-01T00:00:00Z", None, 1, "demo", "Home", "Me", 1000, "spotify:local:x"),
        (5, 0, 0, 1, None, None, None, 0, None, None, None, None, None),
    ]
    conn.executemany(f"INSERT INTO playlist_tracks VALUES ({','.join('?' * 13)})", entries)
    conn.close()
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return archive_mod.init(tmp_path / "archive").root


def reasons(root: Path) -> dict[tuple[str, object], list[str]]:
    found: dict[tuple[str, object], list[str]] = {}
    for entry in rejects(root):
        found.setdefault((entry["table"], entry["rowid"] if entry["rowid"] is not None else entry["key"]), []).append(
            entry["reason"]
        )
    return found


def test_bad_rows_are_rejected_with_database_table_rowid_and_reason(archive, tmp_path):
    main = build_main(tmp_path / "spotify_clean.sqlite3")
    playlists = build_playlists(tmp_path / "spotify_clean_playlists.sqlite3")
    result = run_cli("import", "spotify-clean", str(main), str(playlists), "--json", archive=archive)
    assert result.exit_code == 0, result.stderr
    found = reasons(archive)
    entries = rejects(archive)
    assert {e["file"] for e in entries} == {str(main), str(playlists)}
    assert found[("artists", 2)] == ["no id"]
    assert "is not a Spotify id" in found[("artists", 3)][0]
    assert "invalid ISRC 'NOT-AN-ISRC'" in found[("tracks", 2)][0]
    assert "invalid EAN '1234567890123'" in found[("tracks", 3)][0]
    assert found[("tracks", 4)] == ["no id"] and "is not a Spotify id" in found[("tracks", 5)][0]
    assert "album_rowid" in found[("tracks", 6)][0] and "refers to no row of albums" in found[("tracks", 6)][0]
    assert "available_markets_rowid" in found[("tracks", 8)][0]
    album = found[("albums", 1)]
    assert any("invalid UPC '634904074006'" in r for r in album)
    assert any("popularity" in r and "200" in r for r in album) and any("release_date" in r for r in album)
    assert "refers to no row of artists" in found[("track_artists", 7)][0]  # the artist of rowid 5 was rejected
    assert "refers to no row of artists" in found[("artist_genres", 2)][0]
    assert "artist_rowid 7 refers to no row of artists" in found[("artist_albums", 2)][0]
    assert "track_rowid 777 refers to no row of tracks" in found[("playlist_tracks", "playlist_rowid=1,position=1")][0]
    assert (
        "playlist_rowid 5 refers to no row of playlists" in found[("playlist_tracks", "playlist_rowid=5,position=0")][0]
    )
    imported = {e["table"]: e["imported"] for e in entries}
    assert imported["tracks"] is True or any(e["imported"] for e in entries if e["table"] == "tracks")
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    tracks = dict(conn.execute("SELECT id, isrc FROM tracks WHERE level > 0"))
    assert set(tracks) == {GOOD[0], GOOD[1], GOOD[2], GOOD[3], GOOD[4], GOOD[5]}
    assert tracks[GOOD[1]] is None and tracks[GOOD[4]] == "GBBKS1500219"  # bad ISRC left out; case normalised
    album, markets = conn.execute("SELECT album, markets FROM tracks WHERE id = ?", (GOOD[3],)).fetchone()
    assert album is None and markets == 1
    assert conn.execute("SELECT markets FROM tracks WHERE id = ?", (GOOD[5],)).fetchone()[0] is None
    upc, popularity, date = conn.execute("SELECT upc, popularity, release_date FROM albums").fetchone()
    assert (upc, popularity, date) == (None, None, None)
    assert conn.execute("SELECT count(*) FROM playlist_items").fetchone()[0] == 3  # track, episode, local file
    assert conn.execute("SELECT count(*) FROM artists WHERE level > 0").fetchone()[0] == 1
    # the lower-case ISRC comes back as published
    out = tmp_path / "out"
    assert run_cli("export", "spotify-clean", "--out", str(out), "--databases", "main", archive=archive).exit_code == 0
    back = sqlite3.connect(out / "spotify_clean.sqlite3")
    assert back.execute("SELECT external_id_isrc FROM tracks WHERE id = ?", (GOOD[4],)).fetchone()[0] == "gbbks1500219"
    strict = run_cli("import", "spotify-clean", str(main), "--strict", archive=archive)
    assert strict.exit_code == 1


def test_a_duplicate_id_is_rejected_and_the_first_row_kept(archive, tmp_path):
    main = build_main(tmp_path / "spotify_clean.sqlite3", unique_ids=False)
    result = run_cli("import", "spotify-clean", str(main), "--json", archive=archive)
    assert result.exit_code == 0, result.stderr
    found = reasons(archive)
    assert "duplicate id" in found[("tracks", 9)][0] and "rowid 1 has it already" in found[("tracks", 9)][0]
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    assert conn.execute("SELECT name FROM tracks WHERE id = ?", (GOOD[0],)).fetchall() == [("Good one",)]


def test_a_file_that_is_not_the_layout_names_what_it_lacks(archive, tmp_path, request):
    good = build_main(tmp_path / "spotify_clean.sqlite3")
    lacking_table = tmp_path / "no_albums.sqlite3"
    shutil.copy(good, lacking_table)
    conn = sqlite3.connect(lacking_table)
    conn.execute("DROP TABLE album_images")
    conn.execute("ALTER TABLE tracks DROP COLUMN explicit")
    conn.close()
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE something (x)").connection.close()
    text = tmp_path / "notes.sqlite3"
    text.write_text("this is not a database at all, just text " * 100)
    result = run_cli("import", "spotify-clean", str(lacking_table), str(other), str(text), str(good), archive=archive)
    assert result.exit_code == 1
    err = words(result.stderr)
    assert "lacks table album_images, column tracks.explicit" in err
    assert f"{other}: not a database of the reference layout: none of its tables" in err
    assert f"{text}: not an SQLite database" in err
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    assert conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0] == 6  # the good file went in


def _synth(tmp_path: Path, tracks: int = 3000) -> Path:
    out = tmp_path / "synth"
    result = run_cli(
        "synth", "spotify-clean", "--tracks", str(tracks), "--out", str(out), "--databases", "main", "--seed", "8"
    )
    assert result.exit_code == 0, result.stderr
    return out / "spotify_clean.sqlite3"


def _tracks_pages(path: Path) -> list[int]:
    conn = sqlite3.connect(path)
    pages = [
        p
        for (p,) in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'tracks' AND pagetype = 'leaf' ORDER BY pageno"
        )
    ]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    return [p for p in pages], size  # type: ignore[return-value]


def test_a_corrupt_database_keeps_every_readable_row(archive, tmp_path):
    main = _synth(tmp_path)
    pages, size = _tracks_pages(main)
    damaged = pages[len(pages) // 2]
    with open(main, "r+b") as handle:
        handle.seek((damaged - 1) * size)
        handle.write(b"\xde\xad\xbe\xef" * (size // 4))
    result = run_cli("import", "spotify-clean", str(main), "--json", archive=archive)
    assert result.exit_code == 0, result.stderr
    lost = [e for e in rejects(archive) if "could not be read" in e["reason"]]
    assert lost and all(e["table"] == "tracks" for e in lost) and "corrupt" in lost[0]["reason"]
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    count = conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0]
    assert 2500 < count < 3000  # one leaf page of rows lost, every other row imported
    assert conn.execute("SELECT count(*) FROM tracks WHERE rowid = 3000").fetchone()[0] == 1  # rows after it too
    assert run_cli("import", "spotify-clean", str(main), "--strict", archive=archive).exit_code == 1


def test_a_truncated_database_and_a_truncated_zst(archive, tmp_path):
    main = _synth(tmp_path)
    zst = tmp_path / "spotify_clean.sqlite3.zst"
    data = zstandard.ZstdCompressor().compress(main.read_bytes())
    zst.write_bytes(data[: int(len(data) * 0.6)])
    result = run_cli("import", "spotify-clean", str(zst), "--json", archive=archive)
    assert result.exit_code == 0, result.stderr
    entries = rejects(archive)
    assert any("truncated input" in e["reason"] and "byte" in e["reason"] for e in entries), entries[:3]
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    assert 0 < conn.execute("SELECT count(*) FROM artists WHERE level > 0").fetchone()[0]
    assert not list((archive / "tmp").glob("spotify_clean*"))  # the decompressed copy is gone
    cut = tmp_path / "cut.sqlite3"
    cut.write_bytes(main.read_bytes()[: int(main.stat().st_size * 0.5)])
    other = archive_mod.init(tmp_path / "other").root
    result = run_cli("import", "spotify-clean", str(cut), "--json", archive=other)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["rejected"] > 0
    found = [e["reason"] for e in rejects(other)]
    assert any("the database ends at byte" in r for r in found) and any("could not be read" in r for r in found)
    conn = sqlite3.connect(other / "catalog.sqlite3")
    assert 0 < conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0] < 3000


def _catalog_rows(archive: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    out = {
        "tracks": conn.execute("SELECT rowid, id, name, isrc, album, popularity FROM tracks ORDER BY rowid").fetchall(),
        "track_artists": conn.execute("SELECT * FROM track_artists ORDER BY track, position").fetchall(),
        "images": conn.execute("SELECT owner_kind, owner, position, url FROM images ORDER BY 1, 2, 3").fetchall(),
    }
    conn.close()
    return out


def test_reading_the_next_chunk_ahead_changes_nothing_bad_rows_and_read_faults_included(tmp_path):
    """Small chunks make the checks of each next chunk run on a second connection (bulk.Lookahead); the catalog
    and the rejects must be those of one chunk read by one connection, with bad values in many chunks and a
    corrupt page that the second connection meets first."""
    main = _synth(tmp_path)
    conn = sqlite3.connect(main)
    conn.execute("UPDATE tracks SET external_id_isrc = 'NOT-AN-ISRC' WHERE rowid % 97 = 0")
    conn.execute("UPDATE tracks SET id = 'short' || rowid WHERE rowid % 389 = 0")
    conn.execute("UPDATE track_artists SET artist_rowid = 999999 WHERE rowid % 211 = 0")
    conn.commit()
    conn.close()
    pages, size = _tracks_pages(main)
    with open(main, "r+b") as handle:
        handle.seek((pages[len(pages) // 3] - 1) * size)
        handle.write(b"\xde\xad\xbe\xef" * (size // 4))
    results = {}
    for chunk in (250, 100_000):
        root = archive_mod.init(tmp_path / f"chunk{chunk}").root
        with open(root / "fonoteca.toml", "a", encoding="utf-8") as handle:
            handle.write(f'\n[catalog]\nbulk = "always"\nchunk_rows = {chunk}\n')
        result = run_cli("import", "spotify-clean", str(main), "--json", archive=root)
        assert result.exit_code == 0, result.stderr
        found = sorted((e["table"], e.get("rowid") or 0, e["reason"]) for e in rejects(root))
        results[chunk] = (_catalog_rows(root), found)
    small, whole = results[250], results[100_000]
    assert len(small[0]["tracks"]) > 2000 and any("could not be read" in r for _, _, r in small[1])
    assert sum("invalid ISRC" in r for _, _, r in small[1]) >= 25  # bad values in many chunks were found
    assert small[0] == whole[0]
    # the read-fault rejects name the rowid ranges the chunks were split into, which depend on the chunk size;
    # every other reject is the same
    assert [x for x in small[1] if "could not be read" not in x[2]] == [
        x for x in whole[1] if "could not be read" not in x[2]
    ]
