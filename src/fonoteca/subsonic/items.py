"""The Subsonic objects built from catalog rows: songs (Child), albums (AlbumID3), artists (ArtistID3), with the
asking user's stars, ratings and play counts, and what is known of each song's file without opening it.

Ids: a song is its catalog rowid ("123", a number, as the schema's play queue wants), an album "al-N", an
artist "ar-N", a user playlist "pl-N", a catalog playlist "cpl-N"; cover art takes a song, album or artist id.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from fonoteca.subsonic.library import Library, Snapshot, chunks, marks
from fonoteca.subsonic.responses import MISSING_PARAMETER, SubsonicError, not_found
from fonoteca.web.media import media_type

SONG_ID = re.compile(r"^[0-9]{1,18}$")
PREFIXED_ID = re.compile(r"^(al|ar|pl|cpl)-([0-9]{1,18})$")
SUFFIX_TYPES = {
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "webm": "audio/webm",
}


@dataclass(frozen=True)
class Ref:
    kind: str  # song | album | artist | playlist | catalog_playlist
    rowid: int

    @property
    def text(self) -> str:
        prefix = {"song": "", "album": "al-", "artist": "ar-", "playlist": "pl-", "catalog_playlist": "cpl-"}
        return prefix[self.kind] + str(self.rowid)


KINDS = {"al": "album", "ar": "artist", "pl": "playlist", "cpl": "catalog_playlist"}


def parse_id(text: str | None, *, name: str = "id", kinds: tuple[str, ...] | None = None) -> Ref:
    """An id as this server writes them; anything else is 'not found' (70), never an error of the server."""
    if text is None or text == "":
        raise SubsonicError(MISSING_PARAMETER, f"required parameter {name!r} is missing")
    text = text.strip()
    ref = None
    if SONG_ID.match(text):
        ref = Ref("song", int(text))
    else:
        match = PREFIXED_ID.match(text)
        if match:
            ref = Ref(KINDS[match.group(1)], int(match.group(2)))
    if ref is None or ref.rowid > 2**63 - 1 or (kinds is not None and ref.kind not in kinds):
        wanted = "/".join(kinds) if kinds else "song, album or artist"
        raise not_found(f"{wanted} {text[:60]!r}")
    return ref


@functools.lru_cache(maxsize=4096)  # a catalog's rows share few import times: most songs of an answer hit
def iso(epoch: int | float | None) -> str:
    value = float(epoch or 0)
    if value > 1e11:  # milliseconds
        value /= 1000
    value = min(max(value, 0), 253402300799)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


@dataclass
class UserState:
    """The asking user's marks on a set of items: {kind: {rowid: value}}."""

    starred: dict[str, dict[int, str]]
    rating: dict[str, dict[int, int]]
    plays: dict[int, int]
    album_plays: dict[int, int]


def user_state(
    users: sqlite3.Connection | None,
    user_id: int,
    songs: Sequence[int] = (),
    albums: Sequence[int] = (),
    artists: Sequence[int] = (),
) -> UserState:
    state = UserState({"song": {}, "album": {}, "artist": {}}, {"song": {}, "album": {}, "artist": {}}, {}, {})
    if users is None or user_id == 0:
        return state
    for kind, ids in (("song", list(songs)), ("album", list(albums)), ("artist", list(artists))):
        for part in chunks(ids):
            for item, at in users.execute(
                f"SELECT item, starred_at FROM stars WHERE user = ? AND kind = ? AND item IN ({marks(part)})",
                (user_id, kind, *part),
            ):
                state.starred[kind][item] = at
            for item, rating in users.execute(
                f"SELECT item, rating FROM ratings WHERE user = ? AND kind = ? AND item IN ({marks(part)})",
                (user_id, kind, *part),
            ):
                state.rating[kind][item] = rating
    for part in chunks(list(songs)):
        for track, count in users.execute(
            f"SELECT track, count FROM plays WHERE user = ? AND track IN ({marks(part)})", (user_id, *part)
        ):
            state.plays[track] = count
    for part in chunks(list(albums)):
        for album, count in users.execute(
            f"SELECT album, sum(count) FROM plays WHERE user = ? AND album IN ({marks(part)}) GROUP BY album",
            (user_id, *part),
        ):
            state.album_plays[album] = count
    return state


