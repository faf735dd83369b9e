"""What the archive publishes: the licence gate (`[release] licences`) and the withdrawals ledger, in one place
for pack, the site, the search and the Subsonic API.

A track is published when its licence (track_licences; none on record: unknown) is allowed by the archive's
`[release] licences` and the ledger does not withdraw it. SQL reaches the licence rule through the function
`fonoteca_published(licence)` that `install(conn, policy)` adds to a connection, and the withdrawn tracks
through the TEMP table `withdrawn_tracks` that `install` fills.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import tomllib
from pathlib import Path
from typing import Any

from fonoteca import ledger
from fonoteca.licences import ReleasePolicy, display_name, normalise

_POLICIES: dict[str, tuple[Any, ReleasePolicy]] = {}
_LOCK = threading.Lock()


def policy_for_root(root: Path) -> ReleasePolicy:
    """The [release] policy of the archive (or mirror) at `root`, re-read when its fonoteca.toml changes; the
    default when it has none or it cannot be read."""
    path = Path(root) / "fonoteca.toml"
    try:
        st = os.stat(path)
        key: Any = (st.st_size, st.st_mtime_ns)
    except OSError:
        return ReleasePolicy()
    with _LOCK:
        hit = _POLICIES.get(str(path))
        if hit is not None and hit[0] == key:
            return hit[1]
    try:
        found = ReleasePolicy.from_config(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        found = ReleasePolicy()
    with _LOCK:
        _POLICIES[str(path)] = (key, found)
    return found


def install(conn: sqlite3.Connection, policy: ReleasePolicy, root: Path | None = None) -> set[int]:
    """Give `conn` the SQL function fonoteca_published(licence) and the TEMP table withdrawn_tracks (rowids);
    returns the withdrawn rowids."""
    conn.create_function("fonoteca_published", 1, lambda licence: int(policy.allows(licence)), deterministic=True)
    withdrawn = set(ledger.withdrawn_rowids(conn, root))
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS withdrawn_tracks (rowid INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM temp.withdrawn_tracks")
    conn.executemany("INSERT INTO temp.withdrawn_tracks VALUES (?)", ((r,) for r in sorted(withdrawn)))
    return withdrawn


def licence_row(conn: sqlite3.Connection, rowid: int) -> dict[str, Any] | None:
    """The licence on record for a track, as the site and the API show it."""
    try:
        row = conn.execute(
            "SELECT licence, raw, url, attribution, source, source_id, source_url, collection, "
            "imported_at FROM track_licences WHERE track = ?",
            (rowid,),
        ).fetchone()
    except sqlite3.OperationalError:  # a catalog older than the licences table (a mirror of an old release)
        return None
    if row is None:
        return None
    licence, raw, url, attribution, source, source_id, source_url, collection, imported_at = row
    return {
        "id": licence,
        "name": display_name(licence),
        "url": url or normalise(raw).url,
        "raw": raw,
        "attribution": attribution,
        "source": source,
        "source_id": source_id,
        "source_url": source_url,
        "collection": collection,
        "imported_at": imported_at,
    }


def licence_of(conn: sqlite3.Connection, rowid: int) -> str | None:
    found = licence_row(conn, rowid)
    return found["id"] if found else None


def hidden_rowids(conn: sqlite3.Connection, root: Path | None = None) -> frozenset[int]:
    """Tracks no API may list or play: the withdrawn ones, and those with a stored file whose licence the
    archive does not publish."""
    root = root if root is not None else ledger.catalog_root(conn)
    hidden = set(ledger.withdrawn_rowids(conn, root))
    if root is None:
        return frozenset(hidden)
    policy = policy_for_root(root)
    try:  # the policy is read once per licence on record, not once per file
        refused = [
            lic for (lic,) in conn.execute("SELECT DISTINCT licence FROM track_licences") if not policy.allows(lic)
        ]
        rows = conn.execute(
            "SELECT f.track FROM files f JOIN track_licences l ON l.track = f.track "
            "WHERE l.licence IN (SELECT value FROM json_each(?))",
            (json.dumps(refused),),
        ).fetchall()
        if not policy.allows(None):
            rows += conn.execute(
                "SELECT f.track FROM files f WHERE NOT EXISTS (SELECT 1 FROM track_licences l WHERE l.track = f.track)"
            ).fetchall()
    except sqlite3.OperationalError:  # a catalog from before licences: nothing on record
        rows = [] if policy.allows(None) else conn.execute("SELECT track FROM files").fetchall()
    hidden.update(int(track) for (track,) in rows)
    return frozenset(hidden)
