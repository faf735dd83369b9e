"""Reading what the plan needs from the catalog into numpy arrays: one scan of tracks, one of duplicated ISRCs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Progress = Callable[[int], None]

CHUNK = 262_144

# One scan: the track's own columns plus the inputs of the reference archive's secondary priority (primary artist's
# popularity and followers, album popularity). -1 marks an unknown popularity or duration.
_TRACKS_SQL = """
SELECT t.rowid, coalesce(t.popularity, -1), coalesce(t.duration_ms, -1),
       coalesce(al.popularity, 0), coalesce(ar.popularity, 0), coalesce(ar.followers, 0)
FROM tracks t
LEFT JOIN albums al ON al.rowid = t.album
LEFT JOIN track_artists ta ON ta.track = t.rowid AND ta.position = 0
LEFT JOIN artists ar ON ar.rowid = ta.artist
WHERE t.level > 0
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
    plays: np.ndarray          # int64, -1 unknown
    rep: np.ndarray            # int64 index of the track standing for this one's recording (itself if none other)
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


def load(conn: sqlite3.Connection, progress: Progress | None = None) -> TrackData:
    """Read every catalogued track; `progress(n)` is called as rows arrive."""
    cols = _read_tracks(conn, progress)
    priority = secondary_priority(cols["artist_popularity"], cols["album_popularity"], cols["followers"])
    data = TrackData(
        rowid=np.ascontiguousarray(cols["rowid"]), popularity=np.ascontiguousarray(cols["popularity"]),
        duration_ms=np.ascontiguousarray(cols["duration_ms"]), priority=priority,
        plays=np.full(len(cols), -1, dtype=np.int64), rep=np.arange(len(cols), dtype=np.int64), sizes={},
    )
    del cols
    _read_plays(conn, data)
    _read_sizes(conn, data)
    data.rep = _isrc_representatives(conn, data)
    return data


def _read_tracks(conn: sqlite3.Connection, progress: Progress | None) -> np.ndarray:
    top = conn.execute("SELECT max(rowid) FROM tracks").fetchone()[0] or 0
    out = np.empty(top, dtype=_TRACKS_DTYPE)
    filled = 0
    cursor = conn.execute(_TRACKS_SQL)
    while True:
        rows = cursor.fetchmany(CHUNK)
        if not rows:
            break
        chunk = np.array(rows, dtype=_TRACKS_DTYPE)
        out[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
        if progress:
            progress(len(chunk))
    return out[:filled]


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def _read_plays(conn: sqlite3.Connection, data: TrackData) -> None:
    if not _table_exists(conn, "track_plays"):
        return
    rows = np.array(conn.execute("SELECT track, plays FROM track_plays").fetchall(), dtype=np.int64).reshape(-1, 2)
    pos = data.index_of(rows[:, 0])
    keep = pos >= 0
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


def _isrc_representatives(conn: sqlite3.Connection, data: TrackData) -> np.ndarray:
    """For each track, the index of the track that stands for its recording (same ISRC).

    The representative is the member the reference rule would keep first: highest popularity, then highest
    secondary priority, then lowest rowid. Tracks without a shared ISRC stand for themselves."""
    rep = np.arange(len(data), dtype=np.int64)
    rows = conn.execute(_DUPLICATES_SQL).fetchall()
    if not rows:
        return rep
    dup = np.array(rows, dtype=np.int64).reshape(-1, 2)
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
