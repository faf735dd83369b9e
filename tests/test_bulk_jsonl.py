"""`import spotify` JSON lines on the bulk path: the same catalog as the per-row path, rejects with reasons,
importing twice changes nothing, and a kill -9 at any moment then the same import gives the clean catalog."""

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
import zstandard

from fonoteca import archive as archive_mod
from tests import spotify_samples as s
from tests.conftest import run_cli
from tests.helpers import catalog_dump, rejects

KINDS = ("track", "album", "artist", "audio-features", "playlist")


def make_archive(root: Path, bulk: str, segment: int = 1000) -> Path:
    archive = archive_mod.init(root).root
    with open(archive / "fonoteca.toml", "a", encoding="utf-8") as handle:
        handle.write(f'\n[catalog]\nbulk = "{bulk}"\nbulk_segment = {segment}\n')
    return archive


def exports(archive: Path) -> dict[str, list[bytes]]:
    out = {}
    for kind in KINDS:
        result = run_cli("export", "spotify", "--kind", kind, archive=archive)
        assert result.exit_code == 0, result.stderr
        out[kind] = result.stdout.encode().splitlines()
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A synthetic catalog with bad lines among the good ones, and a later file that brings full albums, newer
    copies of some tracks and a playlist."""
    folder = tmp_path_factory.mktemp("jsonl")
    synth = folder / "synth.jsonl.zst"
    assert run_cli("synth", "catalog", "--tracks", "12000", "--out", str(synth), "--seed", "12").exit_code == 0
    lines = zstandard.ZstdDecompressor().stream_reader(open(synth, "rb")).read().splitlines()
    bad = [
        b'{"type": "track", "id": ',
        orjson.dumps(dict(orjson.loads(lines[5000]), popularity="high")),
        b'{"type": "track", "name": "no id"}',
        orjson.dumps(dict(orjson.loads(lines[9000]), id="x")),
    ]
    for position, line in zip((10, 4000, 9001, 17000), bad, strict=True):
        lines.insert(position, line)
    first = folder / "first.jsonl.zst"
    first.write_bytes(zstandard.ZstdCompressor().compress(b"\n".join(lines) + b"\n"))
    os.utime(first, (1_700_000_000, 1_700_000_000))
    tracks = [orjson.loads(line) for line in lines if line.startswith(b'{"album"')][:300]
    later = []
    for track in tracks[::3]:
        album = dict(
            track["album"],
            label="A label",
            popularity=12,
            external_ids={"upc": "634904074005"},
            copyrights=[],
            genres=[],
            tracks={"href": "x", "items": [], "limit": 50, "next": None, "offset": 0, "previous": None, "total": 0},
        )
        later.append(album)
        later.append(dict(track, name=track["name"] + " (newer)"))
    later.append(s.playlist())
    second = folder / "second.jsonl"
    second.write_bytes(b"\n".join(orjson.dumps(o) for o in later) + b"\n")
    os.utime(second, (1_800_000_000, 1_800_000_000))
    return [first, second]


def test_the_bulk_path_gives_the_catalog_of_the_per_row_path(inputs, tmp_path):
    per_row = make_archive(tmp_path / "per-row", "never")
    bulk = make_archive(tmp_path / "bulk", "always")
    for archive in (per_row, bulk):
        result = run_cli("import", "spotify", *map(str, inputs), "--json", archive=archive)
        assert result.exit_code == 0, result.stderr
    a, b = exports(per_row), exports(bulk)
    assert a == b and len(a["track"]) >= 12000 and len(a["album"]) > 0 and a["playlist"]
    newer = [orjson.loads(line) for line in b["track"] if b" (newer)" in line]
    assert len(newer) == 100  # the later file's copies won
    full = [orjson.loads(line) for line in b["album"] if b'"label":"A label"' in line]
    assert len(full) > 20 and all(album["popularity"] == 12 for album in full)  # full albums over nested ones
    assert len({album["id"] for album in full}) == len(full)
    reasons = lambda root: sorted((r["line"], r["reason"]) for r in rejects(root))  # noqa: E731
    assert reasons(bulk) == reasons(per_row) and len(reasons(bulk)) == 4
    conn = sqlite3.connect(bulk / "catalog.sqlite3")
    for table in ("tracks", "albums", "artists"):
        assert conn.execute(f"SELECT count(*) - count(DISTINCT id) FROM {table}").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM bulk_loads").fetchone()[0] == 0
    assert _indexes(bulk) == _indexes(per_row)

    def counts(root: Path) -> list[int]:
        conn = sqlite3.connect(root / "catalog.sqlite3")
        tables = ("track_artists", "album_artists", "images", "artist_genres", "audio_features")
        return [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables]

    assert counts(bulk) == counts(per_row)


def _indexes(root: Path) -> list[Any]:
    """Every index of an archive's catalog, with its SQL."""
    conn = sqlite3.connect(root / "catalog.sqlite3")
    return sorted(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall(), key=repr)


def test_importing_twice_on_the_bulk_path_changes_nothing(inputs, tmp_path):
    archive = make_archive(tmp_path / "bulk", "always")
    assert run_cli("import", "spotify", *map(str, inputs), archive=archive).exit_code == 0
    first = catalog_dump(archive / "catalog.sqlite3")
    assert run_cli("import", "spotify", *map(str, inputs), archive=archive).exit_code == 0
    assert catalog_dump(archive / "catalog.sqlite3") == first


def _segments_done(archive: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{archive / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=1)
        row = conn.execute("SELECT state FROM bulk_loads").fetchone()
        conn.close()
    except sqlite3.OperationalError:
        return 0
    if row is None:
        return 0
    state = orjson.loads(row[0])
    return sum(info.get("line", 0) for info in state.get("files", {}).values()) + 100_000 * len(
        state.get("deduplicated", {})
    )


def test_kill_9_at_any_moment_then_the_same_import_gives_the_clean_catalog(inputs, tmp_path):
    clean = make_archive(tmp_path / "clean", "always")
    assert run_cli("import", "spotify", *map(str, inputs), archive=clean).exit_code == 0
    expected = catalog_dump(clean / "catalog.sqlite3")
    crashed = make_archive(tmp_path / "crashed", "always")
    for lines in (3000, 9000, 15000):  # in the first file, later in it, at its end
        child = subprocess.Popen(
            [sys.executable, "-m", "fonoteca", "-A", str(crashed), "import", "spotify", *map(str, inputs)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None and _segments_done(crashed) < lines:
            time.sleep(0.01)
        assert child.poll() is None, "the import finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert run_cli("import", "spotify", *map(str, inputs), archive=crashed).exit_code == 0
    assert catalog_dump(crashed / "catalog.sqlite3") == expected
    logs = lambda root: sorted(p.read_bytes() for p in (root / "rejects").glob("*.jsonl"))  # noqa: E731
    assert logs(crashed) == logs(clean) and logs(clean)
