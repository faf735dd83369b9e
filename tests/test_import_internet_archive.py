"""`fonoteca import internet-archive`: item metadata JSON (archive.org/metadata/ID) and ID_meta.xml/ID_files.xml,
good and malformed; then `fonoteca ingest ITEM_FOLDER` matches the item's files by name, checks md5/sha1/size
(a mismatch is quarantined naming both digests) and prefers originals over derivatives. Fixtures: tests/data/lawful
(see its README for where each comes from)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "lawful"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return archive_mod.init(tmp_path / "archive", name="IA test").root


def _rows(root: Path, sql: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _rejects(root: Path) -> list[dict]:
    return [json.loads(line) for p in (root / "rejects").glob("*.jsonl") for line in p.read_text().splitlines()]


def test_metadata_json_gives_a_track_per_original_audio_file(root: Path) -> None:
    r = run_cli("import", "internet-archive", str(DATA / "ia-item.json"), "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    tracks = _rows(
        root,
        "SELECT t.id, t.name, t.track_number, t.duration_ms, a.id, a.name, "
        "(SELECT group_concat(ar.name) FROM track_artists ta JOIN artists ar ON ar.rowid = ta.artist "
        "WHERE ta.track = t.rowid) FROM tracks t JOIN albums a ON a.rowid = t.album "
        "WHERE t.ns = 5 AND t.level > 0 ORDER BY t.id",
    )
    assert tracks == [
        (
            "fonoteca-test-item:01 - First Light.flac",
            "First Light",
            1,
            245670,
            "fonoteca-test-item",
            "Test Recordings",
            "The Test Ensemble",
        ),
        (
            "fonoteca-test-item:02 - Second Wind.flac",
            "Second Wind",
            2,
            185000,
            "fonoteca-test-item",
            "Test Recordings",
            "The Test Ensemble",
        ),
        (
            "fonoteca-test-item:disc2:03 - Third Time.flac",
            "Third Time",
            3,
            190000,
            "fonoteca-test-item",
            "Test Recordings",
            "The Test Ensemble",
        ),
    ]  # the derivative MP3, the cover and the metadata files are no tracks
    licences = _rows(root, "SELECT licence, raw, collection, source, source_url FROM track_licences ORDER BY track")
    assert {row[0] for row in licences} == {"CC-BY-NC-SA-3.0-US"}
    assert licences[0][1:] == (
        "http://creativecommons.org/licenses/by-nc-sa/3.0/us/",
        "netlabels; opensource_audio",
        "internet-archive",
        "https://archive.org/details/fonoteca-test-item",
    )
    derivative = _rows(root, "SELECT kind, original, size, md5 FROM source_files WHERE name = '01 - First Light.mp3'")
    assert derivative == [("derivative", "01 - First Light.flac", 512000, "fedcba9876543210fedcba9876543210")]
    # the third file's size and md5 are no values: left out, the track kept, each named in rejects/
    reasons = {x["reason"] for x in _rejects(root)}
    assert any("size 'not a number' is not a whole number" in x for x in reasons)
    assert any("md5 'NOT-HEX' is not a md5 digest" in x for x in reasons)
    assert json.loads(r.stdout)["rejected"] == 2
    shown = json.loads(
        run_cli("licence", "show", "ia:fonoteca-test-item:02 - Second Wind.flac", "--json", archive=root).stdout
    )[0]
    assert shown["licence"]["id"] == "CC-BY-NC-SA-3.0-US" and shown["published"]
    assert "“Second Wind” by The Test Ensemble" in shown["licence"]["attribution"]


def test_an_item_folder_with_its_xml_files(root: Path) -> None:
    r = run_cli("import", "internet-archive", str(DATA / "ia-item"), archive=root)
    assert r.exit_code == 0, r.stderr
    rows = _rows(
        root,
        "SELECT t.id, l.licence, l.collection FROM tracks t JOIN track_licences l ON l.track = t.rowid "
        "WHERE t.ns = 5 ORDER BY t.id",
    )
    assert rows == [
        ("fonoteca-test-item:01 - First Light.flac", "CC-BY-4.0", "netlabels; opensource_audio"),
        ("fonoteca-test-item:02 - Second Wind.ogg", "CC-BY-4.0", "netlabels; opensource_audio"),
    ]


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"{not json", "invalid JSON"),
        (b'{"files": []}', "no 'metadata' object"),
        (b'{"metadata": {"identifier": "../etc"}, "files": []}', "invalid or missing identifier"),
        (b'{"metadata": {"identifier": "ok-item"}, "files": {"a": 1}}', "'files' is not a list"),
        (
            b'{"metadata": {"identifier": "ok-item"}, "files": [{"name": "a.jpg", "source": "original"}]}',
            "no original audio file",
        ),
        (b'<files><file name="a.flac"', "not well-formed XML"),
        (b"<metadata><identifier>x</identifier></metadata>", "without a file list"),
    ],
)
def test_malformed_items_are_rejected_with_the_reason(root: Path, tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / ("bad_files.xml" if content.startswith(b"<") else "bad.json")
    bad.write_bytes(content)
    good = tmp_path / "good.json"
    good.write_bytes((DATA / "ia-item.json").read_bytes())
    r = run_cli("import", "internet-archive", str(bad), str(good), "--strict", archive=root)
    assert r.exit_code == 1  # --strict: something was rejected
    assert any(reason in x["reason"] and x["file"] == str(bad) for x in _rejects(root)), _rejects(root)
    assert _rows(root, "SELECT count(*) FROM tracks WHERE ns = 5 AND level > 0") == [(3,)]  # the good item is in


def _item(folder: Path, identifier: str, files: dict[str, tuple[Path, str]], licence: str) -> Path:
    """A metadata JSON for real files in `folder`: name -> (file, source), digests computed (or forged)."""
    entries = []
    for name, (path, source) in files.items():
        data = path.read_bytes()
        entry = {
            "name": name,
            "source": source,
            "size": str(len(data)),
            "format": "Flac",
            "md5": hashlib.md5(data).hexdigest(),
            "sha1": hashlib.sha1(data).hexdigest(),
            "title": Path(name).stem,
            "creator": "Synth Ensemble",
        }
        if source == "derivative":
            entry["original"] = next(
                n for n, (_, s) in files.items() if s == "original" and Path(n).stem == Path(name).stem
            )
        entries.append(entry)
    meta = folder.parent / f"{identifier}.json"
    meta.write_bytes(
        orjson.dumps(
            {
                "metadata": {
                    "identifier": identifier,
                    "title": "Synth item",
                    "creator": "Synth Ensemble",
                    "licenseurl": licence,
                },
                "files": entries,
            }
        )
    )
    return meta


def test_ingest_an_item_folder_by_name_checked_against_the_item(root: Path, tmp_path: Path) -> None:
    item = tmp_path / "synth-item"
    item.mkdir()
    one = synth.make_track(item / "one.flac", 1.5, 11)
    two = synth.make_track(item / "two.flac", 1.5, 12)
    derived = synth.make_track(item / "one.ogg", 1.5, 11)  # the Archive's derivative of one.flac
    three = synth.make_track(item / "three.flac", 1.5, 13)
    meta = _item(
        item,
        "synth-item",
        {
            "one.flac": (one, "original"),
            "one.ogg": (derived, "derivative"),
            "two.flac": (two, "original"),
            "three.flac": (three, "original"),
        },
        "https://creativecommons.org/licenses/by/4.0/",
    )
    three.write_bytes(three.read_bytes()[:-100] + b"\0" * 100)  # damaged after the item was described
    assert run_cli("import", "internet-archive", str(meta), archive=root).exit_code == 0
    r = run_cli("ingest", str(item), "--tier", "original", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    outcomes = {Path(i["path"]).name: i for i in summary["items"]}
    assert outcomes["one.flac"]["outcome"] == "stored" and outcomes["one.flac"]["reason"] == "source"
    assert outcomes["two.flac"]["outcome"] == "stored"
    assert outcomes["one.ogg"]["outcome"] == "skipped" and outcomes["one.ogg"]["reason"] == "derivative"
    assert outcomes["three.flac"]["outcome"] == "quarantined" and outcomes["three.flac"]["reason"] == "digest_mismatch"
    record = json.loads(next((root / "quarantine").rglob("*.json")).read_text())
    text = json.dumps(record)
    good_md5 = json.loads(meta.read_text())["files"][3]["md5"]
    assert good_md5 in text and hashlib.md5(three.read_bytes()).hexdigest() in text  # both digests named
    # the stored files carry the item's licence as tags (Picard's names) and in the catalog
    stored = _rows(root, "SELECT path, licence FROM files ORDER BY path")
    assert [lic for _, lic in stored] == ["https://creativecommons.org/licenses/by/4.0/"] * 2
    from fonoteca.audio.tags import read_tags

    tags = read_tags(root / stored[0][0])
    assert tags["LICENSE"] == ["https://creativecommons.org/licenses/by/4.0/"]
    assert "licensed under CC BY 4.0" in tags["COPYRIGHT"][0]


def test_ingest_takes_a_derivative_when_its_original_is_absent(root: Path, tmp_path: Path) -> None:
    item = tmp_path / "mp3-only"
    item.mkdir()
    original = synth.make_track(tmp_path / "elsewhere.flac", 1.5, 21)
    derived = synth.make_track(item / "song.ogg", 1.5, 21)
    meta = _item(
        item,
        "mp3-only",
        {"song.flac": (original, "original"), "song.ogg": (derived, "derivative")},
        "http://creativecommons.org/publicdomain/zero/1.0/",
    )
    assert run_cli("import", "internet-archive", str(meta), archive=root).exit_code == 0
    r = run_cli("ingest", str(item), "--tier", "original", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    (only,) = json.loads(r.stdout)["items"]
    assert only["outcome"] == "stored" and only["track"] == "ia:track:mp3-only:song.flac"
