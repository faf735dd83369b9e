"""`fonoteca import spotify-clean`: the reference release's SQLite databases into the catalog, by SQLite itself.

Where every table of the layout (fonoteca/catalog/layout.py) lands:

  artists, albums, tracks, playlists  -> rows of the same name (level 3, full objects), rowids kept where they
                                         are free; fetched_at (ms) -> fetched_ms, and fetched_at in seconds
  available_markets                   -> market_lists (comma-separated -> space-separated)
  artist_genres, *_images             -> artist_genres (genres interned), images; positions in rowid order
  artist_albums                       -> artist_albums as published; rows with an index_in_album also
                                         album_artists at that position
  track_artists                       -> track_artists, positions in rowid order
  tracks' EAN and UPC                 -> external_ids; albums' AMG id and copyrights -> their columns
  track_audio_features                -> audio_features (origin spotify, null_response kept)
  playlist_tracks                     -> playlist_items: catalog tracks linked, episodes, local files and ids
                                         not in the tracks table kept in the item's columns
  track_files                         -> track_files (keyed by the catalog track)

How: each input is ATTACHed read-only and every table goes over with INSERT ... SELECT in chunks of rowids, one
transaction per chunk, never through Python objects per row. A reference rowid r becomes catalog rowid r + shift
(shift 0 into an empty catalog: the rowids stay as published); rows whose id the catalog already holds keep
their catalog row, which the fuller or newer one wins (the same rule as every import: level, then fetched_at,
then the number of fields); `reference_map` and `reference_exceptions` remember the mapping so that a database
of the layout imported later (playlists refer to tracks by rowid) finds its rows. Into a catalog much smaller
than the input the load is a bulk load (fonoteca/catalog/bulk.py): secondary indexes dropped, built at the end.

Bad input: a file that is not the layout is refused with the tables or columns it lacks; a row that cannot be
identified (NULL or malformed id, a duplicate id, a reference to a row that does not exist) goes to rejects/
whole; a bad value (popularity 200, an invalid ISRC, UPC or EAN, a date that is no date, a string over 65,536
characters) costs only its field; pages SQLite cannot read (a corrupt or truncated database, a truncated .zst)
are rejects naming the rowids lost, and every readable row is imported. Each reject names the database, table,
rowid (or primary key) and reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from fonoteca.archive import Archive
from fonoteca.catalog import bulk, layout
from fonoteca.catalog.db import connect as db_connect
from fonoteca.catalog.db import transaction
from fonoteca.catalog.ids import is_valid_gtin, normalize_isrc
from fonoteca.catalog.importer import (
    FileSummary,
    ImportSummary,
    finish_run,
    machine_failures,
    register_source,
    start_run,
)
from fonoteca.catalog.reader import CorruptInput, chunks
from fonoteca.catalog.records import FEATURE_FIELDS, LEVEL_FULL
from fonoteca.catalog.rejects import RejectLog
from fonoteca.catalog.values import FEATURE_BOUNDS, MAX_TEXT, date_problem, int_problem, shown, text_problem, type_name
from fonoteca.errors import FonotecaError
from fonoteca.progress import Progress, no_progress

FORMAT = "spotify-clean"
SUFFIXES = (".sqlite3", ".sqlite", ".db", ".sqlite3.zst", ".sqlite.zst", ".db.zst")
CHUNK = 100_000  # reference rowids per transaction
PIECE = 32  # after a read fault, ranges are split down to this many rowids, then tried one by one
ISRC_GLOB = "[A-Z][A-Z][A-Z0-9][A-Z0-9][A-Z0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]"
ID_OK = "fon_id({c})"  # a Spotify id: 22 base62 characters (a regex in Python beats SQLite's GLOB here)
NS = 1  # the spotify namespace: the layout's ids are Spotify ids
KINDS = {"artist": "artists", "album": "albums", "track": "tracks", "playlist": "playlists"}
UNAVAILABLE_STATUSES = (
    "error_not_available",
    "error_has_replacement",
    "todo_unk",
    "error_no_ogg160",
    "error_zero_duration",
)


# --- value checks -------------------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)
def _date_ok(value: Any) -> int:
    return int(type(value) is str and date_problem(value) is None)


def _gtin_ok(value: Any) -> int:
    return int(type(value) is str and is_valid_gtin(value))


def _isrc(value: Any) -> str | None:
    return normalize_isrc(value) if type(value) is str else None


_BASE62 = re.compile(r"[0-9A-Za-z]{22}")


def _id_ok(value: Any) -> int:
    return int(type(value) is str and _BASE62.fullmatch(value) is not None)


def register_functions(conn: sqlite3.Connection) -> None:
    conn.create_function("fon_id", 1, _id_ok, deterministic=True)
    conn.create_function("fon_date", 1, _date_ok, deterministic=True)
    conn.create_function("fon_gtin", 1, _gtin_ok, deterministic=True)
    conn.create_function("fon_isrc", 1, _isrc, deterministic=True)


@dataclass(frozen=True)
class Col:
    """One catalog column filled from a layout column, and how its value is checked."""

    target: str
    source: str
    check: tuple[Any, ...] = ("any",)

    def ok(self, c: str, ref: Callable[[str, str], str]) -> str:
        kind = self.check[0]
        if kind == "text":
            return f"(typeof({c}) = 'text' AND length({c}) <= {MAX_TEXT})"
        if kind == "int":
            high = f" AND {c} <= {self.check[2]}" if self.check[2] is not None else ""
            return f"(typeof({c}) = 'integer' AND {c} >= {self.check[1]}{high})"
        if kind == "num":
            high = f" AND {c} <= {self.check[2]}" if self.check[2] is not None else ""
            return f"(typeof({c}) IN ('integer', 'real') AND {c} >= {self.check[1]}{high})"
        if kind == "bool":
            return f"(typeof({c}) = 'integer' AND {c} IN (0, 1))"
        if kind == "isrc":  # CASE, not OR: SQLite would call the Python fallback for every row
            return f"(CASE WHEN {c} GLOB '{ISRC_GLOB}' THEN 1 ELSE fon_isrc({c}) IS NOT NULL END)"
        if kind == "gtin":
            return f"fon_gtin({c})"
        if kind == "date":
            return f"fon_date({c})"
        if kind == "hex64":
            return f"(typeof({c}) = 'text' AND length({c}) = 64 AND {c} NOT GLOB '*[^0-9a-f]*')"
        if kind == "ref":
            return f"({ref(self.check[1], c)}) IS NOT NULL"
        return "1"

    def value(self, c: str, ref: Callable[[str, str], str]) -> str:
        kind = self.check[0]
        if kind == "any":
            return c
        if kind == "ref":
            return ref(self.check[1], c)
        if kind == "isrc":
            return f"CASE WHEN {c} GLOB '{ISRC_GLOB}' THEN {c} ELSE fon_isrc({c}) END"
        return f"CASE WHEN {self.ok(c, ref)} THEN {c} END"

    def bad(self, c: str, ref: Callable[[str, str], str]) -> str:
        """True when a non-NULL value fails its check (NULL is always acceptable)."""
        if self.check[0] == "any":
            return "0"
        return f"(CASE WHEN {c} IS NULL THEN 0 ELSE NOT coalesce({self.ok(c, ref)}, 0) END)"

    def problem(self, value: Any, table: str) -> str:
        kind = self.check[0]
        what: str | None
        if kind == "text":
            what = text_problem(value) or "not text"
        elif kind == "int":
            what = (
                int_problem(value, self.check[1], self.check[2])
                if type(value) is int
                else f"expected integer, got {type_name(value)} {shown(value)}"
            )
        elif kind == "num":
            high = "" if self.check[2] is None else f"..{self.check[2]}"
            what = (
                f"{shown(value)} is out of range {self.check[1]}{high}"
                if type(value) in (int, float)
                else f"expected number, got {type_name(value)} {shown(value)}"
            )
        elif kind == "bool":
            what = f"expected 0 or 1, got {shown(value)}"
        elif kind == "isrc":
            what = f"invalid ISRC {shown(value, 40)}"
        elif kind == "gtin":
            what = f"invalid {self.check[1]} {shown(value, 40)} (format or check digit)"
        elif kind == "date":
            what = date_problem(value) if type(value) is str else f"expected a date, got {type_name(value)}"
        elif kind == "hex64":
            what = f"{shown(value, 70)} is not a sha256 (64 hex digits)"
        elif kind == "ref":
            what = f"{shown(value)} refers to no row of {KINDS.get(self.check[1], 'available_markets')}"
        else:
            what = "unexpected value"
        return f"field '{table}.{self.source}': {what}; the field was left out, the rest imported"


def _text(target: str, source: str | None = None) -> Col:
    return Col(target, source or target, ("text",))


def _int(target: str, source: str | None = None, low: int = 0, high: int | None = None) -> Col:
    return Col(target, source or target, ("int", low, high))


POPULARITY = ("int", 0, 100)


@dataclass(frozen=True)
class Entity:
    """A layout table of identified rows (artists, albums, tracks, playlists) and its catalog table."""

    kind: str
    table: str  # layout table = catalog table
    columns: tuple[Col, ...]
    shape: tuple[str, ...]
    constants: tuple[tuple[str, str], ...] = ()  # (catalog column, SQL) besides the standard ones
    children: tuple[str, ...] = ()  # DELETE statements (one ? = owner) for a catalog row the layout's replaces
    also: tuple[Col, ...] = ()  # checked here, stored elsewhere (tracks' EAN and UPC: external_ids)


ENTITIES = {
    "artist": Entity(
        "artist",
        "artists",
        (_text("name"), Col("popularity", "popularity", POPULARITY), _int("followers", "followers_total")),
        layout.ARTIST_KEYS,
        children=(
            "DELETE FROM main.artist_genres WHERE artist = ?",
            "DELETE FROM main.images WHERE owner_kind = 'artist' AND owner = ?",
        ),
    ),
    "album": Entity(
        "album",
        "albums",
        (
            _text("name"),
            _text("album_type"),
            _int("total_tracks"),
            Col("release_date", "release_date", ("date",)),
            _text("release_date_precision"),
            _text("label"),
            Col("popularity", "popularity", POPULARITY),
            Col("markets", "available_markets_rowid", ("ref", "market")),
            Col("upc", "external_id_upc", ("gtin", "UPC")),
            _text("amgid", "external_id_amgid"),
            _text("copyright_c"),
            _text("copyright_p"),
        ),
        layout.ALBUM_KEYS,
        children=(
            "DELETE FROM main.album_artists WHERE album = ?",
            "DELETE FROM main.artist_albums WHERE album = ?",
            "DELETE FROM main.images WHERE owner_kind = 'album' AND owner = ?",
            "DELETE FROM main.external_ids WHERE owner_kind = 'album' AND owner = ?",
        ),
    ),
    "track": Entity(
        "track",
        "tracks",
        (
            _text("name"),
            Col("album", "album_rowid", ("ref", "album")),
            _int("disc_number"),
            _int("track_number"),
            _int("duration_ms"),
            Col("explicit", "explicit", ("bool",)),
            Col("popularity", "popularity", POPULARITY),
            _text("preview_url"),
            Col("markets", "available_markets_rowid", ("ref", "market")),
            Col("isrc", "external_id_isrc", ("isrc",)),
        ),
        layout.TRACK_KEYS,
        constants=(("is_local", "0"),),
        also=(Col("ean", "external_id_ean", ("gtin", "EAN")), Col("upc", "external_id_upc", ("gtin", "UPC"))),
        children=(
            "DELETE FROM main.track_artists WHERE track = ?",
            "DELETE FROM main.external_ids WHERE owner_kind = 'track' AND owner = ?",
            "DELETE FROM main.reference_verbatim WHERE owner_kind = 'track' AND owner = ?",
        ),
    ),
    "playlist": Entity(
        "playlist",
        "playlists",
        (
            _text("name"),
            _text("description"),
            _text("owner_id"),
            Col("public", "public", ("bool",)),
            Col("collaborative", "collaborative", ("bool",)),
            _int("followers", "followers_total"),
            _text("snapshot_id"),
            _text("primary_color"),
            _text("owner_display_name"),
            _int("tracks_total"),
        ),
        layout.PLAYLIST_KEYS,
        children=(
            "DELETE FROM main.images WHERE owner_kind = 'playlist' AND owner = ?",
            "DELETE FROM main.playlist_items WHERE playlist = ?",
        ),
    ),
}
FETCHED = _int("fetched_ms", "fetched_at")  # milliseconds as published


@dataclass(frozen=True)
class Child:
    """A layout table of rows that belong to an entity (links, genres, images, playlist entries)."""

    table: str
    owner_kind: str
    owner_source: str  # layout column naming the owner's rowid
    target: str  # catalog table
    owner_target: str  # catalog column of the owner
    columns: tuple[Col, ...]  # besides the owner
    required: tuple[str, ...]  # columns (targets) a row is rejected without
    position: str | None = "position"  # catalog column numbered in rowid order per owner (None: given)
    where_owner: str = ""  # extra condition on the catalog table when numbering (images: owner_kind)
    constants: tuple[tuple[str, str], ...] = ()


IMAGE_COLUMNS = (_text("url"), _int("width"), _int("height"))
CHILDREN = {
    "track_artists": Child(
        "track_artists",
        "track",
        "track_rowid",
        "track_artists",
        "track",
        (Col("artist", "artist_rowid", ("ref", "artist")),),
        ("artist",),
    ),
    "artist_genres": Child(
        "artist_genres", "artist", "artist_rowid", "artist_genres", "artist", (_text("genre"),), ("genre",)
    ),
    "artist_images": Child(
        "artist_images",
        "artist",
        "artist_rowid",
        "images",
        "owner",
        IMAGE_COLUMNS,
        ("url",),
        where_owner="owner_kind = 'artist'",
        constants=(("owner_kind", "'artist'"),),
    ),
    "album_images": Child(
        "album_images",
        "album",
        "album_rowid",
        "images",
        "owner",
        IMAGE_COLUMNS,
        ("url",),
        where_owner="owner_kind = 'album'",
        constants=(("owner_kind", "'album'"),),
    ),
    "artist_albums": Child(
        "artist_albums",
        "album",
        "album_rowid",
        "artist_albums",
        "album",
        (
            Col("artist", "artist_rowid", ("ref", "artist")),
            Col("is_appears_on", "is_appears_on", ("bool",)),
            Col("is_implicit_appears_on", "is_implicit_appears_on", ("bool",)),
            _int("index_in_album"),
        ),
        ("artist",),
        position="seq",
    ),
    "playlist_images": Child(
        "playlist_images",
        "playlist",
        "playlist_rowid",
        "images",
        "owner",
        IMAGE_COLUMNS,
        ("url",),
        where_owner="owner_kind = 'playlist'",
        constants=(("owner_kind", "'playlist'"),),
    ),
    "playlist_tracks": Child(
        "playlist_tracks",
        "playlist",
        "playlist_rowid",
        "playlist_items",
        "playlist",
        (
            _int("position"),
            Col("track", "track_rowid", ("ref", "track")),
            _text("added_at"),
            Col("is_episode", "is_episode", ("bool",)),
            Col("other_id", "id_if_not_in_tracks_table", ("text",)),
            _text("added_by", "added_by_id"),
            Col("is_local", "is_local", ("bool",)),
            _text("local_name", "name_if_is_local"),
            _text("local_album", "album_if_is_local"),
            _text("local_artist", "artist_if_is_local"),
            _int("local_duration_ms", "duration_ms_if_is_local"),
            _text("local_uri", "uri_if_is_local"),
        ),
        ("position",),
        position=None,
    ),
}


def _feature_check(name: str) -> tuple[Any, ...]:
    """The check of an audio-feature column: a number in its documented range, whole for the counted ones."""
    low, high = FEATURE_BOUNDS[name]
    if name in ("key", "mode", "time_signature", "duration_ms"):
        return ("int", int(low), None if high is None else int(high))
    return ("num", low, high)


FEATURE_COLUMNS = tuple(Col(name, name, _feature_check(name)) for name in FEATURE_FIELDS)
FILE_COLUMNS = (
    _text("filename"),
    _text("status"),
    _int("reencoded_kbit_vbr"),
    _int("fetched_at"),
    _text("session_country"),
    Col("sha256_original", "sha256_original", ("hex64",)),
    Col("sha256_with_embedded_meta", "sha256_with_embedded_meta", ("hex64",)),
    _int("filesize_bytes"),
    Col("isrc_has_download", "isrc_has_download", ("bool",)),
    Col("track_popularity", "track_popularity", POPULARITY),
    Col("secondary_priority", "secondary_priority", ("num", -100, 100)),
    Col("prefixed_ogg_packet", "prefixed_ogg_packet"),
    Col("alternatives", "alternatives"),
    _text("file_id_ogg_vorbis_96"),
    _text("file_id_ogg_vorbis_160"),
    _text("file_id_ogg_vorbis_320"),
    _text("file_id_aac_24"),
    _text("file_id_mp3_96"),
    Col("language_of_performance", "language_of_performance"),
    Col("artist_roles", "artist_roles"),
    Col("has_lyrics", "has_lyrics"),
    Col("licensor", "licensor"),
    Col("original_title", "original_title"),
    Col("version_title", "version_title"),
    Col("content_ratings", "content_ratings"),
)


class ReadFault(Exception):
    """SQLite could not read part of an input database (corrupt or truncated)."""


def _is_read_fault(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text or "short read" in text


# --- inputs -------------------------------------------------------------------------------------------------------
@dataclass
class Input:
    given: Path  # as named (for rejects and messages)
    path: Path  # the SQLite file read: the input, or its decompressed copy
    index: int
    schema: str  # the name it is attached under
    databases: list[str] = field(default_factory=list)
    source: int = 0
    mtime: int = 0
    log: RejectLog | None = None
    result: FileSummary | None = None
    fault: str | None = None  # the .zst stream broke off: the rows in the part that came are imported

    @property
    def rejects(self) -> RejectLog:
        """The reject log of an opened input (every step runs on opened inputs)."""
        assert self.log is not None, f"{self.given} was not opened"
        return self.log


def expand(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(SUFFIXES)))
        elif path.is_file():
            found.append(path)
        else:
            raise FonotecaError(f"{path}: no such file or folder")
    return found


def _identity(path: Path) -> list[Any]:
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, int(stat.st_mtime)]


def decompress(path: Path, folder: Path, progress: Progress | None = None) -> tuple[Path, str | None]:
    """A .zst input as a plain SQLite file beside the archive (streamed; reused when already complete):
    (its path, the fault if the stream broke off: the part before it is kept). `progress` is told the step only
    (its units are the caller's rows, not these bytes)."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"\x28\xb5\x2f\xfd":
            return path, None
    size, mtime = path.stat().st_size, int(path.stat().st_mtime)
    digest = hashlib.sha1(f"{path.resolve()}|{size}|{mtime}".encode("utf-8", "surrogateescape")).hexdigest()[:12]
    target = folder / f"{path.name.removesuffix('.zst')}-{digest}"
    done = Path(f"{target}.done")
    folder.mkdir(parents=True, exist_ok=True)
    if target.exists() and done.exists():
        return target, done.read_text(encoding="utf-8") or None
    partial = Path(f"{target}.partial")
    fault = None
    if progress:
        progress(stage="decompress")
    with open(partial, "wb") as out:
        try:
            for piece in chunks(path):
                out.write(piece)
        except CorruptInput as exc:
            fault = f"{exc}: the database is imported as far as it came"
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    done.write_text(fault or "", encoding="utf-8")
    return target, fault


def truncated(path: Path) -> tuple[int, int] | None:
    """(bytes the database's header says it has, bytes the file has) when the file is cut short."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if not pages or header[24:28] != header[92:96]:  # the size in the header is not kept up to date: unknown
        return None
    size = path.stat().st_size
    return (pages * page_size, size) if pages * page_size > size else None


# --- the import ---------------------------------------------------------------------------------------------------
def import_files(
    archive: Archive,
    paths: list[Path],
    *,
    fetched_at: int | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import databases of the layout (any subset, .zst or plain); `progress` is told the rows written, step by
    step."""
    started = time.perf_counter()
    with machine_failures(archive, "import spotify-clean"):
        run = LayoutImport(archive, expand(paths), fetched_at, progress)
        try:
            summary = run.run()
        finally:
            run.close()
    summary.seconds = time.perf_counter() - started
    return summary


class LayoutImport:
    def __init__(self, archive: Archive, files: list[Path], fetched_at: int | None, progress: Progress | None) -> None:
        if not files:
            raise FonotecaError("no input files found")
        self.archive = archive
        self.files = files
        self.fetched_at = fetched_at
        self.progress = progress or no_progress
        self.tmp = archive.dir("tmp")
        self.chunk = int(archive.config.get("catalog", {}).get("chunk_rows", CHUNK))  # [catalog] chunk_rows
        self.conn = archive.connect()
        register_functions(self.conn)
        self.inputs: list[Input] = []
        self.failed: list[str] = []  # files that are not the layout: named in the summary, exit 1
        self.load: bulk.Load | None = None
        self.written: dict[str, int] = {}
        self.units: dict[str, int] = {}  # rows written per input
        self._verbatim: list[tuple[int, str, Any]] = []
        self._current: Input | None = None
        self.lookahead: bulk.Lookahead | None = None  # the checks of the next chunk, on a second connection
        self._walk_hi = 0  # the last key of the walk _chunked is making

    def close(self) -> None:
        for inp in self.inputs:
            if inp.log is not None:
                inp.log.release()
        if self.lookahead is not None:
            self.lookahead.close()
        self.conn.close()

    def _reader(self, work: Path) -> sqlite3.Connection:
        """A read-only connection that sees what this one reads: the catalog, the inputs, the work database."""
        conn = db_connect(self.archive.catalog_path, readonly=True)
        register_functions(conn)
        if any(truncated(inp.path) for inp in self.inputs if inp.databases):
            conn.execute("PRAGMA writable_schema=ON")  # as _open_inputs does for a cut-off file
        for inp in self.inputs:
            if inp.databases:
                conn.execute("ATTACH DATABASE ? AS " + inp.schema, (f"file:{inp.path}?mode=ro",))
        conn.execute("ATTACH DATABASE ? AS work", (f"file:{work}?mode=ro",))
        return conn

    def _read(self, sql: str, params: tuple[Any, ...], then: tuple[Any, ...] | None = None) -> list[Any]:
        """Rows of a read-only query; `then`: the next chunk's parameters, read meanwhile on a second core."""
        if self.lookahead is None:
            return self.conn.execute(sql, params).fetchall()
        return self.lookahead.rows(sql, params, then)

    def _ahead(self, first: int, last: int) -> tuple[int, int] | None:
        """The range of the chunk after [first, last] in the walk _chunked makes (None for the last chunk and
        for the pieces a read fault splits a chunk into: reading ahead for them would be wasted)."""
        if last - first + 1 != self.chunk or last >= self._walk_hi:
            return None
        return (last + 1, min(self._walk_hi, last + self.chunk))

    # --- orchestration ----------------------------------------------------------------------------------------
    def run(self) -> ImportSummary:
        identities = [_identity(path) for path in self.files]
        self.load = bulk.begin(self.conn, FORMAT, identities, {"steps": {}})
        state = self.load.state
        self._open_inputs()
        work = self.tmp / f"spotify-clean-{self.load.rowid}.sqlite3"
        if not state.get("prepared"):
            work.unlink(missing_ok=True)
        self.conn.execute("ATTACH DATABASE ? AS work", (str(work),))
        bulk.configure(self.conn, self.tmp)
        self.lookahead = bulk.Lookahead(self.conn, partial(self._reader, work))
        self.written = dict(state.get("written", {}))
        self.units = dict(state.get("units", {}))
        self._start_logs(state)
        if not state.get("prepared"):
            self._prepare(state)
        for name, step in self._steps():
            if state["steps"].get(name) is not True:
                self._current = self.inputs[int(name.split(":", 1)[0])] if name[0].isdigit() else None
                step()
                self._done(name)
        self._finish(state)
        self.conn.execute("DETACH DATABASE work")
        work.unlink(missing_ok=True)
        return self._summary()

    def _open_inputs(self) -> None:
        for number, path in enumerate(self.files):
            db_path, fault = decompress(path, self.tmp, self.progress)
            inp = Input(path, db_path, number, f"in{number}", fault=fault)
            self.inputs.append(inp)
            inp.result = FileSummary(str(path))
            cut = truncated(db_path)
            if cut is not None:
                # SQLite refuses a file shorter than its header says unless the schema checks are relaxed; the
                # pages that are gone then read as corrupt, and every page that is there can be read
                self.conn.execute("PRAGMA writable_schema=ON")
                inp.fault = inp.fault or (
                    f"the database ends at byte {cut[1]:,} of the {cut[0]:,} its header "
                    "gives: it is imported as far as it goes"
                )
            try:
                self.conn.execute("ATTACH DATABASE ? AS " + inp.schema, (f"file:{db_path}?mode=ro",))
                inp.databases = layout.which_databases(self.conn, inp.schema)
            except sqlite3.DatabaseError as exc:
                self._refuse(inp, f"{path}: not an SQLite database of the reference layout ({exc})")
                continue
            if not inp.databases:
                self._refuse(
                    inp,
                    f"{path}: not a database of the reference layout: none of its tables "
                    f"({', '.join(layout.TABLES)}) is there",
                )
                continue
            lacking = [m for db in inp.databases for m in layout.missing(self.conn, inp.schema, db)]
            if lacking:
                self._refuse(inp, f"{path}: not a database of the reference layout: it lacks {', '.join(lacking)}")
                continue
            inp.source, inp.mtime = register_source(self.conn, path, FORMAT)
            inp.log = RejectLog(self.archive.dir("rejects"), path)

    def _refuse(self, inp: Input, message: str) -> None:
        self.failed.append(message)
        inp.databases = []
        try:
            self.conn.execute(f"DETACH DATABASE {inp.schema}")
        except sqlite3.OperationalError:
            pass

    def _active(self, database: str) -> list[Input]:
        return [inp for inp in self.inputs if database in inp.databases]

    def _start_logs(self, state: dict[str, Any]) -> None:
        for inp in self.inputs:
            if inp.log is None:
                continue
            snapshot = state.get("logs", {}).get(str(inp.index))
            if snapshot is not None and self.load and self.load.resumed:
                inp.log.resume(snapshot)
            if "runs" not in state:
                state["runs"] = {}
            if str(inp.index) not in state["runs"]:
                with transaction(self.conn):
                    state["runs"][str(inp.index)] = start_run(self.conn, inp.source)
                    self.loaded.save(self.conn)

    @property
    def loaded(self) -> bulk.Load:
        """The bulk load this import runs as (begun first thing in run())."""
        assert self.load is not None
        return self.load

    def _save(self) -> None:
        """Record progress and where the reject logs stand (inside the transaction of the work done)."""
        assert self.load is not None
        self.load.state["logs"] = {str(inp.index): inp.log.snapshot() for inp in self.inputs if inp.log is not None}
        self.load.state["written"] = self.written
        self.load.state["units"] = self.units
        self.load.save(self.conn)

    def _done(self, name: str) -> None:
        with transaction(self.conn):
            self.loaded.state["steps"][name] = True
            self._save()

    def _steps(self) -> list[tuple[str, Callable[[], None]]]:
        out: list[tuple[str, Callable[[], None]]] = []
        for inp in self._active(layout.MAIN):
            tag = f"{inp.index}:"
            out.append((tag + "markets", partial(self._markets, inp)))
            for kind in ("artist", "album", "track"):
                out.append((tag + kind, partial(self._entity, inp, kind)))
            for kind in ("artist", "album", "track"):
                out.append((tag + "merge:" + kind, partial(self._merge, inp, kind)))
            for child in ("track_artists", "artist_genres", "artist_images", "album_images", "artist_albums"):
                out.append((tag + child, partial(self._child, inp, CHILDREN[child])))
        if self.load and self.load.state.get("bulk"):
            out.append(("id indexes", self._id_indexes))
        for inp in self._active(layout.FEATURES):
            out.append((f"{inp.index}:features", partial(self._by_track_id, inp, "features")))
        for inp in self._active(layout.TRACK_FILES):
            out.append((f"{inp.index}:track_files", partial(self._by_track_id, inp, "files")))
        for inp in self._active(layout.PLAYLISTS):
            tag = f"{inp.index}:"
            out.append((tag + "playlist", partial(self._entity, inp, "playlist")))
            out.append((tag + "merge:playlist", partial(self._merge, inp, "playlist")))
            for child in ("playlist_images", "playlist_tracks"):
                out.append((tag + child, partial(self._child, inp, CHILDREN[child])))
        return out

    # --- preparation: shifts, clashes, duplicates, bulk or not ---------------------------------------------------
    def _prepare(self, state: dict[str, Any]) -> None:
        conn = self.conn
        kinds: dict[str, Any] = {}
        conn.execute("CREATE TABLE IF NOT EXISTS work.dups (tbl TEXT, rowid_ INTEGER, PRIMARY KEY (tbl, rowid_))")
        for kind in KINDS:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS work.clash_{kind} "
                "(ref INTEGER PRIMARY KEY, cat INTEGER NOT NULL, won INTEGER)"
            )
        for inp in self.inputs:
            for db in inp.databases:
                for table in layout.DATABASE_TABLES[db]:
                    key = {"track_audio_features": "track_id", "track_files": "track_id"}.get(table, "id")
                    if key in layout.TABLES[table].column_names:
                        self._duplicates(inp, table, key)
        input_tracks = 0
        for inp in self.inputs:
            for kind, table in KINDS.items():
                if table not in layout.DATABASE_TABLES.get(layout.MAIN, ()) + layout.DATABASE_TABLES[layout.PLAYLISTS]:
                    continue
                if table not in (t for db in inp.databases for t in layout.DATABASE_TABLES[db]):
                    continue
                lo, hi = self._rowid_range(inp, table)
                kinds[kind] = {"input": inp.index, "lo": lo, "hi": hi, "shift": self._shift(inp, kind, lo, hi)}
                if kind == "track":
                    input_tracks = max(input_tracks, hi - lo + 1 if hi >= lo else 0)
            if layout.MAIN in inp.databases:
                lo, hi = self._rowid_range(inp, "available_markets")
                kinds["market"] = {"input": inp.index, "lo": lo, "hi": hi, "shift": self._max_rowid("market_lists")}
            for db in (layout.FEATURES, layout.TRACK_FILES):
                if db in inp.databases and not input_tracks:
                    table = layout.DATABASE_TABLES[db][0]
                    lo, hi = self._rowid_range(inp, table)
                    input_tracks = max(input_tracks, hi - lo + 1 if hi >= lo else 0)
        catalog_tracks = self._max_rowid("tracks")
        use_bulk = bulk.wanted(self.archive.config, catalog_tracks, input_tracks)
        with transaction(conn):
            state["kinds"] = kinds
            state["bulk"] = use_bulk
            if use_bulk:
                state["indexes"] = bulk.secondary_indexes(conn)
                bulk.drop_indexes(conn, state["indexes"])
            state["prepared"] = True
            self._save()

    def _unique_on(self, inp: Input, table: str, key: str) -> bool:
        return any(
            row[2] and [c[2] for c in self.conn.execute(f"PRAGMA {inp.schema}.index_info('{row[1]}')")] == [key]
            for row in self.conn.execute(f"PRAGMA {inp.schema}.index_list('{table}')")
        )

    def _duplicates(self, inp: Input, table: str, key: str) -> None:
        """Rows whose id another row of the table has already: rejected (the first keeps it)."""
        if self._unique_on(inp, table, key):
            return
        order = "rowid" if layout.has_rowid(self.conn, inp.schema, table) else key
        rows = self.conn.execute(
            f"SELECT {key}, group_concat(r, ' ') FROM (SELECT {key}, {order} AS r FROM {inp.schema}.{table} "
            f"WHERE {key} IS NOT NULL ORDER BY {key}, {order}) GROUP BY {key} HAVING count(*) > 1"
        ).fetchall()
        with transaction(self.conn):
            for value, rowids in rows:
                first, *rest = [int(r) for r in rowids.split()]
                for rowid in rest:
                    self.conn.execute("INSERT OR IGNORE INTO work.dups VALUES (?, ?)", (table, rowid))
                    inp.rejects.add_row(
                        table,
                        rowid,
                        f"duplicate {key} {shown(value)}: rowid {first} has it already",
                        orjson.dumps({key: value}).decode(),
                    )

    def _rowid_range(self, inp: Input, table: str) -> tuple[int, int]:
        try:
            lo, hi = self.conn.execute(f"SELECT min(rowid), max(rowid) FROM {inp.schema}.{table}").fetchone()
            return (lo, hi) if lo is not None else (1, 0)
        except sqlite3.DatabaseError as exc:
            if not _is_read_fault(exc):
                raise
        return self._readable_range(inp, table)

    def _readable_range(self, inp: Input, table: str) -> tuple[int, int]:
        """Bounds of the rowids of a damaged table (min or max cannot be read), found by probing for rows that
        can be read. The chunks over the range then import every readable row and reject the unreadable parts
        by rowid; rows past the last readable one are one reject."""

        def first_at(x: int) -> int | None | bool:  # the first rowid >= x, None past the end, False unreadable
            try:
                row = self.conn.execute(
                    f"SELECT rowid FROM {inp.schema}.{table} WHERE rowid >= ? ORDER BY rowid LIMIT 1", (x,)
                ).fetchone()
            except sqlite3.DatabaseError as exc:
                if not _is_read_fault(exc):
                    raise
                return False
            return None if row is None else row[0]

        first = first_at(1)
        lo = first if type(first) is int else 1
        seen = lo if type(first) is int else 0
        x, end, fault = max(2, seen + 1), False, False
        while x <= 4 * seen + 1_000_000:
            found = first_at(x)
            if found is None:
                end = True
                break
            if found is False:
                fault = True
            else:
                seen = max(seen, found)
            x = max(x * 2, seen + 1)
        if end:  # the last row lies between seen and x: narrow it down
            low, high = seen, x
            while high - low > 1:
                middle = (low + high) // 2
                found = first_at(middle)
                if found is None:
                    high = middle
                elif found is False:
                    low, fault = middle, True
                else:
                    seen = max(seen, found)
                    low = max(middle, found)
            seen = max(seen, low)
        elif fault:
            with transaction(self.conn):
                inp.rejects.add_row(
                    table,
                    None,
                    f"rows after rowid {seen} could not be read: the database is corrupt "
                    "or truncated there; every readable row before was imported",
                    key=f"rowid>{seen}",
                )
                self._save()
        return (lo, seen) if seen else (1, 0)

    def _max_rowid(self, table: str) -> int:
        return self.conn.execute(f"SELECT coalesce(max(rowid), 0) FROM main.{table}").fetchone()[0]

    def _shift(self, inp: Input, kind: str, lo: int, hi: int) -> int:
        """Where reference rowid r goes: r + shift. The shift of an earlier import of the layout when every row
        it would place there is the row of the same id (the same database imported again), else past the end."""
        table = KINDS[kind]
        conn = self.conn
        held = conn.execute(f"SELECT count(*) FROM main.{table} WHERE ns = {NS}").fetchone()[0]
        if held:
            if held <= (hi - lo + 1 if hi >= lo else 0) and self._unique_on(inp, table, "id"):
                # walk the smaller side, look up in the other's index
                sql = (
                    f"INSERT INTO work.clash_{kind} (ref, cat) SELECT r.rowid, t.rowid FROM main.{table} t "
                    f"CROSS JOIN {inp.schema}.{table} r ON r.id = t.id WHERE t.ns = {NS}"
                )
            else:
                sql = (
                    f"INSERT INTO work.clash_{kind} (ref, cat) SELECT r.rowid, t.rowid FROM {inp.schema}.{table} r "
                    f"CROSS JOIN main.{table} t ON t.id = r.id AND t.ns = {NS}"
                )
            with transaction(conn):
                conn.execute(f"DELETE FROM work.clash_{kind}")
                conn.execute(sql + " AND r.rowid NOT IN (SELECT rowid_ FROM work.dups WHERE tbl = ?)", (table,))
        previous = conn.execute("SELECT shift FROM main.reference_map WHERE kind = ?", (kind,)).fetchone()
        if previous is not None and hi >= lo:
            shift = previous[0]
            same = conn.execute(f"SELECT count(*) FROM work.clash_{kind} WHERE cat = ref + ?", (shift,)).fetchone()[0]
            placed = conn.execute(
                f"SELECT count(*) FROM main.{table} WHERE rowid BETWEEN ? AND ?", (lo + shift, hi + shift)
            ).fetchone()[0]
            if same == placed:
                return shift
        return self._max_rowid(table)

    # --- translating references ---------------------------------------------------------------------------------
    def _map(self, kind: str) -> tuple[int, int, int, bool] | None:
        """(lo, hi, shift, has exceptions) of a kind, as this or an earlier import left it."""
        row = self.conn.execute("SELECT lo, hi, shift FROM main.reference_map WHERE kind = ?", (kind,)).fetchone()
        if row is None:
            return None
        exceptions = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM main.reference_exceptions WHERE kind = ?)", (kind,)
        ).fetchone()[0]
        return row[0], row[1], row[2], bool(exceptions)

    def _ref(self, kind: str, c: str) -> str:
        """SQL: the catalog rowid a reference to a row of `kind` means, NULL when no such row was imported."""
        found = self._map(kind)
        if found is None:
            return "NULL"
        lo, hi, shift, exceptions = found
        base = f"CASE WHEN {c} BETWEEN {lo} AND {hi} THEN {c} + {shift} END"
        if not exceptions:
            return f"({base})"
        exc = f"main.reference_exceptions WHERE kind = '{kind}' AND ref = {c}"
        return f"(CASE WHEN EXISTS (SELECT 1 FROM {exc}) THEN (SELECT rowid FROM {exc}) ELSE {base} END)"

    def _shape(self, keys: tuple[str, ...]) -> int:
        text = orjson.dumps(list(keys)).decode()
        row = self.conn.execute("SELECT rowid FROM main.shapes WHERE keys = ?", (text,)).fetchone()
        if row is not None:
            return row[0]
        inserted = self.conn.execute("INSERT INTO main.shapes (keys) VALUES (?)", (text,)).lastrowid
        assert inserted is not None  # an INSERT sets it
        return inserted

    def _fetched(self, inp: Input, c: str = "r.fetched_at") -> str:
        default = self.fetched_at if self.fetched_at is not None else inp.mtime
        return f"coalesce(CASE WHEN typeof({c}) = 'integer' AND {c} >= 0 THEN {c} / 1000 END, {default})"

    # --- chunks, and what a read fault costs ---------------------------------------------------------------------
    def _chunked(
        self, inp: Input, step: str, table: str, lo: int, hi: int, work: Callable[[int, int], int], key: str = "rowid"
    ) -> None:
        """Run `work(lo, hi)` over [lo, hi] in chunks, one transaction each with its progress recorded."""
        done = self.loaded.state["steps"].get(step)
        start = lo if not isinstance(done, int) or isinstance(done, bool) else done + 1
        self._walk_hi = hi
        for first in range(start, hi + 1, self.chunk):
            self._range(inp, step, table, first, min(hi, first + self.chunk - 1), work, key)

    def _range(
        self, inp: Input, step: str, table: str, lo: int, hi: int, work: Callable[[int, int], int], key: str
    ) -> None:
        try:
            with transaction(self.conn):
                rows = work(lo, hi)
                self.loaded.state["steps"][step] = hi
                self._save()
            self.progress(rows, stage=step)
            return
        except sqlite3.DatabaseError as exc:
            if not _is_read_fault(exc):
                raise
            fault = exc
        if hi - lo + 1 > PIECE:
            middle = (lo + hi) // 2
            self._range(inp, step, table, lo, middle, work, key)
            self._range(inp, step, table, middle + 1, hi, work, key)
            return
        lost: list[int] = []
        for one in range(lo, hi + 1):
            try:
                with transaction(self.conn):
                    work(one, one)
                    self.loaded.state["steps"][step] = one
                    self._save()
            except sqlite3.DatabaseError as exc:
                if not _is_read_fault(exc):
                    raise
                lost.append(one)
        if lost:
            with transaction(self.conn):
                for start, end in _runs(lost):
                    where = f"{key} {start}" if start == end else f"{key} {start}..{end}"
                    inp.rejects.add_row(
                        table,
                        start if start == end else None,
                        f"{where} could not be read ({fault}): the database is corrupt there; every "
                        "readable row was imported",
                        key=where,
                    )
                    if key == "rowid" and table in KINDS.values():
                        kind = next(k for k, t in KINDS.items() if t == table)
                        self.conn.executemany(
                            "INSERT OR REPLACE INTO main.reference_exceptions VALUES (?, ?, NULL)",
                            [(kind, r) for r in range(start, end + 1)],
                        )
                self.loaded.state["steps"][step] = hi
                self._save()

    # --- entities -----------------------------------------------------------------------------------------------
    def _entity(self, inp: Input, kind: str) -> None:
        spec = ENTITIES[kind]
        info = self.loaded.state["kinds"][kind]
        lo, hi, shift = info["lo"], info["hi"], info["shift"]
        step = f"{inp.index}:{kind}"
        if step not in self.loaded.state["steps"]:
            with transaction(self.conn):  # the mapping first: rows of later chunks refer to earlier ones
                self.conn.execute("DELETE FROM main.reference_exceptions WHERE kind = ?", (kind,))
                self.conn.execute(
                    f"INSERT INTO main.reference_exceptions SELECT ?, ref, cat FROM work.clash_{kind} "
                    "WHERE cat != ref + ?",
                    (kind, shift),
                )
                self.conn.execute(
                    "INSERT OR REPLACE INTO main.reference_map VALUES (?, ?, ?, ?, ?)",
                    (kind, inp.source, shift, lo, hi),
                )
                self.loaded.state["steps"][step] = lo - 1
                self._save()
        clashes = self.conn.execute(f"SELECT count(*) FROM work.clash_{kind}").fetchone()[0]
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS bad (r INTEGER PRIMARY KEY)")
        plain = self._entity_sql(
            inp,
            spec,
            f"r.rowid + {shift}",
            "r.rowid BETWEEN ?1 AND ?2",
            exclude_clashes=bool(clashes),
            checked_values=False,
            ids_checked=True,
        )
        clean = self._entity_sql(
            inp,
            spec,
            f"r.rowid + {shift}",
            "r.rowid BETWEEN ?1 AND ?2 AND r.rowid NOT IN (SELECT r FROM temp.bad)",
            exclude_clashes=bool(clashes),
            checked_values=False,
            ids_checked=True,
        )
        checked = self._entity_sql(
            inp,
            spec,
            f"r.rowid + {shift}",
            "r.rowid BETWEEN ?1 AND ?2 AND r.rowid IN (SELECT r FROM temp.bad)",
            exclude_clashes=bool(clashes),
        )

        def work(first: int, last: int) -> int:
            # rows with a wrong or normalised value go through the checked insert; the others are copied as they are
            bad = self._entity_problems(
                inp, spec, "r.rowid BETWEEN ?1 AND ?2", (first, last), log=True, then=self._ahead(first, last)
            )
            if not bad:
                count = self._execute(plain, (first, last), spec.table)
            else:
                self.conn.execute("DELETE FROM temp.bad")
                self.conn.executemany("INSERT INTO temp.bad VALUES (?)", [(r,) for r in bad])
                count = self._execute(clean, (first, last), spec.table) + self._execute(
                    checked, (first, last), spec.table
                )
            self._extra_rows(
                inp,
                kind,
                f"r.rowid + {shift}",
                "r.rowid BETWEEN ?1 AND ?2",
                (first, last),
                exclude_clashes=bool(clashes),
            )
            self._holes(kind, spec.table, first, last, shift, count)
            return count

        self._chunked(inp, step, spec.table, lo, hi, work)

    def _valid_row(self, spec: Entity, inp: Input, *, ids_checked: bool = False) -> str:
        """SQL: the row may be imported (an id, not a duplicate); `ids_checked` when the problems query of the
        range found no bad id among the rows selected (a Python call per row saved)."""
        unique = f"r.rowid NOT IN (SELECT rowid_ FROM work.dups WHERE tbl = '{spec.table}')"
        return unique if ids_checked else f"{ID_OK.format(c='r.id')} AND {unique}"

    def _entity_sql(
        self,
        inp: Input,
        spec: Entity,
        rowid_sql: str,
        where: str,
        *,
        exclude_clashes: bool,
        join: str = "",
        verb: str = "INSERT",
        checked_values: bool = True,
        ids_checked: bool = False,
    ) -> str:
        """The INSERT of a range of entity rows; `checked_values` False copies the values as they are (rows whose
        values the problems query found nothing wrong with: references are still translated), `ids_checked` skips
        the id check (rows it found no bad id in)."""
        ref = self._ref
        cols = spec.columns + (FETCHED,)
        targets = ["rowid", "ns", "id", "level", "fetched_at", "source", "shape", "extra"]
        values = [
            rowid_sql,
            str(NS),
            "r.id",
            str(LEVEL_FULL),
            self._fetched(inp),
            str(inp.source),
            str(self._shape(spec.shape)),
            "NULL",
        ]
        if spec.kind == "track":
            targets.append("album_shape")
            values.append(str(self._shape(layout.ALBUM_SIMPLE_KEYS)))
        for target, sql in spec.constants:
            targets.append(target)
            values.append(sql)
        for col in cols:
            targets.append(col.target)
            plain = not checked_values and col.check[0] != "ref"
            values.append(f"r.{col.source}" if plain else col.value(f"r.{col.source}", ref))
        clash = f" AND r.rowid NOT IN (SELECT ref FROM work.clash_{spec.kind})" if exclude_clashes else ""
        valid = self._valid_row(spec, inp, ids_checked=ids_checked)
        return (
            f"{verb} INTO main.{spec.table} ({', '.join(targets)}) SELECT {', '.join(values)} "
            f"FROM {inp.schema}.{spec.table} r {join} WHERE {where} AND {valid}{clash}"
        )

    def _entity_problems(
        self,
        inp: Input,
        spec: Entity,
        where: str,
        params: tuple[Any, ...],
        *,
        log: bool,
        join: str = "",
        then: tuple[Any, ...] | None = None,
    ) -> list[int]:
        """Log the rows of this range that cannot be imported whole and the fields left out; record values kept
        as published beside their normalised form. Returns the rowids of every row it found something in.
        `then`: the parameters of the next range (its rows are read meanwhile)."""
        cols = spec.columns + (FETCHED,) + spec.also
        bad = [col.bad(f"r.{col.source}", self._ref) for col in cols]
        id_bad = f"NOT ({ID_OK.format(c='r.id')})"
        verbatim = (
            (
                f"(CASE WHEN r.external_id_isrc IS NULL OR r.external_id_isrc GLOB '{ISRC_GLOB}' THEN 0 ELSE "
                f"fon_isrc(r.external_id_isrc) IS NOT NULL END)"
            )
            if spec.kind == "track"
            else "0"
        )
        sql = (
            f"SELECT r.rowid, r.id, {', '.join(f'r.{c.source}' for c in cols)}, {id_bad}, {verbatim}, "
            f"{', '.join(bad)} FROM {inp.schema}.{spec.table} r {join} WHERE {where} "
            f"AND ({' OR '.join([id_bad, verbatim] + bad)})"
        )
        found = []
        for row in self._read(sql, params, then):
            found.append(row[0])
            rowid, id_value = row[0], row[1]
            values = row[2 : 2 + len(cols)]
            whole, keep, flags = row[2 + len(cols)], row[3 + len(cols)], row[4 + len(cols) :]
            raw = _raw({"id": id_value, **{c.source: v for c, v in zip(cols, values, strict=True)}})
            if whole:
                if log:
                    reason = (
                        "no id"
                        if id_value is None
                        else f"id {shown(id_value, 40)} is not a Spotify id (22 base62 characters)"
                    )
                    inp.rejects.add_row(spec.table, rowid, reason, raw)
                continue
            if log:
                for col, value, flag in zip(cols, values, flags, strict=True):
                    if flag:
                        inp.rejects.add_row(spec.table, rowid, col.problem(value, spec.table), raw, kept=True)
            if keep:
                self._verbatim.append(
                    (rowid, "external_id_isrc", values[[c.source for c in cols].index("external_id_isrc")])
                )
        return found

    def _extra_rows(
        self,
        inp: Input,
        kind: str,
        rowid_sql: str,
        where: str,
        params: tuple[Any, ...],
        *,
        exclude_clashes: bool,
        join: str = "",
    ) -> None:
        """What a row carries beside its columns: tracks' EAN and UPC (external_ids), values as published."""
        clash = f" AND r.rowid NOT IN (SELECT ref FROM work.clash_{kind})" if exclude_clashes else ""
        valid = self._valid_row(ENTITIES[kind], inp) + clash
        if kind == "track":  # EAN and UPC in one walk over the rows
            self.conn.execute(
                f"INSERT OR IGNORE INTO main.external_ids (owner_kind, owner, kind, value) SELECT 'track', o, k, "
                f"CASE k WHEN 'ean' THEN ean ELSE upc END FROM (SELECT {rowid_sql} AS o, r.external_id_ean AS ean, "
                f"r.external_id_upc AS upc FROM {inp.schema}.tracks r {join} WHERE {where} AND (r.external_id_ean IS "
                f"NOT NULL OR r.external_id_upc IS NOT NULL) AND {valid}) CROSS JOIN (SELECT 'ean' AS k "
                f"UNION ALL SELECT 'upc') WHERE fon_gtin(CASE k WHEN 'ean' THEN ean ELSE upc END)",
                params,
            )
        verbatim, self._verbatim = self._verbatim, []
        if verbatim:
            offset = self.loaded.state["kinds"][kind]["shift"]
            targets = (
                dict(
                    self.conn.execute(
                        f"SELECT r.rowid, {rowid_sql} FROM {inp.schema}.{KINDS[kind]} "
                        f"r {join} WHERE {where} AND {valid}",
                        params,
                    ).fetchall()
                )
                if join
                else None
            )
            for rowid, column, value in verbatim:
                owner = targets.get(rowid) if targets is not None else rowid + offset
                if owner is not None and (targets is not None or not self._is_clash(kind, rowid)):
                    self.conn.execute(
                        "INSERT OR REPLACE INTO main.reference_verbatim VALUES (?, ?, ?, ?)",
                        (kind, owner, column, value),
                    )

    def _is_clash(self, kind: str, rowid: int) -> bool:
        return self.conn.execute(f"SELECT 1 FROM work.clash_{kind} WHERE ref = ?", (rowid,)).fetchone() is not None

    def _execute(self, sql: str, params: tuple[Any, ...], table: str) -> int:
        before = self.conn.total_changes
        self.conn.execute(sql, params)
        count = self.conn.total_changes - before
        self.written[table] = self.written.get(table, 0) + count
        if self._current is not None:
            key = str(self._current.index)
            self.units[key] = self.units.get(key, 0) + count
        return count

    def _holes(self, kind: str, table: str, lo: int, hi: int, shift: int, inserted: int) -> None:
        """Reference rowids of [lo, hi] that are no catalog row (never there, or rejected): references to them
        dangle. Recorded so that later steps, and later imports, say so."""
        clashes = self.conn.execute(f"SELECT ref FROM work.clash_{kind} WHERE ref BETWEEN ? AND ?", (lo, hi)).fetchall()
        if inserted + len(clashes) == hi - lo + 1:
            return
        present = {
            r
            for (r,) in self.conn.execute(
                f"SELECT rowid - ? FROM main.{table} WHERE rowid BETWEEN ? AND ? AND source = ?",
                (shift, lo + shift, hi + shift, self._source_of(kind)),
            )
        }
        present.update(r for (r,) in clashes)
        self.conn.executemany(
            "INSERT OR REPLACE INTO main.reference_exceptions VALUES (?, ?, NULL)",
            [(kind, r) for r in range(lo, hi + 1) if r not in present],
        )

    def _source_of(self, kind: str) -> int:
        info = self.loaded.state["kinds"][kind]
        return self.inputs[info["input"]].source

    def _merge(self, inp: Input, kind: str) -> None:
        """Rows whose id the catalog held already: the layout's row replaces the held one when it is fuller or
        newer (its children with it); otherwise the held row and its children stay."""
        spec = ENTITIES[kind]
        if not self.conn.execute(f"SELECT EXISTS (SELECT 1 FROM work.clash_{kind})").fetchone()[0]:
            return
        fields = len(spec.shape)
        new_at = self._fetched(inp)
        from fonoteca.catalog.store import _fields_sql

        with transaction(self.conn):  # decided once, before the catalog changes (a rerun must not decide again)
            self.conn.execute(
                f"UPDATE work.clash_{kind} SET won = coalesce((SELECT {LEVEL_FULL} > t.level OR ({LEVEL_FULL} "
                f"= t.level AND {new_at} > t.fetched_at) OR ({LEVEL_FULL} = t.level AND {new_at} = "
                f"t.fetched_at AND {fields} > {_fields_sql(spec.table)}) FROM main.{spec.table} t LEFT "
                f"JOIN main.shapes s ON s.rowid = t.shape, {inp.schema}.{spec.table} r WHERE t.rowid = "
                f"work.clash_{kind}.cat AND r.rowid = work.clash_{kind}.ref AND {ID_OK.format(c='r.id')}), 0)"
            )
        join = f"JOIN work.clash_{kind} c ON c.ref = r.rowid"
        with transaction(self.conn):
            won = [cat for (cat,) in self.conn.execute(f"SELECT cat FROM work.clash_{kind} WHERE won = 1")]
            for statement in spec.children:
                self.conn.executemany(statement, [(cat,) for cat in won])
            self._entity_problems(inp, spec, "c.won = 1", (), log=False, join=join)
            self._execute(
                self._entity_sql(
                    inp, spec, "c.cat", "c.won = 1", exclude_clashes=False, join=join, verb="INSERT OR REPLACE"
                ),
                (),
                spec.table,
            )
            self._extra_rows(inp, kind, "c.cat", "c.won = 1", (), exclude_clashes=False, join=join)
            self._save()

    # --- children -----------------------------------------------------------------------------------------------
    def _child(self, inp: Input, spec: Child) -> None:
        table = spec.table
        has_rowid = layout.has_rowid(self.conn, inp.schema, table)
        key = "rowid" if has_rowid else spec.owner_source
        lo, hi = self._rowid_range(inp, table) if has_rowid else self._key_range(inp, table, key)
        owner = self._ref(spec.owner_kind, f"r.{spec.owner_source}")
        lost = self.conn.execute(
            f"SELECT EXISTS (SELECT 1 FROM work.clash_{spec.owner_kind} WHERE won = 0)"
        ).fetchone()[0]
        skip = (
            f" AND r.{spec.owner_source} NOT IN (SELECT ref FROM work.clash_{spec.owner_kind} WHERE won = 0)"
            if lost
            else ""
        )
        where = f"r.{key} BETWEEN ?1 AND ?2{skip}"
        cols = [(col, col.value(f"r.{col.source}", self._ref)) for col in spec.columns]
        conditions = [f"{t} IS NOT NULL" for t in spec.required + ("o",)]
        conditions += [
            f"(r_{col.target} IS NULL OR {col.target} IS NOT NULL)"
            for col in spec.columns
            if col.check[0] == "ref" and col.target not in spec.required
        ]
        required = " AND ".join(conditions)
        if table == "artist_genres":
            insert = self._genre_sql(inp, spec, owner, where, required)
        else:
            insert = self._child_sql(inp, spec, owner, cols, where, required, key)
        problems = self._child_problems_sql(inp, spec, owner, where, key)

        def work(first: int, last: int) -> int:
            for row in self._read(problems, (first, last), self._ahead(first, last)):
                self._child_reject(inp, spec, row)
            if table == "artist_genres":
                self.conn.execute(
                    f"INSERT OR IGNORE INTO main.genres (name) SELECT r.genre FROM {inp.schema}.{table} r "
                    f"WHERE {where} AND typeof(r.genre) = 'text' AND length(r.genre) <= {MAX_TEXT} "
                    "ORDER BY r.rowid",
                    (first, last),
                )
            count = self._execute(insert, (first, last), spec.target)
            if table == "artist_albums":
                self._execute(
                    f"INSERT OR IGNORE INTO main.album_artists (album, position, artist, shape) SELECT o, idx, a, "
                    f"{self._shape(layout.ARTIST_SIMPLE_KEYS)} FROM (SELECT {owner} AS o, r.index_in_album AS idx, "
                    f"{self._ref('artist', 'r.artist_rowid')} AS a FROM {inp.schema}.{table} r WHERE {where} AND "
                    f"typeof(r.index_in_album) = 'integer' AND r.index_in_album >= 0) WHERE o IS NOT NULL AND "
                    "a IS NOT NULL",
                    (first, last),
                    "album_artists",
                )
            return count

        self._chunked(inp, f"{inp.index}:{table}", table, lo, hi, work, key)

    def _key_range(self, inp: Input, table: str, key: str) -> tuple[int, int]:
        lo, hi = self.conn.execute(
            f"SELECT min({key}), max({key}) FROM {inp.schema}.{table} WHERE typeof({key}) = 'integer'"
        ).fetchone()
        return (lo, hi) if lo is not None else (1, 0)

    def _child_sql(
        self, inp: Input, spec: Child, owner: str, cols: list[tuple[Col, str]], where: str, required: str, key: str
    ) -> str:
        inner = ", ".join(
            [f"{owner} AS o", f"r.{key} AS k"]
            + [f"{sql} AS {col.target}" for col, sql in cols]
            + [f"r.{col.source} AS r_{col.target}" for col, _ in cols if col.check[0] == "ref"]
        )
        targets = [spec.owner_target] + [col.target for col, _ in cols]
        values = ["o"] + [col.target for col, _ in cols]
        for target, sql in spec.constants:
            targets.append(target)
            values.append(sql)
        if spec.target == "track_artists":
            targets.append("shape")
            values.append(str(self._shape(layout.ARTIST_SIMPLE_KEYS)))
        elif spec.target == "images":
            targets.append("shape")
            values.append(str(self._shape(layout.IMAGE_KEYS)))
        elif spec.target == "playlist_items":
            targets += ["shape", "track_shape"]
            values += [
                str(self._shape(layout.ITEM_KEYS)),
                f"CASE WHEN track IS NOT NULL THEN {self._shape(layout.TRACK_KEYS)} END",
            ]
        if spec.position is not None:
            also = f" AND {spec.where_owner}" if spec.where_owner else ""
            targets.append(spec.position)
            values.append(
                f"coalesce((SELECT max({spec.position}) + 1 FROM main.{spec.target} WHERE "
                f"{spec.owner_target} = o{also}), 0) + row_number() OVER (PARTITION BY o ORDER BY k) - 1"
            )
        verb = "INSERT OR REPLACE" if spec.position is None else "INSERT"
        return (
            f"{verb} INTO main.{spec.target} ({', '.join(targets)}) SELECT {', '.join(values)} FROM "
            f"(SELECT {inner} FROM {inp.schema}.{spec.table} r WHERE {where}) WHERE {required}"
        )

    def _genre_sql(self, inp: Input, spec: Child, owner: str, where: str, required: str) -> str:
        return (
            f"INSERT INTO main.artist_genres (artist, position, genre) SELECT o, coalesce((SELECT max(position) "
            f"+ 1 FROM main.artist_genres WHERE artist = o), 0) + row_number() OVER (PARTITION BY o ORDER BY k) - 1, "
            f"genre FROM (SELECT {owner} AS o, r.rowid AS k, (SELECT g.rowid FROM main.genres g WHERE g.name = "
            f"r.genre) AS genre FROM {inp.schema}.artist_genres r WHERE {where} AND typeof(r.genre) = 'text' AND "
            f"length(r.genre) <= {MAX_TEXT}) WHERE {required}"
        )

    def _child_problems_sql(self, inp: Input, spec: Child, owner: str, where: str, key: str) -> str:
        owner_bad = f"(r.{spec.owner_source} IS NULL OR {owner} IS NULL)"
        bads = [col.bad(f"r.{col.source}", self._ref) for col in spec.columns]
        required = [f"r.{col.source} IS NULL" for col in spec.columns if col.target in spec.required]
        names = [col.source for col in spec.columns]
        return (
            f"SELECT r.{key}, r.{spec.owner_source}, {', '.join('r.' + n for n in names)}, {owner_bad}, "
            f"{', '.join(bads)}, {', '.join(required) or '0'} FROM {inp.schema}.{spec.table} r WHERE {where} AND "
            f"({' OR '.join([owner_bad] + bads + required)})"
        )

    def _child_reject(self, inp: Input, spec: Child, row: tuple[Any, ...]) -> None:
        names = [col.source for col in spec.columns]
        k, owner_value = row[0], row[1]
        values = row[2 : 2 + len(names)]
        owner_bad = row[2 + len(names)]
        flags = row[3 + len(names) : 3 + 2 * len(names)]
        raw = _raw({spec.owner_source: owner_value, **dict(zip(names, values, strict=True))})
        rowid, pk = (
            (k, None)
            if spec.position is not None
            else (None, f"{spec.owner_source}={owner_value},position={values[0]}")
        )
        if owner_bad:
            reason = (
                f"no {spec.owner_source}"
                if owner_value is None
                else f"{spec.owner_source} {shown(owner_value)} refers to no row of {KINDS[spec.owner_kind]}"
            )
            inp.rejects.add_row(spec.table, rowid, reason, raw, key=pk)
            return
        whole = [
            col
            for col, value, flag in zip(spec.columns, values, flags, strict=True)
            if (col.target in spec.required and (flag or value is None)) or (col.check[0] == "ref" and flag)
        ]
        if whole:
            col = whole[0]
            value = values[names.index(col.source)]
            if value is None:
                what = f"no {col.source}"
            elif col.check[0] == "ref":
                what = f"{col.source} {shown(value)} refers to no row of {KINDS.get(col.check[1], col.check[1])}"
            else:
                what = col.problem(value, spec.table).split("; ")[0]
            inp.rejects.add_row(spec.table, rowid, f"{what}: the row was not imported", raw, key=pk)
            return
        for col, value, flag in zip(spec.columns, values, flags, strict=True):
            if flag:
                inp.rejects.add_row(spec.table, rowid, col.problem(value, spec.table), raw, kept=True, key=pk)

    # --- rows found by track id: audio features, track files ------------------------------------------------------
    def _id_indexes(self) -> None:
        """Build the id indexes now (a bulk load drops them): features and files find their tracks by id."""
        wanted = {"artists_id", "albums_id", "tracks_id", "playlists_id"}
        state = self.loaded.state
        bulk.build_indexes(
            self.conn,
            [(n, s) for n, s in state.get("indexes", []) if n in wanted],
            self.progress,
        )

    def _by_track_id(self, inp: Input, what: str) -> None:
        table = "track_audio_features" if what == "features" else "track_files"
        target = "audio_features" if what == "features" else "track_files"
        step = f"{inp.index}:{table}"
        top = self._max_rowid("tracks")
        src = f"{inp.schema}.{table}"
        insert, problems = self._by_id_sql(inp, what, "t.rowid BETWEEN ?1 AND ?2")
        done_a = self.loaded.state["steps"].get(step + ":a")
        lo, hi = self._rowid_range(inp, table)
        if self._follows_tracks(inp, table, lo, hi):
            self._by_id_in_input_order(inp, what, step, lo, hi)
            return

        def check(first: int, last: int) -> int:  # the values, in one plain walk over the input
            for row in self._read(problems, (first, last), self._ahead(first, last)):
                self._by_id_reject(inp, what, row)
            return 0

        if self.loaded.state["steps"].get(step + ":check") is not True:
            self._chunked(inp, step + ":check", table, lo, hi, check)
            with transaction(self.conn):
                self.loaded.state["steps"][step + ":check"] = True
                self._save()
        matched = self.loaded.state.setdefault("matched", {})

        def work(first: int, last: int) -> int:
            count = self._execute(insert, (first, last), target)
            matched[step] = matched.get(step, 0) + count
            return count

        if done_a is not True:
            self._chunked(inp, step + ":a", table, 1, top, work)
            with transaction(self.conn):
                self.loaded.state["steps"][step + ":a"] = True
                self._save()
        rows = self.conn.execute(
            f"SELECT count(*) FROM {src} WHERE rowid NOT IN (SELECT rowid_ FROM work.dups WHERE tbl = ?)", (table,)
        ).fetchone()[0]
        if matched.get(step, 0) >= rows:
            return  # every row found its track (the common case: no second walk over the input)
        missing = (
            f"SELECT f.rowid, f.track_id FROM {src} f WHERE f.rowid BETWEEN ?1 AND ?2 AND NOT EXISTS "
            f"(SELECT 1 FROM main.tracks t WHERE t.id = f.track_id AND t.ns = {NS}) AND f.rowid NOT IN "
            f"(SELECT rowid_ FROM work.dups WHERE tbl = '{table}')"
        )
        stub_insert, _ = self._by_id_sql(inp, what, "t.rowid BETWEEN ?1 AND ?2 AND t.source = ?3 AND t.level = 0")

        def stubs(first: int, last: int) -> int:
            made = self._stubs(inp, table, missing, first, last)
            return 0 if made is None else self._execute(stub_insert, (*made, inp.source), target)

        self._chunked(inp, step + ":b", table, lo, hi, stubs)

    def _follows_tracks(self, inp: Input, table: str, lo: int, hi: int) -> bool:
        """Whether the input's rows come in the catalog's track order (sampled): then walking the input appends
        the rows to the catalog's table in order, the cheapest way."""
        if hi < lo:
            return False
        sample = sorted({lo + (hi - lo) * i // 255 for i in range(256)})
        found = [
            r
            for (r,) in self.conn.execute(
                f"SELECT t.rowid FROM {inp.schema}.{table} f CROSS JOIN main.tracks t ON t.id = f.track_id "
                f"AND t.ns = {NS} WHERE f.rowid IN ({','.join(map(str, sample))}) ORDER BY f.rowid"
            )
        ]
        return all(a < b for a, b in pairwise(found))

    def _by_id_in_input_order(self, inp: Input, what: str, step: str, lo: int, hi: int) -> None:
        """One walk over the input: per chunk the rows with a wrong value, stub tracks for ids the catalog lacks,
        then the clean rows copied as they are and the others with their values checked."""
        table = "track_audio_features" if what == "features" else "track_files"
        target = "audio_features" if what == "features" else "track_files"
        src = f"{inp.schema}.{table}"
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS bad (r INTEGER PRIMARY KEY)")
        clean, _ = self._by_id_sql(
            inp,
            what,
            "f.rowid BETWEEN ?1 AND ?2 AND f.rowid NOT IN (SELECT r FROM temp.bad)",
            input_order=True,
            checked_values=False,
        )
        checked, problems = self._by_id_sql(
            inp, what, "f.rowid BETWEEN ?1 AND ?2 AND f.rowid IN (SELECT r FROM temp.bad)", input_order=True
        )
        plain, _ = self._by_id_sql(inp, what, "f.rowid BETWEEN ?1 AND ?2", input_order=True, checked_values=False)
        missing = (
            f"SELECT f.rowid, f.track_id FROM {src} f WHERE f.rowid BETWEEN ?1 AND ?2 AND NOT EXISTS "
            f"(SELECT 1 FROM main.tracks t WHERE t.id = f.track_id AND t.ns = {NS}) AND f.rowid NOT IN "
            f"(SELECT rowid_ FROM work.dups WHERE tbl = '{table}')"
        )
        stub_insert, _ = self._by_id_sql(inp, what, "t.rowid BETWEEN ?1 AND ?2 AND t.source = ?3 AND t.level = 0")
        rows_in = (
            f"SELECT count(*) FROM {src} f WHERE f.rowid BETWEEN ?1 AND ?2 AND f.rowid NOT IN "
            f"(SELECT rowid_ FROM work.dups WHERE tbl = '{table}')"
        )

        def work(first: int, last: int) -> int:
            bad = []
            for row in self._read(problems, (first, last), self._ahead(first, last)):
                self._by_id_reject(inp, what, row)
                bad.append((row[0],))
            if not bad:
                count = self._execute(plain, (first, last), target)
            else:
                self.conn.execute("DELETE FROM temp.bad")
                self.conn.executemany("INSERT INTO temp.bad VALUES (?)", bad)
                count = self._execute(clean, (first, last), target) + self._execute(checked, (first, last), target)
            if count < self.conn.execute(rows_in, (first, last)).fetchone()[0]:  # ids the catalog lacks (or kept)
                made = self._stubs(inp, table, missing, first, last)
                if made is not None:
                    count += self._execute(stub_insert, (*made, inp.source), target)
            return count

        self._chunked(inp, step + ":input", table, lo, hi, work)

    def _stubs(self, inp: Input, table: str, missing: str, first: int, last: int) -> tuple[int, int] | None:
        """Stub tracks (level 0, just the id) for rows whose track the catalog does not hold; (first, last) rowid."""
        made = []
        for rowid, track_id in self.conn.execute(missing, (first, last)).fetchall():
            if type(track_id) is not str or not _spotify_id(track_id):
                inp.rejects.add_row(
                    table,
                    rowid,
                    "no track_id"
                    if track_id is None
                    else f"track_id {shown(track_id, 40)} is not a Spotify id (22 base62 characters)",
                    _raw({"track_id": track_id}),
                )
                continue
            made.append(track_id)
        if not made:
            return None
        start = self._max_rowid("tracks") + 1
        self.conn.executemany(
            "INSERT INTO main.tracks (rowid, ns, id, level, fetched_at, source) VALUES (?, ?, ?, 0, ?, ?)",
            [(start + i, NS, track_id, self.fetched_at or inp.mtime, inp.source) for i, track_id in enumerate(made)],
        )
        return start, start + len(made) - 1

    def _by_id_sql(
        self, inp: Input, what: str, where: str, *, input_order: bool = False, checked_values: bool = True
    ) -> tuple[str, str]:
        """(insert, problems). The insert walks the catalog's tracks and finds each one's row by id, or
        (input_order) walks the input and finds each row's track; `checked_values` False copies the values as
        they are (rows the problems query found nothing wrong with)."""
        table = "track_audio_features" if what == "features" else "track_files"
        value = (lambda col, c: col.value(c, self._ref)) if checked_values else (lambda col, c: c)
        src = f"{inp.schema}.{table}"
        dups = f"f.rowid NOT IN (SELECT rowid_ FROM work.dups WHERE tbl = '{table}')"
        if what == "features":
            cols = FEATURE_COLUMNS
            new_at = self._fetched(inp, "f.fetched_at")
            held_wins = (
                f"SELECT 1 FROM main.audio_features a WHERE a.track = t.rowid AND ((CASE a.origin WHEN "
                f"'spotify' THEN 2 WHEN 'table' THEN 1 ELSE 0 END) > 2 OR ((CASE a.origin WHEN 'spotify' "
                f"THEN 2 WHEN 'table' THEN 1 ELSE 0 END) = 2 AND a.fetched_at >= {new_at}))"
            )
            targets = (
                ["track"]
                + [c.target for c in cols]
                + ["origin", "fetched_at", "source", "shape", "extra", "null_response", "fetched_ms"]
            )
            values = (
                ["t.rowid"]
                + [value(c, f"f.{c.source}") for c in cols]
                + [
                    "'spotify'",
                    new_at,
                    str(inp.source),
                    str(self._shape(layout.FEATURE_KEYS)),
                    "NULL",
                    "CASE WHEN f.null_response IN (0, 1) THEN f.null_response END",
                    value(FETCHED, "f.fetched_at"),
                ]
            )
            checked = cols + (Col("null_response", "null_response", ("bool",)), FETCHED)
        else:
            cols = FILE_COLUMNS
            held_wins = (
                "SELECT 1 FROM main.track_files x WHERE x.track = t.rowid AND coalesce(x.fetched_at, -1) >= "
                "coalesce(CASE WHEN typeof(f.fetched_at) = 'integer' THEN f.fetched_at END, -1)"
            )
            targets = ["track"] + [c.target for c in cols] + ["source"]
            values = ["t.rowid"] + [value(c, f"f.{c.source}") for c in cols] + [str(inp.source)]
            checked = cols
        walk = (
            f"{src} f CROSS JOIN main.tracks t ON t.id = f.track_id AND t.ns = {NS}"
            if input_order
            else f"main.tracks t CROSS JOIN {src} f ON f.track_id = t.id"
        )
        insert = (
            f"INSERT OR REPLACE INTO main.{'audio_features' if what == 'features' else 'track_files'} "
            f"({', '.join(targets)}) SELECT {', '.join(values)} FROM {walk} "
            f"WHERE {where} AND t.ns = {NS} AND {dups} AND NOT EXISTS ({held_wins})"
        )
        bads = [c.bad(f"f.{c.source}", self._ref) for c in checked]
        problems = (
            f"SELECT f.rowid, f.track_id, {', '.join('f.' + c.source for c in checked)}, {', '.join(bads)} "
            f"FROM {src} f WHERE f.rowid BETWEEN ?1 AND ?2 AND {dups} AND ({' OR '.join(bads)})"
        )
        return insert, problems

    def _by_id_reject(self, inp: Input, what: str, row: tuple[Any, ...]) -> None:
        table = "track_audio_features" if what == "features" else "track_files"
        checked = (
            FEATURE_COLUMNS + (Col("null_response", "null_response", ("bool",)), FETCHED)
            if what == "features"
            else FILE_COLUMNS
        )
        values = row[2 : 2 + len(checked)]
        flags = row[2 + len(checked) :]
        raw = _raw({"track_id": row[1], **{c.source: v for c, v in zip(checked, values, strict=True)}})
        for col, value, flag in zip(checked, values, flags, strict=True):
            if flag:
                inp.rejects.add_row(table, row[0], col.problem(value, table), raw, kept=True)

    # --- markets ------------------------------------------------------------------------------------------------
    def _markets(self, inp: Input) -> None:
        info = self.loaded.state["kinds"]["market"]
        lo, hi, shift = info["lo"], info["hi"], info["shift"]
        step = f"{inp.index}:markets"
        if step not in self.loaded.state["steps"]:
            with transaction(self.conn):
                self.conn.execute("DELETE FROM main.reference_exceptions WHERE kind = 'market'")
                self.conn.execute(
                    "INSERT OR REPLACE INTO main.reference_map VALUES ('market', ?, ?, ?, ?)",
                    (inp.source, shift, lo, hi),
                )
                self.loaded.state["steps"][step] = lo - 1
                self._save()
        ok = (
            "typeof(r.available_markets) = 'text' AND instr(r.available_markets, ' ') = 0 AND "
            f"length(r.available_markets) <= {MAX_TEXT}"
        )
        text = "replace(r.available_markets, ',', ' ')"

        def work(first: int, last: int) -> int:
            for rowid, value in self.conn.execute(
                f"SELECT rowid, available_markets FROM {inp.schema}.available_markets r WHERE rowid BETWEEN ? AND ? "
                f"AND NOT ({ok})",
                (first, last),
            ).fetchall():
                inp.rejects.add_row(
                    "available_markets",
                    rowid,
                    f"available_markets {shown(value, 60)} is not a comma-separated list of country codes",
                    _raw({"available_markets": value}),
                )
            count = self._execute(
                f"INSERT OR IGNORE INTO main.market_lists (rowid, markets) SELECT r.rowid + {shift}, "
                f"{text} FROM {inp.schema}.available_markets r WHERE r.rowid BETWEEN ? AND ? AND {ok}",
                (first, last),
                "market_lists",
            )
            # rows whose list the catalog held already (or that were rejected) do not sit at rowid + shift
            self.conn.execute(
                "INSERT OR REPLACE INTO main.reference_exceptions SELECT 'market', r.rowid, m.rowid FROM "
                f"{inp.schema}.available_markets r LEFT JOIN main.market_lists m ON m.markets = {text} AND {ok} "
                f"WHERE r.rowid BETWEEN ? AND ? AND m.rowid IS NOT r.rowid + {shift}",
                (first, last),
            )
            self._holes_plain("market", "available_markets", inp, first, last)
            return count

        self._chunked(inp, step, "available_markets", lo, hi, work)

    def _holes_plain(self, kind: str, table: str, inp: Input, lo: int, hi: int) -> None:
        present = {
            r
            for (r,) in self.conn.execute(
                f"SELECT rowid FROM {inp.schema}.{table} WHERE rowid BETWEEN ? AND ?", (lo, hi)
            )
        }
        if len(present) < hi - lo + 1:
            self.conn.executemany(
                "INSERT OR IGNORE INTO main.reference_exceptions VALUES (?, ?, NULL)",
                [(kind, r) for r in range(lo, hi + 1) if r not in present],
            )

    # --- the end ------------------------------------------------------------------------------------------------
    def _finish(self, state: dict[str, Any]) -> None:
        if state.get("bulk"):
            bulk.build_indexes(self.conn, state.get("indexes", []), self.progress)
        for inp in self.inputs:
            if inp.log is None or inp.result is None:
                continue
            if inp.fault:
                with transaction(self.conn):
                    if not state.get("fault_logged", {}).get(str(inp.index)):
                        inp.rejects.add_row("", None, inp.fault)
                        state.setdefault("fault_logged", {})[str(inp.index)] = True
                        self._save()
            result = inp.result
            result.units = self.units.get(str(inp.index), 0)
            result.rejected, result.fields_rejected, result.reasons = inp.log.count, inp.log.kept, inp.log.reasons
            inp.log.close()
            result.rejects_file = str(inp.log.path) if inp.log.count else None
            with transaction(self.conn):
                finish_run(self.conn, state["runs"][str(inp.index)], result)
        bulk.end(self.conn, self.loaded)
        for inp in self.inputs:
            if inp.path != inp.given:
                try:
                    self.conn.execute(f"DETACH DATABASE {inp.schema}")
                except sqlite3.OperationalError:
                    pass
                inp.path.unlink(missing_ok=True)
                Path(f"{inp.path}.done").unlink(missing_ok=True)

    def _summary(self) -> ImportSummary:
        summary = ImportSummary()
        summary.written = dict(self.written)
        for inp in self.inputs:
            if inp.result is not None:
                summary.files.append(inp.result)
        summary.failed = self.failed
        return summary


def _runs(values: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for value in values:
        if out and out[-1][1] == value - 1:
            out[-1] = (out[-1][0], value)
        else:
            out.append((value, value))
    return out


def _raw(values: dict[str, Any]) -> str:
    return orjson.dumps(
        {k: (v.hex() if isinstance(v, bytes) else v) for k, v in values.items()}, option=orjson.OPT_NON_STR_KEYS
    ).decode()


def _spotify_id(value: str) -> bool:
    from fonoteca.catalog.ids import is_spotify_id

    return is_spotify_id(value)
