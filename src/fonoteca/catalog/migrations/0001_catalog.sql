-- Fonoteca catalog, schema version 1.
-- Integer rowids for joins; text ids are source-native and live in a namespace (ns: 1 spotify, 2 musicbrainz,
-- 3 table). Every entity row carries provenance (source, fetched_at), how complete the object was (level:
-- 0 stub, 1 table row, 2 simplified, 3 full), the key list of the source object (shape) and the fields the schema does not
-- model (extra, JSON), so that the source JSON can be rebuilt exactly.

CREATE TABLE sources (
  rowid INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  format TEXT NOT NULL,
  UNIQUE (path, size, mtime, format)
);

-- Key lists of source objects, de-duplicated: a JSON array of key names in source order.
CREATE TABLE shapes (rowid INTEGER PRIMARY KEY, keys TEXT NOT NULL UNIQUE);

-- Market lists, de-duplicated: ISO 3166 codes joined by spaces, in source order.
CREATE TABLE market_lists (rowid INTEGER PRIMARY KEY, markets TEXT NOT NULL UNIQUE);

CREATE TABLE genres (rowid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);

CREATE TABLE artists (
  rowid INTEGER PRIMARY KEY,
  ns INTEGER NOT NULL,
  id TEXT NOT NULL,
  name TEXT,
  popularity INTEGER,
  followers INTEGER,
  level INTEGER NOT NULL,
  fetched_at INTEGER NOT NULL,
  source INTEGER,
  shape INTEGER,
  extra TEXT
);
CREATE UNIQUE INDEX artists_id ON artists (id, ns);
CREATE INDEX artists_popularity ON artists (popularity);

CREATE TABLE artist_genres (
  artist INTEGER NOT NULL, position INTEGER NOT NULL, genre INTEGER NOT NULL,
  PRIMARY KEY (artist, position)
) WITHOUT ROWID;
CREATE INDEX artist_genres_genre ON artist_genres (genre);

CREATE TABLE albums (
  rowid INTEGER PRIMARY KEY,
  ns INTEGER NOT NULL,
  id TEXT NOT NULL,
  name TEXT,
  album_type TEXT,
  total_tracks INTEGER,
  release_date TEXT,
  release_date_precision TEXT,
  label TEXT,
  popularity INTEGER,
  markets INTEGER,
  upc TEXT,
  level INTEGER NOT NULL,
  fetched_at INTEGER NOT NULL,
  source INTEGER,
  shape INTEGER,
  extra TEXT
);
CREATE UNIQUE INDEX albums_id ON albums (id, ns);
CREATE INDEX albums_upc ON albums (upc) WHERE upc IS NOT NULL;
CREATE INDEX albums_popularity ON albums (popularity);

CREATE TABLE album_artists (
  album INTEGER NOT NULL, position INTEGER NOT NULL, artist INTEGER NOT NULL, shape INTEGER,
  PRIMARY KEY (album, position)
) WITHOUT ROWID;
CREATE INDEX album_artists_artist ON album_artists (artist);

CREATE TABLE tracks (
  rowid INTEGER PRIMARY KEY,
  ns INTEGER NOT NULL,
  id TEXT NOT NULL,
  name TEXT,
  album INTEGER,
  disc_number INTEGER,
  track_number INTEGER,
  duration_ms INTEGER,
  explicit INTEGER,
  popularity INTEGER,
  preview_url TEXT,
  is_local INTEGER,
  markets INTEGER,
  isrc TEXT,
  level INTEGER NOT NULL,
  fetched_at INTEGER NOT NULL,
  source INTEGER,
  shape INTEGER,
  album_shape INTEGER,
  extra TEXT
);
CREATE UNIQUE INDEX tracks_id ON tracks (id, ns);
CREATE INDEX tracks_isrc ON tracks (isrc) WHERE isrc IS NOT NULL;
CREATE INDEX tracks_popularity ON tracks (popularity);
CREATE INDEX tracks_album ON tracks (album, disc_number, track_number);

CREATE TABLE track_artists (
  track INTEGER NOT NULL, position INTEGER NOT NULL, artist INTEGER NOT NULL, shape INTEGER,
  PRIMARY KEY (track, position)
) WITHOUT ROWID;
CREATE INDEX track_artists_artist ON track_artists (artist);

-- Further releases a recording appears on (MusicBrainz: one recording, many releases). Spotify tracks belong to
-- exactly one album, held in tracks.album.
CREATE TABLE album_tracks (
  album INTEGER NOT NULL, disc INTEGER NOT NULL, number INTEGER NOT NULL, track INTEGER NOT NULL,
  PRIMARY KEY (album, disc, number)
) WITHOUT ROWID;
CREATE INDEX album_tracks_track ON album_tracks (track);

-- Images of albums (owner_kind 'album'), artists ('artist') and playlists ('playlist').
CREATE TABLE images (
  owner_kind TEXT NOT NULL, owner INTEGER NOT NULL, position INTEGER NOT NULL,
  url TEXT, width INTEGER, height INTEGER, shape INTEGER,
  PRIMARY KEY (owner_kind, owner, position)
) WITHOUT ROWID;

-- External ids beyond the primary ISRC (tracks.isrc) and UPC (albums.upc): EAN, further ids. kind: isrc|upc|ean|...
CREATE TABLE external_ids (
  owner_kind TEXT NOT NULL, owner INTEGER NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (owner_kind, owner, kind, value)
) WITHOUT ROWID;
CREATE INDEX external_ids_value ON external_ids (value, kind);

-- Audio features: untyped columns keep the source's JSON number types (0 stays an integer, 0.0 a float).
CREATE TABLE audio_features (
  track INTEGER PRIMARY KEY,
  danceability, energy, key, loudness, mode, speechiness, acousticness, instrumentalness, liveness, valence,
  tempo, time_signature, duration_ms,
  origin TEXT NOT NULL,
  fetched_at INTEGER NOT NULL,
  source INTEGER,
  shape INTEGER,
  extra TEXT
);

CREATE TABLE playlists (
  rowid INTEGER PRIMARY KEY,
  ns INTEGER NOT NULL,
  id TEXT NOT NULL,
  name TEXT,
  description TEXT,
  owner_id TEXT,
  public INTEGER,
  collaborative INTEGER,
  followers INTEGER,
  snapshot_id TEXT,
  level INTEGER NOT NULL,
  fetched_at INTEGER NOT NULL,
  source INTEGER,
  shape INTEGER,
  extra TEXT
);
CREATE UNIQUE INDEX playlists_id ON playlists (id, ns);

CREATE TABLE playlist_items (
  playlist INTEGER NOT NULL, position INTEGER NOT NULL,
  track INTEGER,
  added_at TEXT,
  shape INTEGER,
  track_shape INTEGER,
  extra TEXT,
  PRIMARY KEY (playlist, position)
) WITHOUT ROWID;
CREATE INDEX playlist_items_track ON playlist_items (track);

-- One row per import command run, for the operator's log (not part of the catalog's content).
CREATE TABLE import_runs (
  rowid INTEGER PRIMARY KEY,
  source INTEGER NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  records INTEGER,
  rejected INTEGER
);
