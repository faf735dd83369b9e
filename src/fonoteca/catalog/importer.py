"""Import driver shared by every format: read pieces, parse, encode to records, write in batches, log rejects."""

from __future__ import annotations

import errno
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any

import orjson

from fonoteca.archive import Archive
from fonoteca.catalog.db import transaction
from fonoteca.catalog.reader import Piece, Problem, read_pieces
from fonoteca.catalog.records import FieldReject, Record, RecordError, split_field_rejects
from fonoteca.catalog.rejects import RAW_LIMIT, RejectLog
from fonoteca.catalog.store import Store
from fonoteca.catalog.values import MAX_DEPTH, may_be_too_deep, too_deep
from fonoteca.errors import FonotecaError
from fonoteca.progress import Progress

BATCH_RECORDS = 20000
PIPELINE_MIN_BYTES = 4 * 1024 * 1024  # smaller files are not worth starting a reader process for

Units = Callable[[Any], Iterator[tuple[str, Any]]]
Encode = Callable[[Any, list[Record]], None]
Reset = Callable[[], None]
EncodeLine = Callable[[bytes, list[Record]], bool]


@dataclass(frozen=True)
class Codec:
    """How one source format becomes records.

    units: split a parsed JSON value into import units (path, object); encode: one unit -> records, raising
    RecordError when it is not importable; reset: forget per-file memory (called per file and after a reject);
    encode_line: optional fast path for a whole JSONL line, returning False to hand the line to the general path.
    """

    units: Units
    encode: Encode
    reset: Reset | None = None
    encode_line: EncodeLine | None = None


