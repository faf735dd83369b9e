"""Each user's own state, in users.sqlite3: stars, ratings, plays (scrobble), playlists and the play queue; and
the catalog's own playlists, read-only."""

from __future__ import annotations

from typing import Any

import orjson

from fonoteca.catalog.db import transaction
from fonoteca.subsonic import items
from fonoteca.subsonic import responses as r
from fonoteca.subsonic.api import endpoint
from fonoteca.subsonic.browse import _albums, _artists, _snap, _songs, album_as_child
from fonoteca.subsonic.library import Snapshot, marks
from fonoteca.subsonic.service import Context
from fonoteca.subsonic.users import now_iso

MAX_PLAYLIST = 10000
MAX_NAME = 500


def _targets(ctx: Context, snap: Snapshot) -> list[tuple[str, int]]:
    """(kind, rowid) of every id, albumId and artistId given, each checked against the library."""
    out: list[tuple[str, int]] = []
    for param, kinds in (("id", ("song", "album", "artist")), ("albumId", ("album",)), ("artistId", ("artist",))):
        for text in ctx.many(param):
            ref = items.parse_id(text, name=param, kinds=kinds)
            known = (
                snap.contains(ref.rowid)
                if ref.kind == "song"
                else ref.rowid in snap.albums
                if ref.kind == "album"
                else ref.rowid in snap.artist_albums
            )
            if not known:
                raise r.not_found(f"{ref.kind} {ref.text!r}")
            out.append((ref.kind, ref.rowid))
    if not out:
        raise r.missing("id")
    return out


@endpoint("star", writes=True)
def star(ctx: Context) -> dict:
    targets = _targets(ctx, _snap(ctx))
    when = now_iso()
    ctx.users_conn().executemany(
        "INSERT OR IGNORE INTO stars (user, kind, item, starred_at) VALUES (?,?,?,?)",
        [(ctx.user.rowid, kind, rowid, when) for kind, rowid in targets],
    )
    return {}


@endpoint("unstar", writes=True)
def unstar(ctx: Context) -> dict:
    targets = _targets(ctx, _snap(ctx))
    ctx.users_conn().executemany(
        "DELETE FROM stars WHERE user = ? AND kind = ? AND item = ?",
        [(ctx.user.rowid, kind, rowid) for kind, rowid in targets],
    )
    return {}


def _starred(ctx: Context, snap: Snapshot) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {"song": [], "album": [], "artist": []}
    for kind, item in ctx.users_conn().execute(
        "SELECT kind, item FROM stars WHERE user = ? ORDER BY starred_at DESC, item", (ctx.user.rowid,)
    ):
        known = (
            snap.contains(item)
            if kind == "song"
            else item in snap.albums
            if kind == "album"
            else item in snap.artist_albums
        )
        if known and kind in out:
            out[kind].append(item)
    return out


@endpoint("getStarred2")
def get_starred2(ctx: Context) -> dict:
    snap = _snap(ctx)
    found = _starred(ctx, snap)
    return {
        "starred2": {
            "artist": _artists(ctx, snap, found["artist"]),
            "album": _albums(ctx, snap, found["album"]),
            "song": _songs(ctx, snap, found["song"]),
        }
    }


@endpoint("getStarred")
def get_starred(ctx: Context) -> dict:
    snap = _snap(ctx)
    found = _starred(ctx, snap)
    return {
        "starred": {
            "artist": [
                {"id": a["id"], "name": a["name"], "starred": a.get("starred")}
                for a in _artists(ctx, snap, found["artist"])
            ],
            "album": [album_as_child(a) for a in _albums(ctx, snap, found["album"])],
            "song": _songs(ctx, snap, found["song"]),
        }
    }


@endpoint("setRating", writes=True)
def set_rating(ctx: Context) -> dict:
    snap = _snap(ctx)
    ref = items.parse_id(ctx.required("id"), kinds=("song", "album", "artist"))
    rating = ctx.integer("rating", None, low=0, high=5, clamp=False)
    if rating is None:
        raise r.missing("rating")
    known = (
        snap.contains(ref.rowid)
        if ref.kind == "song"
        else ref.rowid in snap.albums
        if ref.kind == "album"
        else ref.rowid in snap.artist_albums
    )
    if not known:
        raise r.not_found(f"{ref.kind} {ref.text!r}")
    users = ctx.users_conn()
    if rating == 0:
        users.execute(
            "DELETE FROM ratings WHERE user = ? AND kind = ? AND item = ?", (ctx.user.rowid, ref.kind, ref.rowid)
        )
    else:
        users.execute(
            "INSERT INTO ratings (user, kind, item, rating) VALUES (?,?,?,?) ON CONFLICT (user, kind, item) "
            "DO UPDATE SET rating = excluded.rating",
            (ctx.user.rowid, ref.kind, ref.rowid, rating),
        )
    return {}


