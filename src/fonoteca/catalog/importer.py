"""Import driver shared by every format: read pieces, parse, encode to records, write in batches, log rejects."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from fonoteca.archive import Archive
from fonoteca.catalog.reader import Piece, Problem, read_pieces
from fonoteca.catalog.records import Record, RecordError
from fonoteca.catalog.rejects import RejectLog
from fonoteca.catalog.store import Store
from fonoteca.errors import FonotecaError

BATCH_RECORDS = 20000

# An encoder turns one parsed JSON value into (where, records) units, raising RecordError per bad unit.
Units = Callable[[Any], Iterator[tuple[str, Any]]]
Encode = Callable[[Any, list[Record]], None]
Reset = Callable[[], None]


@dataclass
class FileSummary:
    path: str
    units: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportSummary:
    files: list[FileSummary] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def units(self) -> int:
        return sum(f.units for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "units": self.units, "rejected": self.rejected, "written": self.written, "seconds": round(self.seconds, 3),
            "files": [f.__dict__ for f in self.files],
        }


def expand_paths(paths: Iterable[Path], suffixes: tuple[str, ...]) -> list[Path]:
    """Files named directly, and files with a known suffix inside named folders (sorted, recursively)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)))
        elif path.is_file():
            found.append(path)
        else:
            raise FonotecaError(f"{path}: no such file or folder")
    return found


def register_source(conn: Any, path: Path, fmt: str) -> tuple[int, int]:
    """The source row for a file (same file, same row across reruns) and its mtime as default fetched_at."""
    stat = path.stat()
    mtime = int(stat.st_mtime)
    key = (str(path.resolve()), stat.st_size, mtime, fmt)
    row = conn.execute("SELECT rowid FROM sources WHERE path=? AND size=? AND mtime=? AND format=?", key).fetchone()
    if row is None:
        conn.execute("BEGIN IMMEDIATE")
        row_id = conn.execute("INSERT INTO sources (path, size, mtime, format) VALUES (?,?,?,?)", key).lastrowid
        conn.execute("COMMIT")
        return row_id, mtime
    return row[0], mtime


def parse_fetched_at(text: str | None) -> int | None:
    """An ISO 8601 date or time (or unix seconds) as unix seconds; None passes through."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FonotecaError(f"--fetched-at {text!r}: not an ISO 8601 date or time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def import_json_files(
    archive: Archive,
    paths: list[Path],
    fmt: str,
    units: Units,
    encode: Encode,
    *,
    reset: Reset | None = None,
    fetched_at: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import JSON/JSONL files of one format. `progress` is called with the number of units imported since."""
    summary = ImportSummary()
    started = time.perf_counter()
    conn = archive.connect()
    try:
        for path in paths:
            source, mtime = register_source(conn, path, fmt)
            store = Store(conn, source, fetched_at if fetched_at is not None else mtime)
            if reset:
                reset()  # nested-object memory is per file: fetched_at differs between files
            file_summary = _import_one(conn, store, archive.dir("rejects"), path, units, encode, reset, progress)
            summary.files.append(file_summary)
            for key, value in store.written.items():
                summary.written[key] = summary.written.get(key, 0) + value
    finally:
        conn.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _import_one(conn: Any, store: Store, rejects_dir: Path, path: Path, units: Units, encode: Encode,
                reset: Reset | None, progress: Callable[[int], None] | None) -> FileSummary:
    log = RejectLog(rejects_dir, path)
    result = FileSummary(str(path))
    run = conn.execute(
        "INSERT INTO import_runs (source, started_at) VALUES (?, ?)", (store.source, _now())
    ).lastrowid
    batch: list[Record] = []
    reported = 0
    try:
        for piece in read_pieces(path):
            if isinstance(piece, Problem):
                log.add(piece.number, piece.reason, piece.data)
                continue
            for unit_records in _encode_piece(piece, units, encode, reset, log):
                batch.extend(unit_records)
                result.units += 1
            if len(batch) >= BATCH_RECORDS:
                store.write(batch)
                batch = []
                if progress:
                    progress(result.units - reported)
                    reported = result.units
        if batch:
            store.write(batch)
        if progress:
            progress(result.units - reported)
    finally:
        log.close()
    result.rejected = log.count
    result.reasons = log.reasons
    result.rejects_file = str(log.path) if log.count else None
    conn.execute(
        "UPDATE import_runs SET finished_at=?, records=?, rejected=? WHERE rowid=?",
        (_now(), result.units, result.rejected, run),
    )
    return result


def _encode_piece(piece: Piece, units: Units, encode: Encode, reset: Reset | None, log: RejectLog) -> Iterator[list[Record]]:
    try:
        value = orjson.loads(piece.data)
    except orjson.JSONDecodeError as exc:
        reason = "invalid UTF-8" if "utf-8" in str(exc).lower() else "invalid JSON"
        log.add(piece.number, f"{reason}: {exc}", piece.data)
        return
    for where, unit in units(value):
        out: list[Record] = []
        try:
            encode(unit, out)
        except RecordError as exc:
            if reset:
                reset()
            raw = orjson.dumps(unit) if piece.whole_document else piece.data
            log.add(piece.number, str(exc), raw, where)
            continue
        yield out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

