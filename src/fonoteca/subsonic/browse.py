"""System and browsing endpoints: ping, license, extensions, folders, user; artists, albums, songs, indexes,
directories, album lists, genres, random songs, search."""

from __future__ import annotations

import random
from typing import Any

from fonoteca.errors import FonotecaError
from fonoteca.subsonic import items
from fonoteca.subsonic import responses as r
from fonoteca.subsonic.api import endpoint
from fonoteca.subsonic.library import Snapshot, chunks, marks
from fonoteca.subsonic.service import Context

IGNORED_ARTICLES = "The El La Los Las Le Les"
MAX_LIST = 500
MAX_SEARCH = 1000
EXTENSIONS = [("apiKeyAuthentication", 1), ("formPost", 1), ("songLyrics", 1), ("transcodeOffset", 1)]


def _snap(ctx: Context) -> Snapshot:
    return ctx.service.library.snapshot()


def _songs(ctx: Context, snap: Snapshot, rowids: list[int]) -> list[dict[str, Any]]:
    return items.songs(ctx.service.library, snap, rowids, ctx.users_conn(), ctx.user.rowid, has_files=True)


def _albums(ctx: Context, snap: Snapshot, rowids: list[int]) -> list[dict[str, Any]]:
    return items.albums(ctx.service.library, snap, rowids, ctx.users_conn(), ctx.user.rowid)


def _artists(ctx: Context, snap: Snapshot, rowids: list[int]) -> list[dict[str, Any]]:
    return items.artists(snap, rowids, ctx.users_conn(), ctx.user.rowid)


def song_ref(ctx: Context, snap: Snapshot, name: str = "id") -> int:
    ref = items.parse_id(ctx.one(name), name=name, kinds=("song",))
    if not snap.contains(ref.rowid) or not _exists(ctx, snap, ref.rowid):
        raise r.not_found(f"song {ref.text!r}")
    return ref.rowid


def _exists(ctx: Context, snap: Snapshot, rowid: int) -> bool:
    conn = ctx.service.library.conn(snap)
    return conn.execute("SELECT 1 FROM tracks WHERE rowid = ? AND level > 0", (rowid,)).fetchone() is not None


# --- system -----------------------------------------------------------------------------------------------------
@endpoint("ping")
def ping(ctx: Context) -> dict:
    return {}


@endpoint("getLicense")
def get_license(ctx: Context) -> dict:
    return {"license": {"valid": True}}


@endpoint("getOpenSubsonicExtensions", public=True)
def get_extensions(ctx: Context) -> dict:
    return {"openSubsonicExtensions": [{"name": n, "versions": [v]} for n, v in EXTENSIONS]}


@endpoint("getMusicFolders")
def get_music_folders(ctx: Context) -> dict:
    return {"musicFolders": {"musicFolder": [{"id": 1, "name": ctx.service.site.archive.name}]}}


@endpoint("getScanStatus")
def get_scan_status(ctx: Context) -> dict:
    snap = _snap(ctx)
    count = len(snap.members) if snap.members is not None else sum(a.songs for a in snap.albums.values())
    return {"scanStatus": {"scanning": False, "count": count}}


@endpoint("getUser")
def get_user(ctx: Context) -> dict:
    name = ctx.one("username") or ctx.user.name
    if name != ctx.user.name and not ctx.user.admin:
        raise r.SubsonicError(r.NOT_AUTHORIZED, "only an admin may look at another user")
    user = ctx.user if name == ctx.user.name else ctx.service.accounts.user(name)
    if user is None:
        raise r.not_found(f"user {name[:64]!r}")
    writes = not user.anonymous
    return {
        "user": {
            "username": user.name,
            "scrobblingEnabled": writes,
            "adminRole": user.admin,
            "settingsRole": False,
            "downloadRole": True,
            "uploadRole": False,
            "playlistRole": writes,
            "coverArtRole": False,
            "commentRole": False,
            "podcastRole": False,
            "streamRole": True,
            "jukeboxRole": False,
            "shareRole": False,
            "videoConversionRole": False,
            "folder": [1],
        }
    }


# --- artists and albums -------------------------------------------------------------------------------------------
def _index_letter(name: str) -> str:
    words = name.split()
    if len(words) > 1 and words[0].lower() in {a.lower() for a in IGNORED_ARTICLES.split()}:
        name = " ".join(words[1:])
    first = name[:1].upper()
    return first if first.isalpha() else "#"