@endpoint("scrobble", writes=True)
def scrobble(ctx: Context) -> dict:
    snap = _snap(ctx)
    ids = ctx.many("id")
    if not ids:
        raise r.missing("id")
    times = ctx.many("time")
    if not ctx.flag("submission", True):
        return {}  # "now playing": nothing to remember
    conn = ctx.service.library.conn(snap)
    rows = []
    for n, text in enumerate(ids):
        ref = items.parse_id(text, kinds=("song",))
        if not snap.contains(ref.rowid):
            raise r.not_found(f"song {ref.text!r}")
        found = conn.execute("SELECT album FROM tracks WHERE rowid = ?", (ref.rowid,)).fetchone()
        if found is None:
            raise r.not_found(f"song {ref.text!r}")
        when = _when(times[n]) if n < len(times) else now_iso()
        rows.append((ctx.user.rowid, ref.rowid, found[0], when))
    ctx.users_conn().executemany(
        "INSERT INTO plays (user, track, album, count, last_played) VALUES (?,?,?,1,?) ON CONFLICT (user, track) "
        "DO UPDATE SET count = count + 1, last_played = max(last_played, excluded.last_played)",
        rows,
    )
    return {}


def _when(text: str) -> str:
    try:
        millis = int(text)
    except ValueError:
        raise r.SubsonicError(
            r.MISSING_PARAMETER, f"parameter 'time' must be milliseconds since 1970, not {text[:40]!r}"
        ) from None
    return items.iso(min(max(millis, 0), 253402300799000) / 1000)


# --- playlists ----------------------------------------------------------------------------------------------------
def _playlist_row(ctx: Context, rowid: int) -> tuple | None:
    return (
        ctx.users_conn()
        .execute(
            "SELECT p.rowid, p.owner, p.name, p.comment, p.public, p.created, p.changed, u.name FROM playlists p "
            "JOIN users u ON u.rowid = p.owner WHERE p.rowid = ?",
            (rowid,),
        )
        .fetchone()
    )


def _visible(ctx: Context, row: tuple) -> bool:
    return row[1] == ctx.user.rowid or bool(row[4]) or ctx.user.admin


def _user_tracks(ctx: Context, rowid: int) -> list[int]:
    return [
        t
        for (t,) in ctx.users_conn().execute(
            "SELECT track FROM playlist_items WHERE playlist = ? ORDER BY position", (rowid,)
        )
    ]


def _playlist_element(ctx: Context, snap: Snapshot, row: tuple, tracks: list[int], *, entries: bool) -> dict:
    listed = [t for t in tracks if snap.contains(t)]
    songs = _songs(ctx, snap, listed)
    element: dict[str, Any] = {
        "id": f"pl-{row[0]}",
        "name": row[2] or f"Playlist {row[0]}",
        "comment": row[3],
        "owner": row[7],
        "public": bool(row[4]),
        "songCount": len(songs),
        "duration": sum(s.get("duration", 0) for s in songs),
        "created": row[5],
        "changed": row[6],
    }
    if songs:
        element["coverArt"] = songs[0].get("coverArt")
    if entries:
        element["entry"] = songs
    return element


def _catalog_playlists(ctx: Context, snap: Snapshot, rowids: list[int] | None = None) -> list[tuple]:
    conn = ctx.service.library.conn(snap)
    where = "" if rowids is None else f"WHERE rowid IN ({marks(rowids)})"
    return conn.execute(
        f"SELECT rowid, name, description, owner_id, fetched_at FROM playlists {where} ORDER BY rowid LIMIT 1000",
        rowids or (),
    ).fetchall()


def _catalog_element(ctx: Context, snap: Snapshot, row: tuple, *, entries: bool) -> dict:
    conn = ctx.service.library.conn(snap)
    tracks = [
        t
        for (t,) in conn.execute(
            "SELECT track FROM playlist_items WHERE playlist = ? AND track IS NOT NULL ORDER BY position LIMIT ?",
            (row[0], MAX_PLAYLIST),
        )
    ]
    songs = _songs(ctx, snap, [t for t in tracks if snap.contains(t)])
    when = items.iso(row[4])
    element: dict[str, Any] = {
        "id": f"cpl-{row[0]}",
        "name": row[1] or f"Playlist {row[0]}",
        "comment": row[2],
        "owner": row[3] or "catalog",
        "public": True,
        "songCount": len(songs),
        "duration": sum(s.get("duration", 0) for s in songs),
        "created": when,
        "changed": when,
    }
    if entries:
        element["entry"] = songs
    return element


