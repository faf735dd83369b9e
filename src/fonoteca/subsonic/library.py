"""What the Subsonic API lists: by default the tracks that have a file here (as the site's playable list finds
them), grouped by album and artist as in the catalog. A multi-artist album or a compilation stays one album under
its album artists; an artist who only appears on other artists' albums is not given those albums ("appears on"
stays apart: their tracks still show in search, genres and random songs).

`[subsonic] library = "released"` (or `fetch_missing = true`) adds every released track this copy does not hold
yet; `"catalog"` lists the whole catalog. `visible_tracks` is the one place the rules that hide tracks plug
in (fonoteca.publication: withdrawn tracks, and stored files whose licence the archive does not publish): every
listing goes through it.

The snapshot (members, albums, their artists, genres, counts) is computed once per catalog state and release
listing (and again at most once a minute, as downloads add files), then shared by every thread; each thread's
catalog connection gets the members in a TEMP table so that the SQL of every listing can join on them.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fonoteca.catalog.ids import NAMESPACES
from fonoteca.pack.manifest import ManifestLine, read_manifest

RECHECK_S = 60.0
CHUNK = 500
LIB_TABLE = "temp.subsonic_lib"


def hidden_tracks(conn: sqlite3.Connection) -> frozenset[int]:
    """Track rowids that must not be listed or played: withdrawn by the ledger, or with a licence this archive
    does not publish."""
    from fonoteca.publication import hidden_rowids

    return hidden_rowids(conn)


def visible_tracks(conn: sqlite3.Connection, rowids: Iterable[int]) -> set[int]:
    """The tracks of `rowids` that may be listed and played."""
    hidden = hidden_tracks(conn)
    return {r for r in rowids if r not in hidden}


def chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(items: list[Any]) -> str:
    return ",".join("?" * len(items))


@dataclass
class Released:
    """A released file: where it is in which release (the manifest line), for tracks this copy may not hold."""

    release: str
    line: ManifestLine


@dataclass
class AlbumInfo:
    rowid: int
    name: str
    year: int | None
    created: int
    artists: tuple[int, ...]
    songs: int
    duration_ms: int


@dataclass
class Snapshot:
    mode: str
    members: frozenset[int] | None  # None: the whole catalog (less the hidden tracks)
    hidden: frozenset[int]
    held: frozenset[int]
    released: dict[str, Released]  # track id -> where its file is released
    generation: int
    built_at: float
    checked_at: float = 0.0  # when the periodic recheck last found nothing changed (built_at before that)
    albums: dict[int, AlbumInfo] = field(default_factory=dict)
    artist_albums: dict[int, list[int]] = field(default_factory=dict)
    artist_names: dict[int, str] = field(default_factory=dict)
    artist_genres: dict[int, list[str]] = field(default_factory=dict)
    genre_songs: dict[str, int] = field(default_factory=dict)
    album_order: list[int] = field(default_factory=list)  # alphabetical by name

    def contains(self, rowid: int) -> bool:
        if rowid in self.hidden:
            return False
        return True if self.members is None else rowid in self.members


class Library:
    """The current snapshot of one site: rebuilt at once when the catalog, the ledger or the releases change, and
    rechecked in the background after a minute (held files and hidden tracks can change without those), while
    the snapshot in hand is still served: rebuilding a library of millions of tracks takes seconds, and no request
    waits for it. The recheck rebuilds only when what the snapshot was made from differs."""

    def __init__(self, site: Any, mode: str) -> None:
        self.site = site
        self.mode = mode
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()  # held while a background rebuild runs: one at a time
        self._snapshot: Snapshot | None = None
        self._key: Any = None
        self._local = threading.local()
        self._generation = 0

    # --- the snapshot -------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        site = self.site
        key = (site.store.stamp(), tuple(r.signature for r in site.releases.all()))
        current = self._snapshot
        if current is not None and self._key == key:
            if time.monotonic() - max(current.built_at, current.checked_at) >= RECHECK_S:
                self._rebuild_in_background(key)
            return current
        with self._lock:
            current = self._snapshot
            if current is not None and self._key == key:
                return current
            return self._rebuild(key)

    def _rebuild(self, key: Any) -> Snapshot:
        """A new snapshot, made current (the caller holds self._lock)."""
        self._generation += 1
        snap = self._build(self._generation)
        self._snapshot, self._key = snap, key
        return snap

    def _rebuild_in_background(self, key: Any) -> None:
        if not self._refreshing.acquire(blocking=False):
            return  # already under way

        def run() -> None:
            try:
                with self._lock:
                    current = self._snapshot
                    if current is None or self._key != key:
                        return  # a change of key meanwhile was rebuilt by a request
                    if time.monotonic() - max(current.built_at, current.checked_at) < RECHECK_S:
                        return
                    if self._made_from_the_same(current):
                        current.checked_at = time.monotonic()
                    else:
                        self._rebuild(key)
            finally:
                self.site.store.close_thread()  # this thread's catalog connection, opened by the rebuild
                self._refreshing.release()

        threading.Thread(target=run, name="fonoteca-subsonic-library", daemon=True).start()

    def _made_from_the_same(self, snap: Snapshot) -> bool:
        """Whether a build now would start from what `snap` was built from: the same catalog and releases (the
        caller checked the key) and the same hidden and held tracks, which cost a fraction of a build to read."""
        hidden, held = self._hidden_and_held()
        return hidden == snap.hidden and held == snap.held

    def _hidden_and_held(self) -> tuple[frozenset[int], frozenset[int]]:
        hidden = hidden_tracks(self.site.store.conn)
        return hidden, frozenset(r for r, _pop in self.site.playable.get(self.site))

    def _build(self, generation: int) -> Snapshot:
        conn = self.site.store.conn
        hidden, held = self._hidden_and_held()
        released = self._released() if self.mode in ("released", "catalog") else {}
        if self.mode == "held":
            members: frozenset[int] | None = frozenset(visible_tracks(conn, held))
        elif self.mode == "released":
            members = frozenset(visible_tracks(conn, held | self._rowids(conn, released)))
        else:
            members = None
        snap = Snapshot(self.mode, members, hidden, held, released, generation, time.monotonic())
        self._fill(conn, snap)
        self._albums(conn, snap)
        return snap

    def _released(self) -> dict[str, Released]:
        out: dict[str, Released] = {}
        for rel in sorted(self.site.releases.all(), key=lambda r: r.name):
            path = rel.directory / "manifest.jsonl.zst"
            if not path.is_file():
                continue
            try:
                lines = read_manifest(path)
            except Exception:  # noqa: BLE001 (a damaged manifest lists nothing; the site shows its error)
                continue
            for line in lines:
                out[line.id] = Released(rel.name, line)
        return out

    @staticmethod
    def _rowids(conn: sqlite3.Connection, released: dict[str, Released]) -> set[int]:
        found: set[int] = set()
        for part in chunks(list(released.values())):
            ids = [x.line.id for x in part]
            wanted = {(x.line.id, NAMESPACES.get(x.line.ns)) for x in part}
            for rowid, id_, ns in conn.execute(
                f"SELECT rowid, id, ns FROM tracks WHERE id IN ({marks(ids)}) AND level > 0", ids
            ):
                if (id_, ns) in wanted:
                    found.add(int(rowid))
        return found

    # --- per-thread TEMP table of the members -------------------------------------------------------------
    def _fill(self, conn: sqlite3.Connection, snap: Snapshot) -> None:
        if snap.members is None:
            return
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS subsonic_lib (rowid INTEGER PRIMARY KEY)")
        conn.execute(f"DELETE FROM {LIB_TABLE}")
        conn.executemany(f"INSERT INTO {LIB_TABLE} VALUES (?)", ((r,) for r in sorted(snap.members)))
        self._local.filled = (id(conn), snap.generation)

    def conn(self, snap: Snapshot) -> sqlite3.Connection:
        """This thread's catalog connection, its TEMP members table holding `snap`'s members."""
        conn = self.site.store.conn
        if snap.members is not None and getattr(self._local, "filled", None) != (id(conn), snap.generation):
            self._fill(conn, snap)
        return conn

    @staticmethod
    def join(snap: Snapshot, alias: str = "t") -> str:
        """SQL that keeps only listed tracks (alias: the tracks table's alias)."""
        if snap.members is not None:
            return f" JOIN {LIB_TABLE} lib ON lib.rowid = {alias}.rowid "
        return ""

    @staticmethod
    def where(snap: Snapshot, alias: str = "t") -> str:
        """SQL conditions (starting with AND) that keep only listed tracks when there is no members table."""
        if snap.members is not None:
            return ""
        clause = f" AND {alias}.level > 0 "
        if snap.hidden:
            clause += f" AND {alias}.rowid NOT IN ({','.join(str(r) for r in sorted(snap.hidden))}) "
        return clause

    # --- albums, artists, genres ---------------------------------------------------------------------------
    def _albums(self, conn: sqlite3.Connection, snap: Snapshot) -> None:
        join, where = self.join(snap), self.where(snap)
        counts = {
            a: (n, d or 0)
            for a, n, d in conn.execute(
                f"SELECT t.album, count(*), sum(t.duration_ms) FROM tracks t {join} "
                f"WHERE t.album IS NOT NULL {where} GROUP BY t.album"
            )
        }
        album_ids = sorted(counts)
        artists: dict[int, list[int]] = {}
        for part in chunks(album_ids):
            for album, artist in conn.execute(
                f"SELECT album, artist FROM album_artists WHERE album IN ({marks(part)}) ORDER BY album, position", part
            ):
                artists.setdefault(album, []).append(artist)
        lacking = [a for a in album_ids if a not in artists]
        for part in chunks(lacking):  # no album artists recorded: the first artist of the album's first track
            for album, artist in conn.execute(
                f"SELECT t.album, ta.artist FROM tracks t JOIN track_artists ta ON ta.track = t.rowid "
                f"AND ta.position = 0 WHERE t.album IN ({marks(part)}) "
                f"ORDER BY t.album, t.disc_number, t.track_number, t.rowid",
                part,
            ):
                artists.setdefault(album, [artist])
        for part in chunks(album_ids):
            for rowid, name, date, fetched in conn.execute(
                f"SELECT rowid, name, release_date, fetched_at FROM albums WHERE rowid IN ({marks(part)})", part
            ):
                year = int(date[:4]) if isinstance(date, str) and date[:4].isdigit() and date[:4] != "0000" else None
                songs, duration = counts[rowid]
                snap.albums[rowid] = AlbumInfo(
                    rowid, name or "", year, int(fetched or 0), tuple(artists.get(rowid, ())), songs, duration
                )
        for info in snap.albums.values():
            for artist in info.artists:
                snap.artist_albums.setdefault(artist, []).append(info.rowid)
        artist_ids = sorted(snap.artist_albums)
        for part in chunks(artist_ids):
            for rowid, name in conn.execute(f"SELECT rowid, name FROM artists WHERE rowid IN ({marks(part)})", part):
                snap.artist_names[rowid] = name or ""
        self._genres(conn, snap)
        snap.album_order = sorted(snap.albums, key=lambda a: (snap.albums[a].name.casefold(), a))

    def _genres(self, conn: sqlite3.Connection, snap: Snapshot) -> None:
        join, where = self.join(snap), self.where(snap)
        for genre, count in conn.execute(
            f"SELECT g.name, count(*) FROM tracks t {join} JOIN track_artists ta ON ta.track = t.rowid "
            f"AND ta.position = 0 JOIN artist_genres ag ON ag.artist = ta.artist JOIN genres g "
            f"ON g.rowid = ag.genre WHERE 1 {where} GROUP BY g.name"
        ):
            snap.genre_songs[genre] = count
        ids = sorted(snap.artist_albums)
        for part in chunks(ids):
            for artist, genre in conn.execute(
                f"SELECT ag.artist, g.name FROM artist_genres ag JOIN genres g ON g.rowid = ag.genre "
                f"WHERE ag.artist IN ({marks(part)}) ORDER BY ag.artist, ag.position",
                part,
            ):
                snap.artist_genres.setdefault(artist, []).append(genre)

    # --- lookups -------------------------------------------------------------------------------------------
    def album_genre(self, snap: Snapshot, album: int) -> str | None:
        info = snap.albums.get(album)
        for artist in info.artists if info else ():
            genres = snap.artist_genres.get(artist)
            if genres:
                return genres[0]
        return None

    def artists_by_name(self, snap: Snapshot) -> list[int]:
        return sorted(snap.artist_albums, key=lambda a: (snap.artist_names.get(a, "").casefold(), a))

    def random_albums(self, snap: Snapshot, count: int) -> list[int]:
        ids = snap.album_order
        return random.sample(ids, min(count, len(ids)))
