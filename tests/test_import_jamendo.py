"""`fonoteca import jamendo`: Jamendo API v3 JSON (results[], license_ccurl, audiodownload_allowed) and the
MTG-Jamendo dataset's TSV (a real excerpt, tests/data/lawful/mtg-jamendo-autotagging-excerpt.tsv, CC BY-NC-SA
4.0), good and malformed; the dataset's PATH lets ingest match its audio without a map."""

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
    return archive_mod.init(tmp_path / "archive", name="Jamendo test").root


def _rows(root: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _rejects(root: Path) -> list[dict]:
    return [json.loads(line) for p in (root / "rejects").glob("*.jsonl") for line in p.read_text().splitlines()]


def test_api_results_with_their_licences(root: Path) -> None:
    r = run_cli("import", "jamendo", str(DATA / "jamendo-tracks.json"), "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    rows = _rows(
        root,
        "SELECT t.id, t.name, t.duration_ms, t.track_number, a.name, a.release_date, l.licence, "
        "json_extract(t.extra, '$.audiodownload_allowed') FROM tracks t JOIN albums a "
        "ON a.rowid = t.album JOIN track_licences l ON l.track = t.rowid WHERE t.ns = 6 ORDER BY t.id",
    )
    assert rows == [
        ("1286", "Night Drive", 312000, 1, "Roads", "2010-03-01", "CC-BY-NC-SA-3.0", 1),
        ("343547", "Still Water", 361300, 2, "Calm", None, "CC-BY-3.0", 0),
    ]
    genres = _rows(
        root,
        "SELECT g.name FROM artists a JOIN artist_genres ag ON ag.artist = a.rowid JOIN genres g "
        "ON g.rowid = ag.genre WHERE a.ns = 6 AND a.id = '193' ORDER BY ag.position",
    )
    assert genres == [("electronic",), ("rock",)]
    reasons = [x["reason"] for x in _rejects(root)]
    assert any("without a Jamendo track id" in x for x in reasons)  # the third result: rejected whole
    assert any("releasedate '2011-02-31'" in x for x in reasons)  # a field left out, the track kept
    attribution = _rows(
        root, "SELECT attribution FROM track_licences l JOIN tracks t ON t.rowid = l.track WHERE t.id = '1286'"
    )[0][0]
    assert attribution.startswith("“Night Drive” by Test Artist (https://www.jamendo.com/track/1286)")


def test_the_datasets_tsv_and_the_api_meet_on_jamendos_ids(root: Path) -> None:
    for path in (DATA / "mtg-jamendo-autotagging-excerpt.tsv", DATA / "jamendo-tracks.json"):
        assert run_cli("import", "jamendo", str(path), archive=root).exit_code == 0
    rows = _rows(
        root,
        "SELECT id, name, duration_ms, json_extract(extra, '$.path') FROM tracks WHERE ns = 6 "
        "AND level > 0 ORDER BY CAST(id AS INTEGER)",
    )
    assert len(rows) == 8  # the dataset's 8 rows; the API's two tracks are two of them
    # the API's object is fuller than the dataset's row: it wins (the dataset's PATH stays in source_files)
    assert rows[0] == ("1286", "Night Drive", 312000, None)
    assert _rows(
        root,
        "SELECT name FROM source_files WHERE origin = 'jamendo' AND track = "
        "(SELECT rowid FROM tracks WHERE ns = 6 AND id = '1286')",
    ) == [("86/1286.mp3",)]
    tags = _rows(root, "SELECT json_extract(extra, '$.tags') FROM tracks WHERE ns = 6 AND id = '1418979'")[0][0]
    assert json.loads(tags) == {
        "genre": ["dance", "soundtrack", "trance"],
        "instrument": ["computer"],
        "mood/theme": ["movie"],
    }
    # the dataset has no licence column: no licence on record unless the import states one
    assert _rows(
        root, "SELECT count(*) FROM track_licences l JOIN tracks t ON t.rowid = l.track WHERE t.id = '1418979'"
    ) == [(0,)]
    assert (
        run_cli(
            "import",
            "jamendo",
            str(DATA / "mtg-jamendo-autotagging-excerpt.tsv"),
            "--licence",
            "CC BY-NC-SA 3.0",
            archive=root,
        ).exit_code
        == 0
    )
    assert _rows(
        root, "SELECT l.licence FROM track_licences l JOIN tracks t ON t.rowid = l.track WHERE t.id = '1418979'"
    ) == [("CC-BY-NC-SA-3.0",)]


@pytest.mark.parametrize(
    "content, reason",
    [
        ("TRACK_ID\tWHATEVER\n1\t2\n", "not an MTG-Jamendo TSV"),
        ("TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\ntrack_01\tartist_1\n", "2 columns, at least 5"),
        (
            "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\nsong-one\tartist_1\talbum_1\t1/1.mp3\t10\n",
            "is not a Jamendo track id",
        ),
        ('{"headers": {"status": "success"}}', "no 'results' list"),
        ('{"results": [42]}', "not an object"),
    ],
)
def test_malformed_input_is_rejected_with_its_line(root: Path, tmp_path: Path, content: str, reason: str) -> None:
    bad = tmp_path / ("bad.json" if content.startswith("{") else "bad.tsv")
    bad.write_text(content, encoding="utf-8")
    r = run_cli("import", "jamendo", str(bad), str(DATA / "jamendo-tracks.json"), "--strict", archive=root)
    assert r.exit_code == 1
    found = [x for x in _rejects(root) if x["file"] == str(bad)]
    assert found and reason in found[0]["reason"], found
    assert _rows(root, "SELECT count(*) FROM tracks WHERE ns = 6 AND level > 0") == [(2,)]


def test_a_bad_field_is_left_out_and_the_row_kept(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "fields.tsv"
    bad.write_text(
        "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
        "track_0000007\tartist_000001\talbum_000001\t../../etc\tlong\tgenre---rock\tnotatag\n"
    )
    r = run_cli("import", "jamendo", str(bad), "--licence", "nonsense", archive=root)
    assert r.exit_code == 2 and "--licence" in r.stderr
    assert run_cli("import", "jamendo", str(bad), archive=root).exit_code == 0
    assert _rows(root, "SELECT id, duration_ms FROM tracks WHERE ns = 6 AND level > 0") == [("7", None)]
    reasons = sorted(x["reason"] for x in _rejects(root))
    assert any("PATH '../../etc'" in x for x in reasons) and any("duration 'long'" in x for x in reasons)
    assert any("tag 'notatag'" in x for x in reasons) and all(x["imported"] for x in _rejects(root))


def test_ingest_matches_the_datasets_audio_by_its_path(root: Path, tmp_path: Path) -> None:
    audio = tmp_path / "mtg-jamendo" / "86"
    audio.mkdir(parents=True)
    synth.make_track(audio / "1286.mp3", 1.5, 31)
    assert run_cli("import", "jamendo", str(DATA / "mtg-jamendo-autotagging-excerpt.tsv"), archive=root).exit_code == 0
    conn = sqlite3.connect(root / "catalog.sqlite3")
    conn.execute("UPDATE tracks SET duration_ms = NULL WHERE ns = 6")  # the excerpt's real length is not our clip's
    conn.commit()
    conn.close()
    r = run_cli("ingest", str(tmp_path / "mtg-jamendo"), "--tier", "original", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    (item,) = json.loads(r.stdout)["items"]
    assert item["outcome"] == "stored" and item["track"] == "jamendo:track:1286" and item["reason"] == "source"
