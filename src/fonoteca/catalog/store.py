"""Writing records into the catalog: one transaction per batch, fuller and newer objects win.

A row is replaced only by a record of a higher level, or of the same level and a newer fetched_at, or of the same
level and fetched_at that carries more fields (the keys of a JSON object; the filled columns of a table row); a
record that carries nothing but its id never replaces a row that has fields. Table rows (level 1) meeting table
rows are merged rather than replaced: the winner's values, and the held row's where the winner has none, so a
track table that names an artist leaves the popularity and genres an artist table gave it. Everything else leaves
the row untouched. A row's (level, fetched_at, fields) only ever grows, rowids are assigned in input order and
each batch is committed atomically: importing a file twice changes nothing, and an import killed at any moment
then run again ends in the same state as one clean run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from fonoteca.catalog.db import transaction
from fonoteca.catalog.records import (
    LEVEL_TABLE,
    AlbumLinkRec,
    AlbumRec,
    ArtistRec,
    FeaturesRec,
    PlaylistRec,
    Record,
    Shape,
    TrackRec,
)

# The columns that count as fields of a row stored without a shape (table rows, MusicBrainz objects, stubs).
CONTENT = {
    "artists": ("name", "popularity", "followers"),
    "albums": (
        "name",
        "album_type",
        "total_tracks",
        "release_date",
        "release_date_precision",
        "label",
        "popularity",
        "markets",
        "upc",
    ),
    "tracks": (
        "name",
        "album",
        "disc_number",
        "track_number",
        "duration_ms",
        "explicit",
        "popularity",
        "preview_url",
        "is_local",
        "markets",
        "isrc",
    ),
    "playlists": ("name", "description", "owner_id", "public", "collaborative", "followers", "snapshot_id"),
}
TABLE_OF = {ArtistRec: "artists", AlbumRec: "albums", TrackRec: "tracks", PlaylistRec: "playlists"}
FEATURE_RANK = {"computed": 0, "table": 1, "spotify": 2}  # a table's features never replace the API's

# Column lists of the rows Store writes (named, so that columns added by later migrations keep their defaults).
_COLUMNS = {
    "artists": "rowid, ns, id, name, popularity, followers, level, fetched_at, source, shape, extra",
    "albums": "rowid, ns, id, name, album_type, total_tracks, release_date, release_date_precision, label, popularity, "
    "markets, upc, level, fetched_at, source, shape, extra",
    "tracks": "rowid, ns, id, name, album, disc_number, track_number, duration_ms, explicit, popularity, preview_url, "
    "is_local, markets, isrc, level, fetched_at, source, shape, album_shape, extra",
    "audio_features": "track, danceability, energy, key, loudness, mode, speechiness, acousticness, instrumentalness, "
    "liveness, valence, tempo, time_signature, duration_ms, origin, fetched_at, source, shape, extra",
    "playlists": "rowid, ns, id, name, description, owner_id, public, collaborative, followers, snapshot_id, level, "
    "fetched_at, source, shape, extra",
    "playlist_items": "playlist, position, track, added_at, shape, track_shape, extra",
}


def field_count(table: str, rec: Any) -> int:
    """How many fields a record carries: its object's keys, or its filled columns when it has no shape."""
    if rec.shape is not None:
        return len(rec.shape)
    return sum(getattr(rec, column) is not None for column in CONTENT[table])


def _fields_sql(table: str) -> str:
    filled = " + ".join(f"(t.{column} IS NOT NULL)" for column in CONTENT[table])
    return f"CASE WHEN t.shape IS NULL THEN {filled} ELSE json_array_length(s.keys) END"


def _merge(table: str, held: Any, rec: Any) -> Any:
    """Two table records of one entity: rec's values, held's where rec has none."""
    changes = {column: getattr(held, column) for column in CONTENT[table] if getattr(rec, column) is None}
    for child in ("genres", "artists", "images", "extra"):
        if child in rec._fields and getattr(rec, child) is None:
            changes[child] = getattr(held, child)
    if "external_ids" in rec._fields and not rec.external_ids:
        changes["external_ids"] = held.external_ids
    return rec._replace(**changes) if changes else rec


def _better(table: str, rec: Any, held: Any) -> bool:
    """Within one batch (one fetched_at): a higher level, or the same level with more fields."""
    if rec.level != held.level:
        return rec.level > held.level
    return field_count(table, rec) > field_count(table, held)


