-- Fonoteca catalog, schema version 9: the reference layout (spotify_clean*.sqlite3, see
-- ../shared/REFERENCE-RELEASE.md) read and written exactly, and bulk loads that resume after a crash
-- (fonoteca/catalog/spotify_clean.py, fonoteca/catalog/bulk.py).
--
-- Columns the layout has and the catalog had not. NULL in rows that came from other sources.
--   fetched_ms            the layout's fetched_at as published (milliseconds since the epoch; fetched_at holds
--                         the same moment in seconds, for "newer wins" across every source)
--   albums.amgid          external_id_amgid
--   albums.copyright_c/p  the album's C and P copyright lines
--   playlists             primary_color, owner_display_name, tracks_total
--   playlist_items        the layout's entry fields: is_episode, id_if_not_in_tracks_table (other_id),
--                         added_by_id (added_by), is_local and the *_if_is_local fields (local_*)
--   audio_features        null_response (the API answered null for this track)

ALTER TABLE artists ADD COLUMN fetched_ms INTEGER;
ALTER TABLE albums ADD COLUMN fetched_ms INTEGER;
ALTER TABLE albums ADD COLUMN amgid TEXT;
ALTER TABLE albums ADD COLUMN copyright_c TEXT;
ALTER TABLE albums ADD COLUMN copyright_p TEXT;
ALTER TABLE tracks ADD COLUMN fetched_ms INTEGER;
ALTER TABLE playlists ADD COLUMN fetched_ms INTEGER;
ALTER TABLE playlists ADD COLUMN primary_color TEXT;
ALTER TABLE playlists ADD COLUMN owner_display_name TEXT;
ALTER TABLE playlists ADD COLUMN tracks_total INTEGER;
ALTER TABLE playlist_items ADD COLUMN is_episode INTEGER;
ALTER TABLE playlist_items ADD COLUMN other_id TEXT;
ALTER TABLE playlist_items ADD COLUMN added_by TEXT;
ALTER TABLE playlist_items ADD COLUMN is_local INTEGER;
ALTER TABLE playlist_items ADD COLUMN local_name TEXT;
ALTER TABLE playlist_items ADD COLUMN local_album TEXT;
ALTER TABLE playlist_items ADD COLUMN local_artist TEXT;
ALTER TABLE playlist_items ADD COLUMN local_duration_ms INTEGER;
ALTER TABLE playlist_items ADD COLUMN local_uri TEXT;
ALTER TABLE audio_features ADD COLUMN null_response INTEGER;
ALTER TABLE audio_features ADD COLUMN fetched_ms INTEGER;

-- The layout's artist_albums rows as published. album_artists (the album's own artist list, which search and
-- export spotify use) holds the rows with an index_in_album, at that position.
CREATE TABLE artist_albums (
  album INTEGER NOT NULL, artist INTEGER NOT NULL, seq INTEGER NOT NULL,   -- seq: order within the album
  is_appears_on INTEGER, is_implicit_appears_on INTEGER, index_in_album INTEGER,
  PRIMARY KEY (album, seq)
) WITHOUT ROWID;
CREATE INDEX artist_albums_artist ON artist_albums (artist);

-- How each track became (or did not become) a file in the reference release: spotify_clean_track_files as
-- published, keyed by tracks.rowid. `plan` reads sizes and statuses from here; `ingest` checks a file against
-- sha256_original / sha256_with_embedded_meta.
CREATE TABLE track_files (
  track INTEGER PRIMARY KEY,
  filename TEXT, status TEXT, reencoded_kbit_vbr INTEGER, fetched_at INTEGER, session_country TEXT,
  sha256_original TEXT, sha256_with_embedded_meta TEXT, filesize_bytes INTEGER, isrc_has_download INTEGER,
  track_popularity INTEGER, secondary_priority REAL, prefixed_ogg_packet, alternatives,
  file_id_ogg_vorbis_96 TEXT, file_id_ogg_vorbis_160 TEXT, file_id_ogg_vorbis_320 TEXT, file_id_aac_24 TEXT,
  file_id_mp3_96 TEXT, language_of_performance, artist_roles, has_lyrics, licensor, original_title,
  version_title, content_ratings,
  source INTEGER
);

-- The reference release's status each track gets from the stored plan (`plan --policy anna` reproduces the
-- published ones): kept -> success; skipped while a track with its ISRC is kept -> skipped_isrc_has_download;
-- skipped otherwise -> skipped_low_priority; a track the release could not get keeps its track_files status.
CREATE VIEW plan_status AS
  SELECT p.track, CASE
    WHEN f.status IN ('error_not_available', 'error_has_replacement', 'todo_unk', 'error_no_ogg160',
                      'error_zero_duration') THEN f.status
    WHEN p.tier > 0 THEN 'success'
    WHEN p.rep IS NOT NULL AND (SELECT r.tier FROM plan r WHERE r.track = p.rep) > 0 THEN 'skipped_isrc_has_download'
    ELSE 'skipped_low_priority' END AS status
  FROM plan p LEFT JOIN track_files f ON f.track = p.track;

-- Reference rowids -> catalog rowids, so that a database of the layout imported later (playlists refer to
-- tracks by the main database's rowid) finds the rows its references mean. kind: artist | album | track |
-- market | playlist. A reference rowid r in [lo, hi] is catalog rowid r + shift unless reference_exceptions
-- names it (rowid NULL: that reference row is not in the catalog, it was rejected).
CREATE TABLE reference_map (
  kind TEXT PRIMARY KEY, source INTEGER NOT NULL, shift INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL
);
CREATE TABLE reference_exceptions (
  kind TEXT NOT NULL, ref INTEGER NOT NULL, rowid INTEGER, PRIMARY KEY (kind, ref)
) WITHOUT ROWID;

-- Values the catalog stores normalised whose published spelling differs (an ISRC written in lower case):
-- export writes them back as published.
CREATE TABLE reference_verbatim (
  owner_kind TEXT NOT NULL, owner INTEGER NOT NULL, field TEXT NOT NULL, value,
  PRIMARY KEY (owner_kind, owner, field)
) WITHOUT ROWID;

-- A bulk load in progress (secondary indexes dropped, rows loaded in id-ordered chunks, each chunk one
-- transaction). `state` (JSON) holds the dropped indexes' SQL, the chunks done and where the reject log stood;
-- the same import run again resumes from it; the row goes when the indexes are built again.
CREATE TABLE bulk_loads (
  rowid INTEGER PRIMARY KEY,
  format TEXT NOT NULL,              -- spotify-clean | spotify
  inputs TEXT NOT NULL,              -- JSON: the input files (path, size, mtime), in load order
  started_at TEXT NOT NULL,
  state TEXT NOT NULL
);
