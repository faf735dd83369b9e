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
"1994-10-03", booleans "True"/"false"/"1". A cell that still does not fit (or is impossible: popularity 1000, a
negative duration, month 13) is left out with a reject naming the line, the field and the column; the rest of the
row is imported. A row is rejected whole when it cannot be identified (no id, an invalid Spotify id), when its
artist ids and names do not pair up, or when it has more or fewer fields than the header.

Table rows are level 1: they fill gaps but never overwrite objects imported from JSON; table rows of one entity
merge (see store.py). Artists named in a track table carry their id and name only, so an artist table imported
before or after keeps its popularity, followers and genres. A track table without album columns but with a
release date gives each track a generated album (id derived from the track's) that holds the date.
"""

from __future__ import annotations

import ast
import codecs
import csv
import hashlib
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fonoteca.archive import Archive
from fonoteca.catalog.ids import NAMESPACES, NS_SPOTIFY, is_spotify_id, normalize_isrc
from fonoteca.catalog.importer import (
    FileSummary,
    ImportSummary,
    finish_run,
    machine_failures,
    register_source,
    start_run,
)
from fonoteca.catalog.reader import CorruptInput, chunks
from fonoteca.catalog.records import (
    FEATURE_FIELDS,
    LEVEL_STUB,
    LEVEL_TABLE,
    AlbumRec,
    ArtistRec,
    FeaturesRec,
    Record,
    RecordError,
    TrackRec,
    split_field_rejects,
)
from fonoteca.catalog.rejects import RejectLog
from fonoteca.catalog.spotify import reject_field
from fonoteca.catalog.store import Store
from fonoteca.catalog.values import MAX_TEXT, POPULARITY, date_precision, date_problem, feature_problem, shown
from fonoteca.errors import FonotecaError
from fonoteca.progress import Progress

TRACK_FIELDS = {
    "id",
    "name",
    "artist_ids",
    "artist_names",
    "album_id",
    "album_name",
    "release_date",
    "popularity",
    "duration_ms",
    "duration_s",
    "explicit",
    "isrc",
    "disc_number",
    "track_number",
    "genres",
    "licence",
    "attribution",
    *FEATURE_FIELDS,
}
ARTIST_FIELDS = {"id", "name", "popularity", "followers", "genres"}
BATCH_ROWS = 5000
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
        raise FonotecaError(
            f"{path}: unknown field(s) in [columns]: {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    if "name" not in columns and "id" not in columns:
        raise FonotecaError(f"{path}: [columns] must map at least 'id' or 'name'")
    if "licence" in mapping:  # the licence of every row that names none: an SPDX id, a deed URL, a name
        from fonoteca.licences import normalise

        if not isinstance(mapping["licence"], str) or not normalise(mapping["licence"]).known:
            raise FonotecaError(
                f"{path}: licence {mapping['licence']!r} is not a licence Fonoteca recognises "
                '(an SPDX id such as CC-BY-4.0, a Creative Commons URL, or "All rights reserved")'
            )
    mapping["kind"] = kind
    mapping["file"] = str(path)  # for errors that only show up against the table
    return mapping


# --- cell parsing: each returns the value or raises RecordError saying what is wrong with the text -----------
def _int_cell(text: str, low: int | None = 0, high: int | None = None) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{shown(text, 40)} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")) or value != int(value):
        raise RecordError(f"{shown(text, 40)} is not a whole number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RecordError(
            f"{shown(text, 40)} is out of range {low}..{high}"
            if high is not None
            else f"{shown(text, 40)} is out of range >= {low}"
        )
    return int(value)


def _float_cell(text: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise RecordError(f"{shown(text, 40)} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise RecordError(f"{shown(text, 40)} is not a finite number")
    return value


def _bool_cell(text: str) -> bool | None:
    lowered = text.strip().lower()
    if not lowered:
        return None
    if lowered in ("true", "1", "yes", "y", "t", "1.0"):
        return True
    if lowered in ("false", "0", "no", "n", "f", "0.0"):
        return False
    raise RecordError(f"{shown(text, 40)} is not a boolean")


def _list_cell(text: str, separator: str) -> list[str]:
    text = text.strip()
    if not text:
        return []
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)  # literals only: "['rock', 'pop']"
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise RecordError(f"{shown(text, 60)} is not a list") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecordError("expected a list of strings")
        return [v.strip() for v in value if v.strip()]
    return [part.strip() for part in text.split(separator) if part.strip()]


def _date_cell(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    date = text[:10] if len(text) > 10 and text[10:11] in ("T", " ") else text  # "1994-10-03T00:00:00"
    problem = date_problem(date, allow_unknown_year=False)
    if problem is not None:
        raise RecordError(problem)
    return date


def _text_cell(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        raise RecordError(f"{len(text)} characters, more than the limit of {MAX_TEXT}")
    return text or None


def _isrc_cell(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    isrc = normalize_isrc(text)
    if isrc is None:
        raise RecordError(f"invalid ISRC {shown(text, 40)}")
    return isrc


def _derived_id(*parts: str) -> str:
    """A stable private id for rows without one (same name and artists, same id)."""
    return "t" + hashlib.sha1("\x1f".join(p.casefold() for p in parts).encode()).hexdigest()[:21]


class RowEncoder:
    def __init__(self, mapping: dict[str, Any], header: list[str], table: Path | None = None) -> None:
        self.kind = mapping["kind"]
        self.ns = NAMESPACES[mapping.get("namespace", "table")]
        self.separator = mapping.get("list_separator", ",")
        self.width = len(header)
        self.licence = mapping.get("licence")
        self.licences: list[tuple[str, str, str | None]] = []  # (track id, licence text, attribution) to record
        self.index: dict[str, int] = {}
        self.columns: dict[str, str] = {}
        for field, column in mapping["columns"].items():
            if column not in header:
                where = f"{mapping.get('file', 'the mapping')}: " if mapping.get("file") else ""
                raise FonotecaError(
                    f"{where}names column {column!r} for '{field}', but {table or 'the table'} has no such "
                    f"column (columns: {', '.join(header[:30])})"
                )
            self.index[field] = header.index(column)
            self.columns[field] = column

    def cell(self, row: list[str], field: str) -> str:
        i = self.index.get(field)
        return row[i] if i is not None and i < len(row) else ""

    def value(self, row: list[str], field: str, parse: Callable[..., Any], out: list[Record], *args: Any) -> Any:
        """A cell parsed, or None with a FieldReject naming the field and the column."""
        if field not in self.index:
            return None
        try:
            return parse(self.cell(row, field), *args)
        except RecordError as exc:
            reject_field(out, field, f"column {self.columns[field]!r}: {exc}")
            return None

    def _id(self, text: str, what: str, *fallback: str) -> str:
        text = text.strip()
        if not text:
            if self.ns == NS_SPOTIFY or not any(fallback):
                raise RecordError(f"{what} without an id")
            return _derived_id(what, *fallback)
        if self.ns == NS_SPOTIFY and not is_spotify_id(text):
            raise RecordError(f"{what} id {text[:40]!r} is not a Spotify id")
        if len(text) > 1000:
            raise RecordError(f"{what} id of {len(text)} characters: not an id")
        return text

    def encode(self, row: list[str], out: list[Record]) -> None:
        if len(row) != self.width:
            raise RecordError(f"{len(row)} fields, but the header has {self.width}")
        if self.kind == "artist":
            self._artist(row, out)
        else:
            self._track(row, out)

    def _artist(self, row: list[str], out: list[Record]) -> None:
        name = self.value(row, "name", _text_cell, out)
        id_ = self._id(self.cell(row, "id"), "artist", name or "")
        genres = self.value(row, "genres", _list_cell, out, self.separator)
        out.append(
            ArtistRec(
                self.ns,
                id_,
                name,
                self.value(row, "popularity", _int_cell, out, *POPULARITY),
                self.value(row, "followers", _int_cell, out),
                LEVEL_TABLE,
                None,
                None,
                tuple(genres) if genres is not None else None,
            )
        )

    def _track(self, row: list[str], out: list[Record]) -> None:
        name = self.value(row, "name", _text_cell, out)
        names = self._list(row, "artist_names")
        ids = self._list(row, "artist_ids")
        if ids and names and len(ids) != len(names):
            raise RecordError(f"{len(ids)} artist ids but {len(names)} artist names")
        artist_links = []
        for i in range(max(len(ids), len(names))):
            artist_name = names[i] if i < len(names) else None
            artist_id = self._id(ids[i] if i < len(ids) else "", "artist", artist_name or "")
            # an artist named in a track row: a stub when only its id is known
            out.append(
                ArtistRec(
                    self.ns, artist_id, artist_name, None, None, LEVEL_TABLE if artist_name else LEVEL_STUB, None, None
                )
            )
            artist_links.append((artist_id, None))
        id_ = self._id(self.cell(row, "id"), "track", name or "", *names)
        album_name = self.value(row, "album_name", _text_cell, out)
        release_date = self.value(row, "release_date", _date_cell, out)
        precision = date_precision(release_date) if release_date else None
        album_id = None
        if "album_id" in self.index or album_name:
            album_id = self._id(self.cell(row, "album_id"), "album", album_name or "", *(names[:1]))
        elif release_date:
            album_id = _derived_id("album of", str(self.ns), id_)  # the generated album holds the date
        if album_id is not None:
            out.append(
                AlbumRec(
                    self.ns,
                    album_id,
                    album_name,
                    None,
                    None,
                    release_date,
                    precision,
                    None,
                    None,
                    None,
                    None,
                    LEVEL_TABLE,
                    None,
                    None,
                    tuple(artist_links[:1]) or None,
                )
            )
        duration = self.value(row, "duration_ms", _int_cell, out)
        if duration is None and "duration_s" in self.index:
            seconds = self.value(row, "duration_s", _float_cell, out)
            if seconds is not None and seconds < 0:
                reject_field(
                    out, "duration_s", f"column {self.columns['duration_s']!r}: {seconds} is out of range >= 0"
                )
            elif seconds is not None:
                duration = int(round(seconds * 1000))
        isrc = self.value(row, "isrc", _isrc_cell, out)
        licence = self.value(row, "licence", _text_cell, out) or self.licence
        if licence:
            self.licences.append((id_, licence, self.value(row, "attribution", _text_cell, out)))
        genres = self.value(row, "genres", _list_cell, out, self.separator) or []
        out.append(
            TrackRec(
                self.ns,
                id_,
                name,
                album_id,
                self.value(row, "disc_number", _int_cell, out),
                self.value(row, "track_number", _int_cell, out),
                duration,
                self.value(row, "explicit", _bool_cell, out),
                self.value(row, "popularity", _int_cell, out, *POPULARITY),
                None,
                None,
                None,
                isrc,
                LEVEL_TABLE,
                None,
                None,
                {"raw": {"genres": genres}} if genres else None,
                tuple(artist_links) or None,
                (("isrc", isrc),) if isrc else (),
            )
        )
        if any(field in self.index for field in FEATURE_FIELDS if field != "duration_ms"):
            values = tuple(
                duration if f == "duration_ms" else self._feature(row, f, out) if f in self.index else None
                for f in FEATURE_FIELDS
            )  # the duration was read (and checked) for the track
            out.append(FeaturesRec(self.ns, id_, values, "table", None, None))

    def _list(self, row: list[str], field: str) -> list[str]:
        """Artist ids and names pair up by position, so a list that cannot be read rejects the row."""
        if field not in self.index:
            return []
        try:
            return _list_cell(self.cell(row, field), self.separator)
        except RecordError as exc:
            raise RecordError(f"column {self.columns[field]!r} ({field}): {exc}") from None

    def _feature(self, row: list[str], field: str, out: list[Record]) -> float | int | None:
        value = self.value(row, field, _float_cell, out)
        if value is not None and (problem := feature_problem(field, value)) is not None:
            reject_field(out, field, f"column {self.columns[field]!r}: {problem}")
            return None
        return value


def import_table(
    archive: Archive,
    path: Path,
    mapping: dict[str, Any],
    *,
    fetched_at: int | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import one table. Like the JSON imports it records an import run, so the search index picks the rows up."""
    started = time.perf_counter()
    summary = ImportSummary()
    with machine_failures(archive, f"import of {path}"):
        conn = archive.connect()
        try:
            source, mtime = register_source(conn, path, f"table:{mapping['kind']}")
            store = Store(conn, source, fetched_at if fetched_at is not None else mtime)
            log = RejectLog(archive.dir("rejects"), path)
            result = FileSummary(str(path))
            run = start_run(conn, source)
            try:
                _import_rows(path, mapping, store, log, result, progress)
            finally:
                log.close()
            result.rejected, result.fields_rejected, result.reasons = log.count, log.kept, log.reasons
            result.rejects_file = str(log.path) if log.count else None
            finish_run(conn, run, result)
            summary.files.append(result)
            summary.written = dict(store.written)
        finally:
            conn.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _import_rows(
    path: Path,
    mapping: dict[str, Any],
    store: Store,
    log: RejectLog,
    result: FileSummary,
    progress: Progress | None,
) -> None:
    lines = _text_lines(path)
    sample = _peek(lines)
    delimiter = _sniff(sample[0] if sample else "", str(mapping.get("delimiter", "auto")))
    rows = csv.reader(iter_with(sample, lines), delimiter=delimiter)
    try:
        header = next(rows)
    except StopIteration:
        raise FonotecaError(f"{path}: empty table") from None
    except (csv.Error, CorruptInput) as exc:
        raise FonotecaError(f"{path}: the header cannot be read ({exc})") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    encoder = RowEncoder(mapping, header, path)
    batch: list[Record] = []
    reported = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except CorruptInput as exc:  # every row before it was read; the cut row is left out
            log.add(rows.line_num + 1, f"{exc}: every row before it was read")
            break
        except csv.Error as exc:  # an over-long cell, a NUL byte: this row only
            log.add(rows.line_num, f"unreadable row: {exc}")
            continue
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
        for reason in split_field_rejects(out):
            log.add(line, reason, delimiter.join(row), kept=True)
        batch.extend(out)
        result.units += 1
        if len(batch) >= BATCH_ROWS:
            store.write(batch)
            _write_licences(store, encoder)
            batch = []
            if progress:
                progress(result.units - reported)
                reported = result.units
    if batch:
        store.write(batch)
    _write_licences(store, encoder)
    if progress:
        progress(result.units - reported)


def _write_licences(store: Store, encoder: RowEncoder) -> None:
    """The licences the rows written so far state (a column, or the mapping's licence for every row)."""
    if not encoder.licences:
        return
    from fonoteca.catalog.provenance import LicenceStatement, write_licences
    from fonoteca.licences import normalise

    statements = [
        LicenceStatement(track, normalise(text), attribution, "table", track, None, None)
        for track, text, attribution in encoder.licences
    ]
    encoder.licences = []
    write_licences(store.conn, statements, encoder.ns)


def _text_lines(path: Path) -> Iterator[str]:
    """The file's lines as text (invalid UTF-8 kept as surrogates, so the row can be rejected by line).

    When the compressed stream breaks off, the incomplete last line is not yielded: CorruptInput is raised instead,
    so a row cut in its last cell is never imported as if it were whole."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    buffer = ""
    for chunk in chunks(path):
        buffer += decoder.decode(chunk)
        *lines, buffer = buffer.split("\n")
        for line in lines:
            yield line + "\n"
    buffer += decoder.decode(b"", final=True)
    if buffer:
        yield buffer


def _peek(lines: Iterator[str]) -> list[str]:
    """The first line, read ahead for sniffing the delimiter (empty for an empty file)."""
    try:
        return [next(lines)]
    except StopIteration:
        return []
    except CorruptInput:
        return []


def iter_with(first: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from first
    yield from rest


def _sniff(sample: str, configured: str) -> str:
    if configured not in ("auto", ""):
        return {"\\t": "\t", "tab": "\t"}.get(configured, configured)
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", "|", ";")}
    return max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