def _files(conn: sqlite3.Connection, has_files: bool, rowids: list[int]) -> dict[int, tuple[str, int, int | None]]:
    """track rowid -> (path, size, bit rate) from the files table (the original tier wins)."""
    out: dict[int, tuple[str, int, int | None]] = {}
    if not has_files:
        return out
    for part in chunks(rowids):
        for track, path, size, bit_rate in conn.execute(
            f"SELECT track, path, size, bit_rate FROM files WHERE track IN ({marks(part)}) ORDER BY tier", part
        ):
            out[track] = (path, size, bit_rate)
    return out


def songs(
    lib: Library, snap: Snapshot, rowids: list[int], users: sqlite3.Connection | None, user_id: int, *, has_files: bool
) -> list[dict[str, Any]]:
    """Child elements for these tracks, in this order (tracks gone from the catalog are left out)."""
    conn = lib.conn(snap)
    rows: dict[int, tuple] = {}
    artists: dict[int, list[tuple[int, str]]] = {}
    for part in chunks(rowids):
        for row in conn.execute(
            "SELECT t.rowid, t.id, t.name, t.album, t.disc_number, t.track_number, t.duration_ms, t.fetched_at, "
            "a.name, a.release_date, a.fetched_at FROM tracks t LEFT JOIN albums a ON a.rowid = t.album "
            f"WHERE t.rowid IN ({marks(part)})",
            part,
        ):
            rows[row[0]] = row
        for track, artist, name in conn.execute(
            "SELECT ta.track, ar.rowid, ar.name FROM track_artists ta JOIN artists ar ON ar.rowid = ta.artist "
            f"WHERE ta.track IN ({marks(part)}) ORDER BY ta.track, ta.position",
            part,
        ):
            artists.setdefault(track, []).append((artist, name or ""))
    genres = _first_genres(conn, sorted({a[0][0] for a in artists.values() if a}))
    files = _files(conn, has_files, list(rows))
    state = user_state(users, user_id, list(rows))  # a song shows its own marks only, not its album's
    out = []
    for rowid in rowids:
        row = rows.get(rowid)
        if row is None:
            continue
        _, track_id, title, album, disc, number, duration, fetched, album_name, date, album_fetched = row
        credited = artists.get(rowid, [])
        song: dict[str, Any] = {
            "id": str(rowid),
            "parent": f"al-{album}" if album is not None else None,
            "isDir": False,
            "title": title or track_id,
            "album": album_name,
            "artist": ", ".join(n for _, n in credited) or None,
        }
        if number is not None:
            song["track"] = number
        year = int(date[:4]) if isinstance(date, str) and date[:4].isdigit() and date[:4] != "0000" else None
        if year:
            song["year"] = year
        if credited and genres.get(credited[0][0]):
            song["genre"] = genres[credited[0][0]]
        song["coverArt"] = f"al-{album}" if album is not None else str(rowid)
        suffix, size, bit_rate = _file_of(snap, files.get(rowid), track_id)
        if size is not None:
            song["size"] = size
        if suffix:
            song["contentType"] = SUFFIX_TYPES.get(suffix, media_type("x." + suffix) or "application/octet-stream")
            song["suffix"] = suffix
        if duration:
            song["duration"] = int(round(duration / 1000))
        if bit_rate:
            song["bitRate"] = int(round(bit_rate / 1000))
        elif size and duration:
            song["bitRate"] = int(round(size * 8 / duration))
        artist_name = credited[0][1] if credited else "Unknown artist"
        song["path"] = _virtual_path(artist_name, album_name, number, title or track_id, suffix)
        song["isVideo"] = False
        if rowid in state.rating["song"]:
            song["userRating"] = state.rating["song"][rowid]
        song["playCount"] = state.plays.get(rowid, 0)
        if disc is not None:
            song["discNumber"] = disc
        song["created"] = iso(album_fetched or fetched)
        if rowid in state.starred["song"]:
            song["starred"] = state.starred["song"][rowid]
        if album is not None:
            song["albumId"] = f"al-{album}"
        if credited:
            song["artistId"] = f"ar-{credited[0][0]}"
        song["type"] = "music"
        out.append(song)
    return out


