-- Fonoteca catalog, schema version 10: which rows an import wrote, found through an index.
--
-- The search index is brought up to date after every import by re-indexing the tracks the new runs wrote or
-- touched: rows whose source is one of their files (fonoteca/search/index.py, _changed_tracks). Without these
-- indexes that was a scan of the whole tracks, artists and albums tables on every import (0.3 s at 1M tracks,
-- about 80 s at the reference catalog's 256M, whatever the import's size); with them it reads the rows of those
-- sources only. The bulk path drops and rebuilds them with the other secondary indexes.

CREATE INDEX IF NOT EXISTS tracks_source ON tracks (source);
CREATE INDEX IF NOT EXISTS artists_source ON artists (source);
CREATE INDEX IF NOT EXISTS albums_source ON albums (source);
