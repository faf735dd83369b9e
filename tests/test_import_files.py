"""`fonoteca import files DIR...`: a catalog from the files' own tags, grouped into albums as Picard and beets
would (album artist, compilations, multi-disc), with licence/copyright tags; then `fonoteca ingest DIR` matches
the same files without a map. Real tagged audio from ../shared/corpus/audio-mutagen where present."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.synth import audio as synth
from tests.conftest import CORPUS, run_cli


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return archive_mod.init(tmp_path / "archive", name="Files test").root


def _rows(root: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _albums(root: Path) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for album, artist, disc, number, title in _rows(
        root,
        "SELECT a.name, (SELECT group_concat(ar.name) FROM album_artists aa JOIN artists ar "
        "ON ar.rowid = aa.artist WHERE aa.album = a.rowid), t.disc_number, t.track_number, t.name "
        "FROM tracks t JOIN albums a ON a.rowid = t.album WHERE t.ns = 4 AND t.level > 0 "
        "ORDER BY a.name, t.disc_number, t.track_number",
    ):
        out.setdefault(f"{album} / {artist}", []).append((disc, number, title))
    return out


@pytest.fixture
def tagged(tmp_path: Path) -> Path:
    """A folder as people keep one: a two-disc album, a compilation without album artist, a loose single."""
    music = tmp_path / "music"
    album = music / "Ann - Two Discs"
    for disc, number, title in ((1, 1, "Opening"), (1, 2, "Middle"), (2, 1, "Second Disc Song")):
        synth.make_track(
            album / f"{disc}-{number:02d}.flac",
            1.2,
            disc * 10 + number,
            tags={
                "title": title,
                "artist": "Ann",
                "albumartist": "Ann",
                "album": "Two Discs",
                "tracknumber": f"{number}/2",
                "discnumber": f"{disc}/2",
                "date": "2021-04-01",
                "isrc": f"GB-AAA-21-{disc:03d}{number:02d}",
                "license": "CC BY-SA 4.0",
                "copyright": "2021 Ann, CC BY-SA 4.0",
            },
        )
    comp = music / "Mixtape"
    synth.make_track(
        comp / "01.mp3", 1.2, 51, tags={"title": "Alpha", "artist": "Bob", "album": "Mixtape", "tracknumber": "1"}
    )
    synth.make_track(
        comp / "02.mp3",
        1.2,
        52,
        tags={
            "title": "Beta",
            "artist": "Cleo",
            "album": "Mixtape",
            "tracknumber": "2",
            "copyright": "(c) 2019 Cleo Records",
        },
    )
    synth.make_track(music / "single.ogg", 1.2, 61, tags={"title": "Loose", "artist": "Dee", "date": "2020"})
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff not an image")  # a sidecar: passed over
    (music / "notes.mp3").write_text("this is text, named like audio")  # no audio: rejected, named
    synth.make_track(music / "untitled.flac", 1.2, 71, tags={"artist": "Nobody"})  # no title: rejected
    return music


def test_albums_grouped_from_tags(root: Path, tagged: Path) -> None:
    r = run_cli("import", "files", str(tagged), "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    assert _albums(root) == {
        "Two Discs / Ann": [(1, 1, "Opening"), (1, 2, "Middle"), (2, 1, "Second Disc Song")],  # one album, 2 discs
        "Mixtape / Various Artists": [(None, 1, "Alpha"), (None, 2, "Beta")],  # one folder, two artists
    }
    assert _rows(root, "SELECT album FROM tracks WHERE ns = 4 AND name = 'Loose'") == [(None,)]
    assert _rows(root, "SELECT isrc FROM tracks WHERE name = 'Opening'") == [("GBAAA2100101",)]
    licences = dict(_rows(root, "SELECT t.name, l.licence FROM track_licences l JOIN tracks t ON t.rowid = l.track"))
    assert licences == {
        "Opening": "CC-BY-SA-4.0",
        "Middle": "CC-BY-SA-4.0",
        "Second Disc Song": "CC-BY-SA-4.0",
        "Beta": "LicenseRef-All-Rights-Reserved",
    }  # no licence tag: none on record (Alpha, Loose)
    assert _rows(
        root, "SELECT attribution FROM track_licences l JOIN tracks t ON t.rowid = l.track WHERE t.name = 'Middle'"
    ) == [("2021 Ann, CC BY-SA 4.0",)]
    summary = json.loads(r.stdout)
    reasons = summary["files"][0]["reasons"]
    assert reasons == {
        "not an audio file mutagen can read, or its tags are unreadable": 1,
        "no TITLE tag (a track needs at least a title)": 1,
    }
    rejects = [json.loads(x) for p in (root / "rejects").glob("*.jsonl") for x in p.read_text().splitlines()]
    assert {Path(x["raw"]).name for x in rejects} == {"notes.mp3", "untitled.flac"}
    # the same folder again, moved: the same ids, nothing new
    moved = tagged.parent / "moved"
    shutil.copytree(tagged, moved)
    again = json.loads(run_cli("import", "files", str(moved), "--json", archive=root).stdout)
    assert again["written"]["tracks"] == 0
    assert _rows(root, "SELECT count(*) FROM tracks WHERE ns = 4 AND level > 0") == [(6,)]


def test_ingest_matches_the_imported_files_without_a_map(root: Path, tagged: Path) -> None:
    assert run_cli("import", "files", str(tagged), archive=root).exit_code == 0
    r = run_cli("ingest", str(tagged), "--tier", "original", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    stored = [i for i in summary["items"] if i["outcome"] == "stored"]
    assert len(stored) == 6 and {i["reason"] for i in stored} == {"source"}
    assert summary["matched_by"] == {"source": 6}


def test_bad_arguments(root: Path, tmp_path: Path) -> None:
    r = run_cli("import", "files", str(tmp_path / "nowhere"), archive=root)
    assert r.exit_code == 1 and "nowhere" in r.stderr
    (tmp_path / "empty").mkdir()
    r = run_cli("import", "files", str(tmp_path / "empty"), archive=root)
    assert r.exit_code == 1 and "no audio files" in r.stderr


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/audio-mutagen is not here")
def test_real_tagged_files(root: Path, tmp_path: Path) -> None:
    r = run_cli("import", "files", str(CORPUS), "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    albums = _albums(root)
    # Quod Libet's test files: one album in one folder, tagged "piman; jzig", "piman / jzig" and "piman"
    quod = [k for k in albums if k.startswith("Quod Libet Test Data / ")]
    assert quod == ["Quod Libet Test Data / Various Artists"] and {t for *_, t in albums[quod[0]]} == {"Silence"}
    # an album alone in its folder: its artist is the album artist
    assert "Belle and Sebastian Write About Love / Belle and Sebastian" in albums
    assert json.loads(r.stdout)["rejected"] > 0  # files mutagen cannot read, files without a title
    # the Sintel trailer's Vorbis comments: LICENSE and COPYRIGHT (Ogg Theora, given here as .ogg)
    sintel = tmp_path / "sintel" / "trailer.ogg"
    sintel.parent.mkdir()
    shutil.copy(CORPUS / "sample_length.oggtheora", sintel)
    assert run_cli("import", "files", str(sintel.parent), archive=root).exit_code == 0
    row = _rows(
        root,
        "SELECT l.licence, l.raw, l.attribution FROM track_licences l JOIN tracks t "
        "ON t.rowid = l.track WHERE t.name = 'Sintel Trailer'",
    )
    assert row == [
        (
            "CC-BY-3.0",
            "Creative Commons Attribution 3.0 license",
            "(c) copyright Blender Foundation | durian.blender.org",
        )
    ]
