-- Fonoteca catalog, schema version 3: stored audio files (issue 5, package fonoteca.ingest).
--
-- A row in `files` exists only once its file is durable under the archive (written to a temporary file, fsynced,
-- renamed into place, directory fsynced): the row is committed last. `ingest_pending` is the journal of renames
-- whose row is not committed yet; ingest removes those files when it starts again after a crash.

CREATE TABLE files (
  rowid INTEGER PRIMARY KEY,
  track INTEGER NOT NULL,            -- tracks.rowid the file stands for (the plan's representative of its ISRC)
  tier INTEGER NOT NULL,             -- 1 compact (Ogg Opus), 2 original (source audio stream kept bit-exact)
  path TEXT NOT NULL UNIQUE,         -- relative to the archive root, e.g. files/original/3f/<track id>.flac
  size INTEGER NOT NULL,             -- bytes of the stored file
  sha256 TEXT NOT NULL,              -- of the stored file (tagged)
  source_sha256 TEXT NOT NULL,       -- of the input file as it was read
  source_size INTEGER NOT NULL,
  source_path TEXT NOT NULL,         -- where the input was when ingested
  source_container TEXT,             -- FFmpeg demuxer of the input (flac, ogg, mp3, "mov,mp4,m4a,...")
  source_codec TEXT,                 -- decoder of the input (flac, vorbis, mp3float, aac, ...)
  patch BLOB,                        -- original tier: rebuilds the input from the stored file (fonoteca.audio.patch);
                                     -- NULL when the stored file is the input byte for byte, or tier compact
  container TEXT NOT NULL,           -- of the stored file
  codec TEXT NOT NULL,               -- of the stored file's audio
  bit_rate INTEGER,                  -- average bits per second of the stored file (size * 8 / duration)
  sample_rate INTEGER,
  channels INTEGER,
  duration_ms INTEGER NOT NULL,      -- decoded duration
  loudness REAL,                     -- integrated loudness, LUFS (ITU-R BS.1770-4); NULL for silence
  replaygain_gain REAL,              -- ReplayGain 2.0 track gain, dB (reference -18 LUFS)
  replaygain_peak REAL,              -- sample peak, linear
  matched_by TEXT NOT NULL,          -- map | isrc | track_id | musicbrainz | title
  tags TEXT,                         -- tag format written (vorbis | flac | id3 | mp4 | ape | asf); NULL: untagged
  ingested_at TEXT NOT NULL,         -- ISO 8601, UTC
  UNIQUE (track, tier)
);
CREATE INDEX files_source ON files (source_sha256);

-- Chromaprint fingerprint of every input ingest decoded (first 120 s), keyed by the input's sha256.
CREATE TABLE fingerprints (
  sha256 TEXT PRIMARY KEY,
  seconds REAL NOT NULL,             -- audio the fingerprint covers
  fingerprint TEXT NOT NULL,         -- AcoustID's compressed base64 form
  raw BLOB NOT NULL,                 -- uint32 little-endian sub-fingerprints
  usable INTEGER NOT NULL,           -- 0: too short or silence, never used to match
  track INTEGER                      -- the track it was matched to, if any
) WITHOUT ROWID;

-- Candidate index over the fingerprints of stored files: sampled sub-fingerprint values (value % 16 = 0).
CREATE TABLE fingerprint_keys (
  key INTEGER NOT NULL, sha256 TEXT NOT NULL,
  PRIMARY KEY (key, sha256)
) WITHOUT ROWID;

-- Every input ingest has decided about, so that running it again on the same sources does nothing new.
CREATE TABLE ingest_sources (
  path TEXT PRIMARY KEY,             -- absolute path of the input
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  sha256 TEXT,
  outcome TEXT NOT NULL,             -- stored | duplicate | conflict | quarantined | unmatched | skipped
  track INTEGER,                     -- tracks.rowid concerned (stored under, duplicate of, ...)
  reason TEXT,                       -- quarantine reason, match route or skip reason
  detail TEXT,                       -- JSON
  decided_at TEXT NOT NULL
) WITHOUT ROWID;

-- Renames into files/ whose row is not committed yet (crash recovery).
CREATE TABLE ingest_pending (path TEXT PRIMARY KEY, started_at TEXT NOT NULL) WITHOUT ROWID;

-- Title matching looks tracks up by name, case-insensitively.
CREATE INDEX IF NOT EXISTS tracks_name_nocase ON tracks (name COLLATE NOCASE);
