-- Fonoteca catalog, schema version 7: licences and provenance of tracks and files, the source files an importer
-- described (so ingest can match and check them without a map), and replacement torrents (fonoteca.licences,
-- fonoteca.ledger, catalog importers files / internet-archive / jamendo / fma).
--
-- Reading rule for pack, the site and every API: a track is published (released in torrents, streamed) only when
-- its licence (track_licences.licence; no row: unknown) is allowed by [release] licences in fonoteca.toml, and it
-- is not withdrawn in the archive's withdrawals.jsonl ledger. Unpublished tracks stay catalogued and verifiable.

-- One licence per track: the latest import or `fonoteca licence set` that stated one.
CREATE TABLE track_licences (
  track INTEGER PRIMARY KEY,         -- tracks.rowid
  licence TEXT NOT NULL,             -- SPDX id (CC-BY-4.0, CC0-1.0) or LicenseRef-... (All-Rights-Reserved, Unknown)
  raw TEXT,                          -- the licence as the source wrote it (URL, deed title, copyright notice)
  url TEXT,                          -- the licence deed's URL
  attribution TEXT,                  -- the credit the licence asks for (NULL when it asks for none)
  source TEXT NOT NULL,              -- where the statement comes from: files | internet-archive | jamendo | fma | operator
  source_id TEXT,                    -- the item, track or file id in that source
  source_url TEXT,                   -- where the work is published by the source
  collection TEXT,                   -- the source's collection (Internet Archive collection, dataset name)
  imported_at TEXT NOT NULL          -- ISO 8601, UTC
);
CREATE INDEX track_licences_licence ON track_licences (licence);

-- The files an importer described: what ingest expects to find (by name in an item, or by path) and the digests
-- it checks them against before storing.
CREATE TABLE source_files (
  origin TEXT NOT NULL,              -- files | internet-archive | jamendo | fma
  item TEXT NOT NULL,                -- Internet Archive identifier ('' for origins without items)
  name TEXT NOT NULL,                -- the file's name in the item, its relative audio path (NNN/NNNNNN.mp3), or
                                     -- its absolute path (files)
  track INTEGER NOT NULL,            -- tracks.rowid
  size INTEGER,
  md5 TEXT,
  sha1 TEXT,
  mtime_ns INTEGER,                  -- files: the modification time seen at import
  format TEXT,                       -- Internet Archive's format name (Flac, VBR MP3, ...) or the file extension
  kind TEXT NOT NULL,                -- original | derivative
  original TEXT,                     -- a derivative: the name of the original it was made from
  PRIMARY KEY (origin, item, name)
) WITHOUT ROWID;
CREATE INDEX source_files_track ON source_files (track);
CREATE INDEX source_files_name ON source_files (name);

-- The licence a stored file carries in its tags (written by ingest).
ALTER TABLE files ADD COLUMN licence TEXT;

-- A replacement torrent (made by pack when tracks of an earlier torrent are withdrawn) names the torrent it
-- stands in for; the earlier torrent is never changed. A file may then be in an original torrent and in its
-- replacements, so the one-torrent-per-file index becomes a plain one.
ALTER TABLE torrents ADD COLUMN replaces INTEGER;
DROP INDEX torrent_files_file;
CREATE INDEX torrent_files_file ON torrent_files (file) WHERE file IS NOT NULL;
