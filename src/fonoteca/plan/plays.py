"""Play counts from a table (CSV/TSV): where a source has them, they replace the popularity estimate.

The table needs a header with one reference column (track, track_id, id, uri, spotify_id: a track id or URI; or
isrc) and one count column (plays, playcount, play_count, streams, listens). An ISRC's count is the recording's:
it is stored on the ISRC's lowest-rowid track and the other tracks of that ISRC get 0, so the recording counts
once. Lines that cannot be used are counted and the first few reported; the rest is imported.
"""

from __future__ import annotations

import csv
import gzip
import io
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fonoteca.catalog.db import transaction
from fonoteca.catalog.ids import normalize_isrc, parse_reference
from fonoteca.errors import FonotecaError

REFERENCE_COLUMNS = ("track", "track_id", "id", "uri", "spotify_id", "isrc")
COUNT_COLUMNS = ("plays", "playcount", "play_count", "streams", "listens")
BATCH = 50_000


@dataclass
class PlaysSummary:
    lines: int = 0
    tracks: int = 0
    unmatched: int = 0
    bad: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, line: int, reason: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(f"line {line}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "tracks": self.tracks,
            "unmatched": self.unmatched,
            "bad": self.bad,
            "examples": self.examples,
        }


def _open(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", newline="")
    if path.name.endswith(".zst"):
        import zstandard

        return io.TextIOWrapper(
            zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True), encoding="utf-8", newline=""
        )
    return open(path, encoding="utf-8", newline="")


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def import_plays(conn: sqlite3.Connection, path: Path, source: str | None = None) -> PlaysSummary:
    """Store the play counts of `path` in track_plays (a later line for the same track wins)."""
    if not path.is_file():
        raise FonotecaError(f"{path}: no such file")
    summary = PlaysSummary()
    with _open(path) as handle:
        sample = handle.read(65536)
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        rows = csv.reader(handle, dialect)
        header = next(rows, None)
        ref_col = _column(header or [], REFERENCE_COLUMNS)
        count_col = _column(header or [], COUNT_COLUMNS)
        if header is None or ref_col is None or count_col is None:
            raise FonotecaError(
                f"{path}: the header needs a track column ({', '.join(REFERENCE_COLUMNS)}) and a "
                f"count column ({', '.join(COUNT_COLUMNS)}); found {header}"
            )
        is_isrc = header[ref_col].strip().lower() == "isrc"
        with transaction(conn):
            batch: list[tuple[int, str, int]] = []
            for line, row in enumerate(rows, start=2):
                summary.lines += 1
                parsed = _parse(row, ref_col, count_col, is_isrc)
                if isinstance(parsed, str):
                    summary.bad += 1
                    summary.note(line, parsed)
                    continue
                batch.append((line, *parsed))
                if len(batch) >= BATCH:
                    _store(conn, batch, source or path.name, summary)
                    batch = []
            _store(conn, batch, source or path.name, summary)
    return summary


def _parse(row: list[str], ref_col: int, count_col: int, is_isrc: bool) -> tuple[str, int] | str:
    if len(row) <= max(ref_col, count_col):
        return "too few columns"
    text, count = row[ref_col].strip(), row[count_col].strip().replace(",", "").replace("_", "")
    if not count.isdigit():
        return f"play count {row[count_col]!r} is not a whole number >= 0"
    if is_isrc:
        isrc = normalize_isrc(text)
        return ("isrc:" + isrc, int(count)) if isrc else f"{text!r} is not an ISRC"
    ref = parse_reference(text)
    if ref.kind not in ("track", "any", "isrc"):
        return f"{text!r} is not a track reference"
    return (f"{ref.kind}:{ref.value}", int(count))


def _store(conn: sqlite3.Connection, batch: list[tuple[int, str, int]], source: str, summary: PlaysSummary) -> None:
    for line, key, plays in batch:
        kind, value = key.split(":", 1)
        if kind == "isrc":
            rowids = [
                r[0]
                for r in conn.execute("SELECT rowid FROM tracks WHERE isrc = ? AND level > 0 ORDER BY rowid", (value,))
            ]
        else:
            rowids = [
                r[0]
                for r in conn.execute(
                    "SELECT rowid FROM tracks WHERE id = ? AND level > 0 ORDER BY ns LIMIT 1", (value,)
                )
            ]
        if not rowids:
            summary.unmatched += 1
            summary.note(line, f"no catalogued track {value}")
            continue
        conn.executemany(
            "INSERT OR REPLACE INTO track_plays (track, plays, source) VALUES (?, ?, ?)",
            [(rowid, plays if i == 0 else 0, source) for i, rowid in enumerate(rowids)],
        )
        summary.tracks += len(rowids)
