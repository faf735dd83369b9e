"""Bulk loads: importing into a catalog much smaller than the input at a rate that stays flat.

Keeping a unique index on random base62 ids up to date costs one random B-tree write per row once the index
outgrows the page cache, which is what made per-row imports slow down with size. A bulk load instead drops the
secondary indexes of the tables it fills, appends the rows in id-ordered chunks (one transaction each) and
builds the indexes again at the end, each by one sort over the finished table.

Progress lives in the catalog itself (table `bulk_loads`): the dropped indexes' SQL, the chunks done and where
each reject log stood, written in the same transaction as every chunk. The same import run again after a crash
(kill -9, power cut, a full disk) resumes from there and ends with the catalog a clean run gives; another import
meanwhile is refused, since the catalog has no indexes until the load finishes.

When to bulk load ([catalog] in fonoteca.toml): bulk = "auto" (default), "always" or "never"; with auto, when
the input holds at least `bulk_min` tracks (default 100,000) and the catalog at most `bulk_ratio` (default 1.0)
times as many tracks as the input.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from fonoteca.catalog.db import transaction
from fonoteca.catalog.store import Store, field_count
from fonoteca.errors import FonotecaError
from fonoteca.progress import Progress

BULK_MIN = 100_000
BULK_RATIO = 1.0
SORT_CACHE_KIB = 262_144  # page cache of a bulk load (and memory of each index sort): 256 MiB

# Tables a bulk load fills; their secondary indexes are dropped while it runs.
FILLED_TABLES = (
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
    "artist_albums",
    "track_files",
    "reference_verbatim",
)


def wanted(config: dict[str, Any], catalog_tracks: int, input_tracks: int) -> bool:
    """Whether an import of about `input_tracks` tracks into a catalog of `catalog_tracks` should bulk load."""
    section = config.get("catalog", {}) if isinstance(config, dict) else {}
    mode = str(section.get("bulk", "auto")).lower()
    if mode not in ("auto", "always", "never"):
        raise FonotecaError(f"fonoteca.toml [catalog] bulk = {mode!r}: use auto, always or never")
    if mode != "auto":
        return mode == "always"
    minimum = int(section.get("bulk_min", BULK_MIN))
    ratio = float(section.get("bulk_ratio", BULK_RATIO))
    return input_tracks >= minimum and catalog_tracks <= ratio * input_tracks


def configure(conn: sqlite3.Connection, tmp_dir: Path) -> None:
    """Settings for big sorts in bounded memory: temporary B-trees and sorter runs on disk beside the archive
    (not in memory: the connection default), two sorter threads."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    conn.execute("PRAGMA temp_store=FILE")
    conn.execute(f"PRAGMA temp_store_directory='{str(tmp_dir).replace(chr(39), chr(39) * 2)}'")
    conn.execute(f"PRAGMA cache_size=-{SORT_CACHE_KIB}")
    conn.execute("PRAGMA threads=2")
    conn.execute("PRAGMA wal_autocheckpoint=65536")


