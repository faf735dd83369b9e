"""Reading what the plan needs from the catalog into numpy arrays.

Sequential scans only, joined in numpy: tracks (by rowid range, in parallel), the artists of each track, artist
and album popularity, the tracks whose ISRC is shared, and what the reference release's track_files say of each
track (whether it could be had, the size of its file). A SQL join of the same columns costs twice the CPU (a
B-tree lookup per track per table) and most of the time goes into SQLite, not Python.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from fonoteca.catalog import layout
from fonoteca.progress import Progress

Connect = Callable[[], sqlite3.Connection]

CHUNK = 65_536  # rows per fetch: bounds the Python objects alive per reading thread
PARALLEL_FROM = 500_000  # rowids; below this one thread reads faster than several start

# -1 marks an unknown popularity or duration; 0 an unknown album.
_TRACKS_SQL = """
SELECT rowid, coalesce(album, 0), coalesce(popularity, -1), coalesce(duration_ms, -1) FROM tracks
WHERE level > 0 AND rowid >= ? AND rowid < ?
"""
_TRACKS_DTYPE = np.dtype([("rowid", "i8"), ("album", "i8"), ("popularity", "i2"), ("duration_ms", "i4")])
_TRACK_ARTISTS_SQL = "SELECT track, artist FROM track_artists WHERE track >= ? AND track < ?"
_ARTISTS_SQL = "SELECT rowid, coalesce(popularity, 0), min(coalesce(followers, 0), 100000000) FROM artists"
# Statuses of the reference release's track_files that mean no file was had (the rule's own skips are not).
UNAVAILABLE = ("error_not_available", "error_has_replacement", "todo_unk", "error_no_ogg160", "error_zero_duration")
STATUSES = layout.STATUSES  # the reference release's track_files statuses, as the layout defines them
_TRACK_FILES_SQL = (
    "SELECT track, CASE status "
    + " ".join(f"WHEN '{name}' THEN {i}" for i, name in enumerate(STATUSES))
    + " ELSE -1 END, reencoded_kbit_vbr IS NULL, coalesce(filesize_bytes, -1) FROM track_files "
    "WHERE track >= ? AND track < ?"
)
_TRACK_FILES_DTYPE = np.dtype([("track", "i8"), ("status", "i1"), ("original", "i1"), ("size", "i8")])
_ALBUMS_SQL = "SELECT rowid, coalesce(popularity, 0) FROM albums"

# Only the rows whose ISRC is shared, each with its group's smallest rowid as the group id: both sides run on the
# covering index tracks_isrc, without reading the tracks table.
_DUPLICATES_SQL = """
SELECT t.rowid, d.grp
FROM (SELECT isrc, min(rowid) AS grp FROM tracks WHERE isrc IS NOT NULL GROUP BY isrc HAVING count(*) > 1) d
JOIN tracks t ON t.isrc = d.isrc
"""


@dataclass
class TrackData:
    """Columns of every catalogued track (level > 0), in rowid order."""

    rowid: np.ndarray  # int64
    popularity: np.ndarray  # int16, -1 unknown
    duration_ms: np.ndarray  # int32, -1 unknown
    priority: np.ndarray  # float64, the reference archive's secondary priority (before the ISRC penalty)
    plays: np.ndarray | None  # int64, -1 unknown; None when the catalog has no play counts at all
    rep: np.ndarray  # int32 index of the track standing for this one's recording (itself if none other)
    sizes: dict[int, np.ndarray]  # tier -> int64 real file sizes where known (-1 unknown)
    status: np.ndarray | None = None  # int8 index into STATUSES of the track's track_files row, -1 none; None: no rows

    @property
    def unavailable(self) -> np.ndarray | None:
        """Tracks the reference release could not get a file of (track_files: error_*, todo_unk)."""
        if self.status is None:
            return None
        return np.isin(self.status, [STATUSES.index(s) for s in UNAVAILABLE])

    def __len__(self) -> int:
        return len(self.rowid)

    def index_of(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of catalog rowids in these arrays (-1 where the rowid is not a catalogued track)."""
        pos = np.searchsorted(self.rowid, rowids)
        pos = np.clip(pos, 0, max(len(self.rowid) - 1, 0))
        found = (len(self.rowid) > 0) & (self.rowid[pos] == rowids) if len(self.rowid) else np.zeros(len(rowids), bool)
        return np.where(found, pos, -1)


def secondary_priority(
    artist_popularity: np.ndarray, album_popularity: np.ndarray, followers: np.ndarray
) -> np.ndarray:
    """artist popularity/100 + album popularity/100 + log10(min(1e8, followers + 1))/8 (the reference rule, before
    its -10 for an ISRC that has a download): artist popularity and followers are the highest among the track's
    artists."""
    fol = np.minimum(1e8, np.maximum(followers, 0).astype(np.float64) + 1.0)
    return artist_popularity / 100.0 + album_popularity / 100.0 + np.log10(fol) / 8.0


