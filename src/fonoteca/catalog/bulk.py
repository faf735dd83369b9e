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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from fonoteca.catalog.db import transaction
from fonoteca.errors import FonotecaError

BULK_MIN = 100_000
BULK_RATIO = 1.0
SORT_CACHE_KIB = 262_144  # page cache of a bulk load (and memory of each index sort): 256 MiB

# Tables a bulk load fills; their secondary indexes are dropped while it runs.
FILLED_TABLES = (
    "artists", "artist_genres", "albums", "album_artists", "tracks", "track_artists", "album_tracks", "images",
    "external_ids", "audio_features", "playlists", "playlist_items", "artist_albums", "track_files",
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


def secondary_indexes(conn: sqlite3.Connection, tables: tuple[str, ...] = FILLED_TABLES) -> list[tuple[str, str]]:
    """(name, CREATE statement) of every index on `tables` that a DROP can remove (not the primary keys)."""
    marks = ",".join("?" * len(tables))
    return [(name, sql) for name, sql in conn.execute(
        f"SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks}) "
        "ORDER BY tbl_name, name", tables)]


def drop_indexes(conn: sqlite3.Connection, indexes: list[tuple[str, str]]) -> None:
    for name, _ in indexes:
        conn.execute(f'DROP INDEX IF EXISTS main."{name}"')


_CREATE = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?!IF\s+NOT\s+EXISTS)", re.IGNORECASE)


def if_not_exists(sql: str) -> str:
    return _CREATE.sub(lambda m: f"CREATE {m.group(1) or ''}INDEX IF NOT EXISTS ", sql, count=1)


def build_indexes(conn: sqlite3.Connection, indexes: list[tuple[str, str]],
                  progress: Callable[[str], None] | None = None) -> None:
    """Build the dropped indexes again, each in its own transaction (a crash keeps those already built)."""
    for name, sql in indexes:
        if progress:
            progress(name)
        with transaction(conn):
            conn.execute(if_not_exists(sql))


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
    return [Load(rowid, fmt, orjson.loads(inputs), orjson.loads(state))
            for rowid, fmt, inputs, state in conn.execute("SELECT rowid, format, inputs, state FROM bulk_loads")]


def describe(load: Load) -> str:
    files = ", ".join(str(entry[0]) for entry in load.inputs)
    return f"import {load.format} {files}"


def refuse_if_unfinished(conn: sqlite3.Connection) -> None:
    """A catalog in the middle of a bulk load takes no other import: its indexes are not there yet."""
    for load in unfinished(conn):
        raise FonotecaError(
            f"an earlier `fonoteca {describe(load)}` stopped before it finished (the catalog's indexes are built "
            f"at its end): run that same import again to finish it, then this one")


def begin(conn: sqlite3.Connection, fmt: str, inputs: list[Any], state: dict[str, Any]) -> Load:
    """The load of these inputs: the unfinished one to resume, else a new one with `state`."""
    for load in unfinished(conn):
        if load.format == fmt and load.inputs == inputs:
            load.resumed = True
            return load
        raise FonotecaError(
            f"an earlier `fonoteca {describe(load)}` stopped before it finished (the catalog's indexes are built "
            f"at its end): run that same import again to finish it, then this one")
    with transaction(conn):
        rowid = conn.execute(
            "INSERT INTO bulk_loads (format, inputs, started_at, state) VALUES (?, ?, ?, ?)",
            (fmt, orjson.dumps(inputs).decode(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
             orjson.dumps(state).decode())).lastrowid
    return Load(int(rowid), fmt, inputs, state)


def end(conn: sqlite3.Connection, load: Load) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM bulk_loads WHERE rowid = ?", (load.rowid,))