def secondary_indexes(conn: sqlite3.Connection, tables: tuple[str, ...] = FILLED_TABLES) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every index on `tables` that a DROP can remove (not the primary keys)."""
    marks = ",".join("?" * len(tables))
    return [
        (name, sql)
        for name, sql in conn.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND "
            f"sql IS NOT NULL AND tbl_name IN ({marks}) ORDER BY tbl_name, name",
            tables,
        )
    ]


def drop_indexes(conn: sqlite3.Connection, indexes: list[tuple[str, str]]) -> None:
    for name, _ in indexes:
        conn.execute(f'DROP INDEX IF EXISTS main."{name}"')


_CREATE = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?!IF\s+NOT\s+EXISTS)", re.IGNORECASE)


def if_not_exists(sql: str) -> str:
    return _CREATE.sub(lambda m: f"CREATE {m.group(1) or ''}INDEX IF NOT EXISTS ", sql, count=1)


def build_indexes(conn: sqlite3.Connection, indexes: list[tuple[str, str]], progress: Progress | None = None) -> None:
    """Build the dropped indexes again, each in its own transaction (a crash keeps those already built);
    `progress` is told each index as its step."""
    for name, sql in indexes:
        if progress:
            progress(stage=f"index {name}")
        with transaction(conn):
            conn.execute(if_not_exists(sql))


class Lookahead:
    """Reads the next chunk's rows on a second connection while the caller writes this one.

    The checks of a load are SQL evaluated on every row of the input, read-only, and a chunk's writes do not
    change what the next chunk's checks read; run one chunk ahead on a second core they cost no wall time. What
    the second connection returns is used only for exactly the query and parameters asked for; anything else,
    or any failure there (a read fault included), is run on the caller's connection, which meets it as before.
    """

    def __init__(self, conn: sqlite3.Connection, opener: Callable[[], sqlite3.Connection]) -> None:
        self.conn = conn
        self._opener = opener
        self._reader: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fonoteca-lookahead")
        self._pending: tuple[str, tuple[Any, ...], Future[list[Any]]] | None = None

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._reader is None:
            self._reader = self._opener()
        return self._reader.execute(sql, params).fetchall()

    def rows(self, sql: str, params: tuple[Any, ...], then: tuple[Any, ...] | None = None) -> list[Any]:
        """The rows of `sql` with `params`; `then`: the parameters the next call will ask for (read now)."""
        ahead, self._pending = self._pending, None
        result: list[Any] | None = None
        if ahead is not None:
            if ahead[0] == sql and ahead[1] == params:
                try:
                    result = ahead[2].result()
                except Exception:  # noqa: BLE001 - the caller's connection runs it again and meets the failure
                    result = None
            else:
                ahead[2].cancel()
        if result is None:
            result = self.conn.execute(sql, params).fetchall()
        # submitted only now: two scans at once would fight over the GIL their per-row Python checks need
        if then is not None:
            self._pending = (sql, then, self._pool.submit(self._read, sql, then))
        return result

    def close(self) -> None:
        if self._pending is not None:
            self._pending[2].cancel()
            self._pending = None
        self._pool.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()
            self._reader = None


@dataclass
class Load:
    """One bulk load in progress (a row of bulk_loads)."""

    rowid: int
    format: str
    inputs: list[Any]
    state: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False

    def save(self, conn: sqlite3.Connection) -> None:
        """Record the state; call inside the transaction whose work it describes."""
        conn.execute("UPDATE bulk_loads SET state = ? WHERE rowid = ?", (orjson.dumps(self.state).decode(), self.rowid))


def unfinished(conn: sqlite3.Connection) -> list[Load]:
    return [
        Load(rowid, fmt, orjson.loads(inputs), orjson.loads(state))
        for rowid, fmt, inputs, state in conn.execute("SELECT rowid, format, inputs, state FROM bulk_loads")
    ]


def describe(load: Load) -> str:
    files = ", ".join(str(entry[0]) for entry in load.inputs)
    return f"import {load.format} {files}"


def refuse_if_unfinished(conn: sqlite3.Connection) -> None:
    """A catalog in the middle of a bulk load takes no other import: its indexes are not there yet."""
    for load in unfinished(conn):
        raise FonotecaError(
            f"an earlier `fonoteca {describe(load)}` stopped before it finished (the catalog's indexes are built "
            f"at its end): run that same import again to finish it, then this one"
        )


def begin(conn: sqlite3.Connection, fmt: str, inputs: list[Any], state: dict[str, Any]) -> Load:
    """The load of these inputs: the unfinished one to resume, else a new one with `state`."""
    for load in unfinished(conn):
        if load.format == fmt and load.inputs == inputs:
            load.resumed = True
            return load
        raise FonotecaError(
            f"an earlier `fonoteca {describe(load)}` stopped before it finished (the catalog's indexes are built "
            f"at its end): run that same import again to finish it, then this one"
        )
    with transaction(conn):
        rowid = conn.execute(
            "INSERT INTO bulk_loads (format, inputs, started_at, state) VALUES (?, ?, ?, ?)",
            (
                fmt,
                orjson.dumps(inputs).decode(),
                datetime.now(UTC).isoformat(timespec="seconds"),
                orjson.dumps(state).decode(),
            ),
        ).lastrowid
    assert rowid is not None  # an INSERT sets it
    return Load(rowid, fmt, inputs, state)


def end(conn: sqlite3.Connection, load: Load) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM bulk_loads WHERE rowid = ?", (load.rowid,))


# --- JSON lines on the bulk path ------------------------------------------------------------------------------
#
# The per-row path finds an id's row through the unique id indexes. Here those are gone: within a segment of
# `bulk_segment` lines (one transaction) ids are found in a dict of the segment's own rows, so a segment's
# records follow exactly the per-row rules; an id met again in a later segment gets a row of its own, and at the
# end the rows of one id become one (`deduplicate`): the fullest, then newest, then the one with more fields
# wins (the first of equals), under the rowid of the id's first row, with its links, and every reference to the
# others points at it. The dict starts empty at every segment, in a clean run as in a resumed one, so both assign
# the same rowids.

SEGMENT_LINES = 500_000
SEEN = ("artists", "albums", "tracks")  # playlists keep their id index: few, and pages of items merge into them


def estimated_tracks(paths: list[Path]) -> int:
    """About how many track lines JSON input holds (compressed files ~400 bytes a line, plain ~3,600)."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            head = handle.read(4)
        compressed = head.startswith(b"\x28\xb5\x2f\xfd") or head.startswith(b"\x1f\x8b")
        total += path.stat().st_size // (400 if compressed else 3600)
    return total