def load(
    conn: sqlite3.Connection, progress: Progress | None = None, *, connect: Connect | None = None, workers: int = 0
) -> TrackData:
    """Read every catalogued track; `progress(n)` is called as track rows arrive.

    With `connect` (a factory of read-only connections) the scans run in threads, the tracks scan split by rowid
    range over `workers` of them: SQLite releases the GIL while it steps, so the reads overlap."""
    top = conn.execute("SELECT max(rowid) FROM tracks").fetchone()[0] or 0
    workers = workers or min(4, os.cpu_count() or 1)
    if connect is None or workers < 2 or top < PARALLEL_FROM:
        tracks = _assemble([_read_range(conn, 0, top + 1, progress)])
        artists, albums, duplicates = _artists(conn), _albums(conn), _read_duplicates(conn)
    else:
        bounds = np.linspace(0, top + 1, workers + 1).astype(np.int64).tolist()
        with ThreadPoolExecutor(workers, thread_name_prefix="plan-read") as pool:
            ranges = [
                pool.submit(_on_own_connection, connect, _read_range, lo, hi, progress) for lo, hi in pairwise(bounds)
            ]
            side = [pool.submit(_on_own_connection, connect, read) for read in (_artists, _albums, _read_duplicates)]
            tracks = _assemble([job.result() for job in ranges])
            artists, albums, duplicates = (job.result() for job in side)
    best_popularity, best_followers = artist_maxima(conn, tracks["rowid"], artists)
    data = _with_priority(tracks, best_popularity, best_followers, albums)
    _read_plays(conn, data)
    read_track_files(conn, data)
    _read_sizes(conn, data)
    data.rep = _isrc_representatives(duplicates, data)
    return data


def _on_own_connection(connect: Connect, read: Callable[..., Any], *args: Any) -> Any:
    conn = connect()
    try:
        return read(conn, *args)
    finally:
        conn.close()


def _chunks(conn: sqlite3.Connection, sql: str, dtype: np.dtype, *params: Any):
    cursor = conn.execute(sql, params)
    while rows := cursor.fetchmany(CHUNK):
        yield np.array(rows, dtype=dtype)


def _read_range(conn: sqlite3.Connection, lo: int, hi: int, progress: Progress | None) -> dict[str, np.ndarray]:
    """Tracks with lo <= rowid < hi, chunk by chunk into preallocated columns (no full-size row table)."""
    size = hi - lo
    cols = {name: np.empty(size, _TRACKS_DTYPE[name]) for name in _TRACKS_DTYPE.names or ()}
    cols["album"] = np.empty(size, np.int32)
    filled = 0
    for chunk in _chunks(conn, _TRACKS_SQL, _TRACKS_DTYPE, lo, hi):
        end = filled + len(chunk)
        for name in cols:
            cols[name][filled:end] = chunk[name]
        filled = end
        if progress:
            progress(len(chunk))
    # Stubs and gaps in rowids leave the preallocation short of full.
    return {name: col[:filled] for name, col in cols.items()}


def _assemble(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}  # copies: frees the unused tails