@endpoint("getPlaylists")
def get_playlists(ctx: Context) -> dict:
    snap = _snap(ctx)
    name = ctx.one("username")
    if name and name != ctx.user.name and not ctx.user.admin:
        raise r.SubsonicError(r.NOT_AUTHORIZED, "only an admin may list another user's playlists")
    rows = (
        ctx.users_conn()
        .execute(
            "SELECT p.rowid, p.owner, p.name, p.comment, p.public, p.created, p.changed, u.name FROM playlists p "
            "JOIN users u ON u.rowid = p.owner WHERE "
            + ("u.name = ?" if name else "p.owner = ? OR p.public = 1")
            + " ORDER BY p.name, p.rowid",
            (name,) if name else (ctx.user.rowid,),
        )
        .fetchall()
    )
    out = [_playlist_element(ctx, snap, row, _user_tracks(ctx, row[0]), entries=False) for row in rows]
    if not name:
        out += [_catalog_element(ctx, snap, row, entries=False) for row in _catalog_playlists(ctx, snap)]
    return {"playlists": {"playlist": out}}


def _own_playlist(ctx: Context, param: str) -> tuple:
    ref = items.parse_id(ctx.one(param), name=param, kinds=("playlist", "catalog_playlist"))
    if ref.kind == "catalog_playlist":
        raise r.SubsonicError(r.NOT_AUTHORIZED, "the catalog's playlists are part of the archive: read-only")
    row = _playlist_row(ctx, ref.rowid)
    if row is None or not _visible(ctx, row):
        raise r.not_found(f"playlist {ref.text!r}")
    if row[1] != ctx.user.rowid and not ctx.user.admin:
        raise r.SubsonicError(r.NOT_AUTHORIZED, "only the owner may change this playlist")
    return row


@endpoint("getPlaylist")
def get_playlist(ctx: Context) -> dict:
    snap = _snap(ctx)
    ref = items.parse_id(ctx.one("id"), kinds=("playlist", "catalog_playlist"))
    if ref.kind == "catalog_playlist":
        rows = _catalog_playlists(ctx, snap, [ref.rowid])
        if not rows:
            raise r.not_found(f"playlist {ref.text!r}")
        return {"playlist": _catalog_element(ctx, snap, rows[0], entries=True)}
    row = _playlist_row(ctx, ref.rowid)
    if row is None or not _visible(ctx, row):
        raise r.not_found(f"playlist {ref.text!r}")
    return {"playlist": _playlist_element(ctx, snap, row, _user_tracks(ctx, ref.rowid), entries=True)}


def _song_ids(ctx: Context, snap: Snapshot, param: str) -> list[int]:
    out = []
    for text in ctx.many(param):
        ref = items.parse_id(text, name=param, kinds=("song",))
        if not snap.contains(ref.rowid):
            raise r.not_found(f"song {ref.text!r}")
        out.append(ref.rowid)
    return out


def _name(ctx: Context, param: str) -> str | None:
    value = ctx.one(param)
    if value is not None and len(value) > MAX_NAME:
        raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter {param!r} is longer than {MAX_NAME} characters")
    return value


def _write_items(ctx: Context, playlist: int, tracks: list[int]) -> None:
    if len(tracks) > MAX_PLAYLIST:
        raise r.SubsonicError(r.MISSING_PARAMETER, f"a playlist holds at most {MAX_PLAYLIST} songs")
    users = ctx.users_conn()
    users.execute("DELETE FROM playlist_items WHERE playlist = ?", (playlist,))
    users.executemany(
        "INSERT INTO playlist_items (playlist, position, track) VALUES (?,?,?)",
        [(playlist, n, t) for n, t in enumerate(tracks)],
    )