def json_bulk_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(name, sql) for name, sql in secondary_indexes(conn) if name != "playlists_id"]


class SegmentStore(Store):
    """A Store that finds ids among the current segment's rows (a dict) instead of the catalog's id indexes."""

    def __init__(self, conn: sqlite3.Connection, source: int | None, fetched_at: int) -> None:
        super().__init__(conn, source, fetched_at)
        self.seen: dict[str, dict[Any, tuple[int, int, int, int]]] = {table: {} for table in SEEN}

    def new_segment(self) -> None:
        for seen in self.seen.values():
            seen.clear()

    def write(self, records: Any) -> None:
        self.write_batch(records, own_transaction=False)  # the segment's transaction is the caller's

    def _existing(self, table: str, keys: Any) -> dict[Any, tuple[int, int, int, int]]:
        if table not in self.seen:
            return super()._existing(table, keys)
        seen = self.seen[table]
        return {key: seen[key] for key in keys if key in seen}

    def _plan(self, table: str, recs: dict[Any, Any]) -> Any:
        ids, to_write, replaced, merged = super()._plan(table, recs)
        if table in self.seen:
            seen = self.seen[table]
            for rowid, rec in to_write:
                seen[(rec.ns, rec.id)] = (rowid, rec.level, self.fetched_at, field_count(table, rec))
        return ids, to_write, replaced, merged

    def _stub_ids(self, table: str, keys: set[Any], known: dict[Any, int]) -> None:
        before = set(known)
        super()._stub_ids(table, keys, known)
        if table in self.seen:
            seen = self.seen[table]
            for key in set(known) - before:
                seen.setdefault(key, (known[key], 0, self.fetched_at, 0))


# What belongs to a row of each table (moved with the row that wins, dropped with the others) and what points
# at it (made to point at the winner): (table, column, extra condition).
_CHILDREN = {
    "artists": (("artist_genres", "artist", ""), ("images", "owner", "owner_kind = 'artist'")),
    "albums": (
        ("album_artists", "album", ""),
        ("images", "owner", "owner_kind = 'album'"),
        ("external_ids", "owner", "owner_kind = 'album'"),
        ("artist_albums", "album", ""),
    ),
    "tracks": (
        ("track_artists", "track", ""),
        ("external_ids", "owner", "owner_kind = 'track'"),
        ("reference_verbatim", "owner", "owner_kind = 'track'"),
    ),
}
_REFERENCES = {
    "artists": (("track_artists", "artist"), ("album_artists", "artist"), ("artist_albums", "artist")),
    "albums": (("tracks", "album"), ("album_tracks", "album")),
    "tracks": (("playlist_items", "track"), ("album_tracks", "track"), ("track_files", "track")),
}