def _dumps(value: Any) -> str | None:
    return orjson.dumps(value).decode() if value else None


def _unless_kept(to_write: list[tuple[int, Any]], replaced: list[int], merged: set[int], child: str) -> list[int]:
    """Replaced rowids whose `child` rows go: all of a replacement, those a merged record brings anew."""
    if not merged:
        return replaced
    keep = {rowid for rowid, r in to_write if rowid in merged and not getattr(r, child)}
    return [rowid for rowid in replaced if rowid not in keep]


class Interner:
    """A de-duplicated value table (shapes, market lists, genres) with an in-memory cache of its ids."""

    def __init__(self, conn: sqlite3.Connection, table: str, column: str, limit: int) -> None:
        self.conn, self.table, self.column, self.limit = conn, table, column, limit
        self.cache: dict[Any, int] = {}

    def id(self, value: Any, text: str) -> int:
        found = self.cache.get(value)
        if found is not None:
            return found
        row = self.conn.execute(f"SELECT rowid FROM {self.table} WHERE {self.column} = ?", (text,)).fetchone()
        if row is None:
            found = self.conn.execute(f"INSERT INTO {self.table} ({self.column}) VALUES (?)", (text,)).lastrowid
        else:
            found = row[0]
        if len(self.cache) >= self.limit:
            self.cache.clear()
        self.cache[value] = found  # type: ignore[assignment]
        return found  # type: ignore[return-value]

    def reset(self) -> None:
        self.cache.clear()


