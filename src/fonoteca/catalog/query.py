"""Read-only lookups over the catalog used by `show`, `stats` and the later stages (search, web)."""

from __future__ import annotations

import sqlite3
from typing import Any

from fonoteca.catalog.ids import NAMESPACE_NAMES, Reference, parse_reference

TABLES = {"track": "tracks", "album": "albums", "artist": "artists", "playlist": "playlists"}


def _names(conn: sqlite3.Connection, sql: str, owner: int) -> list[dict[str, Any]]:
    return [{"id": id_, "name": name} for id_, name in conn.execute(sql, (owner,))]


def track_summary(conn: sqlite3.Connection, rowid: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT t.rowid, t.ns, t.id, t.name, t.duration_ms, t.explicit, t.popularity, t.isrc, t.disc_number, "
        "t.track_number, t.level, a.id, a.name, a.release_date, a.upc "
        "FROM tracks t LEFT JOIN albums a ON a.rowid = t.album WHERE t.rowid = ?",
        (rowid,),
    ).fetchone()
    (
        rowid,
        ns,
        id_,
        name,
        duration,
        explicit,
        popularity,
        isrc,
        disc,
        number,
        level,
        album_id,
        album_name,
        release_date,
        upc,
    ) = row
    return {
        "kind": "track",
        "rowid": rowid,
        "source": NAMESPACE_NAMES.get(ns),
        "id": id_,
        "name": name,
        "artists": _names(
            conn,
            "SELECT ar.id, ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist "
            "WHERE l.track = ? ORDER BY l.position",
            rowid,
        ),
        "album": {"id": album_id, "name": album_name, "release_date": release_date, "upc": upc} if album_id else None,
        "disc_number": disc,
        "track_number": number,
        "duration_ms": duration,
        "explicit": None if explicit is None else bool(explicit),
        "popularity": popularity,
        "isrc": isrc,
        "complete": level >= 3,
    }


def album_summary(conn: sqlite3.Connection, rowid: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT rowid, ns, id, name, album_type, total_tracks, "
        "release_date, label, popularity, upc FROM albums WHERE rowid=?",
        (rowid,),
    ).fetchone()
    rowid, ns, id_, name, album_type, total, release_date, label, popularity, upc = row
    tracks = conn.execute(
        "SELECT id, name, disc_number, track_number FROM tracks WHERE album = ? ORDER BY disc_number, track_number",
        (rowid,),
    ).fetchall()
    return {
        "kind": "album",
        "rowid": rowid,
        "source": NAMESPACE_NAMES.get(ns),
        "id": id_,
        "name": name,
        "album_type": album_type,
        "total_tracks": total,
        "release_date": release_date,
        "label": label,
        "popularity": popularity,
        "upc": upc,
        "artists": _names(
            conn,
            "SELECT ar.id, ar.name FROM album_artists l JOIN artists ar ON ar.rowid = l.artist "
            "WHERE l.album = ? ORDER BY l.position",
            rowid,
        ),
        "tracks": [{"id": t[0], "name": t[1], "disc_number": t[2], "track_number": t[3]} for t in tracks],
    }


def artist_summary(conn: sqlite3.Connection, rowid: int) -> dict[str, Any]:
    rowid, ns, id_, name, popularity, followers = conn.execute(
        "SELECT rowid, ns, id, name, popularity, followers FROM artists WHERE rowid=?", (rowid,)
    ).fetchone()
    genres = [
        g
        for (g,) in conn.execute(
            "SELECT g.name FROM artist_genres a JOIN genres g ON g.rowid = a.genre WHERE a.artist=? "
            "ORDER BY a.position",
            (rowid,),
        )
    ]
    tracks = conn.execute("SELECT count(*) FROM track_artists WHERE artist=?", (rowid,)).fetchone()[0]
    return {
        "kind": "artist",
        "rowid": rowid,
        "source": NAMESPACE_NAMES.get(ns),
        "id": id_,
        "name": name,
        "popularity": popularity,
        "followers": followers,
        "genres": genres,
        "tracks": tracks,
    }


