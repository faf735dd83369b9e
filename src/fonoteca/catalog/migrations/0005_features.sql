-- Fonoteca catalog, schema version 5: audio features computed from the archive's own files (issue 9, package
-- fonoteca.features). Imported features (Spotify's) stay in audio_features; the genre map uses a track's computed
-- row where there is one, its imported row otherwise (fonoteca/features/mapping.py documents how both map onto the
-- map's axes). Definitions of every column: fonoteca/features/extract.py.

CREATE TABLE track_features (
  track INTEGER PRIMARY KEY,         -- tracks.rowid
  sha256 TEXT NOT NULL,              -- files.sha256 of the file analysed (a changed file is analysed again)
  tier INTEGER NOT NULL,             -- files.tier analysed (the original when there is one)
  version INTEGER NOT NULL,          -- feature algorithm version (a new version recomputes)
  duration_s REAL,                   -- decoded seconds
  loudness_lufs REAL,                -- integrated loudness, LUFS-like (K-weighted, gated, mono); NULL: silence
  dynamic_range_db REAL,             -- 95th - 10th percentile of 400 ms block loudness, dB
  centroid_hz REAL,                  -- spectral centroid, Hz (brightness)
  flatness REAL,                     -- spectral flatness 0 (tonal) .. 1 (noise)
  onset_rate REAL,                   -- onsets per second
  tempo REAL,                        -- beats per minute
  regularity REAL,                   -- rhythmic regularity 0 .. 1
  harmonic_ratio REAL,               -- harmonic / (harmonic + percussive) energy, 0 .. 1
  key INTEGER,                       -- 0 = C .. 11 = B
  mode INTEGER,                      -- 1 major, 0 minor
  key_strength REAL,                 -- correlation with the key profile, -1 .. 1
  error TEXT,                        -- why the file could not be analysed (features NULL)
  computed_at TEXT NOT NULL          -- ISO 8601, UTC
);