class Store:
    def __init__(self, conn: sqlite3.Connection, source: int | None, fetched_at: int) -> None:
        self.conn = conn
        self.source = source
        self.fetched_at = fetched_at
        self.shapes = Interner(conn, "shapes", "keys", 100_000)
        self.markets = Interner(conn, "market_lists", "markets", 50_000)  # a market list is ~600 bytes
        self.genres = Interner(conn, "genres", "name", 200_000)
        self.written = {"artists": 0, "albums": 0, "tracks": 0, "audio_features": 0, "playlists": 0}

    # --- interning -----------------------------------------------------------------------------------------
    def shape_id(self, shape: Shape | None) -> int | None:
        if shape is None:
            return None
        found = self.shapes.cache.get(shape)
        return found if found is not None else self.shapes.id(shape, orjson.dumps(shape).decode())

    def market_id(self, markets: str | None) -> int | None:
        if markets is None:
            return None
        found = self.markets.cache.get(markets)
        return found if found is not None else self.markets.id(markets, markets)

    # --- batches -------------------------------------------------------------------------------------------
    def write(self, records: Iterable[Record]) -> None:
        """Write one batch atomically."""
        self.write_batch(records, own_transaction=True)

    def write_batch(self, records: Iterable[Record], *, own_transaction: bool) -> None:
        """Write one batch, in a transaction of its own or in the caller's (a bulk load's segment)."""
        best: dict[type, dict[Any, Record]] = {ArtistRec: {}, AlbumRec: {}, TrackRec: {}, FeaturesRec: {}}
        playlists: list[PlaylistRec] = []
        album_links: list[AlbumLinkRec] = []
        for rec in records:
            kind = type(rec)
            if kind is PlaylistRec:
                playlists.append(rec)  # type: ignore[arg-type]
                continue
            if kind is AlbumLinkRec:
                album_links.append(rec)  # type: ignore[arg-type]
                continue
            table = best.get(kind)
            if table is None:
                continue  # not a record (an encoder's FieldReject note): never written
            key = (rec.ns, rec.track) if kind is FeaturesRec else (rec.ns, rec.id)  # type: ignore[union-attr]
            held = table.get(key)
            if held is None:
                table[key] = rec
            elif kind is not FeaturesRec:
                name = TABLE_OF[kind]
                if _better(name, rec, held):
                    both_table = rec.level == held.level == LEVEL_TABLE  # type: ignore[union-attr]
                    table[key] = _merge(name, held, rec) if both_table else rec
        try:
            if own_transaction:
                with transaction(self.conn):
                    self._write_all(best, playlists, album_links)
            else:
                self._write_all(best, playlists, album_links)
        except BaseException:
            for interner in (self.shapes, self.markets, self.genres):
                interner.reset()
            raise

    def _write_all(
        self, best: dict[type, dict[Any, Record]], playlists: list[PlaylistRec], album_links: list[AlbumLinkRec]
    ) -> None:
        artist_ids = self._write_artists(best[ArtistRec])  # type: ignore[arg-type]
        album_ids = self._write_albums(best[AlbumRec], artist_ids)  # type: ignore[arg-type]
        track_ids = self._write_tracks(best[TrackRec], album_ids, artist_ids)  # type: ignore[arg-type]
        self._write_features(best[FeaturesRec], track_ids)  # type: ignore[arg-type]
        self._write_playlists(playlists, track_ids)
        self._write_album_links(album_links, album_ids, track_ids)

    def _existing(
        self, table: str, keys: Iterable[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[int, int, int, int]]:
        """(ns, id) -> (rowid, level, fetched_at, fields) for the rows that exist."""
        by_ns: dict[int, list[str]] = {}
        for ns, id_ in keys:
            by_ns.setdefault(ns, []).append(id_)
        found = {}
        for ns, ids in by_ns.items():
            rows = self.conn.execute(
                f"SELECT j.value, t.rowid, t.level, t.fetched_at, {_fields_sql(table)} FROM json_each(?) AS j "
                f"JOIN {table} AS t ON t.id = j.value AND t.ns = ? LEFT JOIN shapes AS s ON s.rowid = t.shape",
                (orjson.dumps(ids).decode(), ns),
            )
            for id_, rowid, level, fetched_at, fields in rows:
                found[(ns, id_)] = (rowid, level, fetched_at, fields)
        return found

    def _next_rowid(self, table: str) -> int:
        return self.conn.execute(f"SELECT coalesce(max(rowid), 0) + 1 FROM {table}").fetchone()[0]

    def _plan(
        self, table: str, recs: dict[Any, Any]
    ) -> tuple[dict[Any, int], list[tuple[int, Any]], list[int], set[int]]:
        """Decide each record's rowid and whether it is written:
        (ids, [(rowid, rec) to write], replaced rowids, the replaced rowids to merge into rather than overwrite)."""
        existing = self._existing(table, recs.keys())
        next_rowid = self._next_rowid(table)
        ids: dict[Any, int] = {}
        to_write: list[tuple[int, Any]] = []
        replaced: list[int] = []
        merged: set[int] = set()
        for key, rec in recs.items():
            held = existing.get(key)
            if held is None:
                ids[key] = next_rowid
                to_write.append((next_rowid, rec))
                next_rowid += 1
                continue
            rowid, level, held_at, held_fields = held
            ids[key] = rowid
            if self._wins(table, rec, level, held_at, held_fields):
                to_write.append((rowid, rec))
                replaced.append(rowid)
                if rec.level == level == LEVEL_TABLE:
                    merged.add(rowid)
        self.written[table] += len(to_write)
        return ids, to_write, replaced, merged

    def _wins(self, table: str, rec: Any, level: int, held_at: int, held_fields: int) -> bool:
        if rec.level < level:
            return False
        if rec.level == level and self.fetched_at < held_at:
            return False
        fields = field_count(table, rec)
        if fields == 0 and held_fields > 0:
            return False  # a stub never replaces a row that has fields, whatever its date
        if rec.level == level and self.fetched_at == held_at:
            return fields > held_fields
        return True

    def _held(self, table: str, columns: tuple[str, ...], rowids: Iterable[int]) -> dict[int, tuple[Any, ...]]:
        """Current column values of rows about to be merged into."""
        wanted = sorted(rowids)
        if not wanted:
            return {}
        rows = self.conn.execute(
            f"SELECT t.rowid, {', '.join('t.' + c for c in columns)} FROM json_each(?) AS j JOIN {table} AS t "
            f"ON t.rowid = j.value",
            (orjson.dumps(wanted).decode(),),
        )
        return {row[0]: row[1:] for row in rows}

    def _fill(
        self, table: str, to_write: list[tuple[int, Any]], merged: set[int], also: tuple[str, ...] = ()
    ) -> dict[int, tuple[Any, ...]]:
        """Give merged records the held row's values where they have none (columns in CONTENT, then `also`);
        returns the held values of `also` by rowid for the caller."""
        if not merged:
            return {}
        columns = CONTENT[table] + also
        held = self._held(table, columns, merged)
        for i, (rowid, rec) in enumerate(to_write):
            if rowid in merged and rowid in held:
                values = held[rowid]
                changes = {
                    c: values[j]
                    for j, c in enumerate(CONTENT[table])
                    if c not in ("album", "markets") and getattr(rec, c) is None
                }
                to_write[i] = (rowid, rec._replace(**changes) if changes else rec)
        return {rowid: values[len(CONTENT[table]) :] for rowid, values in held.items()}

    def _delete_children(self, sql: str, rowids: list[int]) -> None:
        if rowids:
            self.conn.executemany(sql, [(r,) for r in rowids])

    def _images(self, kind: str, rowid: int, images: Any, rows: list[tuple[Any, ...]]) -> None:
        for position, (url, width, height, shape) in enumerate(images):
            rows.append((kind, rowid, position, url, width, height, self.shape_id(shape)))

    def _write_artists(self, recs: dict[Any, ArtistRec]) -> dict[Any, int]:
        ids, to_write, replaced, merged = self._plan("artists", recs)
        held = self._fill("artists", to_write, merged, ("extra",))
        self._delete_children(
            "DELETE FROM artist_genres WHERE artist = ?", _unless_kept(to_write, replaced, merged, "genres")
        )
        self._delete_children(
            "DELETE FROM images WHERE owner_kind = 'artist' AND owner = ?",
            _unless_kept(to_write, replaced, merged, "images"),
        )
        rows: list[tuple[Any, ...]] = []
        genres: list[tuple[Any, ...]] = []
        images: list[tuple[Any, ...]] = []
        source, fetched_at = self.source, self.fetched_at
        for rowid, r in to_write:
            extra = _dumps(r.extra) if r.extra is not None or rowid not in held else held[rowid][0]
            rows.append(
                (
                    rowid,
                    r.ns,
                    r.id,
                    r.name,
                    r.popularity,
                    r.followers,
                    r.level,
                    fetched_at,
                    source,
                    self.shape_id(r.shape),
                    extra,
                )
            )
            if r.genres:
                for position, genre in enumerate(r.genres):
                    genres.append((rowid, position, self.genres.id(genre, genre)))
            if r.images:
                self._images("artist", rowid, r.images, images)
        self.conn.executemany(
            f"INSERT OR REPLACE INTO artists ({_COLUMNS['artists']}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows
        )
        self.conn.executemany("INSERT INTO artist_genres VALUES (?,?,?)", genres)
        self.conn.executemany("INSERT INTO images VALUES (?,?,?,?,?,?,?)", images)
        return ids

    def _stub_ids(self, table: str, keys: set[tuple[int, str]], known: dict[Any, int]) -> None:
        """Rowids for referenced entities not in this batch: existing rows, else new stub rows (level 0)."""
        missing = [k for k in keys if k not in known]
        if not missing:
            return
        existing = self._existing(table, missing)
        next_rowid = self._next_rowid(table)
        stubs = []
        for key in missing:
            if key in existing:
                known[key] = existing[key][0]
            else:
                known[key] = next_rowid
                stubs.append((next_rowid, key[0], key[1], self.fetched_at, self.source))
                next_rowid += 1
        self.conn.executemany(
            f"INSERT INTO {table} (rowid, ns, id, level, fetched_at, source) VALUES (?,?,?,0,?,?)", stubs
        )

    def _links(self, owner: int, links: Any, ids: dict[Any, int], ns: int, rows: list[tuple[Any, ...]]) -> None:
        shape_id = self.shape_id
        for position, (id_, shape) in enumerate(links):
            rows.append((owner, position, ids[(ns, id_)], shape_id(shape)))

    def _write_albums(self, recs: dict[Any, AlbumRec], artist_ids: dict[Any, int]) -> dict[Any, int]:
        ids, to_write, replaced, merged = self._plan("albums", recs)
        held = self._fill("albums", to_write, merged, ("markets", "extra"))
        self._delete_children(
            "DELETE FROM album_artists WHERE album = ?", _unless_kept(to_write, replaced, merged, "artists")
        )
        self._delete_children(
            "DELETE FROM images WHERE owner_kind = 'album' AND owner = ?",
            _unless_kept(to_write, replaced, merged, "images"),
        )
        self._delete_children(
            "DELETE FROM external_ids WHERE owner_kind = 'album' AND owner = ?",
            _unless_kept(to_write, replaced, merged, "external_ids"),
        )
        self._stub_ids("artists", {(r.ns, a[0]) for _, r in to_write if r.artists for a in r.artists}, artist_ids)
        rows: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        images: list[tuple[Any, ...]] = []
        external: list[tuple[Any, ...]] = []
        source, fetched_at = self.source, self.fetched_at
        for rowid, r in to_write:
            extra = r.extra
            if r.items is not None:
                extra = dict(extra or {})
                extra["tracks"] = dict(
                    extra["tracks"],
                    items=[
                        [track_id, self.shape_id(shape)] + ([track_extra] if track_extra else [])
                        for track_id, shape, track_extra in r.items
                    ],
                )
            markets, extra_text = self.market_id(r.markets), _dumps(extra)
            if rowid in held:  # merged table row: keep what the winner lacks
                markets = markets if r.markets is not None else held[rowid][0]
                extra_text = extra_text if extra is not None else held[rowid][1]
            rows.append(
                (
                    rowid,
                    r.ns,
                    r.id,
                    r.name,
                    r.album_type,
                    r.total_tracks,
                    r.release_date,
                    r.release_date_precision,
                    r.label,
                    r.popularity,
                    markets,
                    r.upc,
                    r.level,
                    fetched_at,
                    source,
                    self.shape_id(r.shape),
                    extra_text,
                )
            )
            if r.artists:
                self._links(rowid, r.artists, artist_ids, r.ns, links)
            if r.images:
                self._images("album", rowid, r.images, images)
            for kind, value in r.external_ids:
                external.append(("album", rowid, kind, value))
        self.conn.executemany(
            f"INSERT OR REPLACE INTO albums ({_COLUMNS['albums']}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
        )
        self.conn.executemany("INSERT INTO album_artists VALUES (?,?,?,?)", links)
        self.conn.executemany("INSERT INTO images VALUES (?,?,?,?,?,?,?)", images)
        self.conn.executemany("INSERT OR IGNORE INTO external_ids VALUES (?,?,?,?)", external)
        return ids

    def _write_tracks(
        self, recs: dict[Any, TrackRec], album_ids: dict[Any, int], artist_ids: dict[Any, int]
    ) -> dict[Any, int]:
        ids, to_write, replaced, merged = self._plan("tracks", recs)
        held = self._fill("tracks", to_write, merged, ("album", "markets", "extra"))
        self._delete_children(
            "DELETE FROM track_artists WHERE track = ?", _unless_kept(to_write, replaced, merged, "artists")
        )
        self._delete_children(
            "DELETE FROM external_ids WHERE owner_kind = 'track' AND owner = ?",
            _unless_kept(to_write, replaced, merged, "external_ids"),
        )
        self._stub_ids("albums", {(r.ns, r.album) for _, r in to_write if r.album is not None}, album_ids)
        self._stub_ids("artists", {(r.ns, a[0]) for _, r in to_write if r.artists for a in r.artists}, artist_ids)
        rows: list[tuple[Any, ...]] = []
        links: list[tuple[Any, ...]] = []
        external: list[tuple[Any, ...]] = []
        source, fetched_at = self.source, self.fetched_at
        shape_id, market_id = self.shape_id, self.market_id
        for rowid, r in to_write:
            album = album_ids[(r.ns, r.album)] if r.album is not None else None
            markets, extra = market_id(r.markets), _dumps(r.extra)
            if rowid in held:  # merged table row: keep what the winner lacks
                kept_album, kept_markets, kept_extra = held[rowid]
                album = album if r.album is not None else kept_album
                markets = markets if r.markets is not None else kept_markets
                extra = extra if r.extra is not None else kept_extra
            rows.append(
                (
                    rowid,
                    r.ns,
                    r.id,
                    r.name,
                    album,
                    r.disc_number,
                    r.track_number,
                    r.duration_ms,
                    r.explicit,
                    r.popularity,
                    r.preview_url,
                    r.is_local,
                    markets,
                    r.isrc,
                    r.level,
                    fetched_at,
                    source,
                    shape_id(r.shape),
                    shape_id(r.album_shape),
                    extra,
                )
            )
            if r.artists:
                self._links(rowid, r.artists, artist_ids, r.ns, links)
            for kind, value in r.external_ids:
                if kind != "isrc" or value != r.isrc or len(r.external_ids) > 1:
                    external.append(("track", rowid, kind, value))
        self.conn.executemany(
            f"INSERT OR REPLACE INTO tracks ({_COLUMNS['tracks']}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        self.conn.executemany("INSERT INTO track_artists VALUES (?,?,?,?)", links)
        self.conn.executemany("INSERT OR IGNORE INTO external_ids VALUES (?,?,?,?)", external)
        return ids

    def _write_features(self, recs: dict[Any, FeaturesRec], track_ids: dict[Any, int]) -> None:
        if not recs:
            return
        self._stub_ids("tracks", set(recs), track_ids)
        rowids = [track_ids[key] for key in recs]
        held = {
            track: (FEATURE_RANK.get(origin, 0), at)
            for track, origin, at in self.conn.execute(
                "SELECT f.track, f.origin, f.fetched_at FROM json_each(?) "
                "AS j JOIN audio_features AS f ON f.track = j.value",
                (orjson.dumps(rowids).decode(),),
            )
        }
        rows = []
        for key, r in recs.items():
            rowid = track_ids[key]
            if rowid in held and held[rowid] >= (FEATURE_RANK.get(r.origin, 0), self.fetched_at):
                continue
            rows.append(
                (rowid, *r.values, r.origin, self.fetched_at, self.source, self.shape_id(r.shape), _dumps(r.extra))
            )
        self.written["audio_features"] += len(rows)
        self.conn.executemany(
            f"INSERT OR REPLACE INTO audio_features ({_COLUMNS['audio_features']}) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    def _write_playlists(self, recs: list[PlaylistRec], track_ids: dict[Any, int]) -> None:
        if not recs:
            return
        best: dict[Any, PlaylistRec] = {}
        pages: list[PlaylistRec] = []
        for r in recs:
            if r.level == 0:
                pages.append(r)
            held = best.get((r.ns, r.id))
            if held is None or _better("playlists", r, held):
                best[(r.ns, r.id)] = r
        ids, to_write, replaced, _ = self._plan("playlists", best)
        self._delete_children("DELETE FROM images WHERE owner_kind = 'playlist' AND owner = ?", replaced)
        self._delete_children(
            "DELETE FROM playlist_items WHERE playlist = ?",
            [rowid for rowid, r in to_write if r.items is not None and r.level > 0],
        )
        item_tracks = {(r.ns, item.track) for r in recs for item in (r.items or ()) if item.track is not None}
        self._stub_ids("tracks", item_tracks, track_ids)
        rows: list[tuple[Any, ...]] = []
        images: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        for rowid, r in to_write:
            if r.level == 0:
                rows.append(
                    (
                        rowid,
                        r.ns,
                        r.id,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        0,
                        self.fetched_at,
                        self.source,
                        None,
                        None,
                    )
                )
                continue
            rows.append(
                (
                    rowid,
                    r.ns,
                    r.id,
                    r.name,
                    r.description,
                    r.owner_id,
                    r.public,
                    r.collaborative,
                    r.followers,
                    r.snapshot_id,
                    r.level,
                    self.fetched_at,
                    self.source,
                    self.shape_id(r.shape),
                    _dumps(r.extra),
                )
            )
            if r.images:
                self._images("playlist", rowid, r.images, images)
            for item in r.items or ():
                items.append(self._item_row(rowid, r.ns, item, track_ids))
        for r in pages:  # pages of items (/playlists/ID/tracks) add or refresh the positions they cover
            for item in r.items or ():
                items.append(self._item_row(ids[(r.ns, r.id)], r.ns, item, track_ids))
        self.conn.executemany(
            f"INSERT OR REPLACE INTO playlists ({_COLUMNS['playlists']}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
        )
        self.conn.executemany("INSERT INTO images VALUES (?,?,?,?,?,?,?)", images)
        self.conn.executemany(
            f"INSERT OR REPLACE INTO playlist_items ({_COLUMNS['playlist_items']}) VALUES (?,?,?,?,?,?,?)", items
        )

    def _item_row(self, playlist: int, ns: int, item: Any, track_ids: dict[Any, int]) -> tuple[Any, ...]:
        track = track_ids[(ns, item.track)] if item.track is not None else None
        return (
            playlist,
            item.position,
            track,
            item.added_at,
            self.shape_id(item.shape),
            self.shape_id(item.track_shape),
            _dumps(item.extra),
        )

    def _write_album_links(
        self, recs: list[AlbumLinkRec], album_ids: dict[Any, int], track_ids: dict[Any, int]
    ) -> None:
        if not recs:
            return
        self._stub_ids("albums", {(r.ns, r.album) for r in recs}, album_ids)
        self._stub_ids("tracks", {(r.ns, r.track) for r in recs}, track_ids)
        self.conn.executemany(
            "INSERT OR REPLACE INTO album_tracks VALUES (?,?,?,?)",
            [(album_ids[(r.ns, r.album)], r.disc, r.number, track_ids[(r.ns, r.track)]) for r in recs],
        )
