"""Reading what the plan needs from the catalog into numpy arrays: one scan of tracks, one of duplicated ISRCs."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

Progress = Callable[[int], None]

CHUNK = 262_144
PARALLEL_FROM = 500_000  # rowids; below this one thread reads faster than several start

# One scan: the track's own columns plus the inputs of the reference archive's secondary priority (primary artist's
# popularity and followers, album popularity). -1 marks an unknown popularity or duration.
_TRACKS_SQL = """
SELECT t.rowid, coalesce(t.popularity, -1), coalesce(t.duration_ms, -1),
       coalesce(al.popularity, 0), coalesce(ar.popularity, 0), coalesce(ar.followers, 0)
FROM tracks t
LEFT JOIN albums al ON al.rowid = t.album
LEFT JOIN track_artists ta ON ta.track = t.rowid AND ta.position = 0
LEFT JOIN artists ar ON ar.rowid = ta.artist
WHERE t.level > 0 AND t.rowid >= ? AND t.rowid < ?
ORDER BY t.rowid
"""
_TRACKS_DTYPE = np.dtype([("rowid", "i8"), ("popularity", "i2"), ("duration_ms", "i4"),
                          ("album_popularity", "i2"), ("artist_popularity", "i2"), ("followers", "i8")])

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

    rowid: np.ndarray          # int64
    popularity: np.ndarray     # int16, -1 unknown
    duration_ms: np.ndarray    # int32, -1 unknown
    priority: np.ndarray       # float64, the reference archive's secondary priority (before the ISRC penalty)
    plays: np.ndarray | None   # int64, -1 unknown; None when the catalog has no play counts at all
    rep: np.ndarray            # int32 index of the track standing for this one's recording (itself if none other)
    sizes: dict[int, np.ndarray]  # tier -> int64 real file sizes where known (-1 unknown)

    def __len__(self) -> int:
        return len(self.rowid)

    def index_of(self, rowids: np.ndarray) -> np.ndarray:
        """Positions of catalog rowids in these arrays (-1 where the rowid is not a catalogued track)."""
        pos = np.searchsorted(self.rowid, rowids)
        pos = np.clip(pos, 0, max(len(self.rowid) - 1, 0))
        found = (len(self.rowid) > 0) & (self.rowid[pos] == rowids) if len(self.rowid) else np.zeros(len(rowids), bool)
        return np.where(found, pos, -1)


def secondary_priority(artist_popularity: np.ndarray, album_popularity: np.ndarray,
                       followers: np.ndarray) -> np.ndarray:
    """artist popularity/100 + album popularity/100 + log10(min(1e8, followers + 1))/8 (the reference rule)."""
    fol = np.minimum(1e8, np.maximum(followers, 0).astype(np.float64) + 1.0)
    return artist_popularity / 100.0 + album_popularity / 100.0 + np.log10(fol) / 8.0


def load(conn: sqlite3.Connection, progress: Progress | None = None, *,
         connect: Callable[[], sqlite3.Connection] | None = None, workers: int = 0) -> TrackData:
    """Read every catalogued track; `progress(n)` is called as rows arrive.

    With `connect` (a factory of read-only connections) the scan is split by rowid range over `workers` threads
    and the ISRC query runs beside them: SQLite releases the GIL while it steps, so the reads overlap."""
    top = conn.execute("SELECT max(rowid) FROM tracks").fetchone()[0] or 0
    workers = workers or min(4, os.cpu_count() or 1)
    if connect is None or workers < 2 or top < PARALLEL_FROM:
        data = _assemble([_read_range(conn, 0, top + 1, progress)])
        duplicates = _read_duplicates(conn)
    else:
        bounds = np.linspace(0, top + 1, workers + 1).astype(np.int64).tolist()
        with ThreadPoolExecutor(workers + 1, thread_name_prefix="plan-read") as pool:
            dup_job = pool.submit(_on_own_connection, connect, _read_duplicates)
            jobs = [pool.submit(_on_own_connection, connect, _read_range, lo, hi, progress)
                    for lo, hi in zip(bounds, bounds[1:])]
            data = _assemble([job.result() for job in jobs])
            duplicates = dup_job.result()
    _read_plays(conn, data)
    _read_sizes(conn, data)
    data.rep = _isrc_representatives(duplicates, data)
    return data


def _on_own_connection(connect: Callable[[], sqlite3.Connection], read: Callable[..., Any], *args: Any) -> Any:
    conn = connect()
    try:
        return read(conn, *args)
    finally:
        conn.close()


def _read_range(conn: sqlite3.Connection, lo: int, hi: int, progress: Progress | None) -> dict[str, np.ndarray]:
    """Tracks with lo <= rowid < hi, chunk by chunk into preallocated columns (no full-size row table)."""
    size = hi - lo
    cols = {"rowid": np.empty(size, np.int64), "popularity": np.empty(size, np.int16),
            "duration_ms": np.empty(size, np.int32), "priority": np.empty(size, np.float64)}
    filled = 0
    cursor = conn.execute(_TRACKS_SQL, (lo, hi))
    while True:
        rows = cursor.fetchmany(CHUNK)
        if not rows:
            break
        chunk = np.array(rows, dtype=_TRACKS_DTYPE)
        end = filled + len(chunk)
        for name in ("rowid", "popularity", "duration_ms"):
            cols[name][filled:end] = chunk[name]
        cols["priority"][filled:end] = secondary_priority(chunk["artist_popularity"], chunk["album_popularity"],
                                                          chunk["followers"])
        filled = end
        if progress:
            progress(len(chunk))
    # Stubs and gaps in rowids leave the preallocation short of full.
    return {name: col[:filled] for name, col in cols.items()}


def _assemble(parts: list[dict[str, np.ndarray]]) -> TrackData:
    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}  # copies: frees the unused tails
    n = len(cols["rowid"])
    return TrackData(rowid=cols["rowid"], popularity=cols["popularity"], duration_ms=cols["duration_ms"],
                     priority=cols["priority"], plays=None, rep=np.arange(n, dtype=np.int32), sizes={})


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


def _read_sizes(conn: sqlite3.Connection, data: TrackData) -> None:
    if not _table_exists(conn, "plan_sizes"):
        return
    rows = np.array(conn.execute("SELECT track, tier, bytes FROM plan_sizes").fetchall(), dtype=np.int64).reshape(-1, 3)
    for tier in (1, 2):
        sel = rows[rows[:, 1] == tier]
        pos = data.index_of(sel[:, 0])
        keep = pos >= 0
        if keep.any():
            sizes = np.full(len(data), -1, dtype=np.int64)
            sizes[pos[keep]] = sel[keep, 2]
            data.sizes[tier] = sizes


def _isrc_representatives(dup: np.ndarray, data: TrackData) -> np.ndarray:
    """For each track, the index of the track that stands for its recording (same ISRC).

    The representative is the member the reference rule would keep first: highest popularity, then highest
    secondary priority, then lowest rowid. Tracks without a shared ISRC stand for themselves."""
    rep = np.arange(len(data), dtype=np.int32)
    if not len(dup):
        return rep
    pos = data.index_of(dup[:, 0])
    group, pos = dup[pos >= 0, 1], pos[pos >= 0]  # stubs (level 0) take no part
    if len(pos) == 0:
        return rep
    # Sort members by group, then best first: popularity desc, priority desc, rowid asc.
    order = np.lexsort((data.rowid[pos], -data.priority[pos], -data.popularity[pos].astype(np.int32), group))
    group_sorted = group[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = group_sorted[1:] != group_sorted[:-1]
    best_of_group = pos[order][first]              # one per group, in group order
    rep[pos[order]] = best_of_group[np.cumsum(first) - 1]
    return rep