def artist_maxima(
    conn: sqlite3.Connection, rowids: np.ndarray, artists: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The highest popularity and follower count among each track's artists (0 without artists), aligned with
    `rowids` (sorted), read range by range of track rowids."""
    popularity = np.zeros(len(rowids), dtype=np.int16)
    followers = np.zeros(len(rowids), dtype=np.int64)
    pair = np.dtype([("track", "i8"), ("artist", "i8")])
    step = max(CHUNK, 1)
    for start in range(0, len(rowids), step):
        lo, hi = int(rowids[start]), int(rowids[min(start + step, len(rowids)) - 1]) + 1
        for chunk in _chunks(conn, _TRACK_ARTISTS_SQL, pair, lo, hi):
            pos = np.searchsorted(rowids, chunk["track"])
            pos = np.clip(pos, 0, len(rowids) - 1)
            known = rowids[pos] == chunk["track"]
            pos, artist = pos[known], chunk["artist"][known]
            np.maximum.at(popularity, pos, _lookup(artists["popularity"], artist))
            np.maximum.at(followers, pos, _lookup(artists["followers"], artist))
    return popularity, followers


def _by_rowid(conn: sqlite3.Connection, table: str, sql: str, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Columns of a small table spread over arrays indexed by rowid (index 0 and gaps: 0, i.e. unknown)."""
    top = conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    cols = {name: np.zeros(top + 1, dtype[name]) for name in (dtype.names or ())[1:]}
    for chunk in _chunks(conn, sql, dtype):
        for name in cols:
            cols[name][chunk["rowid"]] = chunk[name]
    return cols


def _artists(conn: sqlite3.Connection) -> dict[str, np.ndarray]:
    return _by_rowid(
        conn, "artists", _ARTISTS_SQL, np.dtype([("rowid", "i8"), ("popularity", "i2"), ("followers", "i8")])
    )


def _albums(conn: sqlite3.Connection) -> dict[str, np.ndarray]:
    return _by_rowid(conn, "albums", _ALBUMS_SQL, np.dtype([("rowid", "i8"), ("popularity", "i2")]))


def _lookup(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[index], 0 where the index falls outside (a dangling reference counts as unknown)."""
    inside = (index >= 0) & (index < len(values))
    return np.where(inside, values[np.where(inside, index, 0)], 0)


def _with_priority(
    tracks: dict[str, np.ndarray],
    best_popularity: np.ndarray,
    best_followers: np.ndarray,
    albums: dict[str, np.ndarray],
) -> TrackData:
    priority = secondary_priority(best_popularity, _lookup(albums["popularity"], tracks["album"]), best_followers)
    n = len(tracks["rowid"])
    return TrackData(
        rowid=tracks["rowid"],
        popularity=tracks["popularity"],
        duration_ms=tracks["duration_ms"],
        priority=priority,
        plays=None,
        rep=np.arange(n, dtype=np.int32),
        sizes={},
    )


def _read_duplicates(conn: sqlite3.Connection) -> np.ndarray:
    """(rowid, group id) of every track whose ISRC other tracks share."""
    return np.array(conn.execute(_DUPLICATES_SQL).fetchall(), dtype=np.int64).reshape(-1, 2)


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def _read_plays(conn: sqlite3.Connection, data: TrackData) -> None:
    if not _table_exists(conn, "track_plays"):
        return
    rows = np.array(conn.execute("SELECT track, plays FROM track_plays").fetchall(), dtype=np.int64).reshape(-1, 2)
    pos = data.index_of(rows[:, 0])
    keep = pos >= 0
    if keep.any():
        data.plays = np.full(len(data), -1, dtype=np.int64)
        data.plays[pos[keep]] = np.maximum(rows[keep, 1], 0)


def read_track_files(conn: sqlite3.Connection, data: TrackData, lo: int = 0, hi: int | None = None) -> None:
    """The reference release's word on each track (table track_files): its status, and the size of the file it
    kept (original when not re-encoded) as the real size of that tier."""
    if not _table_exists(conn, "track_files") or conn.execute("SELECT 1 FROM track_files LIMIT 1").fetchone() is None:
        return
    hi = (int(data.rowid[-1]) + 1 if len(data) else 0) if hi is None else hi
    data.status = np.full(len(data), -1, dtype=np.int8)
    for chunk in _chunks(conn, _TRACK_FILES_SQL, _TRACK_FILES_DTYPE, lo, hi):
        pos = data.index_of(chunk["track"])
        keep = pos >= 0
        chunk, pos = chunk[keep], pos[keep]
        data.status[pos] = chunk["status"]
        kept = (chunk["status"] == STATUSES.index("success")) & (chunk["size"] >= 0)
        for tier, original in ((2, 1), (1, 0)):
            sel = kept & (chunk["original"] == original)
            if sel.any():
                sizes = data.sizes.setdefault(tier, np.full(len(data), -1, dtype=np.int64))
                sizes[pos[sel]] = chunk["size"][sel]


def _read_sizes(conn: sqlite3.Connection, data: TrackData) -> None:
    if not _table_exists(conn, "plan_sizes"):
        return
    rows = np.array(conn.execute("SELECT track, tier, bytes FROM plan_sizes").fetchall(), dtype=np.int64).reshape(-1, 3)
    for tier in (1, 2):
        sel = rows[rows[:, 1] == tier]
        pos = data.index_of(sel[:, 0])
        keep = pos >= 0
        if keep.any():  # the archive's own files beat the reference release's sizes
            sizes = data.sizes.setdefault(tier, np.full(len(data), -1, dtype=np.int64))
            sizes[pos[keep]] = sel[keep, 2]


def _isrc_representatives(dup: np.ndarray, data: TrackData) -> np.ndarray:
    """For each track, the index of the track that stands for its recording (same ISRC).

    The representative is the member the reference rule would keep first: one the reference release could get
    a file of (track_files), then highest popularity, then highest secondary priority, then lowest rowid. Tracks
    without a shared ISRC stand for themselves."""
    rep = np.arange(len(data), dtype=np.int32)
    if not len(dup):
        return rep
    pos = data.index_of(dup[:, 0])
    group, pos = dup[pos >= 0, 1], pos[pos >= 0]  # stubs (level 0) take no part
    if len(pos) == 0:
        return rep
    # Sort members by group, then best first: popularity desc, priority desc, rowid asc.
    unavailable = data.unavailable
    lacking = unavailable[pos] if unavailable is not None else np.zeros(len(pos), dtype=bool)
    order = np.lexsort((data.rowid[pos], -data.priority[pos], -data.popularity[pos].astype(np.int32), lacking, group))
    group_sorted = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = group_sorted[1:] != group_sorted[:-1]
    best_of_group = pos[order][first]  # one per group, in group order
    rep[pos[order]] = best_of_group[np.cumsum(first) - 1]
    return rep
