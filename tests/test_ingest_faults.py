"""Ingest when the machine, not the file, is the problem (a full disk), and files that are named but not audio.
All through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.synth import audio as synth
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> synth.Collection:
    return synth.make_collection(tmp_path_factory.mktemp("music"), 25, (2.0, 3.0), ("flac", "wav"), seed=41)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A real, small tmpfs (tests run as root); skipped where mounting is not allowed."""
    point = tmp_path / "small-disk"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def _stored(root: Path) -> int:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        conn.close()


def test_a_full_disk_stops_the_run_and_loses_nothing(collection, tmpfs):
    root = archive_mod.init(tmpfs / "archive").root
    assert (
        run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=root).exit_code
        == 0
    )
    inputs = [str(t.path) for t in collection.tracks]
    full = run_cli("ingest", *inputs, "--tier", "original", "--workers", "1", archive=root)
    assert full.exit_code == 75, full.stdout + full.stderr
    assert "No space left on device" in full.stderr and "run the same command again" in full.stderr
    assert "Traceback" not in full.stderr
    partial = _stored(root)
    assert partial < len(inputs)
    assert not list((root / "quarantine").glob("*.json"))  # a full disk is never the file's fault
    subprocess.run(["mount", "-o", "remount,size=64m", str(tmpfs)], check=True)
    again = run_cli("ingest", *inputs, "--tier", "original", "--workers", "1", "--json", archive=root)
    assert again.exit_code == 0, again.stderr
    assert _stored(root) == len(inputs)  # every file stored after space was freed: 0 lost
    summary = json.loads(again.stdout)
    assert summary["quarantined_total"] == 0


def test_a_named_file_that_is_not_audio_is_quarantined(archive, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("liner notes")
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(notes, folder / "cover-notes.txt")
    result = run_cli("ingest", notes, folder, "--tier", "original", "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["quarantined"] == {"not_audio": 1}  # the named one; the sidecar inside the folder is passed over
    record = json.loads(next((archive.root / "quarantine").glob("*.json")).read_text())
    assert record["reason"] == "not_audio" and "not audio" in record["message"]


def test_a_file_named_in_the_map_that_is_not_audio_is_quarantined(archive, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "track.txt").write_text("not audio")
    mapping = tmp_path / "map.csv"
    mapping.write_text("path,isrc\nin/track.txt,GBBKS1500214\n")
    result = run_cli("ingest", folder, "--map", mapping, "--tier", "original", "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["quarantined"] == {"not_audio": 1}


def test_unmatched_files_are_named_and_strict_keeps_failing(archive, collection, tmp_path):
    lone = tmp_path / "lone.flac"
    shutil.copy(collection.tracks[0].path, lone)  # no catalog: nothing to match it to
    result = run_cli("ingest", lone, "--tier", "original", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert "unmatched" in result.stderr and "lone.flac" in result.stderr
    again = run_cli("ingest", lone, "--tier", "original", "--strict", archive=archive.root)
    assert again.exit_code == 1  # decided by the first run, still a problem
    assert "lone.flac" in again.stderr
