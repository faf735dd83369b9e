"""Opening the catalog database and bringing its schema up to date."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from fonoteca.errors import FonotecaError


def migrations() -> list[tuple[int, str]]:
    """Numbered SQL migrations shipped in catalog/migrations, in order."""
    folder = resources.files("fonoteca.catalog") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


SCHEMA_VERSION = max(number for number, _ in migrations())


def on_read_only_fs(path: Path) -> bool:
    """True when `path` (or the folder it would be in) lies on a file system mounted read-only (a snapshot, a
    read-only disk or bind mount): nothing can write there, not even root."""
    probe = path if path.exists() else path.parent
    try:
        return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def read_only_uri(path: Path) -> str:
    """The URI that opens an SQLite database for reading: `mode=ro`, plus `immutable=1` on a read-only file
    system, where SQLite could not create the WAL index (-shm) it otherwise needs and where nothing can change
    the file under it."""
    uri = f"file:{quote(str(path))}?mode=ro"
    return uri + "&immutable=1" if on_read_only_fs(path) else uri


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to any of the archive's SQLite databases (catalog, index)."""
    return sqlite3.connect(read_only_uri(path), uri=True, isolation_level=None, check_same_thread=False)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the catalog with the pragmas every stage relies on (WAL, foreign-key-free bulk speed)."""
    if readonly:
        conn = connect_read_only(path)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB: keeps the id indexes of ~10M rows in memory
    conn.execute("PRAGMA temp_store=MEMORY")
    return conn


def for_scans(conn: sqlite3.Connection) -> sqlite3.Connection:
    """The connection set for reads that scan (the plan's passes, counts, the charts): a 32 MiB page cache and sorts
    spilled to temporary files. The default 256 MiB cache only grows the process by what it caches, and
    with temp_store=MEMORY a GROUP BY over the catalog sorts all of it in memory (~500 MB at 10M tracks)."""
    conn.execute("PRAGMA cache_size=-32768")
    conn.execute("PRAGMA temp_store=FILE")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """One write transaction (every writer of the archive's databases uses it): committed when the block ends,
    rolled back when it raises. `immediate` takes the write lock at the start, so a busy database makes the
    writer wait at BEGIN (busy_timeout) instead of failing halfway; `immediate=False` for read snapshots."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def needs_migration(conn: sqlite3.Connection) -> bool:
    """True when the schema is older than this code; raises when it is newer."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise FonotecaError(
            f"catalog schema version {current} is newer than this "
            f"Fonoteca understands ({SCHEMA_VERSION}); upgrade Fonoteca"
        )
    return current < SCHEMA_VERSION


def migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than the database's user_version; return the resulting version.

    Each migration runs in its own write transaction and re-reads user_version inside it, so two processes
    opening an old catalog at once apply each migration exactly once."""
    needs_migration(conn)
    for number, sql in migrations():
        with transaction(conn):
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if number > current:
                for statement in split_sql(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
    return conn.execute("PRAGMA user_version").fetchone()[0]


def split_sql(script: str) -> list[str]:
    """Split a migration script into statements (executescript would commit behind our back)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
