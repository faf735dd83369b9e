"""`fonoteca import fma tracks.csv [genres.csv]`: the Free Music Archive metadata layout (two header rows and the
track_id row, ('track', 'license'), genres by id with their hierarchy), good and malformed; audio at NNN/NNNNNN.mp3
matched by ingest without a map. Fixtures: tests/data/lawful/fma-*.csv (written from the documented layout)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "lawful"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return archive_mod.init(tmp_path / "archive", name="FMA test").root


def _rows(root: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _rejects(root: Path) -> list[dict]:
    return [json.loads(line) for p in (root / "rejects").glob("*.jsonl") for line in p.read_text().splitlines()]


def test_tracks_albums_artists_licences_and_genres(root: Path) -> None:
    r = run_cli("import", "fma", str(DATA / "fma-tracks.csv"), str(DATA / "fma-genres.csv"), "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    tracks = _rows(
        root,
        "SELECT t.id, t.name, t.track_number, t.duration_ms, a.name, a.release_date, l.licence "
        "FROM tracks t LEFT JOIN albums a ON a.rowid = t.album LEFT JOIN track_licences l "
        "ON l.track = t.rowid WHERE t.ns = 7 AND t.level > 0 ORDER BY CAST(t.id AS INTEGER)",
    )
    assert tracks == [
        ("2", "Food", 3, 168000, "AWOL - A Way Of Life", "2009-01-05", "CC-BY-NC-SA-3.0"),
        ("5", "This World", 6, 206000, "AWOL - A Way Of Life", "2009-01-05", "CC-BY-NC-SA-3.0"),
        ("10", "Freeway", 1, 161000, "Constant Hitmaker", "2008-02-06", "CC-BY-NC-ND-3.0-US"),
        ("140", "Queen Of The Wires", 1, 239000, "The Blind Spot", None, "LicenseRef-All-Rights-Reserved"),
        ("150", "Too Few Cells", 2, None, "The Blind Spot", None, None),
    ]
    genres = _rows(
        root,
        "SELECT a.name, g.name FROM artists a JOIN artist_genres ag ON ag.artist = a.rowid "
        "JOIN genres g ON g.rowid = ag.genre WHERE a.ns = 7 ORDER BY a.name, ag.position",
    )
    assert ("Kurt Vile", "Rock") in genres and ("Kurt Vile", "Punk") in genres  # the parent of Punk comes along
    assert ("AWOL", "Hip-Hop") in genres
    assert _rows(
        root,
        "SELECT name FROM source_files WHERE origin = 'fma' AND track = (SELECT rowid FROM tracks "
        "WHERE ns = 7 AND id = '10')",
    ) == [("000/000010.mp3",)]
    reasons = {x["reason"]: x["imported"] for x in _rejects(root)}
    assert reasons["track_id 'oops' is not a number"] is False
    assert reasons["3 fields, but the header has 21"] is False
    assert any(k.startswith("('album', 'date_released') '2009-13-45'") and v for k, v in reasons.items())
    assert any(k.startswith("('track', 'duration') 'abc'") and v for k, v in reasons.items())
    assert any(k.startswith("('track', 'genres') '[not a list'") and v for k, v in reasons.items())


def test_the_licence_gate_reads_fmas_licences(root: Path) -> None:
    assert run_cli("import", "fma", str(DATA / "fma-tracks.csv"), archive=root).exit_code == 0
    out = json.loads(
        run_cli("licence", "show", "fma:track:140", "fma:track:10", "fma:track:150", "--json", archive=root).stdout
    )
    published = {o["track"]: o["published"] for o in out}
    assert published == {"fma:track:10": True, "fma:track:140": False, "fma:track:150": False}
    assert "All rights reserved" in next(o["why_not"] for o in out if o["track"] == "fma:track:140")


@pytest.mark.parametrize(
    "content, message",
    [
        ("track_id,title\n1,Song\n", "not an FMA tracks.csv"),
        ("", "fewer than the two header rows"),
    ],
)
def test_a_file_that_is_not_fmas_layout(root: Path, tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "tracks.csv"
    bad.write_text(content)
    r = run_cli("import", "fma", str(bad), "--strict", archive=root)
    assert r.exit_code == 1
    assert any(message in x["reason"] for x in _rejects(root)), _rejects(root)


def test_a_bad_genres_file_is_named(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "genres.csv"
    bad.write_text("id,name\n1,Rock\n")
    r = run_cli("import", "fma", str(DATA / "fma-tracks.csv"), str(bad), archive=root)
    assert r.exit_code == 1 and "genres.csv" in r.stderr and "genre_id" in r.stderr
    r = run_cli("import", "fma", str(tmp_path / "absent.csv"), archive=root)
    assert r.exit_code == 1 and "absent.csv" in r.stderr


def test_ingest_matches_fma_audio_paths(root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "fma_small" / "000"
    folder.mkdir(parents=True)
    synth.make_track(folder / "000010.mp3", 1.5, 41)
    assert run_cli("import", "fma", str(DATA / "fma-tracks.csv"), archive=root).exit_code == 0
    conn = sqlite3.connect(root / "catalog.sqlite3")
    conn.execute("UPDATE tracks SET duration_ms = NULL WHERE ns = 7")  # the metadata's length is not our clip's
    conn.commit()
    conn.close()
    r = run_cli("ingest", str(tmp_path / "fma_small"), "--tier", "original", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    (item,) = json.loads(r.stdout)["items"]
    assert item["outcome"] == "stored" and item["track"] == "fma:track:10"
