"""CSV/TSV/pipe-delimited track and artist tables (Kaggle-style) -> catalog records, through a column mapping.

A mapping is a small TOML file:

    kind = "track"            # track | artist
    namespace = "spotify"     # ids are Spotify ids (merged with Spotify JSON), or "table" (kept apart)
    delimiter = "auto"        # ",", "\\t", "|" or auto
    list_separator = ","      # for list cells written without brackets: "rock, pop"
    [columns]                 # catalog field = column name in the file
    id = "track_id"
    name = "track_name"
    artist_names = "artists"  # list-valued: "['A', 'B']" or "A, B"
    popularity = "popularity"

Cells are forgiving in the ways real tables are: "59.0" is the integer 59, dates may be "1995", "1994-10" or
"1994-10-03", booleans "True"/"false"/"1". A row that still does not fit is rejected with its line number and
the column at fault. Table rows are level 1: they fill gaps but never overwrite objects imported from JSON.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import re
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fonoteca.archive import Archive
from fonoteca.catalog.ids import NAMESPACES, NS_SPOTIFY, NS_TABLE, is_spotify_id, normalize_isrc
from fonoteca.catalog.importer import FileSummary, ImportSummary, register_source
from fonoteca.catalog.reader import open_binary
from fonoteca.catalog.records import (
    FEATURE_FIELDS, LEVEL_TABLE, AlbumRec, ArtistRec, FeaturesRec, Record, RecordError, TrackRec,
)
from fonoteca.catalog.rejects import RejectLog
from fonoteca.catalog.spotify import MAX_TEXT
from fonoteca.catalog.store import Store
from fonoteca.errors import FonotecaError

TRACK_FIELDS = {
    "id", "name", "artist_ids", "artist_names", "album_id", "album_name", "release_date", "popularity",
    "duration_ms", "duration_s", "explicit", "isrc", "disc_number", "track_number", "genres", *FEATURE_FIELDS,
}
ARTIST_FIELDS = {"id", "name", "popularity", "followers", "genres"}
BATCH_ROWS = 5000
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
csv.field_size_limit(MAX_TEXT * 4)


def load_mapping(path: Path) -> dict[str, Any]:
    """Read and check a mapping file; errors name the file and the key."""
    try:
        mapping = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FonotecaError(f"{path}: no such mapping file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FonotecaError(f"{path}: invalid TOML: {exc}") from None
    kind = mapping.get("kind", "track")
    if kind not in ("track", "artist"):
        raise FonotecaError(f"{path}: kind must be 'track' or 'artist', not {kind!r}")
    if mapping.get("namespace", "table") not in ("spotify", "table"):
        raise FonotecaError(f"{path}: namespace must be 'spotify' or 'table'")
    columns = mapping.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise FonotecaError(f"{path}: a [columns] table mapping catalog fields to column names is required")
    allowed = TRACK_FIELDS if kind == "track" else ARTIST_FIELDS
    unknown = sorted(set(columns) - allowed)
    if unknown:
        raise FonotecaError(f"{path}: unknown field(s) in [columns]: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if "name" not in columns and "id" not in columns:
        raise FonotecaError(f"{path}: [columns] must map at least 'id' or 'name'")
    mapping["kind"] = kind
    return mapping


# --- cell parsing ---------------------------------------------------------------------------------------------
def _int_cell(text: str, field: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"column for '{field}': {text[:40]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")) or value != int(value):
        raise RecordError(f"column for '{field}': {text[:40]!r} is not a whole number")
    return int(value)


def _float_cell(text: str, field: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise RecordError(f"column for '{field}': {text[:40]!r} is not a number") from None


def _bool_cell(text: str, field: str) -> bool | None:
    lowered = text.strip().lower()
    if not lowered:
        return None
    if lowered in ("true", "1", "yes", "y", "t", "1.0"):
        return True
    if lowered in ("false", "0", "no", "n", "f", "0.0"):
        return False
    raise RecordError(f"column for '{field}': {text[:40]!r} is not a boolean")


def _list_cell(text: str, separator: str, field: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)  # literals only: "['rock', 'pop']"
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RecordError(f"column for '{field}': {text[:60]!r} is not a list") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecordError(f"column for '{field}': expected a list of strings")
        return [v.strip() for v in value if v.strip()]
    return [part.strip() for part in text.split(separator) if part.strip()]


def _date_cell(text: str, field: str) -> tuple[str | None, str | None]:
    text = text.strip()
    if not text:
        return None, None
    match = _DATE.fullmatch(text[:10]) if len(text) in (4, 7, 10) or "T" in text or " " in text else None
    if match is None:
        raise RecordError(f"column for '{field}': {text[:40]!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
    precision = "day" if match.group(3) else "month" if match.group(2) else "year"
    return match.group(0), precision


def _text_cell(text: str, field: str) -> str | None:
    if len(text) > MAX_TEXT:
        raise RecordError(f"column for '{field}': {len(text)} characters, more than the limit of {MAX_TEXT}")
    return text or None


def _derived_id(*parts: str) -> str:
    """A stable private id for rows without one (same name and artists, same id)."""
    return "t" + hashlib.sha1("\x1f".join(p.casefold() for p in parts).encode()).hexdigest()[:21]


class RowEncoder:
    def __init__(self, mapping: dict[str, Any], header: list[str]) -> None:
        self.kind = mapping["kind"]
        self.ns = NAMESPACES[mapping.get("namespace", "table")]
        self.separator = mapping.get("list_separator", ",")
        self.index: dict[str, int] = {}
        for field, column in mapping["columns"].items():
            if column not in header:
                raise FonotecaError(f"mapping names column {column!r} for '{field}', but the table has no such column "
                                    f"(columns: {', '.join(header[:30])})")
            self.index[field] = header.index(column)

    def cell(self, row: list[str], field: str) -> str:
        i = self.index.get(field)
        return row[i] if i is not None and i < len(row) else ""

    def _id(self, text: str, what: str, *fallback: str) -> str:
        text = text.strip()
        if not text:
            if self.ns == NS_SPOTIFY or not any(fallback):
                raise RecordError(f"{what} without an id")
            return _derived_id(what, *fallback)
        if self.ns == NS_SPOTIFY and not is_spotify_id(text):
            raise RecordError(f"{what} id {text[:40]!r} is not a Spotify id")
        return text

    def encode(self, row: list[str], out: list[Record]) -> None:
        if self.kind == "artist":
            self._artist(row, out)
        else:
            self._track(row, out)

    def _artist(self, row: list[str], out: list[Record]) -> None:
        name = _text_cell(self.cell(row, "name"), "name")
        id_ = self._id(self.cell(row, "id"), "artist", name or "")
        genres = tuple(_list_cell(self.cell(row, "genres"), self.separator, "genres")) if "genres" in self.index else None
        out.append(ArtistRec(self.ns, id_, name, _int_cell(self.cell(row, "popularity"), "popularity"),
                             _int_cell(self.cell(row, "followers"), "followers"), LEVEL_TABLE, None, None, genres))

    def _track(self, row: list[str], out: list[Record]) -> None:
        name = _text_cell(self.cell(row, "name"), "name")
        names = _list_cell(self.cell(row, "artist_names"), self.separator, "artist_names")
        ids = _list_cell(self.cell(row, "artist_ids"), self.separator, "artist_ids")
        if ids and names and len(ids) != len(names):
            raise RecordError(f"{len(ids)} artist ids but {len(names)} artist names")
        artist_links = []
        for i in range(max(len(ids), len(names))):
            artist_name = names[i] if i < len(names) else None
            artist_id = self._id(ids[i] if i < len(ids) else "", "artist", artist_name or "")
            out.append(ArtistRec(self.ns, artist_id, artist_name, None, None, LEVEL_TABLE, None, None))
            artist_links.append((artist_id, None))
        id_ = self._id(self.cell(row, "id"), "track", name or "", *names)
        album_name = _text_cell(self.cell(row, "album_name"), "album_name")
        release_date, precision = _date_cell(self.cell(row, "release_date"), "release_date")
        album_id = None
        if "album_id" in self.index or album_name:
            album_id = self._id(self.cell(row, "album_id"), "album", album_name or "", *(names[:1]))
            out.append(AlbumRec(self.ns, album_id, album_name, None, None, release_date, precision, None, None, None,
                                None, LEVEL_TABLE, None, None, tuple(artist_links[:1]) or None))
        duration = _int_cell(self.cell(row, "duration_ms"), "duration_ms")
        if duration is None and "duration_s" in self.index:
            seconds = _float_cell(self.cell(row, "duration_s"), "duration_s")
            duration = int(round(seconds * 1000)) if seconds is not None else None
        isrc_text = self.cell(row, "isrc").strip()
        isrc = None
        if isrc_text:
            isrc = normalize_isrc(isrc_text)
            if isrc is None:
                raise RecordError(f"column for 'isrc': invalid ISRC {isrc_text[:40]!r}")
        genres = _list_cell(self.cell(row, "genres"), self.separator, "genres") if "genres" in self.index else []
        out.append(TrackRec(
            self.ns, id_, name, album_id, _int_cell(self.cell(row, "disc_number"), "disc_number"),
            _int_cell(self.cell(row, "track_number"), "track_number"), duration,
            _bool_cell(self.cell(row, "explicit"), "explicit"), _int_cell(self.cell(row, "popularity"), "popularity"),
            None, None, None, isrc, LEVEL_TABLE, None, None, {"raw": {"genres": genres}} if genres else None,
            tuple(artist_links) or None, (("isrc", isrc),) if isrc else (),
        ))
        if any(field in self.index for field in FEATURE_FIELDS if field != "duration_ms"):
            values = tuple(_float_cell(self.cell(row, f), f) if f in self.index else None for f in FEATURE_FIELDS)
            out.append(FeaturesRec(self.ns, id_, values, "table", None, None))


def _sniff(sample: str, configured: str) -> str:
    if configured not in ("auto", ""):
        return {"\\t": "\t", "tab": "\t"}.get(configured, configured)
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", "|", ";")}
    return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","


def import_table(archive: Archive, path: Path, mapping: dict[str, Any], *, fetched_at: int | None = None,
                 progress: Callable[[int], None] | None = None) -> ImportSummary:
    started = time.perf_counter()
    conn = archive.connect()
    summary = ImportSummary()
    try:
        source, mtime = register_source(conn, path, f"table:{mapping['kind']}")
        store = Store(conn, source, fetched_at if fetched_at is not None else mtime)
        log = RejectLog(archive.dir("rejects"), path)
        result = FileSummary(str(path))
        try:
            _import_rows(path, mapping, store, log, result, progress)
        finally:
            log.close()
        result.rejected, result.reasons = log.count, log.reasons
        result.rejects_file = str(log.path) if log.count else None
        summary.files.append(result)
        summary.written = dict(store.written)
    finally:
        conn.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _import_rows(path: Path, mapping: dict[str, Any], store: Store, log: RejectLog, result: FileSummary,
                 progress: Callable[[int], None] | None) -> None:
    stream = io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="surrogateescape", newline="")
    with stream:
        sample = stream.read(65536)
        delimiter = _sniff(sample, str(mapping.get("delimiter", "auto")))
        rows = csv.reader(_chain(sample, stream), delimiter=delimiter)
        try:
            header = next(rows)
        except StopIteration:
            raise FonotecaError(f"{path}: empty table") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        encoder = RowEncoder(mapping, header)
        batch: list[Record] = []
        reported = 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except (csv.Error, OSError, EOFError) as exc:
                log.add(rows.line_num, f"unreadable row: {exc}")
                break
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
                log.add(line, "invalid UTF-8", "\t".join(row).encode("utf-8", "replace"))
                continue
            out: list[Record] = []
            try:
                encoder.encode(row, out)
            except RecordError as exc:
                log.add(line, str(exc), delimiter.join(row))
                continue
            batch.extend(out)
            result.units += 1
            if len(batch) >= BATCH_ROWS:
                store.write(batch)
                batch = []
                if progress:
                    progress(result.units - reported)
                    reported = result.units
        if batch:
            store.write(batch)
        if progress:
            progress(result.units - reported)


def _chain(sample: str, stream: io.TextIOWrapper):
    """Lines of the sample already read, then the rest of the stream."""
    buffer = sample
    while True:
        *lines, buffer = buffer.split("\n")
        for line in lines:
            yield line + "\n"
        more = stream.read(1 << 20)
        if not more:
            break
        buffer += more
    if buffer:
        yield buffer