def _by_letter(snap: Snapshot, ctx: Context, make: Any) -> list[dict[str, Any]]:
    groups: dict[str, list[int]] = {}
    for artist in ctx.service.library.artists_by_name(snap):
        groups.setdefault(_index_letter(snap.artist_names.get(artist, "")), []).append(artist)
    return [{"name": letter, "artist": make(ids)} for letter, ids in sorted(groups.items())]


@endpoint("getArtists")
def get_artists(ctx: Context) -> dict:
    snap = _snap(ctx)
    return {
        "artists": {
            "ignoredArticles": IGNORED_ARTICLES,
            "index": _by_letter(snap, ctx, lambda ids: _artists(ctx, snap, ids)),
        }
    }


@endpoint("getIndexes")
def get_indexes(ctx: Context) -> dict:
    snap = _snap(ctx)

    def plain(ids: list[int]) -> list[dict[str, Any]]:
        return [
            {"id": a["id"], "name": a["name"], **({"starred": a["starred"]} if "starred" in a else {})}
            for a in _artists(ctx, snap, ids)
        ]

    return {
        "indexes": {
            "lastModified": int(snap.built_at * 1000) if snap.built_at > 0 else 0,
            "ignoredArticles": IGNORED_ARTICLES,
            "index": _by_letter(snap, ctx, plain),
        }
    }


def _artist(ctx: Context, snap: Snapshot, param: str = "id") -> int:
    ref = items.parse_id(ctx.one(param), name=param, kinds=("artist",))
    if ref.rowid not in snap.artist_albums:
        raise r.not_found(f"artist {ref.text!r}")
    return ref.rowid


def _album(ctx: Context, snap: Snapshot, param: str = "id") -> int:
    ref = items.parse_id(ctx.one(param), name=param, kinds=("album",))
    if ref.rowid not in snap.albums:
        raise r.not_found(f"album {ref.text!r}")
    return ref.rowid


def _artist_albums(snap: Snapshot, artist: int) -> list[int]:
    owned = snap.artist_albums.get(artist, [])
    return sorted(owned, key=lambda a: (snap.albums[a].year or 0, snap.albums[a].name.casefold(), a))


@endpoint("getArtist")
def get_artist(ctx: Context) -> dict:
    snap = _snap(ctx)
    artist = _artist(ctx, snap)
    element = _artists(ctx, snap, [artist])[0]
    element["album"] = _albums(ctx, snap, _artist_albums(snap, artist))
    return {"artist": element}


@endpoint("getAlbum")
def get_album(ctx: Context) -> dict:
    snap = _snap(ctx)
    album = _album(ctx, snap)
    element = _albums(ctx, snap, [album])[0]
    element["song"] = _songs(ctx, snap, items.album_songs(ctx.service.library, snap, album))
    return {"album": element}


@endpoint("getSong")
def get_song(ctx: Context) -> dict:
    snap = _snap(ctx)
    found = _songs(ctx, snap, [song_ref(ctx, snap)])
    if not found:
        raise r.not_found("song")
    return {"song": found[0]}


