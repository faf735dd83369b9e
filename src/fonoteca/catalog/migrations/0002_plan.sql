-- Fonoteca catalog, schema version 2: the preservation plan (issue 4, package fonoteca.plan).
--
-- `plan` holds ONE row per catalogued track (tracks.level > 0) of the latest `fonoteca plan` run; ingest follows
-- it. Reading rule for ingest:
--   * store a file for a track when tier > 0 (1 = compact: Ogg Opus at [tiers] compact_bitrate;
--     2 = original: the source audio kept bit-exact); tier 0 = skip (catalogued only);
--   * rep IS NULL: the track stands for its own recording; rep = R: another track R with the same ISRC stands
--     for it (one file per recording), this row then has tier 0 and its listens are covered by R's file;
--     a file offered for such a track may be matched to R when R has none yet.
-- Earlier runs survive only as their summary in plan_runs; `plan` is replaced as a whole by each run.

-- Play counts where a source has them (they beat the popularity estimate of the listen model).
CREATE TABLE track_plays (
  track INTEGER PRIMARY KEY,       -- tracks.rowid
  plays INTEGER NOT NULL,          -- total plays (streams) reported by the source
  source TEXT                      -- where the figure comes from (file name or label)
);

-- One row per `fonoteca plan` run.
CREATE TABLE plan_runs (
  rowid INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,        -- ISO 8601, UTC
  policy TEXT NOT NULL,            -- anna | optimal
  budget INTEGER,                  -- bytes the operator gave (NULL: none)
  params TEXT NOT NULL,            -- JSON: tier bitrates, listen model calibration, compact value
  summary TEXT NOT NULL            -- JSON: what `fonoteca plan --json` printed
);

CREATE TABLE plan (
  track INTEGER PRIMARY KEY,       -- tracks.rowid
  tier INTEGER NOT NULL,           -- 0 skip, 1 compact, 2 original
  bytes INTEGER NOT NULL,          -- planned size of this track's file (0 when tier = 0)
  listens REAL NOT NULL,           -- estimated listens of this track alone (play count, else from popularity)
  rep INTEGER,                     -- NULL: own recording; else tracks.rowid of the track whose file covers it
  run INTEGER NOT NULL             -- plan_runs.rowid
);
CREATE INDEX plan_tier ON plan (tier) WHERE tier > 0;

-- Real sizes of stored files, written by ingest once a file exists; the next plan uses them instead of the
-- duration x bitrate estimate.
CREATE TABLE plan_sizes (
  track INTEGER NOT NULL, tier INTEGER NOT NULL, bytes INTEGER NOT NULL,
  PRIMARY KEY (track, tier)
) WITHOUT ROWID;

-- The plan with tier names, for people and simple tools.
CREATE VIEW plan_view AS
  SELECT p.track, t.id, CASE p.tier WHEN 2 THEN 'original' WHEN 1 THEN 'compact' ELSE 'skip' END AS tier,
         p.bytes, p.listens, p.rep, p.run
  FROM plan p JOIN tracks t ON t.rowid = p.track;
