"""Licences and provenance of tracks (track_licences) and the source files importers describe (source_files),
and the import driver the collection importers share (files, Internet Archive, Jamendo, FMA).

A collection importer turns each unit of its input (a file, an item's file entry, a TSV row, a JSON result) into
catalog records plus the statements about them: the licence, where the work comes from, and the audio file that
holds it. `run_import` writes them as the other importers do: one source row and import run per input file,
records through the catalog store (fuller and newer wins), bad units to rejects/ with the line and the reason.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from fonoteca.catalog.db import transaction
from fonoteca.licences import Licence
from fonoteca.progress import Progress

BATCH_UNITS = 2000


@dataclass(frozen=True)
class LicenceStatement:
    track: int | str  # tracks.rowid, or the track's id in the importer's namespace
    licence: Licence
    attribution: str | None
    source: str
    source_id: str | None
    source_url: str | None
    collection: str | None


@dataclass(frozen=True)
class SourceFile:
    track: str  # the track's id in the importer's namespace
    item: str
    name: str
    size: int | None = None
    md5: str | None = None
    sha1: str | None = None
    mtime_ns: int | None = None
    format: str | None = None
    kind: str = "original"
    original: str | None = None


@dataclass
class Unit:
    """One importable unit: its records and statements (line: where it is in its file, for rejects)."""

    line: int
    records: list[Any] = field(default_factory=list)
    licences: list[LicenceStatement] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    field_rejects: list[str] = field(default_factory=list)  # fields left out, the rest imported
    raw: str = ""


@dataclass
class Bad:
    """A unit that cannot be imported, and why."""

    line: int
    reason: str
    raw: str = ""


def attribution_text(title: str | None, artists: str | None, licence: Licence, url: str | None) -> str | None:
    """The credit a licence that asks for attribution wants: `"Title" by Artist (URL), licensed under CC BY 4.0`
    (TASL: title, author, source, licence); None when the licence asks for none."""
    if not licence.attribution_required:
        return None
    parts = [f"\u201c{title}\u201d" if title else "Untitled"]
    if artists:
        parts.append(f"by {artists}")
    text = " ".join(parts)
    if url:
        text += f" ({url})"
    return f"{text}, licensed under {licence.name}" + (f" ({licence.url})" if licence.url else "")


def _now() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _rowids(conn: sqlite3.Connection, ns: int, ids: list[str]) -> dict[str, int]:
    import orjson

    out: dict[str, int] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        for id_, rowid in conn.execute(
            "SELECT j.value, t.rowid FROM json_each(?) j JOIN tracks t ON t.id = j.value AND t.ns = ?",
            (orjson.dumps(chunk).decode(), ns),
        ):
            out[id_] = int(rowid)
    return out


def write_licences(conn: sqlite3.Connection, statements: list[LicenceStatement], ns: int | None = None) -> int:
    """Record licences (replacing what was on record for those tracks); statements naming a track by id need
    `ns`. Returns how many were written."""
    ids = [s.track for s in statements if isinstance(s.track, str)]
    rowids = _rowids(conn, ns, ids) if ids and ns is not None else {}
    now = _now()
    rows = []
    for s in statements:
        track = s.track if isinstance(s.track, int) else rowids.get(s.track)
        if track is None:
            continue
        rows.append(
            (
                track,
                s.licence.id,
                s.licence.raw,
                s.licence.url,
                s.attribution,
                s.source,
                s.source_id,
                s.source_url,
                s.collection,
                now,
            )
        )
    with transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO track_licences (track, licence, raw, url, attribution, source, "
            "source_id, source_url, collection, imported_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    return len(rows)


def write_source_files(conn: sqlite3.Connection, origin: str, ns: int, files: list[SourceFile]) -> int:
    rowids = _rowids(conn, ns, [f.track for f in files])
    rows = [
        (origin, f.item, f.name, rowids[f.track], f.size, f.md5, f.sha1, f.mtime_ns, f.format, f.kind, f.original)
        for f in files
        if f.track in rowids
    ]
    with transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO source_files (origin, item, name, track, size, md5, sha1, mtime_ns, "
            "format, kind, original) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    return len(rows)


# ------------------------------------------------------------------------------------------------ the driver

Reader = Callable[[Path], Iterator[Unit | Bad]]


def run_import(
    archive: Any,
    paths: list[Path],
    fmt: str,
    origin: str,
    ns: int,
    reader: Reader,
    *,
    fetched_at: int | None = None,
    progress: Progress | None = None,
    source_path: Callable[[Path], Path] | None = None,
) -> Any:
    """Import every input with `reader` (see the module docstring); returns an ImportSummary like the other
    importers' (so the search index and `--strict` treat it alike). `source_path` gives the file the source row
    stands for (a folder import registers the folder's first file)."""
    from fonoteca.catalog.importer import (
        FileSummary,
        ImportSummary,
        finish_run,
        machine_failures,
        register_source,
        start_run,
    )
    from fonoteca.catalog.rejects import RejectLog
    from fonoteca.catalog.store import Store

    summary = ImportSummary()
    started = time.perf_counter()
    with machine_failures(archive, f"import {fmt}"):
        conn = archive.connect()
        try:
            for path in paths:
                registered = source_path(path) if source_path else path
                source, mtime = register_source(conn, registered, fmt)
                store = Store(conn, source, fetched_at if fetched_at is not None else mtime)
                log = RejectLog(archive.dir("rejects"), path)
                result = FileSummary(str(path))
                run = start_run(conn, source)
                try:
                    _import_units(conn, store, reader(path), log, result, origin, ns, progress)
                finally:
                    log.close()
                result.rejected, result.fields_rejected, result.reasons = log.count, log.kept, log.reasons
                result.rejects_file = str(log.path) if log.count else None
                finish_run(conn, run, result)
                summary.files.append(result)
                for key, value in store.written.items():
                    summary.written[key] = summary.written.get(key, 0) + value
        finally:
            conn.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _import_units(
    conn: sqlite3.Connection,
    store: Any,
    units: Iterator[Unit | Bad],
    log: Any,
    result: Any,
    origin: str,
    ns: int,
    progress: Progress | None,
) -> None:
    batch: list[Unit] = []
    for unit in units:
        if isinstance(unit, Bad):
            log.add(unit.line, unit.reason, unit.raw.encode("utf-8", "replace"))
            continue
        for reason in unit.field_rejects:
            log.add(unit.line, reason, unit.raw.encode("utf-8", "replace"), kept=True)
        batch.append(unit)
        if len(batch) >= BATCH_UNITS:
            _write(conn, store, batch, origin, ns)
            result.units += len(batch)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _write(conn, store, batch, origin, ns)
        result.units += len(batch)
        if progress:
            progress(len(batch))


def _write(conn: sqlite3.Connection, store: Any, units: list[Unit], origin: str, ns: int) -> None:
    """Records first (they give the rowids), then what the statements say about them."""
    store.write([r for u in units for r in u.records])
    statements = [s for u in units for s in u.licences]
    if statements:
        write_licences(conn, statements, ns)
    files = [f for u in units for f in u.files]
    if files:
        write_source_files(conn, origin, ns, files)
