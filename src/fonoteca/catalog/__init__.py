"""The catalog stage: SQLite schema and migrations, the store, importers (spotify, musicbrainz, table), export."""
