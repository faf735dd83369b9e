"""Which tracks this copy of the archive can play: those whose own file is here, in files/ (the files table)
or in a release's downloaded payload (its manifest). The home page and shuffle offer them with ?playable=1.

Finding them costs a stat per file, so the list is kept per catalog state and release listing, and looked at
again at most once a minute (a mirror's downloads add files without changing its catalog)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from fonoteca.storage import Storage
from fonoteca.web.media import _relative
from fonoteca.web.releases import Releases

RECHECK_S = 60.0


def _archive_files(conn: sqlite3.Connection, storage: Storage) -> set[int]:
    return {
        int(track)
        for track, path in conn.execute("SELECT track, path FROM files")
        if isinstance(path, str) and storage.exists(path)
    }


def _release_files(conn: sqlite3.Connection, releases: Releases) -> set[int]:
    ids = []
    for release in releases.all():
        data = release.directory / "data"
        for track_id, (torrent, inner, *_rest) in releases._manifest(release).items():
            t, rel = _relative(torrent or ""), _relative(inner or "")
            if t is not None and rel is not None and len(t.parts) == 1 and os.path.isfile(data / t / rel):
                ids.append(track_id)
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            r
            for (r,) in conn.execute(
                f"SELECT rowid FROM tracks WHERE id IN ({','.join('?' * len(chunk))}) AND level > 0", chunk
            )
        )
    return found


def playable_tracks(conn: sqlite3.Connection, storage: Storage, releases: Releases) -> list[tuple[int, int]]:
    """(rowid, popularity) of every track with its own file here, most popular first."""
    rowids = sorted(_archive_files(conn, storage) | _release_files(conn, releases))
    out: list[tuple[int, int]] = []
    for start in range(0, len(rowids), 500):
        chunk = rowids[start : start + 500]
        out.extend(
            (r, p or 0)
            for r, p in conn.execute(
                f"SELECT rowid, popularity FROM tracks WHERE rowid IN ({','.join('?' * len(chunk))}) AND level > 0",
                chunk,
            )
        )
    out.sort(key=lambda rp: (-rp[1], rp[0]))
    return out


class Playable:
    """The playable list of one site, recomputed when the catalog or the releases change (or after a minute)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[Any, float, list[tuple[int, int]]] | None = None

    def get(self, site: Any) -> list[tuple[int, int]]:
        key = (site.store.stamp(), tuple(r.signature for r in site.releases.all()))
        now = time.monotonic()
        with self._lock:
            if self._value is not None and self._value[0] == key and now - self._value[1] < RECHECK_S:
                return self._value[2]
            value = playable_tracks(site.store.conn, site.archive.storage, site.releases)
            self._value = (key, now, value)
            return value
