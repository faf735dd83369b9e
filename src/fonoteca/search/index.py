"""The search index in ARCHIVE/index/: build it from the catalog, keep it up to date after imports.

Layout (all derived, safe to delete; `fonoteca index rebuild` makes it again):
  index/CURRENT                  JSON naming the live database; replaced atomically by a rebuild
  index/search-GEN.sqlite3       SQLite FTS5 table `docs` (rowid = key, see docs.py), the vocabulary that typed
                                 words are expanded with (prefixes, typos; see vocab.py) and a `meta` table
  index/shuffle-GEN-N.npy        every indexed key, sorted: popularity descending, for O(1) true shuffle

Why FTS5 and not Tantivy: measured in bench/search_bench.py (see bench/results/search.md): with documents
stored in popularity order, FTS5 stops after the first K matches in rowid order, where Tantivy (and FTS5's own
bm25 ranking) must score every match of a common word.
"""

from __future__ import annotations

import collections
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fonoteca import locks
from fonoteca.archive import Archive
from fonoteca.catalog import db as catalog_db
from fonoteca.catalog.db import transaction
from fonoteca.progress import Progress
from fonoteca.search import vocab
from fonoteca.search.docs import (
    MAX_POPULARITY,
    ROWID_BITS,
    ROWID_MASK,
    DocBuilder,
    popularity_bound,
    rowid_chunks,
)

FORMAT = 4  # 2: with the vocabulary tables; 3: with the artists' whole-name tokens; 4: one-word title tokens
CURRENT = "CURRENT"
LOCK = ".lock"
# Tokens are made by text.py and joined by spaces; the ascii tokenizer then only splits them again (non-ASCII
# characters are token characters for it). '_' starts filter tokens (_y1995, _e1, _g12), never a word token.
SCHEMA = """
CREATE VIRTUAL TABLE docs USING fts5(
  title, artists, album, tags,
  tokenize = "ascii tokenchars '_'", detail = column, columnsize = 0
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Past this share of the indexed tracks changed, a rebuild (sorted bulk load, one segment) beats row updates.
REBUILD_SHARE = 0.25
MMAP_BYTES = 1 << 31  # SQLite caps it at its compile-time maximum (2 GiB by default)
REBUILD_MIN = 50_000  # ... and at least this many tracks ([search] rebuild_min)


class IndexMissing(Exception):
    """No search index in this archive yet."""


@dataclass
class IndexState:
    """What CURRENT and the database's meta table say about the live index."""

    directory: Path
    db_path: Path
    meta: dict[str, Any]

    @property
    def shuffle_path(self) -> Path:
        return self.directory / self.meta["shuffle"]


def index_dir(archive: Archive) -> Path:
    return archive.dir("index")


def current_db(directory: Path) -> Path | None:
    path = directory / CURRENT
    try:
        pointer = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        return None
    if pointer.get("format") != FORMAT:
        return None  # an index from another Fonoteca version: treat as missing, a rebuild replaces it
    db = directory / pointer["db"]
    return db if db.exists() else None


def read_meta(conn: sqlite3.Connection) -> dict[str, Any]:
    return {key: orjson.loads(value) for key, value in conn.execute("SELECT key, value FROM meta")}


def _write_meta(conn: sqlite3.Connection, values: dict[str, Any]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        [(k, orjson.dumps(v).decode()) for k, v in values.items()],
    )


def open_index(directory: Path) -> tuple[sqlite3.Connection, IndexState]:
    """A read-only connection to the live index and its state; IndexMissing when there is none."""
    db = current_db(directory)
    if db is None:
        raise IndexMissing(str(directory))
    conn = catalog_db.connect_read_only(db)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")  # FTS5 reads many leaf pages per query: no read() per page
    return conn, IndexState(directory, db, read_meta(conn))


def _locked(directory: Path) -> AbstractContextManager[None]:
    """One writer at a time (two imports finishing together must not interleave their updates)."""
    return locks.held(directory / LOCK)


def _offsets(keys: np.ndarray) -> list[int]:
    bounds = np.array([popularity_bound(n) for n in range(MAX_POPULARITY + 2)], dtype=np.int64)
    return [int(x) for x in np.searchsorted(keys, bounds, side="left")]