@endpoint("createPlaylist", writes=True)
def create_playlist(ctx: Context) -> dict:
    snap = _snap(ctx)
    songs = _song_ids(ctx, snap, "songId")
    users = ctx.users_conn()
    with transaction(users):
        if ctx.one("playlistId"):
            row = _own_playlist(ctx, "playlistId")
            playlist = row[0]
            name = _name(ctx, "name")
            if name:
                users.execute("UPDATE playlists SET name = ? WHERE rowid = ?", (name, playlist))
        else:
            name = _name(ctx, "name")
            if not name:
                raise r.missing("name")
            when = now_iso()
            playlist = users.execute(
                "INSERT INTO playlists (owner, name, created, changed) VALUES (?,?,?,?)",
                (ctx.user.rowid, name, when, when),
            ).lastrowid
        _write_items(ctx, playlist, songs)
        users.execute("UPDATE playlists SET changed = ? WHERE rowid = ?", (now_iso(), playlist))
    written = _playlist_row(ctx, playlist)
    assert written is not None  # created or updated just above
    return {"playlist": _playlist_element(ctx, snap, written, _user_tracks(ctx, playlist), entries=True)}


@endpoint("updatePlaylist", writes=True)
def update_playlist(ctx: Context) -> dict:
    snap = _snap(ctx)
    users = ctx.users_conn()
    with transaction(users):
        row = _own_playlist(ctx, "playlistId")
        playlist = row[0]
        name, comment = _name(ctx, "name"), _name(ctx, "comment")
        if name:
            users.execute("UPDATE playlists SET name = ? WHERE rowid = ?", (name, playlist))
        if comment is not None:
            users.execute("UPDATE playlists SET comment = ? WHERE rowid = ?", (comment, playlist))
        if ctx.one("public") is not None:
            users.execute("UPDATE playlists SET public = ? WHERE rowid = ?", (int(ctx.flag("public", False)), playlist))
        tracks = _user_tracks(ctx, playlist)
        removing = set()
        for text in ctx.many("songIndexToRemove"):
            try:
                index = int(text)
            except ValueError:
                raise r.SubsonicError(
                    r.MISSING_PARAMETER, f"songIndexToRemove must be a whole number, not {text[:40]!r}"
                ) from None
            if not 0 <= index < len(tracks):
                raise r.not_found(f"song index {index} in a playlist of {len(tracks)} songs")
            removing.add(index)
        tracks = [t for n, t in enumerate(tracks) if n not in removing] + _song_ids(ctx, snap, "songIdToAdd")
        _write_items(ctx, playlist, tracks)
        users.execute("UPDATE playlists SET changed = ? WHERE rowid = ?", (now_iso(), playlist))
    return {}


@endpoint("deletePlaylist", writes=True)
def delete_playlist(ctx: Context) -> dict:
    row = _own_playlist(ctx, "id")
    users = ctx.users_conn()
    with transaction(users):
        users.execute("DELETE FROM playlist_items WHERE playlist = ?", (row[0],))
        users.execute("DELETE FROM playlists WHERE rowid = ?", (row[0],))
    return {}


# --- play queue ---------------------------------------------------------------------------------------------------
@endpoint("getPlayQueue")
def get_play_queue(ctx: Context) -> dict:
    if ctx.user.anonymous:
        return {}
    snap = _snap(ctx)
    row = (
        ctx.users_conn()
        .execute(
            "SELECT current, position, changed, changed_by, tracks FROM play_queues WHERE user = ?", (ctx.user.rowid,)
        )
        .fetchone()
    )
    if row is None:
        return {}
    tracks = [t for t in orjson.loads(row[4]) if isinstance(t, int) and snap.contains(t)]
    queue: dict[str, Any] = {
        "current": row[0],
        "position": row[1],
        "username": ctx.user.name,
        "changed": row[2],
        "changedBy": row[3] or "",
        "entry": _songs(ctx, snap, tracks),
    }
    return {"playQueue": queue}


@endpoint("savePlayQueue", writes=True)
def save_play_queue(ctx: Context) -> dict:
    snap = _snap(ctx)
    tracks = _song_ids(ctx, snap, "id")
    users = ctx.users_conn()
    if not tracks:
        users.execute("DELETE FROM play_queues WHERE user = ?", (ctx.user.rowid,))
        return {}
    current = ctx.one("current")
    current_id = items.parse_id(current, name="current", kinds=("song",)).rowid if current else None
    if current_id is not None and current_id not in tracks:
        raise r.not_found(f"song {current_id} in the queue")
    position = ctx.integer("position", 0, high=2**53)
    client = (ctx.one("c") or "")[:100]
    users.execute(
        "INSERT INTO play_queues (user, current, position, changed, changed_by, tracks) VALUES "
        "(?,?,?,?,?,?) ON CONFLICT (user) DO UPDATE SET current = excluded.current, position = "
        "excluded.position, changed = excluded.changed, changed_by = excluded.changed_by, tracks = "
        "excluded.tracks",
        (ctx.user.rowid, current_id, position, now_iso(), client, orjson.dumps(tracks).decode()),
    )
    return {}