def playlist_summary(conn: sqlite3.Connection, rowid: int) -> dict[str, Any]:
    rowid, ns, id_, name, owner, description = conn.execute(
        "SELECT rowid, ns, id, name, owner_id, description FROM playlists WHERE rowid=?", (rowid,)
    ).fetchone()
    items = conn.execute("SELECT count(*) FROM playlist_items WHERE playlist=?", (rowid,)).fetchone()[0]
    return {
        "kind": "playlist",
        "rowid": rowid,
        "source": NAMESPACE_NAMES.get(ns),
        "id": id_,
        "name": name,
        "owner": owner,
        "description": description,
        "items": items,
    }


SUMMARIES = {"track": track_summary, "album": album_summary, "artist": artist_summary, "playlist": playlist_summary}


def lookup(conn: sqlite3.Connection, text: str) -> list[dict[str, Any]]:
    """Everything a typed reference names: an id (any kind), isrc:CODE (all tracks sharing it), upc:CODE."""
    ref = parse_reference(text)
    return lookup_reference(conn, ref)


def lookup_reference(conn: sqlite3.Connection, ref: Reference) -> list[dict[str, Any]]:
    if ref.kind == "isrc":
        rows = conn.execute(
            "SELECT rowid FROM tracks WHERE isrc = ? UNION SELECT owner FROM external_ids "
            "WHERE value = ? AND kind = 'isrc' AND owner_kind = 'track'",
            (ref.value, ref.value),
        ).fetchall()
        found = [track_summary(conn, r[0]) for r in rows]
        return sorted(found, key=lambda t: (-(t["popularity"] or 0), t["id"]))
    if ref.kind == "upc":
        rows = conn.execute(
            "SELECT rowid FROM albums WHERE upc = ? UNION SELECT owner FROM external_ids "
            "WHERE value = ? AND kind IN ('upc','ean') AND owner_kind = 'album'",
            (ref.value, ref.value),
        ).fetchall()
        return [album_summary(conn, r[0]) for r in rows]
    kinds = [ref.kind] if ref.kind in TABLES else list(TABLES)
    found = []
    for kind in kinds:
        sql = f"SELECT rowid FROM {TABLES[kind]} WHERE id = ?"
        params: list[Any] = [ref.value]
        if ref.ns is not None:
            sql += " AND ns = ?"
            params.append(ref.ns)
        for (rowid,) in conn.execute(sql, params):
            found.append(SUMMARIES[kind](conn, rowid))
    return found


def counts(conn: sqlite3.Connection) -> dict[str, Any]:
    """Row counts an operator wants at a glance."""
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "tracks": one("SELECT count(*) FROM tracks WHERE level > 0"),
        "track_stubs": one("SELECT count(*) FROM tracks WHERE level = 0"),
        "albums": one("SELECT count(*) FROM albums WHERE level > 0"),
        "artists": one("SELECT count(*) FROM artists WHERE level > 0"),
        "playlists": one("SELECT count(*) FROM playlists"),
        "playlist_items": one("SELECT count(*) FROM playlist_items"),
        "audio_features": one("SELECT count(*) FROM audio_features"),
        "genres": one("SELECT count(*) FROM genres"),
        "isrcs": one("SELECT count(DISTINCT isrc) FROM tracks WHERE isrc IS NOT NULL"),
        "tracks_with_isrc": one("SELECT count(*) FROM tracks WHERE isrc IS NOT NULL"),
        "upcs": one("SELECT count(DISTINCT upc) FROM albums WHERE upc IS NOT NULL"),
        "market_lists": one("SELECT count(*) FROM market_lists"),
        "sources": one("SELECT count(*) FROM sources"),
        "by_source": {
            NAMESPACE_NAMES.get(ns, str(ns)): n
            for ns, n in conn.execute("SELECT ns, count(*) FROM tracks WHERE level > 0 GROUP BY ns")
        },
    }
