"""Small helpers shared by tests."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import zstandard

CONTENT_TABLES = (
    "shapes",
    "market_lists",
    "genres",
    "artists",
    "artist_genres",
    "albums",
    "album_artists",
    "tracks",
    "track_artists",
    "album_tracks",
    "images",
    "external_ids",
    "audio_features",
    "playlists",
    "playlist_items",
)


def write_json(path: Path, value: Any) -> Path:
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))
    return path


def write_jsonl(path: Path, values: list[Any], compress: str | None = None) -> Path:
    data = b"".join(orjson.dumps(v) + b"\n" for v in values)
    if compress == "zst":
        data = zstandard.ZstdCompressor().compress(data)
    elif compress == "gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def catalog_dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every content table of a catalog, rows in key order (the operator's import log left out)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        out = {}
        for table in CONTENT_TABLES:
            out[table] = sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def export_objects(archive_root: Path, kind: str) -> dict[str, Any]:
    from tests.conftest import run_cli

    result = run_cli("export", "spotify", "--kind", kind, archive=archive_root)
    assert result.exit_code == 0, result.stderr
    objects = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return {obj["id"]: obj for obj in objects}


def rejects(archive_root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((archive_root / "rejects").glob("*.jsonl")):
        out.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return out
