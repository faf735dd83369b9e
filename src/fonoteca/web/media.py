"""Where a track's audio is on this machine: the ingest stage's `files` table (paths relative to the archive
root, always under files/) on the archive itself, or a release's payload folder
(ARCHIVE/releases/NAME/data/TORRENT/PATH) on a mirror. A track whose recording (ISRC) is kept as another track's
file plays that file.

No path ever comes from the request: the audio route takes a track id, and the path comes from the catalog or a
manifest. Even so every candidate is resolved (symlinks followed) and must stay inside files/ or a release's
data/ folder, and be a regular file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from fonoteca.archive import Archive
from fonoteca.storage import Storage, StorageError
from fonoteca.tiers import Tier
from fonoteca.web.releases import Location, Releases

MEDIA_TYPES = {
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".wav": "audio/wav",
    ".webm": "audio/webm",
}
# What the site shows of a stored file (the ingest stage's files table, schema in catalog/migrations).
FILE_COLUMNS = (
    "path",
    "size",
    "sha256",
    "tier",
    "container",
    "codec",
    "bit_rate",
    "sample_rate",
    "channels",
    "duration_ms",
    "loudness",
)
MAX_CANDIDATES = 20


@dataclass
class AudioFile:
    path: Path
    media_type: str
    size: int
    origin: str  # "archive" (files/) or "release" (a mirror's payload)
    info: dict[str, Any]


def duration_ms(audio: AudioFile) -> int | None:
    """The length of a playable file: what ingest measured (the files row), else read from the file's header."""
    known = audio.info.get("duration_ms")
    if isinstance(known, (int, float)) and not isinstance(known, bool) and known > 0:
        return int(known)
    try:
        st = audio.path.stat()
    except OSError:
        return None
    return _probed_ms(str(audio.path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4096)
def _probed_ms(path: str, _mtime_ns: int, _size: int) -> int | None:
    import mutagen

    try:
        found = mutagen.File(path)
    except Exception:  # noqa: BLE001 (an unreadable header: no length, the page still shows the catalog's)
        return None
    length = getattr(getattr(found, "info", None), "length", None)
    return int(round(length * 1000)) if isinstance(length, (int, float)) and length > 0 else None


def lengths_disagree(catalog_ms: int | None, file_ms: int | None) -> bool:
    """As ingest judges it: more than 3 s or 2 % apart."""
    if not catalog_ms or not file_ms:
        return False
    return abs(catalog_ms - file_ms) > max(3000, 0.02 * catalog_ms)


def media_type(path: str | Path) -> str | None:
    return MEDIA_TYPES.get(Path(str(path)).suffix.lower())


def _inside(path: Path, root: Path) -> Path | None:
    try:
        resolved = path.resolve(strict=True)
        base = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_relative_to(base) or not resolved.is_file():
        return None
    return resolved


def _relative(value: str) -> PurePosixPath | None:
    """A stored relative path, refused when absolute or climbing out ('..')."""
    if not value or "\x00" in value:
        return None
    rel = PurePosixPath(value.replace("\\", "/"))
    if rel.is_absolute() or any(part in ("..", "") for part in rel.parts):
        return None
    return rel


def files_row(conn: sqlite3.Connection, rowid: int) -> dict[str, Any] | None:
    """The files-table row of one track (the original tier first when there are several)."""
    row = conn.execute(
        f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE track = ? ORDER BY tier DESC LIMIT 1", (rowid,)
    ).fetchone()
    return None if row is None else dict(zip(FILE_COLUMNS, row, strict=True))


def find_audio(
    storage: Storage, root: Path, row: dict[str, Any] | None, locations: list[tuple[Location, dict[str, Any] | None]]
) -> AudioFile | None:
    if row is not None and isinstance(row.get("path"), str):
        try:
            found: Path | None = storage.local_path(row["path"])
        except StorageError:
            found = None
        if found is not None and media_type(found):
            info = {k: v for k, v in row.items() if k != "path"}
            return AudioFile(found, media_type(found) or "", found.stat().st_size, "archive", info)
    for location, _torrent in locations:
        if not location.torrent or not location.path:
            continue
        torrent = _relative(location.torrent)
        rel = _relative(location.path)
        if torrent is None or rel is None or len(torrent.parts) != 1:
            continue
        data_dir = root / "releases" / location.release / "data"
        found = _inside(data_dir / torrent / rel, data_dir)
        if found is not None and media_type(found):
            return AudioFile(
                found,
                media_type(found) or "",
                found.stat().st_size,
                "release",
                {"size": location.size, "sha256": location.sha256},
            )
    return None


def candidates(conn: sqlite3.Connection, rowid: int, track_id: str) -> list[tuple[int, str]]:
    """The track itself, then the track the plan keeps its recording as, then other tracks with its ISRC."""
    out = [(rowid, track_id)]
    row = conn.execute(
        "SELECT t.rowid, t.id FROM plan p JOIN tracks t ON t.rowid = p.rep WHERE p.track = ?", (rowid,)
    ).fetchone()
    if row is not None:
        out.append((row[0], row[1]))
    out.extend(
        conn.execute(
            "SELECT o.rowid, o.id FROM tracks t JOIN tracks o ON o.isrc = t.isrc AND o.rowid != t.rowid "
            "WHERE t.rowid = ? AND t.isrc IS NOT NULL ORDER BY o.popularity DESC, o.rowid LIMIT ?",
            (rowid, MAX_CANDIDATES),
        ).fetchall()
    )
    first: dict[int, tuple[int, str]] = {}
    for candidate in out:
        first.setdefault(candidate[0], candidate)
    return list(first.values())


def locate(
    conn: sqlite3.Connection, archive: Archive, releases: Releases, rowid: int, track_id: str
) -> tuple[AudioFile | None, list[dict[str, Any]], dict[str, Any] | None]:
    """(the playable file if this machine has it, where the file is in the releases, the files-table row)."""
    row: dict[str, Any] | None = None
    locations: list[tuple[Location, dict[str, Any] | None]] = []
    audio = None
    storage = archive.storage
    for cand_rowid, cand_id in candidates(conn, rowid, track_id):
        row = files_row(conn, cand_rowid)
        locations = releases.locate(cand_id)
        audio = find_audio(storage, archive.root, row, locations)
        if row is not None or locations:
            if row is not None:
                row = dict(row, track_id=cand_id)
            break
    where = []
    for location, torrent in locations:
        where.append(
            {
                "release": location.release,
                "torrent": location.torrent,
                "path": location.path,
                "file_index": location.file_index,
                "size": location.size,
                "sha256": location.sha256,
                "btih": torrent["btih"] if torrent else None,
                "magnet_link": torrent["magnet_link"] if torrent else None,
                "torrent_url": (torrent["local_url"] or torrent["url"]) if torrent else None,
                "seeders": torrent["seeders"] if torrent else None,
                "health": torrent["health"] if torrent else "unknown",
            }
        )
    if row is not None:
        if isinstance(row.get("tier"), int):
            row["tier"] = Tier.label_of(row["tier"])
        # a mirror carries the archive's catalog, files table included, but not its files/ folder
        row["present"] = audio is not None and audio.origin == "archive"
    return audio, where, row