def _save_keys(directory: Path, keys: np.ndarray, generation: str) -> str:
    name = f"shuffle-{generation}-{uuid.uuid4().hex[:8]}.npy"
    tmp = directory / (name + ".tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, keys)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, directory / name)
    return name


def _last_run(catalog: sqlite3.Connection) -> int:
    return catalog.execute("SELECT coalesce(max(rowid), 0) FROM import_runs").fetchone()[0]


# --- full build -----------------------------------------------------------------------------------------------


@dataclass
class BuildStats:
    tracks: int
    seconds: float
    bytes: int
    path: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracks": self.tracks,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "path": self.path,
            "tracks_per_second": round(self.tracks / self.seconds) if self.seconds else None,
        }


def rebuild(archive: Archive, *, progress: Progress | None = None) -> BuildStats:
    """Build the whole index from the catalog into new files, then switch CURRENT to them atomically.

    `progress` is told the catalog rowids covered, chunk by chunk (the total is the largest track rowid).
    """
    directory = index_dir(archive)
    archive.require_writable("building the search index")
    with _locked(directory):
        return _rebuild_locked(archive, directory, progress)


def build_index(
    catalog: sqlite3.Connection,
    catalog_path: Path,
    directory: Path,
    generation: str,
    *,
    workers: int | None = None,
    parallel_min_tracks: int | None = None,
    progress: Progress | None = None,
    run_docs: int | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write search-GEN.sqlite3 and its shuffle file into `directory`; return the db path and its meta.

    Worker processes read the catalog and tokenise (Python, the slow part), chunk by chunk of rowids; a writer
    thread inserts into FTS5 while they go on. Documents reach FTS5 in runs of `run_docs` ([search] build_docs)
    sorted by key, with a pending-data budget (hashsize) that holds a whole run: FTS5 writes each run as one
    segment (it flushes whenever rowids stop increasing, or the budget is reached), and the final 'optimize'
    merges the runs' segments into one in a single pass. Memory stays flat whatever the catalog size: a run
    at a time, and the shuffle keys merged from per-run files on disk.
    """
    last_run = _last_run(catalog)  # read first: imports that land during the build are picked up by the next update
    db_path = directory / f"search-{generation}.sqlite3"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    out = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    out.execute("PRAGMA journal_mode=OFF")  # a file nobody reads yet: a crash just means building again
    out.execute("PRAGMA synchronous=OFF")
    out.execute("PRAGMA cache_size=-131072")
    for statement in SCHEMA.strip().split(";\n"):
        out.execute(statement)
    vocab.create(out)
    out.execute("INSERT INTO docs(docs, rank) VALUES ('automerge', 0)")  # the runs are merged once, at the end
    out.execute(f"INSERT INTO docs(docs, rank) VALUES ('hashsize', {HASH_BYTES})")
    total = catalog.execute("SELECT coalesce(max(rowid), 0) FROM tracks").fetchone()[0]
    runs: queue.Queue[list[Any] | None] = queue.Queue(maxsize=1)
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with transaction(out, immediate=False):
                while (batch := runs.get()) is not None:
                    out.executemany("INSERT INTO docs (rowid, title, artists, album, tags) VALUES (?,?,?,?,?)", batch)
        except BaseException as exc:  # reported by the reading thread
            failure.append(exc)
            while runs.get() is not None:
                pass

    writer = threading.Thread(target=write, name="fts-writer", daemon=True)
    writer.start()
    keys = _KeyRuns(directory, generation)
    size = run_docs or RUN_DOCS
    try:
        min_tracks = PARALLEL_MIN_TRACKS if parallel_min_tracks is None else parallel_min_tracks
        pending: list[Any] = []
        covered = 0  # rowids done: the chunks come in rowid order
        if progress:
            progress(total=total)
        for high, batch in _produce(catalog, catalog_path, workers, min_tracks):
            if failure:
                break
            pending.extend(batch)
            if len(pending) >= size:
                pending.sort()
                keys.add(pending)
                runs.put(pending)
                pending = []
            if progress:
                progress(high - covered)
            covered = high
        if pending and not failure:
            pending.sort()
            keys.add(pending)
            runs.put(pending)
        del pending
    finally:
        runs.put(None)
        writer.join()
    if failure:
        out.close()
        keys.remove()
        raise failure[0]
    out.execute("INSERT INTO docs(docs) VALUES ('optimize')")  # one segment: the fewest pages per query
    out.execute("INSERT INTO docs(docs, rank) VALUES ('automerge', 4)")
    with transaction(out, immediate=False):
        terms = vocab.build(out)
    shuffle, count, offsets = keys.save(generation)
    meta = {
        "format": FORMAT,
        "generation": generation,
        "last_run": last_run,
        "tracks": count,
        "built_at": int(time.time()),
        "shuffle": shuffle,
        "offsets": offsets,
        "updates": 0,
        "catalog_file": _file_id(catalog_path),
        "terms": terms,
    }
    with transaction(out, immediate=False):
        _write_meta(out, meta)
    out.execute("PRAGMA journal_mode=WAL")  # readers keep reading while an import updates the index
    out.close()
    return db_path, meta


RUN_DOCS = 250_000  # documents sorted and written together (one FTS5 segment each)
HASH_BYTES = 256 << 20  # FTS5 pending data of one run: above what a run of RUN_DOCS needs


class _KeyRuns:
    """The keys of each run, sorted, on disk; merged into the shuffle file (every key in key order) at the end:
    a key's high bits are 100 - popularity, and runs cover increasing rowid ranges, so the keys of one
    popularity are those of the runs in run order."""

    def __init__(self, directory: Path, generation: str) -> None:
        self.directory = directory
        self.prefix = f"keys-{generation}-{uuid.uuid4().hex[:6]}"
        self.runs: list[tuple[Path, np.ndarray]] = []  # file, and where each band (100 - popularity) starts

    def add(self, docs: list[Any]) -> None:
        run = np.fromiter((d[0] for d in docs), dtype=np.int64, count=len(docs))
        path = self.directory / f"{self.prefix}-{len(self.runs)}.npy"
        np.save(path, run)
        bands = np.arange(MAX_POPULARITY + 2, dtype=np.int64) << ROWID_BITS
        self.runs.append((path, np.searchsorted(run, bands, side="left")))

    def save(self, generation: str) -> tuple[str, int, list[int]]:
        """Write the shuffle file; (its name, keys in it, offsets[N] = keys of popularity >= N)."""
        count = sum(int(starts[-1]) for _, starts in self.runs)
        name = f"shuffle-{generation}-{uuid.uuid4().hex[:8]}.npy"
        tmp = self.directory / (name + ".tmp")
        per_band = np.zeros(MAX_POPULARITY + 1, dtype=np.int64)
        try:
            with open(tmp, "wb") as handle:
                np.lib.format.write_array_header_1_0(
                    handle, {"descr": "<i8", "fortran_order": False, "shape": (count,)}
                )
                runs = [(np.load(path, mmap_mode="r"), starts) for path, starts in self.runs]
                for band in range(MAX_POPULARITY + 1):  # band 0: popularity 100, the smallest keys
                    for run, starts in runs:
                        piece = np.ascontiguousarray(run[starts[band] : starts[band + 1]], dtype="<i8")
                        handle.write(piece.tobytes())
                        per_band[band] += len(piece)
                handle.flush()
                os.fsync(handle.fileno())
                del runs  # the memory maps, before their files go
            os.replace(tmp, self.directory / name)
        finally:
            tmp.unlink(missing_ok=True)
            self.remove()
        at_least = np.cumsum(per_band)  # at_least[band] = keys of popularity >= 100 - band
        offsets = [int(at_least[MAX_POPULARITY - n]) for n in range(MAX_POPULARITY + 1)] + [0]
        return name, count, offsets

    def remove(self) -> None:
        for path, _ in self.runs:
            path.unlink(missing_ok=True)
        self.runs = []


# Below this many tracks, starting worker processes costs more than it saves ([search] parallel_min_tracks).
PARALLEL_MIN_TRACKS = 200_000
_worker_builder: DocBuilder | None = None


def _worker_start(catalog_path: str, coordinator: int) -> None:
    from fonoteca.children import die_with

    die_with(coordinator)
    global _worker_builder
    conn = catalog_db.connect_read_only(Path(catalog_path))
    conn.execute("PRAGMA cache_size=-131072")
    _worker_builder = DocBuilder(conn)


def _worker_docs(bounds: tuple[int, int]) -> tuple[int, list[tuple[Any, ...]]]:
    assert _worker_builder is not None
    return bounds[1], _worker_builder.docs(*bounds)


def _produce(
    catalog: sqlite3.Connection, catalog_path: Path, workers: int | None, min_tracks: int = PARALLEL_MIN_TRACKS
) -> Iterator[tuple[int, list[Any]]]:
    """(highest rowid covered, documents sorted by key) per chunk, in chunk order."""
    ranges = list(rowid_chunks(catalog))
    tracks = catalog.execute("SELECT count(*) FROM tracks").fetchone()[0] if len(ranges) > 1 else 0
    if workers is None:
        workers = os.cpu_count() or 1
    if workers <= 1 or tracks < min_tracks:
        builder = DocBuilder(catalog)
        for low, high in ranges:
            yield high, builder.docs(low, high)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent has threads (progress bar, writer) and open SQLite handles
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_start, initargs=(str(catalog_path), os.getpid())
    ) as pool:
        pending: collections.deque = collections.deque()
        window = workers * 2  # bounded read-ahead: memory stays flat whatever the catalog size
        for bounds in ranges:
            pending.append(pool.submit(_worker_docs, bounds))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _rebuild_locked(archive: Archive, directory: Path, progress: Progress | None) -> BuildStats:
    started = time.perf_counter()
    generation = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    catalog = archive.connect(readonly=True)
    try:
        db_path, meta = build_index(
            catalog,
            archive.catalog_path,
            directory,
            generation,
            progress=progress,
            parallel_min_tracks=int(archive.config.get("search", {}).get("parallel_min_tracks", PARALLEL_MIN_TRACKS)),
        )
    except BaseException:
        for partial in directory.glob(f"*-{generation}*"):
            partial.unlink(missing_ok=True)  # a half-built index must not linger: CURRENT still names the old one
        raise
    finally:
        catalog.close()
    _switch(directory, db_path)
    _remove_unused(directory)
    size = db_path.stat().st_size + (directory / meta["shuffle"]).stat().st_size
    return BuildStats(meta["tracks"], time.perf_counter() - started, size, str(db_path))


def _switch(directory: Path, db_path: Path) -> None:
    tmp = directory / (CURRENT + ".tmp")
    tmp.write_bytes(orjson.dumps({"format": FORMAT, "db": db_path.name}))
    os.replace(tmp, directory / CURRENT)


def _remove_unused(directory: Path) -> None:
    """Delete index files that CURRENT no longer names (open readers keep their copy until they close it)."""
    db = current_db(directory)
    if db is None:
        return
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        shuffle = read_meta(conn).get("shuffle")
    finally:
        conn.close()
    keep = {db.name, f"{db.name}-wal", f"{db.name}-shm", shuffle, CURRENT, LOCK}
    for path in directory.iterdir():
        if path.name.startswith(("search-", "shuffle-")) and path.name not in keep:
            path.unlink(missing_ok=True)


# --- incremental update -------------------------------------------------------------------------------------


@dataclass
class UpdateStats:
    mode: str  # "none" | "update" | "rebuild" | "skipped"
    tracks: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "tracks": self.tracks, "seconds": round(self.seconds, 3)}


def update_after_import(archive: Archive) -> UpdateStats:
    """Bring the index up to date with the catalog; the import commands call this after every import.

    No index yet: build it. Otherwise find the tracks the new import runs wrote or touched (rows whose source is
    one of the new runs' files, including rows replaced in place by fuller or newer objects, and the tracks of
    artists and albums those runs rewrote), delete their old documents and insert new ones. When a large share
    of the catalog changed, rebuilding is faster and leaves a tidier index.
    """
    started = time.perf_counter()
    if not archive.config.get("search", {}).get("update_on_import", True):
        return UpdateStats("skipped", 0, 0.0)  # [search] update_on_import = false: `index rebuild` when done
    directory = index_dir(archive)
    archive.require_writable("updating the search index")
    with _locked(directory):
        db = current_db(directory)
        if db is None:
            stats = _rebuild_with_bar(archive, directory)
            return UpdateStats("rebuild", stats.tracks, time.perf_counter() - started)
        catalog = archive.connect(readonly=True)
        try:
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=30000")
            try:
                changed = _apply_changes(
                    catalog,
                    archive.catalog_path,
                    conn,
                    directory,
                    int(archive.config.get("search", {}).get("rebuild_min", REBUILD_MIN)),
                )
            finally:
                conn.close()
        finally:
            catalog.close()
        if changed is None:
            stats = _rebuild_with_bar(archive, directory)
            return UpdateStats("rebuild", stats.tracks, time.perf_counter() - started)
        _remove_unused(directory)
        return UpdateStats("update" if changed else "none", changed, time.perf_counter() - started)


def _rebuild_with_bar(archive: Archive, directory: Path) -> BuildStats:
    """A rebuild run from an import: show its progress too (on a large catalog it takes minutes)."""
    from fonoteca.console import progress_bar

    with progress_bar("search index", unit="rowids", transient=True) as report:
        return _rebuild_locked(archive, directory, report)


def changed_tracks_sql(sources: int) -> str:
    """The tracks rows of these sources are, or credit, or sit on (the sources three times as parameters): read
    through the source indexes (catalog schema 10), never a scan of the catalog."""
    marks = ",".join("?" * sources)
    return (
        f"SELECT rowid FROM tracks WHERE source IN ({marks}) AND level > 0 "
        f"UNION SELECT l.track FROM artists a JOIN track_artists l ON l.artist = a.rowid WHERE a.source IN ({marks}) "
        f"UNION SELECT t.rowid FROM albums al JOIN tracks t ON t.album = al.rowid WHERE al.source IN ({marks})"
    )


def _changed_tracks(catalog: sqlite3.Connection, sources: list[int]) -> list[int]:
    return [r for (r,) in catalog.execute(changed_tracks_sql(len(sources)), sources * 3)]


def _file_id(path: Path) -> list[int]:
    """Device and inode of the catalog file: a catalog swapped for another one is a new file."""
    stat = path.stat()
    return [stat.st_dev, stat.st_ino]


def _apply_changes(
    catalog: sqlite3.Connection,
    catalog_path: Path,
    conn: sqlite3.Connection,
    directory: Path,
    rebuild_min: int = REBUILD_MIN,
) -> int | None:
    """Update the index in place; the number of tracks re-indexed, or None when a rebuild is the better deal."""
    meta = read_meta(conn)
    if _last_run(catalog) < meta["last_run"] or meta.get("catalog_file") != _file_id(catalog_path):
        return None  # the catalog was replaced by another one since the index was built
    runs = catalog.execute("SELECT rowid, source FROM import_runs WHERE rowid > ?", (meta["last_run"],)).fetchall()
    if not runs:
        return 0
    last_run = max(r for r, _ in runs)
    changed = _changed_tracks(catalog, sorted({s for _, s in runs}))
    if len(changed) > max(rebuild_min, meta["tracks"] * REBUILD_SHARE):
        return None
    keys = np.load(directory / meta["shuffle"])
    stale = np.isin(keys & ROWID_MASK, np.asarray(changed, dtype=np.int64))
    old_keys = keys[stale]
    docs = sorted(DocBuilder(catalog).docs_for(changed))
    new_keys = np.fromiter((d[0] for d in docs), dtype=np.int64, count=len(docs))
    keys = np.sort(np.concatenate([keys[~stale], new_keys]))
    generation = meta["generation"]
    updates = meta.get("updates", 0) + 1
    shuffle = _save_keys(directory, keys, generation)
    try:
        with transaction(conn):
            counts = _term_changes(conn, [int(k) for k in old_keys], docs)
            conn.executemany("DELETE FROM docs WHERE rowid = ?", [(int(k),) for k in old_keys])
            conn.executemany("INSERT INTO docs (rowid, title, artists, album, tags) VALUES (?,?,?,?,?)", docs)
            vocab.apply_counts(conn, counts)
            _write_meta(
                conn,
                {
                    "last_run": last_run,
                    "tracks": int(len(keys)),
                    "shuffle": shuffle,
                    "offsets": _offsets(keys),
                    "updates": updates,
                },
            )
    except BaseException:
        (directory / shuffle).unlink(missing_ok=True)
        raise
    return len(docs)


def _term_changes(conn: sqlite3.Connection, old_keys: list[int], docs: list[Any]) -> collections.Counter[str]:
    """How many documents each word gains (new documents) or loses (the old documents they replace)."""
    change: collections.Counter[str] = collections.Counter()
    for start in range(0, len(old_keys), 500):
        chunk = old_keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for texts in conn.execute(f"SELECT title, artists, album FROM docs WHERE rowid IN ({marks})", chunk):
            change.subtract(vocab.doc_terms(texts))
    for doc in docs:
        change.update(vocab.doc_terms(doc[1:4]))
    return change


def status(archive: Archive) -> dict[str, Any]:
    """A summary for `fonoteca index status`: size, tracks, and import runs not yet indexed."""
    directory = index_dir(archive)
    db = current_db(directory)
    if db is None:
        return {"exists": False, "directory": str(directory)}
    conn, state = open_index(directory)
    conn.close()
    catalog = archive.connect(readonly=True)
    try:
        pending = catalog.execute(
            "SELECT count(*) FROM import_runs WHERE rowid > ?", (state.meta["last_run"],)
        ).fetchone()[0]
    finally:
        catalog.close()
    return {
        "exists": True,
        "path": str(db),
        "tracks": state.meta["tracks"],
        "bytes": db.stat().st_size + state.shuffle_path.stat().st_size,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.meta["built_at"])),
        "updates_since_build": state.meta.get("updates", 0),
        "imports_not_indexed": pending,
    }
