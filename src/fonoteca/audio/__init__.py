"""Audio: pure functions on files. Probe and full decode (PyAV), Opus encode (libopus through PyAV), tags
(mutagen, MusicBrainz Picard conventions), Chromaprint fingerprints (pyacoustid + libchromaprint), ReplayGain 2.0
loudness (ITU-R BS.1770-4 with scipy), and byte-exact binary patches (zstd with a raw-content dictionary).

Nothing here knows about the catalog or the archive; fonoteca.ingest composes these into the ingest pipeline.
"""
