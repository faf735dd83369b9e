-- Fonoteca catalog, schema version 4: releases (issue 6, package fonoteca.pack).
--
-- `fonoteca pack` writes one release per run: immutable bulk torrents (BitTorrent v1+v2 hybrids) of every stored
-- file not released before, plus one metadata torrent. A file (files.rowid) is released at most once; the rows of
-- a release are never changed afterwards, except the swarm figures and the obsolete/embargo flags of `torrents`.
-- Reading rule for mirrors and the website:
--   * a release counts only when releases.status = 'done' (a crashed pack leaves 'building', redone by the next);
--   * torrents.btih is the v1 info-hash (magnet xt=urn:btih), torrents.btmh the v2 one (xt=urn:btmh:1220...);
--   * torrent_files.idx is the file index libtorrent uses (pad files counted), offset the byte offset in the
--     torrent's v1 byte stream (pad files included), path the path below the torrent's name.

CREATE TABLE releases (
  rowid INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,         -- folder releases/NAME/
  created_at TEXT NOT NULL,          -- ISO 8601, UTC
  status TEXT NOT NULL,              -- building | done
  settings TEXT NOT NULL,            -- JSON: the [pack] settings used (bands, sizes, piece rule, trackers, web seeds)
  files INTEGER NOT NULL,            -- data files in the release
  bytes INTEGER NOT NULL,            -- their total size
  torrents INTEGER NOT NULL          -- data torrents (the metadata torrent not counted)
);

CREATE TABLE torrents (
  rowid INTEGER PRIMARY KEY,
  release INTEGER NOT NULL,          -- releases.rowid
  name TEXT NOT NULL UNIQUE,         -- torrent name = top folder of its files = releases/R/data/NAME/
  kind TEXT NOT NULL,                -- data | metadata
  band TEXT,                         -- popularity band, e.g. pop_50-100 (NULL for metadata)
  seq INTEGER,                       -- number of the torrent within its band, over all releases (from 1)
  btih TEXT NOT NULL UNIQUE,         -- v1 info-hash, 40 hex digits
  btmh TEXT NOT NULL UNIQUE,         -- v2 info-hash (SHA-256), 64 hex digits
  piece_length INTEGER NOT NULL,
  num_files INTEGER NOT NULL,        -- real files (pad files not counted)
  data_size INTEGER NOT NULL,        -- bytes of the real files
  torrent_size INTEGER NOT NULL,     -- bytes of the .torrent file
  tracks INTEGER NOT NULL,           -- catalog tracks whose recording the torrent holds (same-ISRC tracks included)
  listens REAL NOT NULL,             -- estimated listens those tracks cover (plan.listens, else the listen model)
  pop_min INTEGER, pop_max INTEGER,  -- popularity range of the files' tracks
  first_id TEXT, last_id TEXT,       -- track ids of the first and last file in popularity order
  added_at TEXT NOT NULL,            -- ISO 8601, UTC (added_to_torrents_list_at)
  obsolete INTEGER NOT NULL DEFAULT 0,
  embargo INTEGER NOT NULL DEFAULT 0,
  seeders INTEGER, leechers INTEGER, completed INTEGER,  -- swarm figures, NULL until scraped
  stats_scraped_at TEXT
);
CREATE INDEX torrents_release ON torrents (release);

CREATE TABLE torrent_files (
  torrent INTEGER NOT NULL,          -- torrents.rowid
  idx INTEGER NOT NULL,              -- file index in the torrent (libtorrent's: pad files counted)
  file INTEGER,                      -- files.rowid (NULL for the files of a metadata torrent)
  track INTEGER,                     -- tracks.rowid (NULL for metadata files)
  path TEXT NOT NULL,                -- below the torrent's name, '/'-separated, e.g. 3f/4uLU6hMCjMI75M1A2tKUQC.flac
  offset INTEGER NOT NULL,           -- byte offset in the torrent's v1 byte stream
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,              -- of the file's bytes
  root TEXT,                         -- v2 pieces root, 64 hex digits (NULL for an empty file)
  PRIMARY KEY (torrent, idx)
) WITHOUT ROWID;
CREATE UNIQUE INDEX torrent_files_file ON torrent_files (file) WHERE file IS NOT NULL;
CREATE INDEX torrent_files_track ON torrent_files (track) WHERE track IS NOT NULL;