def album_as_child(album: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
    """An AlbumID3 as the folder-based API shows an album (a directory child)."""
    child = {
        "id": album["id"],
        "parent": parent or album.get("artistId"),
        "isDir": True,
        "title": album["name"],
        "album": album["name"],
        "artist": album.get("artist"),
        "year": album.get("year"),
        "genre": album.get("genre"),
        "coverArt": album.get("coverArt"),
        "duration": album.get("duration"),
        "playCount": album.get("playCount"),
        "created": album.get("created"),
        "starred": album.get("starred"),
        "albumId": album["id"],
        "artistId": album.get("artistId"),
    }
    return {k: v for k, v in child.items() if v is not None}


@endpoint("getMusicDirectory")
def get_music_directory(ctx: Context) -> dict:
    snap = _snap(ctx)
    ref = items.parse_id(ctx.one("id"), kinds=("artist", "album"))
    if ref.kind == "artist":
        artist = _artist(ctx, snap)
        children = [album_as_child(a, f"ar-{artist}") for a in _albums(ctx, snap, _artist_albums(snap, artist))]
        return {
            "directory": {
                "id": ref.text,
                "parent": "1",
                "name": snap.artist_names.get(artist) or ref.text,
                "child": children,
            }
        }
    album = _album(ctx, snap)
    info = snap.albums[album]
    return {
        "directory": {
            "id": ref.text,
            "parent": f"ar-{info.artists[0]}" if info.artists else None,
            "name": info.name or ref.text,
            "child": _songs(ctx, snap, items.album_songs(ctx.service.library, snap, album)),
        }
    }


# --- lists --------------------------------------------------------------------------------------------------------
LIST_TYPES = (
    "random",
    "newest",
    "highest",
    "frequent",
    "recent",
    "alphabeticalByName",
    "alphabeticalByArtist",
    "starred",
    "byYear",
    "byGenre",
)


def _album_list(ctx: Context) -> list[int]:
    snap = _snap(ctx)
    kind = ctx.required("type")
    if kind not in LIST_TYPES:
        raise r.SubsonicError(
            r.MISSING_PARAMETER, f"parameter 'type' must be one of {', '.join(LIST_TYPES)}, not {kind[:40]!r}"
        )
    size = ctx.integer("size", 10, high=MAX_LIST)
    offset = ctx.integer("offset", 0, high=10**9)
    lib = ctx.service.library
    if kind == "random":
        return lib.random_albums(snap, size)
    if kind == "newest":
        order = sorted(snap.albums, key=lambda a: (-snap.albums[a].created, -a))
    elif kind == "alphabeticalByName":
        order = snap.album_order
    elif kind == "alphabeticalByArtist":

        def key(a: int) -> tuple:
            artists = snap.albums[a].artists
            return (
                snap.artist_names.get(artists[0], "").casefold() if artists else "",
                snap.albums[a].name.casefold(),
                a,
            )

        order = sorted(snap.albums, key=key)
    elif kind == "byYear":
        low, high = ctx.integer("fromYear", None, high=9999), ctx.integer("toYear", None, high=9999)
        if low is None or high is None:
            raise r.missing("fromYear" if low is None else "toYear")
        ordered = sorted(
            (a for a in snap.albums if _in_years(snap.albums[a].year, min(low, high), max(low, high))),
            key=lambda a: (snap.albums[a].year, snap.albums[a].name.casefold(), a),
        )
        order = ordered if low <= high else ordered[::-1]
    elif kind == "byGenre":
        genre = ctx.required("genre")
        order = [
            a for a in snap.album_order if any(genre in snap.artist_genres.get(x, ()) for x in snap.albums[a].artists)
        ]
    else:
        order = _personal_albums(ctx, snap, kind)
    return order[offset : offset + size]


def _in_years(year: int | None, low: int, high: int) -> bool:
    return year is not None and low <= year <= high


def _personal_albums(ctx: Context, snap: Snapshot, kind: str) -> list[int]:
    users, uid = ctx.users_conn(), ctx.user.rowid
    if kind == "starred":
        rows = users.execute(
            "SELECT item FROM stars WHERE user = ? AND kind = 'album' ORDER BY starred_at DESC", (uid,)
        )
    elif kind == "highest":
        rows = users.execute(
            "SELECT item FROM ratings WHERE user = ? AND kind = 'album' ORDER BY rating DESC, item", (uid,)
        )
    elif kind == "frequent":
        rows = users.execute(
            "SELECT album FROM plays WHERE user = ? AND album IS NOT NULL GROUP BY album "
            "ORDER BY sum(count) DESC, album",
            (uid,),
        )
    else:  # recent
        rows = users.execute(
            "SELECT album FROM plays WHERE user = ? AND album IS NOT NULL GROUP BY album "
            "ORDER BY max(last_played) DESC, album",
            (uid,),
        )
    return [a for (a,) in rows if a in snap.albums]


@endpoint("getAlbumList2")
def get_album_list2(ctx: Context) -> dict:
    snap = _snap(ctx)
    return {"albumList2": {"album": _albums(ctx, snap, _album_list(ctx))}}


@endpoint("getAlbumList")
def get_album_list(ctx: Context) -> dict:
    snap = _snap(ctx)
    return {"albumList": {"album": [album_as_child(a) for a in _albums(ctx, snap, _album_list(ctx))]}}


@endpoint("getGenres")
def get_genres(ctx: Context) -> dict:
    snap = _snap(ctx)
    album_counts: dict[str, int] = {}
    for info in snap.albums.values():
        for genre in {g for a in info.artists for g in snap.artist_genres.get(a, ())}:
            album_counts[genre] = album_counts.get(genre, 0) + 1
    names = sorted(set(snap.genre_songs) | set(album_counts), key=str.casefold)
    return {
        "genres": {
            "genre": [
                {"value": g, "songCount": snap.genre_songs.get(g, 0), "albumCount": album_counts.get(g, 0)}
                for g in names
            ]
        }
    }


def _genre_songs(
    ctx: Context,
    snap: Snapshot,
    genre: str,
    count: int,
    offset: int,
    *,
    shuffle: bool = False,
    years: tuple[int, int] | None = None,
) -> list[int]:
    lib = ctx.service.library
    conn = lib.conn(snap)
    year_sql = ""
    args: list[str | int] = [genre]
    if years is not None:
        year_sql = " AND CAST(substr(a.release_date, 1, 4) AS INTEGER) BETWEEN ? AND ? "
        args += [min(years), max(years)]
    order = "ORDER BY random()" if shuffle else "ORDER BY t.popularity DESC, t.rowid"
    return [
        row[0]
        for row in conn.execute(
            f"SELECT t.rowid FROM tracks t {lib.join(snap)} JOIN track_artists ta ON ta.track = t.rowid AND "
            f"ta.position = 0 JOIN artist_genres ag ON ag.artist = ta.artist JOIN genres g ON g.rowid = ag.genre "
            f"LEFT JOIN albums a ON a.rowid = t.album WHERE g.name = ? {year_sql} {lib.where(snap)} {order} "
            f"LIMIT ? OFFSET ?",
            (*args, count, offset),
        )
    ]


@endpoint("getSongsByGenre")
def get_songs_by_genre(ctx: Context) -> dict:
    snap = _snap(ctx)
    genre = ctx.required("genre")
    count = ctx.integer("count", 10, high=MAX_LIST)
    offset = ctx.integer("offset", 0, high=10**9)
    return {"songsByGenre": {"song": _songs(ctx, snap, _genre_songs(ctx, snap, genre, count, offset))}}


@endpoint("getRandomSongs")
def get_random_songs(ctx: Context) -> dict:
    snap = _snap(ctx)
    size = ctx.integer("size", 10, high=MAX_LIST)
    genre = ctx.one("genre")
    low, high = ctx.integer("fromYear", None, high=9999), ctx.integer("toYear", None, high=9999)
    years = (low or 0, high or 9999) if low is not None or high is not None else None
    if genre:
        return {
            "randomSongs": {
                "song": _songs(ctx, snap, _genre_songs(ctx, snap, genre, size, 0, shuffle=True, years=years))
            }
        }
    return {"randomSongs": {"song": _songs(ctx, snap, _random_songs(ctx, snap, size, years))}}


def _random_songs(ctx: Context, snap: Snapshot, size: int, years: tuple[int, int] | None) -> list[int]:
    """Uniform draws: from the members, or (the whole catalog) from the album snapshot's songs."""
    lib = ctx.service.library
    pool = [a for a in snap.albums if years is None or _in_years(snap.albums[a].year, *years)]
    if snap.members is not None and years is None:
        members = list(snap.members)
        return random.sample(members, min(size, len(members)))
    weights = [snap.albums[a].songs for a in pool]
    if not pool:
        return []
    picked: list[int] = []
    for album in random.choices(pool, weights=weights, k=size * 2):
        songs = items.album_songs(lib, snap, album)
        if songs:
            choice = random.choice(songs)
            if choice not in picked:
                picked.append(choice)
        if len(picked) >= size:
            break
    return picked


# --- search -------------------------------------------------------------------------------------------------------
def _song_links(
    ctx: Context, snap: Snapshot, rowids: list[int], enough: tuple[int, int]
) -> tuple[list[int], list[int]]:
    """The albums and the artists of these songs, in order of first appearance, as listed here: at least
    `enough` (albums, artists) of them when the songs have that many. A first part of the songs is read, the
    rest only when it fell short; the lists start the same either way, as they follow the songs' order."""
    conn = ctx.service.library.conn(snap)
    albums: dict[int, None] = {}
    artists: dict[int, None] = {}
    first = max(enough) + max(enough) // 4  # a song brings one album at most: a few more usually bring both
    for part in (rowids[:first], rowids[first:]):
        if len(albums) >= enough[0] and len(artists) >= enough[1]:
            break
        album_of, artists_of = _links(conn, part)
        for rowid in part:
            album = album_of.get(rowid)
            if album in snap.albums:
                albums.setdefault(album)
                for artist in snap.albums[album].artists:
                    artists.setdefault(artist)
            for artist in artists_of.get(rowid, []):
                if artist in snap.artist_albums:
                    artists.setdefault(artist)
    return list(albums), list(artists)


def _links(conn: Any, rowids: list[int]) -> tuple[dict[int, int], dict[int, list[int]]]:
    """Each song's album and its credited artists in credit order, in one statement per chunk."""
    album_of: dict[int, int] = {}
    artists_of: dict[int, list[int]] = {}
    for part in chunks(rowids):
        for rowid, album, artist in conn.execute(
            "SELECT t.rowid, t.album, ta.artist FROM tracks t LEFT JOIN track_artists ta ON ta.track = t.rowid "
            f"WHERE t.rowid IN ({marks(part)}) ORDER BY t.rowid, ta.position",
            part,
        ):
            if album is not None:
                album_of[rowid] = album
            if artist is not None:
                artists_of.setdefault(rowid, []).append(artist)
    return album_of, artists_of


def _search(ctx: Context) -> tuple[Snapshot, list[int], list[int], list[int]]:
    snap = _snap(ctx)
    query = (ctx.one("query") or "").strip()
    if query in ('""', "''", "*"):
        query = ""
    counts = {k: ctx.integer(f"{k}Count", 20, high=MAX_SEARCH) for k in ("artist", "album", "song")}
    offsets = {k: ctx.integer(f"{k}Offset", 0, high=10**9) for k in ("artist", "album", "song")}
    lib = ctx.service.library
    if not query:  # the whole library, page by page (how clients such as Symfonium sync)
        artists = lib.artists_by_name(snap)[offsets["artist"] : offsets["artist"] + counts["artist"]]
        albums = snap.album_order[offsets["album"] : offsets["album"] + counts["album"]]
        conn = lib.conn(snap)
        songs = (
            [
                row[0]
                for row in conn.execute(
                    f"SELECT t.rowid FROM tracks t {lib.join(snap)} WHERE 1 {lib.where(snap)} ORDER BY t.rowid "
                    "LIMIT ? OFFSET ?",
                    (counts["song"], offsets["song"]),
                )
            ]
            if counts["song"]
            else []
        )
        return snap, artists, albums, songs
    spare = 1 if snap.members is None else 4  # room for the matches this library does not list
    # The songs are ranked as the site ranks a page of as many (the same candidates, the same cost); the albums
    # and artists are those of the first 50 songs of that ranking at least, read by the same search.
    limit = min(MAX_SEARCH, max(1, (offsets["song"] + counts["song"]) * spare))
    wanted = max(offsets[k] + counts[k] for k in counts)
    depth = min(MAX_SEARCH, max(50, wanted * spare)) if counts["album"] or counts["artist"] else limit
    store = ctx.service.site.store
    if not store.has_index():
        raise r.SubsonicError(r.GENERIC, "the search index is not built yet; the operator runs: fonoteca index rebuild")
    try:  # rowids only: the Subsonic objects are built from rows read below, not the site's display rows
        found = store.searcher().track_rowids(query[:200], limit=limit, depth=depth)
    except FonotecaError:
        return snap, [], [], []  # a query without letters or digits: nothing matches
    hits = [rowid for rowid in found if snap.contains(rowid)]
    # no album or artist asked for (a client listing songs): their links are not read
    enough = (offsets["album"] + counts["album"], offsets["artist"] + counts["artist"])
    albums, artists = _song_links(ctx, snap, hits, enough) if counts["album"] or counts["artist"] else ([], [])
    pick = lambda seq, k: seq[offsets[k] : offsets[k] + counts[k]]  # noqa: E731
    return snap, pick(artists, "artist"), pick(albums, "album"), pick(hits, "song")


@endpoint("search3")
def search3(ctx: Context) -> dict:
    snap, artists, albums, songs = _search(ctx)
    return {
        "searchResult3": {
            "artist": _artists(ctx, snap, artists),
            "album": _albums(ctx, snap, albums),
            "song": _songs(ctx, snap, songs),
        }
    }


@endpoint("search2")
def search2(ctx: Context) -> dict:
    snap, artists, albums, songs = _search(ctx)
    return {
        "searchResult2": {
            "artist": [{"id": a["id"], "name": a["name"]} for a in _artists(ctx, snap, artists)],
            "album": [album_as_child(a) for a in _albums(ctx, snap, albums)],
            "song": _songs(ctx, snap, songs),
        }
    }
