"""The reference release's SQLite layout (spotify_clean*.sqlite3), as facts: databases, tables, columns.

Column names are the published ones (../shared/REFERENCE-RELEASE.md). `create_database` writes an empty database
of the layout (export and the synthesiser use it); `check_tables` says what a file lacks to be one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from fonoteca.catalog import spotify

MAIN, FEATURES, PLAYLISTS, TRACK_FILES = "main", "audio_features", "playlists", "track_files"
FILE_NAMES = {
    MAIN: "spotify_clean.sqlite3",
    FEATURES: "spotify_clean_audio_features.sqlite3",
    PLAYLISTS: "spotify_clean_playlists.sqlite3",
    TRACK_FILES: "spotify_clean_track_files.sqlite3",
}
LOAD_ORDER = (MAIN, FEATURES, TRACK_FILES, PLAYLISTS)  # features and files find tracks by id; playlists by rowid


@dataclass(frozen=True)
class Table:
    name: str
    database: str
    columns: tuple[tuple[str, str], ...]  # (name, declared type) as published
    primary_key: tuple[str, ...] = ()  # WITHOUT ROWID tables only
    indexes: tuple[tuple[str, str, bool], ...] = ()  # (name, columns, unique)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def ddl(self) -> list[str]:
        cols = []
        for name, kind in self.columns:
            cols.append(f"{name} INTEGER PRIMARY KEY" if name == "rowid" else f"{name} {kind}".rstrip())
        body = ", ".join(cols)
        if self.primary_key:
            body += f", PRIMARY KEY ({', '.join(self.primary_key)})"
        out = [f"CREATE TABLE {self.name} ({body}){' WITHOUT ROWID' if self.primary_key else ''}"]
        for name, columns, unique in self.indexes:
            out.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {self.name} ({columns})")
        return out


def _t(name: str, database: str, columns: str, **kwargs) -> Table:
    parsed = tuple(
        tuple(part.strip().split(" ", 1)) if " " in part.strip() else (part.strip(), "") for part in columns.split(",")
    )
    return Table(name, database, parsed, **kwargs)  # type: ignore[arg-type]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _t(
            "artists",
            MAIN,
            "rowid INTEGER, id TEXT, fetched_at INTEGER, name TEXT, followers_total INTEGER, popularity INTEGER",
            indexes=(("artists_id", "id", True),),
        ),
        _t(
            "artist_genres",
            MAIN,
            "artist_rowid INTEGER, genre TEXT",
            indexes=(("artist_genres_artist_rowid", "artist_rowid", False),),
        ),
        _t(
            "artist_images",
            MAIN,
            "artist_rowid INTEGER, width INTEGER, height INTEGER, url TEXT",
            indexes=(("artist_images_artist_rowid", "artist_rowid", False),),
        ),
        _t(
            "artist_albums",
            MAIN,
            "artist_rowid INTEGER, album_rowid INTEGER, is_appears_on INTEGER, "
            "is_implicit_appears_on INTEGER, index_in_album INTEGER",
            indexes=(
                ("artist_albums_artist_rowid", "artist_rowid", False),
                ("artist_albums_album_rowid", "album_rowid", False),
            ),
        ),
        _t(
            "available_markets",
            MAIN,
            "rowid INTEGER, available_markets TEXT",
            indexes=(("available_markets_available_markets", "available_markets", True),),
        ),
        _t(
            "albums",
            MAIN,
            "rowid INTEGER, id TEXT, fetched_at INTEGER, name TEXT, album_type TEXT, "
            "available_markets_rowid INTEGER, external_id_upc TEXT, external_id_amgid TEXT, "
            "copyright_c TEXT, copyright_p TEXT, label TEXT, popularity INTEGER, release_date TEXT, "
            "release_date_precision TEXT, total_tracks INTEGER",
            indexes=(("albums_id", "id", True),),
        ),
        _t(
            "album_images",
            MAIN,
            "album_rowid INTEGER, width INTEGER, height INTEGER, url TEXT",
            indexes=(("album_images_album_rowid", "album_rowid", False),),
        ),
        _t(
            "tracks",
            MAIN,
            "rowid INTEGER, id TEXT, fetched_at INTEGER, name TEXT, preview_url TEXT, "
            "album_rowid INTEGER, track_number INTEGER, external_id_isrc TEXT, external_id_ean TEXT, "
            "external_id_upc TEXT, popularity INTEGER, available_markets_rowid INTEGER, "
            "disc_number INTEGER, duration_ms INTEGER, explicit INTEGER",
            indexes=(
                ("tracks_id", "id", True),
                ("tracks_isrc", "external_id_isrc", False),
                ("tracks_popularity", "popularity", False),
            ),
        ),
        _t(
            "track_artists",
            MAIN,
            "track_rowid INTEGER, artist_rowid INTEGER",
            indexes=(
                ("track_artists_track_rowid", "track_rowid", False),
                ("track_artists_artist_rowid", "artist_rowid", False),
            ),
        ),
        _t(
            "track_audio_features",
            FEATURES,
            "track_id TEXT, fetched_at INTEGER, null_response INTEGER, duration_ms INTEGER, time_signature INTEGER, "
            "tempo REAL, key INTEGER, mode INTEGER, danceability REAL, energy REAL, loudness REAL, speechiness REAL, "
            "acousticness REAL, instrumentalness REAL, liveness REAL, valence REAL",
            indexes=(("track_audio_features_track_id", "track_id", True),),
        ),
        _t(
            "playlists",
            PLAYLISTS,
            "rowid INTEGER, id TEXT, snapshot_id TEXT, fetched_at INTEGER, name TEXT, "
            "description TEXT, collaborative INTEGER, public INTEGER, primary_color TEXT, "
            "owner_id TEXT, owner_display_name TEXT, followers_total INTEGER, "
            "tracks_total INTEGER",
            indexes=(("playlists_id", "id", True),),
        ),
        _t(
            "playlist_images",
            PLAYLISTS,
            "playlist_rowid INTEGER, width INTEGER, height INTEGER, url TEXT",
            indexes=(("playlist_images_playlist_rowid", "playlist_rowid", False),),
        ),
        _t(
            "playlist_tracks",
            PLAYLISTS,
            "playlist_rowid INTEGER, position INTEGER, is_episode INTEGER, track_rowid INTEGER, "
            "id_if_not_in_tracks_table TEXT, added_at TEXT, added_by_id TEXT, is_local INTEGER, "
            "name_if_is_local TEXT, album_if_is_local TEXT, artist_if_is_local TEXT, duration_ms_if_is_local INTEGER, "
            "uri_if_is_local TEXT",
            primary_key=("playlist_rowid", "position"),
        ),
        _t(
            "track_files",
            TRACK_FILES,
            "track_id TEXT, filename TEXT, status TEXT, reencoded_kbit_vbr INTEGER, fetched_at INTEGER, "
            "session_country TEXT, sha256_original TEXT, sha256_with_embedded_meta TEXT, filesize_bytes INTEGER, "
            "isrc_has_download INTEGER, track_popularity INTEGER, secondary_priority REAL, prefixed_ogg_packet BLOB, "
            "alternatives TEXT, file_id_ogg_vorbis_96 TEXT, file_id_ogg_vorbis_160 TEXT, file_id_ogg_vorbis_320 TEXT, "
            "file_id_aac_24 TEXT, file_id_mp3_96 TEXT, language_of_performance TEXT, artist_roles TEXT, "
            "has_lyrics INTEGER, licensor TEXT, original_title TEXT, version_title TEXT, content_ratings TEXT",
            indexes=(("track_files_track_id", "track_id", True),),
        ),
    )
}

DATABASE_TABLES = {db: tuple(t.name for t in TABLES.values() if t.database == db) for db in FILE_NAMES}

STATUSES = (
    "success",
    "error_not_available",
    "error_has_replacement",
    "skipped_isrc_has_download",
    "skipped_low_priority",
    "todo_unk",
    "error_no_ogg160",
    "error_zero_duration",
)

# The API key lists a layout row stands for (`export spotify` rebuilds these objects from the rows).
ARTIST_KEYS = tuple(sorted(spotify.ARTIST_KEYS))
ARTIST_SIMPLE_KEYS = ("external_urls", "href", "id", "name", "type", "uri")
ALBUM_KEYS = (
    "album_type",
    "artists",
    "available_markets",
    "copyrights",
    "external_ids",
    "external_urls",
    "href",
    "id",
    "images",
    "label",
    "name",
    "popularity",
    "release_date",
    "release_date_precision",
    "total_tracks",
    "type",
    "uri",
)
ALBUM_SIMPLE_KEYS = (
    "album_type",
    "artists",
    "available_markets",
    "external_urls",
    "href",
    "id",
    "images",
    "name",
    "release_date",
    "release_date_precision",
    "total_tracks",
    "type",
    "uri",
)
TRACK_KEYS = tuple(sorted(spotify.TRACK_KEYS))
FEATURE_KEYS = tuple(sorted(spotify.FEATURE_KEYS))
PLAYLIST_KEYS = (
    "collaborative",
    "description",
    "external_urls",
    "followers",
    "href",
    "id",
    "images",
    "name",
    "owner",
    "primary_color",
    "public",
    "snapshot_id",
    "tracks",
    "type",
    "uri",
)
ITEM_KEYS = ("added_at", "added_by", "is_local", "track")
IMAGE_KEYS = tuple(sorted(spotify.IMAGE_KEYS))


def create_database(path: str, database: str) -> sqlite3.Connection:
    """A new, empty database of the layout at `path` (which must not exist), open for writing."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # written once from scratch: a failed write is written again
    conn.execute("PRAGMA synchronous=OFF")
    for name in DATABASE_TABLES[database]:
        for statement in TABLES[name].ddl():
            if " INDEX " not in statement:
                conn.execute(statement)
    return conn