def deduplicate(conn: sqlite3.Connection, table: str) -> int:
    """Make the rows of one id one row (see above); returns how many rows went. One transaction."""
    from fonoteca.catalog.store import _fields_sql

    with transaction(conn):
        conn.execute("DROP TABLE IF EXISTS temp.dup")
        conn.execute(f"CREATE TEMP TABLE dup AS SELECT id, ns FROM main.{table} GROUP BY id, ns HAVING count(*) > 1")
        if conn.execute("SELECT count(*) FROM temp.dup").fetchone()[0] == 0:
            return 0
        conn.execute("DROP TABLE IF EXISTS temp.grp")
        conn.execute(
            f"CREATE TEMP TABLE grp AS SELECT t.rowid AS r, min(t.rowid) OVER w AS keep, first_value(t.rowid) OVER "
            f"(PARTITION BY t.id, t.ns ORDER BY t.level DESC, t.fetched_at DESC, {_fields_sql(table)} DESC, t.rowid) "
            f"AS winner FROM main.{table} t LEFT JOIN main.shapes s ON s.rowid = t.shape "
            f"WHERE (t.id, t.ns) IN (SELECT id, ns FROM temp.dup) WINDOW w AS (PARTITION BY t.id, t.ns)"
        )
        conn.execute("CREATE INDEX temp.grp_r ON grp (r)")
        # the winner's links go with it; every other row's links go
        for child, column, extra in _CHILDREN[table]:
            also = f" AND {extra}" if extra else ""
            conn.execute(f"DELETE FROM main.{child} WHERE {column} IN (SELECT r FROM temp.grp WHERE r != winner){also}")
            conn.execute(
                f"UPDATE main.{child} SET {column} = (SELECT keep FROM temp.grp WHERE r = {column}) WHERE "
                f"{column} IN (SELECT r FROM temp.grp WHERE r = winner AND winner != keep){also}"
            )
        if table == "tracks":
            _deduplicate_features(conn)
        columns = [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]
        names = ", ".join(c for c in columns if c != "rowid")
        conn.execute(
            f"INSERT OR REPLACE INTO main.{table} (rowid, {names}) SELECT g.keep, "
            f"{', '.join('t.' + c for c in columns if c != 'rowid')} "
            f"FROM main.{table} t JOIN temp.grp g ON g.r = t.rowid WHERE g.r = g.winner AND g.winner != g.keep"
        )
        for ref, column in _REFERENCES[table]:
            conn.execute(
                f"UPDATE main.{ref} SET {column} = (SELECT keep FROM temp.grp WHERE r = {column}) "
                f"WHERE {column} IN (SELECT r FROM temp.grp WHERE r != keep)"
            )
        gone = conn.execute(
            f"DELETE FROM main.{table} WHERE rowid IN (SELECT r FROM temp.grp WHERE r != keep)"
        ).rowcount
        conn.execute("DROP TABLE temp.grp")
        conn.execute("DROP TABLE temp.dup")
    return gone


def _deduplicate_features(conn: sqlite3.Connection) -> None:
    """One features row per track: the API's over a table's, the newer, the first of equals."""
    conn.execute("DROP TABLE IF EXISTS temp.fbest")
    conn.execute(
        "CREATE TEMP TABLE fbest AS SELECT DISTINCT g.keep AS keep, first_value(f.track) OVER (PARTITION BY g.keep "
        "ORDER BY CASE f.origin WHEN 'spotify' THEN 2 WHEN 'table' THEN 1 ELSE 0 END DESC, f.fetched_at DESC, "
        "f.track) AS best FROM main.audio_features f JOIN temp.grp g ON g.r = f.track"
    )
    conn.execute(
        "DELETE FROM main.audio_features WHERE track IN (SELECT r FROM temp.grp) "
        "AND track NOT IN (SELECT best FROM temp.fbest)"
    )
    conn.execute(
        "UPDATE main.audio_features SET track = (SELECT keep FROM temp.fbest WHERE best = track) "
        "WHERE track IN (SELECT best FROM temp.fbest WHERE best != keep)"
    )
    conn.execute("DROP TABLE temp.fbest")
