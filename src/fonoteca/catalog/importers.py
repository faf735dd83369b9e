"""The metadata importers, as plugins declare them (hook `register_importers`), and Fonoteca's own.

An importer with a `codec` is a JSON-shaped format: `fonoteca import NAME PATH...` is made for it, with the
options every such import has (`--fetched-at`, `--strict`, `--json`), and files are read, decompressed, split into
units and written through the shared import machinery (rejects, fuller-and-newer-wins, idempotence, resume). An
importer without one registers its own command (like `import table`, which needs a column mapping) and declares
here only its id namespace.

This module stays light: codecs are built on first use, so the command line starts without the parsers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fonoteca.hookspecs import hookimpl

if TYPE_CHECKING:
    from fonoteca.catalog.importer import Codec

JSON_SUFFIXES = (
    ".json",
    ".jsonl",
    ".ndjson",
    ".json.gz",
    ".jsonl.gz",
    ".ndjson.gz",
    ".json.zst",
    ".jsonl.zst",
    ".ndjson.zst",
)


@dataclass(frozen=True)
class Importer:
    name: str  # `fonoteca import NAME`
    namespace: str  # the id namespace of what it imports (`NAMESPACE:track:ID`)
    namespace_number: int  # how the catalog stores that namespace (Fonoteca's: 1-99; plugins: 100+)
    help: str  # first line: the short help; the rest: the command's description
    codec: Callable[[], Codec] | None = None  # JSON-shaped formats: the units and encoders of the format
    suffixes: tuple[str, ...] = JSON_SUFFIXES  # files taken from a folder given on the command line


def _spotify_codec() -> Codec:
    from fonoteca.catalog import spotify, spotify_fast
    from fonoteca.catalog.importer import Codec

    return Codec(spotify.units, spotify.encode, spotify_fast.reset, spotify_fast.encode_line)


def _musicbrainz_codec() -> Codec:
    from fonoteca.catalog import musicbrainz
    from fonoteca.catalog.importer import Codec

    return Codec(musicbrainz.units, musicbrainz.encode)


BUILTIN_IMPORTERS = (
    Importer(
        "spotify",
        "spotify",
        1,
        "Import Spotify Web API JSON exactly as the official API returns it.\n\n"
        'Accepts single objects (track, album, artist, audio features, playlist), "several" wrappers '
        '({"tracks": [...]}), paging objects (search results, album tracks, playlist items), one object per '
        "line, and gzip/zstd compressed files. Bad records go to rejects/ with file, line and reason; the rest "
        "is imported.",
        _spotify_codec,
    ),
    Importer(
        "musicbrainz",
        "musicbrainz",
        2,
        "Import MusicBrainz JSON: artists, releases (barcode -> UPC), media and tracks, recordings with ISRCs, genres.",
        _musicbrainz_codec,
    ),
    Importer("table", "table", 3, "Import a track or artist table (Kaggle-style CSV) through a column mapping."),
    Importer(
        "files",
        "files",
        4,
        "Import a catalog from the tags of a folder of audio files (albums grouped as "
        "Picard and beets would); ingest then matches the same files without a map.",
    ),
    Importer(
        "internet-archive",
        "ia",
        5,
        "Import Internet Archive items (archive.org/metadata/ID JSON, or an item's "
        "ID_meta.xml and ID_files.xml): each original audio file a track, with the "
        "item's licence and collection.",
    ),
    Importer(
        "jamendo",
        "jamendo",
        6,
        "Import Jamendo API v3 JSON (results[], licence URLs) and the MTG-Jamendo dataset's TSV files.",
    ),
    Importer("fma", "fma", 7, "Import the Free Music Archive dataset's tracks.csv (and genres.csv)."),
    Importer(
        "spotify-clean",
        "spotify",
        1,
        "Import the reference release's SQLite databases (spotify_clean*.sqlite3, plain or .zst).",
        suffixes=(".sqlite3", ".sqlite", ".db", ".sqlite3.zst", ".sqlite.zst", ".db.zst"),
    ),
)


@hookimpl
def register_importers() -> list[Importer]:
    return list(BUILTIN_IMPORTERS)