def create_indexes(conn: sqlite3.Connection, database: str) -> None:
    """The layout's indexes, built once the rows are in (a sort over the whole table each)."""
    for name in DATABASE_TABLES[database]:
        for statement in TABLES[name].ddl():
            if " INDEX " in statement:
                conn.execute(statement)


def has_rowid(conn: sqlite3.Connection, schema: str, table: str) -> bool:
    try:
        conn.execute(f"SELECT rowid FROM {schema}.{table} LIMIT 0")
    except sqlite3.OperationalError:
        return False
    return True


def present_tables(conn: sqlite3.Connection, schema: str) -> set[str]:
    return {name for (name,) in conn.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}


def which_databases(conn: sqlite3.Connection, schema: str) -> list[str]:
    """The layout's databases a file holds tables of (a file may hold several)."""
    tables = present_tables(conn, schema)
    return [db for db in LOAD_ORDER if tables & set(DATABASE_TABLES[db])]


def missing(conn: sqlite3.Connection, schema: str, database: str) -> list[str]:
    """What the file lacks to be that database of the layout: 'table X' or 'column X.Y', in layout order."""
    tables = present_tables(conn, schema)
    out = []
    for name in DATABASE_TABLES[database]:
        if name not in tables:
            out.append(f"table {name}")
            continue
        have = {row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({name})")}
        if "rowid" in TABLES[name].column_names and "rowid" not in have and has_rowid(conn, schema, name):
            have.add("rowid")
        out.extend(f"column {name}.{col}" for col in TABLES[name].column_names if col not in have)
    return out
