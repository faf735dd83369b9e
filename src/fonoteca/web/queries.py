"""The query layer of the site: plain dicts for each page, read from the catalog (no HTML, no HTTP here).

Rows at level 0 (stubs: only an id and perhaps a name, seen inside another object) get no page of their own and
are not linked. Every list is bounded.
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote

from fonoteca.catalog.ids import NAMESPACE_NAMES, NAMESPACES, Reference, normalize_isrc
from fonoteca.catalog.query import counts as catalog_counts
from fonoteca.catalog.query import lookup_reference
from fonoteca.catalog.records import FEATURE_FIELDS
from fonoteca.tiers import Tier

MAX_ALBUM_TRACKS = 500
MAX_SAME_RECORDING = 50
MAX_DISCOGRAPHY_PAGE = 100
TOP_TRACKS = 10
FEATURES = tuple(name for name in FEATURE_FIELDS if name != "duration_ms")  # the track has its own


def url_for(kind: str, id_: str | None) -> str | None:
    if id_ is None or kind not in ("track", "album", "artist"):
        return None
    if id_.isascii() and id_.isalnum():  # Spotify ids: nothing to quote (the common case, kept cheap)
        return f"/{kind}/{id_}"
    return f"/{kind}/{quote(id_, safe='')}"


def year_of(date: str | None) -> int | None:
    return int(date[:4]) if isinstance(date, str) and len(date) >= 4 and date[:4].isdigit() else None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def resolve(conn: sqlite3.Connection, kind: str, id_: str, source: str | None = None) -> int | None:
    """The rowid of a track, album or artist by its source id (stubs excluded); the first source if ambiguous."""
    table = {"track": "tracks", "album": "albums", "artist": "artists"}[kind]
    if source is not None:
        ns = NAMESPACES.get(source)
        if ns is None:
            return None
        row = conn.execute(f"SELECT rowid FROM {table} WHERE id = ? AND ns = ? AND level > 0", (id_, ns)).fetchone()
    else:
        row = conn.execute(
            f"SELECT rowid FROM {table} WHERE id = ? AND level > 0 ORDER BY ns LIMIT 1", (id_,)
        ).fetchone()
    return None if row is None else row[0]


def _artist_refs(
    conn: sqlite3.Connection, link_table: str, owner_column: str, owners: list[int]
) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    if not owners:
        return out
    for start in range(0, len(owners), 500):
        chunk = owners[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for owner, id_, name, level in conn.execute(
            f"SELECT l.{owner_column}, ar.id, ar.name, ar.level FROM {link_table} l JOIN artists ar ON "
            f"ar.rowid = l.artist WHERE l.{owner_column} IN ({marks}) ORDER BY l.{owner_column}, l.position",
            chunk,
        ):
            out.setdefault(owner, []).append(
                {"id": id_, "name": name, "url": url_for("artist", id_) if level > 0 else None}
            )
    return out


def track_items(conn: sqlite3.Connection, rowids: list[int]) -> list[dict[str, Any]]:
    """List entries for tracks, in the given order (the same shape as search results); tracks the withdrawals
    ledger withdraws are left out of every list."""
    if not rowids:
        return []
    from fonoteca.ledger import withdrawn_rowids

    hidden = withdrawn_rowids(conn)
    if hidden:
        rowids = [r for r in rowids if r not in hidden]
    rows: dict[int, tuple] = {}
    for start in range(0, len(rowids), 500):
        chunk = rowids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
            "SELECT t.rowid, t.ns, t.id, t.name, t.popularity, t.explicit, t.isrc, t.duration_ms, "
            "t.disc_number, t.track_number, a.id, a.name, a.release_date, a.level FROM tracks "
            f"t LEFT JOIN albums a ON a.rowid = t.album WHERE t.rowid IN ({marks})",
            chunk,
        ):
            rows[row[0]] = row
    artists = _artist_refs(conn, "track_artists", "track", list(rows))
    out = []
    for rowid in rowids:
        row = rows.get(rowid)
        if row is None:
            continue
        (
            _,
            ns,
            id_,
            name,
            popularity,
            explicit,
            isrc,
            duration,
            disc,
            number,
            album_id,
            album_name,
            release_date,
            album_level,
        ) = row
        out.append(
            {
                "kind": "track",
                "id": id_,
                "source": NAMESPACE_NAMES.get(ns),
                "name": name,
                "url": url_for("track", id_),
                "artists": artists.get(rowid, []),
                "album": None
                if album_id is None
                else {
                    "id": album_id,
                    "name": album_name,
                    "release_date": release_date,
                    "url": url_for("album", album_id) if album_level and album_level > 0 else None,
                },
                "year": year_of(release_date),
                "popularity": popularity,
                "explicit": _bool(explicit),
                "isrc": isrc,
                "duration_ms": duration,
                "disc_number": disc,
                "track_number": number,
            }
        )
    return out


def search_hit(hit: dict[str, Any]) -> dict[str, Any]:
    """A search result of the search package, in the site's shape (links added, internal rowid removed)."""
    kind = hit.get("kind", "track")
    out: dict[str, Any] = {
        "kind": kind,
        "id": hit.get("id"),
        "source": hit.get("source"),
        "name": hit.get("name"),
        "url": url_for(kind, hit.get("id")),
    }
    if kind == "track":
        album = hit.get("album")
        out.update(
            artists=[
                {"id": a.get("id"), "name": a.get("name"), "url": url_for("artist", a.get("id"))}
                for a in hit.get("artists") or []
            ],
            album=None
            if not album
            else {
                "id": album.get("id"),
                "name": album.get("name"),
                "release_date": album.get("release_date"),
                "url": url_for("album", album.get("id")),
            },
            year=hit.get("year") if "year" in hit else year_of((album or {}).get("release_date")),
            popularity=hit.get("popularity"),
            explicit=hit.get("explicit"),
            isrc=hit.get("isrc"),
            duration_ms=hit.get("duration_ms"),
        )
        if hit.get("score") is not None:
            out["score"] = hit["score"]
    elif kind == "album":
        out.update(
            artists=[
                {"id": a.get("id"), "name": a.get("name"), "url": url_for("artist", a.get("id"))}
                for a in hit.get("artists") or []
            ],
            year=year_of(hit.get("release_date")),
            release_date=hit.get("release_date"),
            popularity=hit.get("popularity"),
            upc=hit.get("upc"),
        )
    elif kind == "artist":
        out.update(popularity=hit.get("popularity"), genres=hit.get("genres") or [])
    return out