def _file_of(
    snap: Snapshot, row: tuple[str, int, int | None] | None, track_id: str
) -> tuple[str | None, int | None, int | None]:
    if row is not None:
        return PurePosixPath(row[0]).suffix.lstrip(".").lower() or None, row[1], row[2]
    released = snap.released.get(track_id)
    if released is not None:
        return PurePosixPath(released.line.path).suffix.lstrip(".").lower() or None, released.line.size, None
    return None, None, None


PATH_UNSAFE = str.maketrans({"/": "_", "\\": "_", "\x00": "_"})  # one character for one: the length is kept


def _virtual_path(artist: str, album: str | None, number: int | None, title: str, suffix: str | None) -> str:
    def clean(text: str) -> str:
        return text.translate(PATH_UNSAFE)[:120]

    name = (f"{number:02d} - " if isinstance(number, int) else "") + clean(title)
    return f"{clean(artist)}/{clean(album or 'Unknown album')}/{name}.{suffix or 'bin'}"


def _first_genres(conn: sqlite3.Connection, artists: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in chunks(artists):
        for artist, genre in conn.execute(
            f"SELECT ag.artist, g.name FROM artist_genres ag JOIN genres g ON g.rowid = ag.genre "
            f"WHERE ag.artist IN ({marks(part)}) ORDER BY ag.artist, ag.position DESC",
            part,
        ):
            out[artist] = genre  # the last one written per artist is its first genre (position order, reversed)
    return out


def albums(
    lib: Library, snap: Snapshot, rowids: list[int], users: sqlite3.Connection | None, user_id: int
) -> list[dict[str, Any]]:
    """AlbumID3 elements for these albums (albums with no listed track are left out)."""
    state = user_state(users, user_id, albums=[a for a in rowids if a in snap.albums])
    out = []
    for rowid in rowids:
        info = snap.albums.get(rowid)
        if info is None:
            continue
        album: dict[str, Any] = {"id": f"al-{rowid}", "name": info.name or f"Album {rowid}"}
        if info.artists:
            album["artist"] = " & ".join(snap.artist_names.get(a, "") for a in info.artists) or None
            album["artistId"] = f"ar-{info.artists[0]}"
        album["coverArt"] = f"al-{rowid}"
        album["songCount"] = info.songs
        album["duration"] = int(round(info.duration_ms / 1000))
        album["playCount"] = state.album_plays.get(rowid, 0)
        album["created"] = iso(info.created)
        if rowid in state.starred["album"]:
            album["starred"] = state.starred["album"][rowid]
        if info.year:
            album["year"] = info.year
        genre = lib.album_genre(snap, rowid)
        if genre:
            album["genre"] = genre
        out.append(album)
    return out


def artists(snap: Snapshot, rowids: list[int], users: sqlite3.Connection | None, user_id: int) -> list[dict[str, Any]]:
    """ArtistID3 elements (artists without an album here are left out)."""
    state = user_state(users, user_id, artists=[a for a in rowids if a in snap.artist_albums])
    out = []
    for rowid in rowids:
        owned = snap.artist_albums.get(rowid)
        if not owned:
            continue
        artist: dict[str, Any] = {
            "id": f"ar-{rowid}",
            "name": snap.artist_names.get(rowid) or f"Artist {rowid}",
            "coverArt": f"ar-{rowid}",
            "albumCount": len(owned),
        }
        if rowid in state.starred["artist"]:
            artist["starred"] = state.starred["artist"][rowid]
        out.append(artist)
    return out


def album_songs(lib: Library, snap: Snapshot, album: int) -> list[int]:
    conn = lib.conn(snap)
    return [
        r
        for (r,) in conn.execute(
            f"SELECT t.rowid FROM tracks t {lib.join(snap)} WHERE t.album = ? {lib.where(snap)} "
            "ORDER BY t.disc_number, t.track_number, t.rowid",
            (album,),
        )
    ]
