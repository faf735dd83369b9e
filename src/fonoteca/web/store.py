"""Database access for the web app: one read-only catalog connection (and search index connection) per thread.

Sync view functions run in a bounded thread pool; each thread keeps its own `Searcher` (which owns a read-only
catalog connection and the index connection), so no connection is ever shared between threads and nothing is
opened per request. Values that are costly and change only with an import (counts, the genre list) are cached
per process and refreshed when the catalog file changes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fonoteca.archive import Archive
from fonoteca.search import Searcher
from fonoteca.search.index import current_db, index_dir

T = TypeVar("T")
CACHE_SIZE_KIB = 32768  # SQLite page cache per connection; the OS page cache is shared by all of them
STAMP_EVERY_S = 2.0
REFRESH_EVERY_S = 60.0


class Store:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._local = threading.local()
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[Any, Any]] = {}
        self._stamp: tuple[Any, ...] | None = None
        self._stamp_at = 0.0
        self._index_seen: bool | None = None
        self._refreshing: set[str] = set()
        self._refreshed: dict[str, float] = {}
        self._generation: tuple[Any, ...] | None = None
        self._generation_at = 0.0
        self._index_at = 0.0

    # --- per-thread connections ---------------------------------------------------------------------------
    def searcher(self) -> Searcher:
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = Searcher(self.archive)
            searcher.catalog.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")
            self._local.searcher = searcher
        return searcher

    @property
    def conn(self) -> sqlite3.Connection:
        return self.searcher().catalog

    def close_thread(self) -> None:
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None:
            searcher.close()
            self._local.searcher = None

    def has_index(self) -> bool:
        """Whether a search index exists (looked at every few seconds at most: a rebuild can add one)."""
        now = time.monotonic()
        if self._index_seen is None or now - self._index_at > STAMP_EVERY_S:
            self._index_seen, self._index_at = current_db(index_dir(self.archive)) is not None, now
        return self._index_seen

    def generation(self) -> tuple[Any, ...]:
        """Changes whenever the catalog or the live search index changes (looked at every few seconds)."""
        now = time.monotonic()
        if self._generation is None or now - self._generation_at > STAMP_EVERY_S:
            try:
                st = os.stat(self.archive.root / "index" / "CURRENT")
                index = (st.st_ino, st.st_mtime_ns, st.st_size)
            except OSError:
                index = None
            self._generation, self._generation_at = (self.stamp(), index), now
        return self._generation

    # --- catalog state --------------------------------------------------------------------------------------
    def stamp(self) -> tuple[Any, ...]:
        """Changes whenever the catalog or the withdrawals ledger changes (file sizes and times of the database,
        its WAL and the ledger)."""
        now = time.monotonic()
        if self._stamp is None or now - self._stamp_at > STAMP_EVERY_S:
            parts: list[Any] = []
            for suffix in ("", "-wal"):
                try:
                    st = os.stat(str(self.archive.catalog_path) + suffix)
                    parts.append((st.st_size, st.st_mtime_ns))
                except FileNotFoundError:
                    parts.append(None)
            from fonoteca.ledger import signature

            parts.append(signature(self.archive.root))
            self._stamp, self._stamp_at = tuple(parts), now
        return self._stamp

    def cached(self, key: str, compute: Callable[[], T], *, stale_ok: bool = False) -> T:
        """compute() once per catalog state (other threads wait for the first one rather than repeat it).

        stale_ok: when the catalog has changed since the last value, answer with that value at once and compute
        the new one in the background (for figures that take seconds on a big catalog)."""
        stamp = self.stamp()
        hit = self._cached.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        if hit is not None and stale_ok:
            self._refresh(key, compute)
            return hit[1]
        with self._lock:
            hit = self._cached.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            value = compute()
            self._cached[key] = (stamp, value)
            return value

    def _refresh(self, key: str, compute: Callable[[], Any]) -> None:
        now = time.monotonic()
        with self._lock:
            if key in self._refreshing or now - self._refreshed.get(key, -REFRESH_EVERY_S) < REFRESH_EVERY_S:
                return  # at most one refresh a minute: an import writing for hours must not keep us computing
            self._refreshing.add(key)
            self._refreshed[key] = now

        def run() -> None:
            try:
                stamp = self.stamp()
                value = compute()
                with self._lock:
                    self._cached[key] = (stamp, value)
            finally:
                self.close_thread()
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=run, name=f"fonoteca-web-{key}", daemon=True).start()

    def warm(self, key: str, compute: Callable[[], Any]) -> threading.Thread:
        """Compute a cached value in the background now (at startup), so that no visitor waits for it."""

        def run() -> None:
            try:
                self.cached(key, compute)
            except Exception:  # noqa: BLE001 (a failure shows when a page asks for the value)
                pass
            finally:
                self.close_thread()

        thread = threading.Thread(target=run, name=f"fonoteca-web-warm-{key}", daemon=True)
        thread.start()
        return thread
