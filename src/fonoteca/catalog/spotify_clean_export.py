"""`fonoteca export spotify-clean`: the catalog written as the reference release's SQLite layout.

Any catalog can be written (rows of the spotify namespace: the layout holds Spotify ids); a catalog imported
from the layout gives back the rows it was imported from, rowids included (when it was imported into an empty
catalog, they are the same numbers). Every table is written by SQLite itself: the output database attaches the
catalog read-only and copies with INSERT ... SELECT, indexes built last; each file is written under a temporary
name and renamed when complete.

Rows of other sources are written as the layout would hold them: fetched_at = the catalog's time in ms,
artist_albums = the album's artist list (is_appears_on 0, index_in_album = position), a playlist entry's
episode and local-file fields empty.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from fonoteca.catalog import layout
from fonoteca.catalog.db import read_only_uri, transaction
from fonoteca.progress import Progress

NS = 1


def _fetched(alias: str) -> str:
    """The layout's fetched_at (ms): as published for rows imported from the layout, else the catalog's time."""
    return (
        f"CASE WHEN {alias}.source IN (SELECT rowid FROM cat.sources WHERE format = 'spotify-clean') "
        f"THEN {alias}.fetched_ms ELSE {alias}.fetched_at * 1000 END"
    )


MAIN_SQL = {
    "artists": f"""
        SELECT a.rowid, a.id, {_fetched("a")}, a.name, a.followers, a.popularity FROM cat.artists a
        WHERE a.ns = {NS} AND (a.level > 0 OR a.rowid IN (SELECT artist FROM cat.track_artists)
                               OR a.rowid IN (SELECT artist FROM cat.album_artists)
                               OR a.rowid IN (SELECT artist FROM cat.artist_albums)) ORDER BY a.rowid""",
    "artist_genres": """
        SELECT g.artist, n.name FROM cat.artist_genres g JOIN cat.genres n ON n.rowid = g.genre
        JOIN cat.artists a ON a.rowid = g.artist WHERE a.ns = 1 ORDER BY g.artist, g.position""",
    "artist_images": """
        SELECT i.owner, i.width, i.height, i.url FROM cat.images i JOIN cat.artists a ON a.rowid = i.owner
        WHERE i.owner_kind = 'artist' AND a.ns = 1 ORDER BY i.owner, i.position""",
    "artist_albums": """
        SELECT l.artist, l.album, l.is_appears_on, l.is_implicit_appears_on, l.index_in_album FROM (
          SELECT artist, album, seq, is_appears_on, is_implicit_appears_on, index_in_album FROM cat.artist_albums
          UNION ALL
          SELECT artist, album, position, 0, 0, position FROM cat.album_artists
          WHERE album NOT IN (SELECT album FROM cat.artist_albums)) l
        JOIN cat.albums al ON al.rowid = l.album JOIN cat.artists ar ON ar.rowid = l.artist
        WHERE al.ns = 1 AND ar.ns = 1 ORDER BY l.album, l.seq""",
    "available_markets": """
        SELECT rowid, replace(markets, ' ', ',') FROM cat.market_lists ORDER BY rowid""",
    "albums": f"""
        SELECT a.rowid, a.id, {_fetched("a")}, a.name, a.album_type, a.markets, a.upc, a.amgid, a.copyright_c,
               a.copyright_p, a.label, a.popularity, a.release_date, a.release_date_precision, a.total_tracks
        FROM cat.albums a WHERE a.ns = {NS} AND (a.level > 0 OR a.rowid IN (SELECT album FROM cat.tracks))
        ORDER BY a.rowid""",
    "album_images": """
        SELECT i.owner, i.width, i.height, i.url FROM cat.images i JOIN cat.albums a ON a.rowid = i.owner
        WHERE i.owner_kind = 'album' AND a.ns = 1 ORDER BY i.owner, i.position""",
    "tracks": f"""
        SELECT t.rowid, t.id, {_fetched("t")}, t.name, t.preview_url,
               (SELECT a.rowid FROM cat.albums a WHERE a.rowid = t.album AND a.ns = {NS}), t.track_number,
               coalesce((SELECT v.value FROM cat.reference_verbatim v WHERE v.owner_kind = 'track'
                         AND v.owner = t.rowid AND v.field = 'external_id_isrc'), t.isrc),
               (SELECT min(e.value) FROM cat.external_ids e WHERE e.owner_kind = 'track' AND e.owner = t.rowid
                AND e.kind = 'ean'),
               (SELECT min(e.value) FROM cat.external_ids e WHERE e.owner_kind = 'track' AND e.owner = t.rowid
                AND e.kind = 'upc'),
               t.popularity, t.markets, t.disc_number, t.duration_ms, t.explicit
        FROM cat.tracks t WHERE t.ns = {NS} AND t.level > 0 ORDER BY t.rowid""",
    "track_artists": """
        SELECT l.track, l.artist FROM cat.track_artists l JOIN cat.tracks t ON t.rowid = l.track
        JOIN cat.artists a ON a.rowid = l.artist WHERE t.ns = 1 AND t.level > 0 AND a.ns = 1
        ORDER BY l.track, l.position""",
}
FEATURES_SQL = {
    "track_audio_features": f"""
        SELECT t.id, {_fetched("f")}, coalesce(f.null_response, 0), f.duration_ms, f.time_signature, f.tempo,
               f.key, f.mode, f.danceability, f.energy, f.loudness, f.speechiness, f.acousticness,
               f.instrumentalness, f.liveness, f.valence
        FROM cat.audio_features f JOIN cat.tracks t ON t.rowid = f.track
        WHERE t.ns = {NS} AND f.origin IN ('spotify', 'table') ORDER BY f.track""",
}
FILES_SQL = {
    "track_files": f"""
        SELECT t.id, f.filename, f.status, f.reencoded_kbit_vbr, f.fetched_at, f.session_country,
               f.sha256_original, f.sha256_with_embedded_meta, f.filesize_bytes, f.isrc_has_download,
               f.track_popularity, f.secondary_priority, f.prefixed_ogg_packet, f.alternatives,
               f.file_id_ogg_vorbis_96, f.file_id_ogg_vorbis_160, f.file_id_ogg_vorbis_320, f.file_id_aac_24,
               f.file_id_mp3_96, f.language_of_performance, f.artist_roles, f.has_lyrics, f.licensor,
               f.original_title, f.version_title, f.content_ratings
        FROM cat.track_files f JOIN cat.tracks t ON t.rowid = f.track WHERE t.ns = {NS} ORDER BY f.track""",
}
PLAYLISTS_SQL = {
    "playlists": f"""
        SELECT p.rowid, p.id, p.snapshot_id, {_fetched("p")}, p.name, p.description, p.collaborative, p.public,
               p.primary_color, p.owner_id, p.owner_display_name, p.followers, p.tracks_total
        FROM cat.playlists p WHERE p.ns = {NS} AND p.level > 0 ORDER BY p.rowid""",
    "playlist_images": """
        SELECT i.owner, i.width, i.height, i.url FROM cat.images i JOIN cat.playlists p ON p.rowid = i.owner
        WHERE i.owner_kind = 'playlist' AND p.ns = 1 AND p.level > 0 ORDER BY i.owner, i.position""",
    "playlist_tracks": """
        SELECT i.playlist, i.position, coalesce(i.is_episode, 0),
               (SELECT t.rowid FROM cat.tracks t WHERE t.rowid = i.track AND t.ns = 1 AND t.level > 0),
               coalesce(i.other_id, (SELECT t.id FROM cat.tracks t WHERE t.rowid = i.track
                                     AND (t.ns != 1 OR t.level = 0))),
               i.added_at, i.added_by, coalesce(i.is_local, 0), i.local_name, i.local_album, i.local_artist,
               i.local_duration_ms, i.local_uri
        FROM cat.playlist_items i JOIN cat.playlists p ON p.rowid = i.playlist
        WHERE p.ns = 1 AND p.level > 0 ORDER BY i.playlist, i.position""",
}
SQL = {
    layout.MAIN: MAIN_SQL,
    layout.FEATURES: FEATURES_SQL,
    layout.TRACK_FILES: FILES_SQL,
    layout.PLAYLISTS: PLAYLISTS_SQL,
}


def export(
    catalog: Path,
    out: Path,
    databases: tuple[str, ...] = layout.LOAD_ORDER,
    progress: Progress | None = None,
) -> dict[str, dict[str, int]]:
    """Write the chosen databases of the layout into folder `out`; returns rows written per database and table."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, int]] = {}
    for database in databases:
        target = out / layout.FILE_NAMES[database]
        partial = out / (layout.FILE_NAMES[database] + ".partial")
        partial.unlink(missing_ok=True)
        conn = layout.create_database(str(partial), database)
        try:
            conn.execute("ATTACH DATABASE ? AS cat", (read_only_uri(catalog),))
            counts = {}
            with transaction(conn, immediate=False):
                for table, sql in SQL[database].items():
                    columns = len(layout.TABLES[table].columns)
                    before = conn.total_changes
                    conn.execute(f"INSERT INTO main.{table} SELECT * FROM ({sql})" if columns else sql)
                    counts[table] = conn.total_changes - before
                    if progress:
                        progress(counts[table], stage=table)
            conn.execute("DETACH DATABASE cat")
            layout.create_indexes(conn, database)
        finally:
            conn.close()
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, target)
        written[database] = counts
    return written


def check_catalog(catalog: Path) -> None:
    """Fail early, with the reason, when the catalog cannot be read."""
    conn = sqlite3.connect(read_only_uri(catalog), uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()
