"""The tags a stored file gets from the catalog (MusicBrainz Picard names), and its cover when the archive has
the image locally (ARCHIVE/covers/<album id>.jpg|png, or an images row whose url is a local file)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlparse

from fonoteca.catalog.ids import NAMESPACE_NAMES, NS_MUSICBRAINZ, NS_SPOTIFY

SOURCE_URLS = {NS_SPOTIFY: "https://open.spotify.com/track/{}", NS_MUSICBRAINZ: "https://musicbrainz.org/recording/{}"}


def track_tags(conn: sqlite3.Connection, rowid: int) -> dict[str, list[str]]:
    row = conn.execute(
        "SELECT t.ns, t.id, t.name, t.isrc, t.disc_number, t.track_number, a.ns, a.id, a.name, a.release_date, "
        "a.upc, a.label, a.total_tracks FROM tracks t LEFT JOIN albums a ON a.rowid = t.album WHERE t.rowid = ?",
        (rowid,),
    ).fetchone()
    if row is None:
        return {}
    ns, id_, name, isrc, disc, number, a_ns, a_id, a_name, date, upc, label, total = row
    artists = conn.execute(
        "SELECT ar.ns, ar.id, ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist "
        "WHERE l.track = ? ORDER BY l.position",
        (rowid,),
    ).fetchall()
    album_artists = conn.execute(
        "SELECT ar.name FROM album_artists l JOIN artists ar ON ar.rowid = l.artist WHERE l.album = "
        "(SELECT album FROM tracks WHERE rowid = ?) ORDER BY l.position",
        (rowid,),
    ).fetchall()
    tags: dict[str, list[str]] = {}

    def put(key: str, *values: object) -> None:
        texts = [str(v) for v in values if v is not None and str(v) != ""]
        if texts:
            tags[key] = texts

    names = [a[2] for a in artists if a[2]]
    put("TITLE", name)
    put("ARTIST", "; ".join(names) if names else None)
    if len(names) > 1:
        put("ARTISTS", *names)
    put("ALBUM", a_name)
    put("ALBUMARTIST", "; ".join(n for (n,) in album_artists if n) or None)
    put("DATE", date)
    if number:
        put("TRACKNUMBER", f"{number}/{total}" if total else number)
    put("DISCNUMBER", disc)
    put("ISRC", isrc)
    put("BARCODE", upc)
    put("LABEL", label)
    if ns == NS_MUSICBRAINZ:
        put("MUSICBRAINZ_TRACKID", id_)
    if a_ns == NS_MUSICBRAINZ:
        put("MUSICBRAINZ_ALBUMID", a_id)
    mb_artists = [a[1] for a in artists if a[0] == NS_MUSICBRAINZ]
    if mb_artists:
        put("MUSICBRAINZ_ARTISTID", *mb_artists)
    if ns in SOURCE_URLS:
        put("WEBSITE", SOURCE_URLS[ns].format(id_))
    put("FONOTECA_ID", f"{NAMESPACE_NAMES.get(ns, 'table')}:track:{id_}")
    _licence_tags(conn, rowid, put, tags)
    return tags


def _licence_tags(conn: sqlite3.Connection, rowid: int, put: Callable[..., None], tags: dict[str, list[str]]) -> None:
    """Picard's LICENSE (the licence's URL, else its id) and COPYRIGHT (the credit the licence asks for, else
    the source's copyright text) from the track's licence on record."""
    try:
        row = conn.execute(
            "SELECT licence, url, raw, attribution, source_url FROM track_licences WHERE track = ?", (rowid,)
        ).fetchone()
    except sqlite3.OperationalError:  # a catalog without licences
        return
    if row is None:
        return
    licence, url, raw, attribution, source_url = row
    put("LICENSE", url or licence)
    from fonoteca.licences import ALL_RIGHTS_RESERVED

    put("COPYRIGHT", attribution or (raw if licence == ALL_RIGHTS_RESERVED else None))
    if source_url and "WEBSITE" not in tags:
        put("WEBSITE", source_url)


def track_cover(conn: sqlite3.Connection, rowid: int, root: Path, covers_dir: str) -> tuple[bytes, str] | None:
    row = conn.execute(
        "SELECT a.rowid, a.id FROM tracks t JOIN albums a ON a.rowid = t.album WHERE t.rowid = ?", (rowid,)
    ).fetchone()
    if row is None:
        return None
    album_rowid, album_id = row
    candidates = [root / covers_dir / f"{album_id}.{ext}" for ext in ("jpg", "jpeg", "png")]
    for (url,) in conn.execute(
        "SELECT url FROM images WHERE owner_kind = 'album' AND owner = ? ORDER BY position", (album_rowid,)
    ):
        if not url:
            continue
        parsed = urlparse(url)
        if parsed.scheme == "file":
            candidates.append(Path(unquote(parsed.path)))
        elif not parsed.scheme:
            candidates.append(root / url)
    for path in candidates:
        try:
            if path.is_file() and path.stat().st_size <= 16 << 20:
                data = path.read_bytes()
                mime = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
                return data, mime
        except OSError:
            continue
    return None
