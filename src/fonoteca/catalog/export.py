"""Rebuilding Spotify Web API JSON from the catalog, exactly as it was imported (see spotify.py for `extra`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson

from fonoteca.catalog.ids import NS_SPOTIFY, parse_reference
from fonoteca.catalog.records import FEATURE_FIELDS
from fonoteca.catalog.spotify import API, OPEN

KINDS = ("track", "album", "artist", "audio-features", "playlist")


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _user(id_: str | None, name: str | None) -> dict[str, Any]:
    """A user object as the API nests it (playlist owners, who added an item)."""
    out: dict[str, Any] = {"display_name": name} if name is not None else {}
    out.update(
        {
            "external_urls": {"spotify": f"{OPEN}user/{id_}"},
            "href": f"{API}users/{id_}",
            "id": id_,
            "type": "user",
            "uri": f"spotify:user:{id_}",
        }
    )
    return out


class Exporter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.row_factory = sqlite3.Row
        self._shape = lru_cache(maxsize=4096)(self._load_shape)
        self._markets = lru_cache(maxsize=65536)(self._load_markets)
        self._album_row = lru_cache(maxsize=65536)(lambda rowid: self._row("albums", rowid))
        self._artist_row = lru_cache(maxsize=65536)(lambda rowid: self._row("artists", rowid))
        # rows imported from the reference layout carry no key lists of their own: their objects are built whole
        self.reference = {
            rowid for (rowid,) in conn.execute("SELECT rowid FROM sources WHERE format = 'spotify-clean'")
        }

    # --- loading -------------------------------------------------------------------------------------------
    def _load_shape(self, rowid: int) -> tuple[str, ...]:
        return tuple(orjson.loads(self.conn.execute("SELECT keys FROM shapes WHERE rowid=?", (rowid,)).fetchone()[0]))

    def _load_markets(self, rowid: int) -> str:
        return self.conn.execute("SELECT markets FROM market_lists WHERE rowid=?", (rowid,)).fetchone()[0]

    def _row(self, table: str, rowid: int) -> sqlite3.Row:
        return self.conn.execute(f"SELECT rowid, * FROM {table} WHERE rowid=?", (rowid,)).fetchone()

    def markets(self, rowid: int | None) -> list[str] | None:
        if rowid is None:
            return None
        text = self._markets(rowid)
        return text.split(" ") if text else []

    def images(self, kind: str, owner: int) -> list[dict[str, Any]]:
        out = []
        for url, width, height, shape in self.conn.execute(
            "SELECT url, width, height, shape FROM images WHERE owner_kind=? AND owner=? ORDER BY position",
            (kind, owner),
        ):
            values = {"url": url, "width": width, "height": height}
            out.append({key: values[key] for key in self._shape(shape)})
        return out

    def _linked(self, table: str, owner_column: str, owner: int) -> list[tuple[int, int | None]]:
        return self.conn.execute(
            f"SELECT artist, shape FROM {table} WHERE {owner_column}=? ORDER BY position", (owner,)
        ).fetchall()

    # --- objects -------------------------------------------------------------------------------------------
    def artist(self, row: sqlite3.Row, keys: tuple[str, ...], extra: dict[str, Any] | None) -> dict[str, Any]:
        raw = (extra or {}).get("raw", {})
        id_ = row["id"]
        obj: dict[str, Any] = {}
        for key in keys:
            if key in raw:
                obj[key] = raw[key]
            elif key == "followers":
                obj[key] = {"href": None, "total": row["followers"]}
            elif key == "genres":
                obj[key] = [
                    name
                    for (name,) in self.conn.execute(
                        "SELECT g.name FROM artist_genres a JOIN genres g ON "
                        "g.rowid=a.genre WHERE a.artist=? ORDER BY a.position",
                        (row["rowid"],),
                    )
                ]
            elif key == "images":
                obj[key] = self.images("artist", row["rowid"])
            else:
                obj[key] = self._common(key, row, "artist", id_)
        return obj

    def _artists(self, table: str, column: str, owner: int, extra: dict[str, Any] | None) -> list[dict[str, Any]]:
        nested = (extra or {}).get("artists") or []
        out = []
        for position, (artist, shape) in enumerate(self._linked(table, column, owner)):
            sub = nested[position] if position < len(nested) else None
            out.append(self.artist(self._artist_row(artist), self._shape(shape), sub))
        return out

    def album(self, row: sqlite3.Row, keys: tuple[str, ...], extra: dict[str, Any] | None) -> dict[str, Any]:
        extra = extra or {}
        raw = extra.get("raw", {})
        id_ = row["id"]
        obj: dict[str, Any] = {}
        for key in keys:
            if key in raw:
                obj[key] = raw[key]
            elif key == "artists":
                obj[key] = self._artists("album_artists", "album", row["rowid"], extra)
            elif key == "images":
                obj[key] = self.images("album", row["rowid"])
            elif key == "available_markets":
                obj[key] = self.markets(row["markets"])
            elif key == "external_ids":
                obj[key] = (
                    {k: v for k, v in (("upc", row["upc"]), ("amgid", row["amgid"])) if v is not None}
                    if row["source"] in self.reference
                    else {"upc": row["upc"]}
                )
            elif key == "copyrights":
                obj[key] = [
                    {"text": text, "type": kind}
                    for text, kind in ((row["copyright_c"], "C"), (row["copyright_p"], "P"))
                    if text is not None
                ]
            elif key == "tracks":
                obj[key] = self._album_page(row, extra.get("tracks") or {})
            elif key in (
                "album_type",
                "total_tracks",
                "release_date",
                "release_date_precision",
                "label",
                "popularity",
                "name",
            ):
                obj[key] = row[key]
            else:
                obj[key] = self._common(key, row, "album", id_)
        return obj

    def _album_page(self, album: sqlite3.Row, page: dict[str, Any]) -> dict[str, Any]:
        out = dict(page.get("meta", {}))
        if page.get("has_items", True):
            items = []
            for entry in page.get("items", []):
                track_id, shape = entry[0], entry[1]
                sub = entry[2] if len(entry) > 2 else None
                row = self.conn.execute(
                    "SELECT rowid, * FROM tracks WHERE id=? AND ns=?", (track_id, album["ns"])
                ).fetchone()
                items.append(self.track(row, self._shape(shape), sub))
            out["items"] = items
        return out

    def track(
        self, row: sqlite3.Row, keys: tuple[str, ...], extra: dict[str, Any] | None, album_shape: int | None = None
    ) -> dict[str, Any]:
        extra = extra or {}
        raw = extra.get("raw", {})
        id_ = row["id"]
        obj: dict[str, Any] = {}
        for key in keys:
            if key in raw:
                obj[key] = raw[key]
            elif key == "album":
                shape = album_shape if album_shape is not None else row["album_shape"]
                obj[key] = self.album(self._album_row(row["album"]), self._shape(shape), extra.get("album"))
            elif key == "artists":
                obj[key] = self._artists("track_artists", "track", row["rowid"], extra)
            elif key == "available_markets":
                obj[key] = self.markets(row["markets"])
            elif key == "external_ids":
                obj[key] = self._reference_ids(row) if row["source"] in self.reference else {"isrc": row["isrc"]}
            elif key in ("explicit", "is_local"):
                obj[key] = _bool(row[key])
            elif key in ("disc_number", "track_number", "duration_ms", "popularity", "preview_url", "name"):
                obj[key] = row[key]
            else:
                obj[key] = self._common(key, row, "track", id_)
        return obj

    def _reference_ids(self, row: sqlite3.Row) -> dict[str, Any]:
        """A layout track's external ids: its ISRC as published, and EAN and UPC where it has them."""
        found = {"isrc": row["isrc"]}
        for field, value in self.conn.execute(
            "SELECT field, value FROM reference_verbatim WHERE owner_kind = 'track' AND owner = ?", (row["rowid"],)
        ):
            if field == "external_id_isrc":
                found["isrc"] = value
        for kind, value in self.conn.execute(
            "SELECT kind, min(value) FROM external_ids WHERE owner_kind = 'track' AND owner = ? AND kind IN "
            "('ean', 'upc') GROUP BY kind ORDER BY kind = 'upc'",
            (row["rowid"],),
        ):
            found[kind] = value
        return {k: v for k, v in found.items() if v is not None}

    def features(self, row: sqlite3.Row, track_id: str) -> dict[str, Any]:
        extra = orjson.loads(row["extra"]) if row["extra"] else {}
        raw = extra.get("raw", {})
        derived = {
            "id": track_id,
            "uri": f"spotify:track:{track_id}",
            "track_href": f"{API}tracks/{track_id}",
            "analysis_url": f"{API}audio-analysis/{track_id}",
            "type": "audio_features",
        }
        obj: dict[str, Any] = {}
        for key in self._shape(row["shape"]):
            if key in raw:
                obj[key] = raw[key]
            elif key in FEATURE_FIELDS:
                obj[key] = row[key]
            else:
                obj[key] = derived[key]
        return obj

    def playlist(self, row: sqlite3.Row) -> dict[str, Any]:
        extra = orjson.loads(row["extra"]) if row["extra"] else {}
        raw = extra.get("raw", {})
        id_ = row["id"]
        obj: dict[str, Any] = {}
        for key in self._shape(row["shape"]):
            if key in raw:
                obj[key] = raw[key]
            elif key == "followers":
                obj[key] = {"href": None, "total": row["followers"]}
            elif key == "images":
                obj[key] = self.images("playlist", row["rowid"])
            elif key in ("public", "collaborative"):
                obj[key] = _bool(row[key])
            elif key in ("name", "description", "snapshot_id"):
                obj[key] = row[key]
            elif key == "tracks":
                obj[key] = (
                    self._reference_page(row)
                    if row["source"] in self.reference and not extra
                    else self._playlist_page(row, extra.get("tracks") or {})
                )
            elif key == "owner":
                obj[key] = _user(row["owner_id"], row["owner_display_name"])
            elif key == "primary_color":
                obj[key] = row["primary_color"]
            else:
                obj[key] = self._common(key, row, "playlist", id_)
        return obj

    def _playlist_page(self, playlist: sqlite3.Row, page: dict[str, Any]) -> dict[str, Any]:
        out = dict(page.get("meta", {}))
        if not page.get("has_items"):
            return out
        offset, count = page.get("offset", 0), page.get("count", 0)
        items = []
        for item in self.conn.execute(
            "SELECT * FROM playlist_items WHERE playlist=? AND position>=? AND position<? ORDER BY position",
            (playlist["rowid"], offset, offset + count),
        ):
            item_extra = orjson.loads(item["extra"]) if item["extra"] else {}
            raw = item_extra.get("raw", {})
            entry: dict[str, Any] = {}
            for key in self._shape(item["shape"]):
                if key in raw:
                    entry[key] = raw[key]
                elif key == "added_at":
                    entry[key] = item["added_at"]
                elif key == "added_by":
                    entry[key] = _user(item["added_by"], None) if item["added_by"] is not None else None
                elif key == "is_local":
                    entry[key] = bool(item["is_local"])
                elif key == "track":
                    track = self._row("tracks", item["track"])
                    entry[key] = self.track(track, self._shape(item["track_shape"]), item_extra.get("track"))
            items.append(entry)
        out["items"] = items
        return out

    def _reference_page(self, playlist: sqlite3.Row) -> dict[str, Any]:
        """The items of a playlist imported from the layout: catalog tracks, episodes, local files, and tracks
        the layout's tracks table did not hold (as far as their id tells)."""
        items = []
        for item in self.conn.execute(
            "SELECT * FROM playlist_items WHERE playlist = ? ORDER BY position", (playlist["rowid"],)
        ):
            track: Any = None
            if item["track"] is not None:
                row = self._row("tracks", item["track"])
                track = (
                    self.track(row, self._shape(row["shape"]), None)
                    if row["shape"] is not None
                    else {"id": row["id"], "type": "track", "uri": f"spotify:track:{row['id']}"}
                )
            elif item["is_local"]:
                track = {
                    "album": {"name": item["local_album"]},
                    "artists": [{"name": item["local_artist"]}],
                    "duration_ms": item["local_duration_ms"],
                    "id": None,
                    "is_local": True,
                    "name": item["local_name"],
                    "type": "track",
                    "uri": item["local_uri"],
                }
            elif item["other_id"] is not None:
                kind = "episode" if item["is_episode"] else "track"
                track = {"id": item["other_id"], "type": kind, "uri": f"spotify:{kind}:{item['other_id']}"}
            items.append(
                {
                    "added_at": item["added_at"],
                    "added_by": _user(item["added_by"], None) if item["added_by"] is not None else None,
                    "is_local": bool(item["is_local"]),
                    "track": track,
                }
            )
        return {"href": f"{API}playlists/{playlist['id']}/tracks", "items": items, "total": playlist["tracks_total"]}

    @staticmethod
    def _common(key: str, row: sqlite3.Row, kind: str, id_: str) -> Any:
        if key == "id":
            return id_
        if key == "href":
            return f"{API}{kind}s/{id_}"
        if key == "uri":
            return f"spotify:{kind}:{id_}"
        if key == "external_urls":
            return {"spotify": f"{OPEN}{kind}/{id_}"}
        if key == "type":
            return kind
        if key in ("name", "popularity"):
            return row[key]
        raise KeyError(f"cannot rebuild key {key!r} of {kind} {id_}: catalog is inconsistent")

    # --- whole tables --------------------------------------------------------------------------------------
    def rows(self, kind: str, id_: str | None = None) -> Iterator[dict[str, Any]]:
        """Every exportable object of a kind (those imported as Spotify objects), in catalog order. `id_` may be
        given in any form a command prints ('spotify:track:ID', a URL) as well as bare."""
        if id_ is not None:
            ref = parse_reference(id_)
            if ref.ns in (None, NS_SPOTIFY) and ref.kind not in ("isrc", "upc"):
                id_ = ref.value
        table = {"track": "tracks", "album": "albums", "artist": "artists", "playlist": "playlists"}.get(kind)
        where = "ns = ? AND shape IS NOT NULL"
        params: list[Any] = [NS_SPOTIFY]
        if id_ is not None:
            where += " AND id = ?"
            params.append(id_)
        if kind == "audio-features":
            sql = (
                "SELECT f.*, t.id AS track_id FROM audio_features f JOIN tracks t ON t.rowid=f.track WHERE t.ns=? "
                "AND f.origin='spotify' AND coalesce(f.null_response, 0) = 0"
            )  # null: the API had none
            if id_ is not None:
                sql += " AND t.id = ?"
            for row in self.conn.execute(sql + " ORDER BY f.track", params).fetchall():
                yield self.features(row, row["track_id"])
            return
        if table is None:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        cursor = self.conn.execute(f"SELECT rowid, * FROM {table} WHERE {where} ORDER BY rowid", params)
        while batch := cursor.fetchmany(1000):
            for row in batch:
                extra = orjson.loads(row["extra"]) if row["extra"] else None
                if kind == "track":
                    yield self.track(row, self._shape(row["shape"]), extra)
                elif kind == "album":
                    yield self.album(row, self._shape(row["shape"]), extra)
                elif kind == "artist":
                    yield self.artist(row, self._shape(row["shape"]), extra)
                else:
                    yield self.playlist(row)