@dataclass
class FileSummary:
    path: str
    units: int = 0
    rejected: int = 0  # reject entries: whole units, and single fields of units imported without them
    fields_rejected: int = 0  # of those, the fields left out of units that were imported
    rejects_file: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportSummary:
    files: list[FileSummary] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)  # inputs refused whole (not the layout), with why

    @property
    def units(self) -> int:
        return sum(f.units for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "rejected": self.rejected,
            "written": self.written,
            "seconds": round(self.seconds, 3),
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
    """The source row for a file (same file, same row across reruns) and its mtime as default fetched_at.

    Every importer comes through here: a catalog in the middle of another format's bulk load (no indexes until
    it finishes) refuses the import, naming the load to finish first."""
    from fonoteca.catalog import bulk

    for load in bulk.unfinished(conn):
        if load.format != fmt:
            bulk.refuse_if_unfinished(conn)
    stat = path.stat()
    mtime = int(stat.st_mtime)
    key = (str(path.resolve()), stat.st_size, mtime, fmt)
    row = conn.execute("SELECT rowid FROM sources WHERE path=? AND size=? AND mtime=? AND format=?", key).fetchone()
    if row is None:
        with transaction(conn):
            row_id = conn.execute("INSERT INTO sources (path, size, mtime, format) VALUES (?,?,?,?)", key).lastrowid
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
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def import_json_files(
    archive: Archive,
    paths: list[Path],
    fmt: str,
    codec: Codec,
    *,
    fetched_at: int | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import JSON/JSONL files of one format. `progress` is called with the number of units imported since.

    A failure of the machine (disk full, I/O error, read-only file system, too many open files) stops the import
    with a FonotecaError naming what failed and where; every batch committed before it stays, and running the
    same import again finishes it with the catalog a clean run gives."""
    summary = ImportSummary()
    started = time.perf_counter()
    with machine_failures(archive, "import"):
        conn = archive.connect()
        try:
            if _bulk(archive, conn, paths, fmt):
                summary = _import_bulk(archive, conn, paths, fmt, codec, fetched_at, progress)
                summary.seconds = time.perf_counter() - started
                return summary
            for path in paths:
                with machine_failures(archive, f"import of {path}"):
                    source, mtime = register_source(conn, path, fmt)
                    store = Store(conn, source, fetched_at if fetched_at is not None else mtime)
                    if codec.reset:
                        codec.reset()  # nested-object memory is per file: fetched_at differs between files
                    file_summary = _import_one(conn, store, archive.dir("rejects"), path, codec, progress)
                summary.files.append(file_summary)
                for key, value in store.written.items():
                    summary.written[key] = summary.written.get(key, 0) + value
        finally:
            conn.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _identities(paths: list[Path]) -> list[list[Any]]:
    return [[str(path.resolve()), path.stat().st_size, int(path.stat().st_mtime)] for path in paths]


def _bulk(archive: Archive, conn: Any, paths: list[Path], fmt: str) -> bool:
    """Whether to load on the bulk path: an unfinished bulk load of these files resumes on it; otherwise when
    the input is large next to the catalog (fonoteca.catalog.bulk.wanted)."""
    from fonoteca.catalog import bulk

    identities = _identities(paths)
    if any(load.format == fmt and load.inputs == identities for load in bulk.unfinished(conn)):
        return True
    catalog_tracks = conn.execute("SELECT coalesce(max(rowid), 0) FROM tracks").fetchone()[0]
    return bulk.wanted(archive.config, catalog_tracks, bulk.estimated_tracks(paths))


def _import_bulk(
    archive: Archive,
    conn: Any,
    paths: list[Path],
    fmt: str,
    codec: Codec,
    fetched_at: int | None,
    progress: Progress | None,
) -> ImportSummary:
    """JSON lines on the bulk path (fonoteca.catalog.bulk): secondary indexes dropped, segments of lines one
    transaction each, the rows of one id made one at the end, the indexes built again."""
    from fonoteca.catalog import bulk

    load = bulk.begin(conn, fmt, _identities(paths), {"files": {}})
    state = load.state
    bulk.configure(conn, archive.dir("tmp"))
    if not state.get("prepared"):
        with transaction(conn):
            state["indexes"] = bulk.json_bulk_indexes(conn)
            bulk.drop_indexes(conn, state["indexes"])
            state["prepared"] = True
            load.save(conn)
    segment = int(archive.config.get("catalog", {}).get("bulk_segment", bulk.SEGMENT_LINES))
    summary = ImportSummary()
    for number, path in enumerate(paths):
        info = state["files"].setdefault(str(number), {})
        if not info.get("done"):
            with machine_failures(archive, f"import of {path}"):
                _bulk_file(archive, conn, load, info, path, fmt, codec, fetched_at, segment, progress)
        summary.files.append(FileSummary(**info["summary"]))
        for table, count in info["written"].items():
            summary.written[table] = summary.written.get(table, 0) + count
    for table in bulk.SEEN:
        if not state.get("deduplicated", {}).get(table):
            gone = bulk.deduplicate(conn, table)
            with transaction(conn):
                state.setdefault("deduplicated", {})[table] = True
                state.setdefault("merged", {})[table] = gone
                load.save(conn)
    bulk.build_indexes(conn, state["indexes"])
    bulk.end(conn, load)
    return summary


def _bulk_file(
    archive: Archive,
    conn: Any,
    load: Any,
    info: dict[str, Any],
    path: Path,
    fmt: str,
    codec: Codec,
    fetched_at: int | None,
    segment: int,
    progress: Progress | None,
) -> None:
    from fonoteca.catalog import bulk

    source, mtime = register_source(conn, path, fmt)
    store = bulk.SegmentStore(conn, source, fetched_at if fetched_at is not None else mtime)
    store.written = dict(info.get("written", store.written))
    log = RejectLog(archive.dir("rejects"), path)
    if "log" in info:
        log.resume(info["log"])
    if "run" not in info:
        with transaction(conn):
            info["run"] = start_run(conn, source)
            load.save(conn)
    units = info.get("units", 0)
    messages = _messages(path, codec, info.get("line", 0), segment)
    try:
        finished = False
        while not finished:
            with transaction(conn):
                for kind, payload in messages:
                    if kind == "reject":
                        log.add(*payload)
                    elif kind == "batch":
                        records, count, _ = payload
                        if records:
                            store.write(records)
                        units += count
                        if progress:
                            progress(count)
                    else:  # a segment ends: everything up to that line is in, recorded with it
                        info.update(line=payload, units=units, log=log.snapshot(), written=dict(store.written))
                        load.save(conn)
                        break
                else:
                    finished = True
                    info.update(units=units, log=log.snapshot(), written=dict(store.written))
                    load.save(conn)
            store.new_segment()
    except BaseException:
        log.release()
        raise
    log.close()
    result = FileSummary(
        str(path),
        units=units,
        rejected=log.count,
        fields_rejected=log.kept,
        rejects_file=str(log.path) if log.count else None,
        reasons=log.reasons,
    )
    with transaction(conn):
        finish_run(conn, info["run"], result)
        info.update(done=True, summary=result.__dict__)
        load.save(conn)


@contextmanager
def machine_failures(archive: Archive, what: str) -> Iterator[None]:
    """Turn OS and SQLite failures inside the block into a FonotecaError that says what stopped and where."""
    try:
        yield
    except sqlite3.Error as exc:
        raise FonotecaError(
            f"{what} stopped: the catalog {archive.catalog_path} could not be opened or written ({exc}); "
            f"batches committed before are kept, and running the same import again finishes it"
        ) from None
    except OSError as exc:
        raise FonotecaError(
            f"{what} stopped: {describe_os_error(exc)}; batches committed before are kept, "
            f"and running the same import again finishes it"
        ) from None


def describe_os_error(exc: OSError) -> str:
    """'No space left on device (ENOSPC): /path' from an OSError, whatever raised it."""
    name = errno.errorcode.get(exc.errno or 0)
    text = exc.strerror or str(exc)
    where = f": {exc.filename}" if exc.filename else ""
    return f"{text}{f' ({name})' if name else ''}{where}"


def start_run(conn: Any, source: int) -> int:
    """A row in import_runs: the search index finds what an import changed through these."""
    return conn.execute("INSERT INTO import_runs (source, started_at) VALUES (?, ?)", (source, _now())).lastrowid


def finish_run(conn: Any, run: int, result: FileSummary) -> None:
    conn.execute(
        "UPDATE import_runs SET finished_at=?, records=?, rejected=? WHERE rowid=?",
        (_now(), result.units, result.rejected, run),
    )


def _import_one(
    conn: Any, store: Store, rejects_dir: Path, path: Path, codec: Codec, progress: Progress | None
) -> FileSummary:
    log = RejectLog(rejects_dir, path)
    result = FileSummary(str(path))
    run = start_run(conn, store.source)  # type: ignore[arg-type]
    try:
        for kind, payload in _messages(path, codec):
            if kind == "reject":
                log.add(*payload)
            else:  # a batch: records of whole units, written in one transaction
                records, units, _ = payload
                if records:
                    store.write(records)
                result.units += units
                if progress:
                    progress(units)
    finally:
        log.close()
    result.rejected = log.count
    result.fields_rejected = log.kept
    result.reasons = log.reasons
    result.rejects_file = str(log.path) if log.count else None
    finish_run(conn, run, result)
    return result


Message = tuple[str, Any]  # ("reject", (line, reason, raw, where, kept)) or ("batch", (records, units, last line))


def _produce(path: Path, codec: Codec, skip: int = 0, segment: int = 0) -> Iterator[Message]:
    """Read and encode a file: rejects as they occur, records in batches of whole units, each batch with the
    number of the last line it covers. Lines up to `skip` are passed over (a bulk load resuming). With `segment`,
    a ("segment", line) message each time the lines pass a multiple of it: every line up to `line` is in the
    messages before, and the encoder forgets the nested objects it has seen (so that a load resumed after `line`
    encodes exactly as the clean run did)."""
    batch: list[Record] = []
    units = 0
    number = skip
    boundary = (skip // segment + 1) * segment if segment else None
    if segment and codec.reset:
        codec.reset()
    for piece in read_pieces(path):
        if piece.number <= skip:
            continue
        if boundary is not None and piece.number > boundary:
            yield "batch", (batch, units, number)
            batch, units = [], 0
            yield "segment", piece.number - 1
            if codec.reset:
                codec.reset()
            boundary = ((piece.number - 1) // segment + 1) * segment
        number = piece.number
        if isinstance(piece, Problem):
            yield "reject", (piece.number, piece.reason, piece.data[:RAW_LIMIT], "", False)
            continue
        for item in _encode_piece(piece, codec):
            if isinstance(item, tuple):
                yield "reject", item
            else:
                batch.extend(item)
                units += 1
        if len(batch) >= BATCH_RECORDS:
            yield "batch", (batch, units, number)
            batch, units = [], 0
    yield "batch", (batch, units, number)


def _messages(path: Path, codec: Codec, skip: int = 0, segment: int = 0) -> Iterator[Message]:
    """The messages of _produce, from a reader process for big files (so reading and encoding run on one core
    while this process writes the catalog on another), in this process otherwise."""
    if path.stat().st_size < PIPELINE_MIN_BYTES or (os.cpu_count() or 1) < 2:
        yield from _produce(path, codec, skip, segment)
        return
    context = multiprocessing.get_context("fork")
    queue = context.Queue(maxsize=4)
    reader = context.Process(target=_reader_process, args=(path, codec, queue, os.getpid(), skip, segment), daemon=True)
    reader.start()
    try:
        while True:
            try:
                kind, payload = queue.get(timeout=5)
            except Empty:
                if not reader.is_alive():
                    raise FonotecaError(f"{path}: the reader process died (exit code {reader.exitcode})") from None
                continue
            if kind == "done":
                break
            if kind == "error":
                raise FonotecaError(payload)
            yield kind, payload
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


def _reader_process(path: Path, codec: Codec, queue: Any, parent: int, skip: int = 0, segment: int = 0) -> None:
    from fonoteca.children import die_with

    die_with(parent)
    try:
        for message in _produce(path, codec, skip, segment):
            queue.put(message)
        queue.put(("done", None))
    except FonotecaError as exc:
        queue.put(("error", str(exc)))
    except OSError as exc:  # the input could not be read: the parent stops the import with this message
        queue.put(("error", f"import of {path} stopped: {describe_os_error(exc)}"))
    except Exception as exc:  # a fault of this code: reported to the parent, which stops the import
        queue.put(("error", f"import of {path} stopped: {type(exc).__name__}: {exc}"))


Reject = tuple[int, str, bytes, str, bool]  # line, reason, raw text, where in the line, whether the unit was kept


def _encode_piece(piece: Piece, codec: Codec) -> Iterator[list[Record] | Reject]:
    """Records of each unit in the piece, and a reject tuple for each bad unit or left-out field."""
    if codec.encode_line is not None and not piece.whole_document:
        out: list[Record] = []
        if codec.encode_line(piece.data, out):
            if FieldReject in map(type, out):  # tested inline: this runs for every line of a bulk import
                for reason in split_field_rejects(out):
                    yield (piece.number, reason, piece.data[:RAW_LIMIT], "", True)
            yield out
            return
    try:
        value = orjson.loads(piece.data)
    except orjson.JSONDecodeError as exc:
        message = str(exc)
        if "depth" in message or "recursion" in message.lower():
            reason = f"nested deeper than {MAX_DEPTH} levels of objects and arrays"
        else:
            reason = f"{'invalid UTF-8' if 'utf-8' in message.lower() else 'invalid JSON'}: {message}"
        yield (piece.number, reason, piece.data[:RAW_LIMIT], "", False)
        return
    deep = may_be_too_deep(piece.data)
    for where, unit in codec.units(value):
        out = []
        try:
            if deep and too_deep(unit):
                raise RecordError(f"nested deeper than {MAX_DEPTH} levels of objects and arrays")
            codec.encode(unit, out)
        except (RecordError, RecursionError) as exc:
            if codec.reset:
                codec.reset()
            reason = str(exc) if isinstance(exc, RecordError) else f"nested too deeply to import ({exc})"
            yield (piece.number, reason, _raw_text(piece, unit), where, False)
            continue
        for reason in split_field_rejects(out):
            yield (piece.number, reason, _raw_text(piece, unit), where, True)
        yield out


def _raw_text(piece: Piece, unit: Any) -> bytes:
    """What a reject shows of the unit: its line, or for a whole document the unit itself."""
    if piece.whole_document:
        try:
            return orjson.dumps(unit)[:RAW_LIMIT]
        except orjson.JSONEncodeError:  # nested beyond what orjson writes
            pass
    return piece.data[:RAW_LIMIT]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