# --- pages --------------------------------------------------------------------------------------------------------
def track_page(conn: sqlite3.Connection, rowid: int) -> dict[str, Any]:
    item = track_items(conn, [rowid])[0]
    album_row = conn.execute(
        "SELECT a.album_type, a.label, a.upc, a.total_tracks FROM tracks t JOIN albums a ON a.rowid = t.album "
        "WHERE t.rowid = ?",
        (rowid,),
    ).fetchone()
    if item["album"] is not None and album_row is not None:
        item["album"].update(album_type=album_row[0], label=album_row[1], upc=album_row[2], total_tracks=album_row[3])
    same = []
    if item["isrc"]:
        rows = conn.execute(
            "SELECT rowid FROM tracks WHERE isrc = ? AND rowid != ? AND level > 0 "
            "ORDER BY popularity DESC, rowid LIMIT ?",
            (item["isrc"], rowid, MAX_SAME_RECORDING),
        ).fetchall()
        same = track_items(conn, [r[0] for r in rows])
    also_on = [
        {"id": id_, "name": name, "release_date": date, "url": url_for("album", id_) if level > 0 else None}
        for id_, name, date, level in conn.execute(
            "SELECT a.id, a.name, a.release_date, a.level FROM album_tracks l JOIN albums a ON a.rowid = l.album "
            "WHERE l.track = ? ORDER BY a.release_date LIMIT 100",
            (rowid,),
        )
    ]
    external = [
        {"kind": k, "value": v}
        for k, v in conn.execute(
            "SELECT kind, value FROM external_ids WHERE owner_kind = 'track' AND owner = ? "
            "ORDER BY kind, value LIMIT 50",
            (rowid,),
        )
    ]
    features = None
    row = conn.execute(f"SELECT {', '.join(FEATURES)} FROM audio_features WHERE track = ?", (rowid,)).fetchone()
    if row is not None:
        features = {
            name: value
            for name, value in zip(FEATURES, row, strict=True)
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
    plan = None
    row = conn.execute("SELECT tier, bytes, listens, rep FROM plan WHERE track = ?", (rowid,)).fetchone()
    if row is not None:
        tier, size, listens, rep = row
        rep_id = None
        if rep is not None:
            found = conn.execute("SELECT id FROM tracks WHERE rowid = ?", (rep,)).fetchone()
            rep_id = found[0] if found else None
        plan = {
            "tier": Tier.label_of(tier),
            "bytes": size,
            "listens": listens,
            "covered_by": None if rep_id is None else {"id": rep_id, "url": url_for("track", rep_id)},
        }
    item.update(same_recording=same, also_on=also_on, external_ids=external, audio_features=features, plan=plan)
    return item


def album_page(conn: sqlite3.Connection, rowid: int) -> dict[str, Any]:
    (ns, id_, name, album_type, total, release_date, precision, label, popularity, upc) = conn.execute(
        "SELECT ns, id, name, album_type, total_tracks, release_date, release_date_precision, label, popularity, upc "
        "FROM albums WHERE rowid = ?",
        (rowid,),
    ).fetchone()
    artists = _artist_refs(conn, "album_artists", "album", [rowid]).get(rowid, [])
    track_rows = [
        r[0]
        for r in conn.execute(
            "SELECT rowid FROM tracks WHERE album = ? AND level > 0 ORDER BY disc_number, track_number, rowid LIMIT ?",
            (rowid, MAX_ALBUM_TRACKS),
        )
    ]
    seen = set(track_rows)
    for (track,) in conn.execute(
        "SELECT l.track FROM album_tracks l JOIN tracks t ON t.rowid = l.track WHERE l.album = ? AND t.level > 0 "
        "ORDER BY l.disc, l.number LIMIT ?",
        (rowid, MAX_ALBUM_TRACKS),
    ):
        if track not in seen and len(track_rows) < MAX_ALBUM_TRACKS:
            track_rows.append(track)
            seen.add(track)
    tracks = track_items(conn, track_rows)
    duration = sum(t["duration_ms"] or 0 for t in tracks)
    return {
        "kind": "album",
        "id": id_,
        "source": NAMESPACE_NAMES.get(ns),
        "name": name,
        "url": url_for("album", id_),
        "album_type": album_type,
        "total_tracks": total,
        "release_date": release_date,
        "release_date_precision": precision,
        "year": year_of(release_date),
        "label": label,
        "popularity": popularity,
        "upc": upc,
        "artists": artists,
        "duration_ms": duration,
        "tracks": tracks,
        "tracks_truncated": len(tracks) >= MAX_ALBUM_TRACKS,
    }


def artist_page(conn: sqlite3.Connection, rowid: int, *, page: int, size: int = MAX_DISCOGRAPHY_PAGE) -> dict[str, Any]:
    ns, id_, name, popularity, followers = conn.execute(
        "SELECT ns, id, name, popularity, followers FROM artists WHERE rowid = ?", (rowid,)
    ).fetchone()
    genres = [
        g
        for (g,) in conn.execute(
            "SELECT g.name FROM artist_genres a JOIN genres g ON g.rowid "
            "= a.genre WHERE a.artist = ? ORDER BY a.position LIMIT 100",
            (rowid,),
        )
    ]
    top = [
        r[0]
        for r in conn.execute(
            "SELECT t.rowid FROM track_artists l JOIN tracks t ON t.rowid = l.track WHERE l.artist = ? AND t.level > 0 "
            "ORDER BY t.popularity DESC, t.rowid LIMIT ?",
            (rowid, TOP_TRACKS),
        )
    ]
    track_count = conn.execute("SELECT count(*) FROM track_artists WHERE artist = ?", (rowid,)).fetchone()[0]
    album_count = conn.execute(
        "SELECT count(*) FROM album_artists l JOIN albums a ON a.rowid = l.album WHERE l.artist = ? AND a.level > 0",
        (rowid,),
    ).fetchone()[0]
    albums = [
        {
            "id": a_id,
            "name": a_name,
            "album_type": a_type,
            "release_date": date,
            "year": year_of(date),
            "total_tracks": total,
            "popularity": pop,
            "url": url_for("album", a_id),
        }
        for a_id, a_name, a_type, date, total, pop in conn.execute(
            "SELECT a.id, a.name, a.album_type, a.release_date, a.total_tracks, a.popularity FROM album_artists l "
            "JOIN albums a ON a.rowid = l.album WHERE l.artist = ? AND a.level > 0 "
            "ORDER BY a.release_date DESC, a.rowid LIMIT ? OFFSET ?",
            (rowid, size, (page - 1) * size),
        )
    ]
    return {
        "kind": "artist",
        "id": id_,
        "source": NAMESPACE_NAMES.get(ns),
        "name": name,
        "url": url_for("artist", id_),
        "popularity": popularity,
        "followers": followers,
        "genres": genres,
        "track_count": track_count,
        "album_count": album_count,
        "top_tracks": track_items(conn, top),
        "albums": albums,
        "page": page,
        "size": size,
        "pages": max(1, -(-album_count // size)),
    }


def isrc_page(conn: sqlite3.Connection, code: str) -> dict[str, Any]:
    isrc = normalize_isrc(code) or code.strip().upper()
    found = lookup_reference(conn, Reference("isrc", isrc))
    rows = [t["rowid"] for t in found][:MAX_ALBUM_TRACKS]
    level = (
        {
            r: lv
            for r, lv in conn.execute(
                f"SELECT rowid, level FROM tracks WHERE rowid IN ({','.join('?' * len(rows))})", rows
            )
        }
        if rows
        else {}
    )
    tracks = track_items(conn, [r for r in rows if level.get(r, 0) > 0])
    return {"kind": "isrc", "isrc": isrc, "valid": normalize_isrc(code) is not None, "tracks": tracks}


def upc_page(conn: sqlite3.Connection, code: str) -> dict[str, Any]:
    upc = code.strip()
    found = lookup_reference(conn, Reference("upc", upc))
    albums = []
    for album in found[:100]:
        albums.append(
            {
                "id": album["id"],
                "name": album["name"],
                "url": url_for("album", album["id"]),
                "release_date": album.get("release_date"),
                "year": year_of(album.get("release_date")),
                "album_type": album.get("album_type"),
                "label": album.get("label"),
                "artists": [
                    {"id": a["id"], "name": a["name"], "url": url_for("artist", a["id"])}
                    for a in album.get("artists") or []
                ],
                "total_tracks": album.get("total_tracks"),
            }
        )
    return {"kind": "upc", "upc": upc, "albums": albums}


def summary(conn: sqlite3.Connection) -> dict[str, Any]:
    """What the home page shows about the collection (costly on big catalogs: cached by the caller)."""
    found = catalog_counts(conn)
    keep = ("tracks", "albums", "artists", "playlists", "audio_features", "genres", "isrcs", "upcs")
    out: dict[str, Any] = {key: found.get(key) for key in keep}
    out["by_source"] = found.get("by_source", {})
    top = [
        r[0]
        for r in conn.execute(
            "SELECT rowid FROM tracks WHERE level > 0 AND popularity IS NOT NULL ORDER BY popularity DESC LIMIT ?",
            (TOP_TRACKS,),
        )
    ]
    out["top_tracks"] = track_items(conn, top)
    genres = conn.execute(
        "SELECT g.name, count(*) FROM artist_genres ag JOIN genres g ON g.rowid = ag.genre GROUP BY ag.genre "
        "ORDER BY 2 DESC, g.name LIMIT 300"
    ).fetchall()
    out["genres_top"] = [{"name": name, "artists": n} for name, n in genres]
    return out


def plan_summary(conn: sqlite3.Connection) -> dict[str, Any] | None:
    from fonoteca.plan.store import latest_run

    try:
        run = latest_run(conn)
    except sqlite3.OperationalError:
        return None
    if run is None:
        return None
    summary = run.get("summary") or {}
    return {
        "policy": run.get("policy"),
        "budget": run.get("budget"),
        "created_at": run.get("created_at"),
        "bytes": summary.get("bytes"),
        "files": summary.get("files"),
        "listens_covered": summary.get("listens_covered"),
    }
