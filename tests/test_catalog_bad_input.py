"""Bad input: every bad record is rejected with file, line and reason; every good one is imported."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time

import orjson
import zstandard

from fonoteca import archive as archive_mod
from tests import spotify_samples as s
from tests.conftest import run_cli, run_subprocess
from tests.helpers import catalog_dump, export_objects, rejects


def _tracks(n: int, start: int = 0) -> list[dict]:
    out = []
    for i in range(start, start + n):
        tid = f"{i:022d}".replace("0", "A")[:22]
        tid = ("T" + str(i)).ljust(22, "x")
        out.append(s.full_track(tid, f"Track {i}", 1, isrc=f"USABC25{i:05d}", popularity=i % 100))
    return out


def test_each_bad_record_class_is_rejected_and_the_rest_imported(archive, tmp_path):
    """Units that cannot be identified are rejected whole; a wrong value only costs its field."""
    good = _tracks(5)
    wrong_type = copy_with(good[0], id="WrongTypeTrackxxxxxxxxx"[:22], popularity="high")
    missing_id = copy_with(good[0])
    del missing_id["id"]
    bad_isrc = copy_with(good[0], id="BadIsrcTrackxxxxxxxxxxx"[:22], external_ids={"isrc": "NOT-AN-ISRC"})
    huge = copy_with(good[0], id="HugeNameTrackxxxxxxxxxx"[:22], name="x" * 200_000)
    hostile = copy_with(
        good[1], id="HostileTrackxxxxxxxxxxx"[:22], name="<script>alert(1)</script>'; DROP TABLE tracks; --\x07\x1b[31m"
    )
    bad_album_upc = s.full_album()
    bad_album_upc["external_ids"] = {"upc": "634904074006"}  # wrong check digit
    lines = [
        orjson.dumps(good[0]),
        b'{"type": "track", "id": ',  # malformed JSON
        orjson.dumps(wrong_type),
        orjson.dumps(missing_id),
        orjson.dumps(bad_isrc),
        b'{"type": "artist", "name": "\xff\xfe broken utf-8", "id": "0TnOYISbd1XYRBk9myaseg"}',
        orjson.dumps(huge),
        orjson.dumps(hostile),
        orjson.dumps(bad_album_upc),
        b"[1, 2, 3]",
        orjson.dumps(good[2]),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = run_cli("import", "spotify", str(path), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["rejected"] == 10  # the array on line 10 holds three non-objects, each rejected
    assert summary["files"][0]["fields_rejected"] == 4  # lines 3, 5, 7 and 9 were imported without one field
    found = rejects(archive.root)
    assert [r["where"] for r in found if r["line"] == 10] == ["[0]", "[1]", "[2]"]
    by_line = {r["line"]: r for r in found}
    assert set(by_line) == {2, 3, 4, 5, 6, 7, 9, 10}
    assert {line for line, r in by_line.items() if r["imported"]} == {3, 5, 7, 9}
    reason = {line: r["reason"] for line, r in by_line.items()}
    assert "invalid JSON" in reason[2]
    assert "popularity" in reason[3] and "integer" in reason[3] and "'high'" in reason[3]
    assert "without an id" in reason[4]
    assert "ISRC" in reason[5] and "NOT-AN-ISRC" in reason[5]
    assert "UTF-8" in reason[6]
    assert "'name'" in reason[7] and "limit" in reason[7]
    assert "UPC" in reason[9] and "check digit" in reason[9] and "634904074006" in reason[9]
    assert "expected a JSON object" in reason[10]
    assert all(r["file"] == str(path) for r in found)
    tracks = export_objects(archive.root, "track")
    assert set(tracks) == {
        good[0]["id"],
        good[2]["id"],
        hostile["id"],
        wrong_type["id"],
        bad_isrc["id"],
        huge["id"],
        s.HELLO,
        s.WHEN,
    }
    assert tracks[hostile["id"]]["name"] == hostile["name"]  # stored verbatim, as data
    assert tracks[wrong_type["id"]] == copy_with(wrong_type, popularity=None)
    assert tracks[huge["id"]] == copy_with(huge, name=None)
    assert tracks[bad_isrc["id"]] == copy_with(bad_isrc, external_ids={})
    assert export_objects(archive.root, "album")[s.ALBUM_25] == copy_with(bad_album_upc, external_ids={})
    assert orjson.loads(run_cli("show", bad_isrc["id"], "--json", archive=archive.root).stdout)[0]["isrc"] is None
    strict = run_cli("import", "spotify", str(path), "--strict", archive=archive.root)
    assert strict.exit_code == 1


def copy_with(obj: dict, **changes) -> dict:
    out = orjson.loads(orjson.dumps(obj))
    out.update(changes)
    return out


def test_truncated_compressed_files_keep_what_is_readable(archive, tmp_path):
    tracks = _tracks(400)
    whole = b"".join(orjson.dumps(t) + b"\n" for t in tracks)
    zst = tmp_path / "cut.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(whole)[:-300])
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(whole[: len(whole) // 2])[:-50])
    result = run_cli("import", "spotify", str(zst), str(gz), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    reasons = [r["reason"] for r in rejects(archive.root)]
    assert any("truncated" in r for r in reasons), reasons
    imported = export_objects(archive.root, "track")
    assert 100 < len(imported) < 400
    for tid, obj in imported.items():  # everything imported is complete and exact
        assert obj == tracks[int(tid[1:].rstrip("x"))]
    assert summary["files"][0]["rejected"] >= 1


def test_overlong_line_is_rejected_without_reading_it_whole(archive, tmp_path, monkeypatch):
    from fonoteca.catalog import reader

    monkeypatch.setattr(reader, "MAX_LINE_BYTES", 10_000)
    monkeypatch.setattr(reader, "BLOCK", 4096)
    good = _tracks(2)
    path = tmp_path / "long.jsonl"
    path.write_bytes(
        orjson.dumps(good[0]) + b"\n" + b'{"name": "' + b"a" * 50_000 + b'"}\n' + orjson.dumps(good[1]) + b"\n"
    )
    result = run_cli("import", "spotify", str(path), archive=archive.root)
    assert result.exit_code == 0
    assert set(export_objects(archive.root, "track")) == {good[0]["id"], good[1]["id"]}
    assert [r["line"] for r in rejects(archive.root)] == [2]


def test_missing_file_and_not_an_archive(tmp_path, archive):
    assert run_cli("import", "spotify", str(tmp_path / "nope.json"), archive=archive.root).exit_code == 1
    result = run_cli("stats", archive=tmp_path / "elsewhere")
    assert result.exit_code == 1


def test_importing_twice_changes_nothing(archive, synth_small):
    assert run_cli("import", "spotify", str(synth_small), archive=archive.root).exit_code == 0
    first = catalog_dump(archive.catalog_path)
    assert run_cli("import", "spotify", str(synth_small), archive=archive.root).exit_code == 0
    assert catalog_dump(archive.catalog_path) == first
    assert len(first["tracks"]) == 2000


def test_kill_9_during_import_then_rerun_equals_clean_run(tmp_path):
    source = tmp_path / "big.jsonl.zst"
    assert run_cli("synth", "catalog", "--tracks", "30000", "--out", str(source), "--seed", "5").exit_code == 0
    clean = archive_mod.init(tmp_path / "clean")
    assert run_subprocess("import", "spotify", str(source), archive=clean.root).returncode == 0
    expected = catalog_dump(clean.catalog_path)

    crashed = archive_mod.init(tmp_path / "crashed")
    child = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(crashed.root), "import", "spotify", str(source)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    rows = 0
    while time.monotonic() < deadline and child.poll() is None:  # wait until some batches are committed
        try:
            conn = sqlite3.connect(f"file:{crashed.catalog_path}?mode=ro", uri=True, timeout=1)
            rows = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
            conn.close()
        except sqlite3.OperationalError:
            rows = 0
        if rows >= 5000:
            break
        time.sleep(0.05)
    assert child.poll() is None, "the import finished before it could be killed; make the input bigger"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    partial = catalog_dump(crashed.catalog_path)
    assert 0 < len(partial["tracks"]) < len(expected["tracks"])
    assert run_subprocess("import", "spotify", str(source), archive=crashed.root).returncode == 0
    assert catalog_dump(crashed.catalog_path) == expected
