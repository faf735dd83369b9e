"""Arrays larger than memory: records of a fixed numpy layout spilled to files, sorted by merging sorted runs.

The plan of a catalog too large for its memory budget ([plan] memory) is computed through these (plan/bounded.py):
peak memory is set by the chunk sizes, not by the catalog.
"""

from __future__ import annotations

import ctypes
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

MAX_FANIN = 64  # runs merged at once (more: merged in rounds)


class Spill:
    """Records of one dtype, appended to a file and read back in chunks (in the order they were appended)."""

    def __init__(self, folder: Path, dtype: np.dtype, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        self.path = folder / f"{name}-{uuid.uuid4().hex[:10]}.bin"
        self.count = 0
        self._out = open(self.path, "wb")

    def append(self, records: np.ndarray) -> None:
        if len(records):
            self._out.write(np.ascontiguousarray(records, dtype=self.dtype).view(np.uint8).data)  # no copy
            self.count += len(records)

    def done(self) -> Spill:
        if self._out is not None:
            self._out.close()
            self._out = None  # type: ignore[assignment]
        return self

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        self.done()
        size = max(1, rows) * self.dtype.itemsize
        with open(self.path, "rb") as handle:
            while data := handle.read(size):
                yield np.frombuffer(data, dtype=self.dtype)

    def remove(self) -> None:
        self.done()
        self.path.unlink(missing_ok=True)


def _order(records: np.ndarray, keys: tuple[str, ...]) -> np.ndarray:
    """Positions that sort records by keys (the first key most significant; ties keep their order)."""
    return np.lexsort(tuple(records[k] for k in reversed(keys)))


def sort(spill: Spill, keys: tuple[str, ...], memory: int, folder: Path) -> Spill:
    """A new spill of the records sorted by `keys` (unique together), using about `memory` bytes; the input is
    removed."""
    rows = max(1024, memory // (4 * spill.dtype.itemsize))
    runs = []
    for chunk in spill.chunks(rows):
        run = Spill(folder, spill.dtype, "run")
        run.append(chunk[_order(chunk, keys)])
        runs.append(run.done())
    spill.remove()
    if not runs:
        return Spill(folder, spill.dtype, "sorted").done()
    while len(runs) > 1:
        runs = [_merge(runs[i : i + MAX_FANIN], keys, memory, folder) for i in range(0, len(runs), MAX_FANIN)]
    return runs[0]


def _merge(runs: list[Spill], keys: tuple[str, ...], memory: int, folder: Path) -> Spill:
    """Merge sorted runs block by block. The frontier is the smallest last key held from the runs not yet
    exhausted: every unread record lies above it, so every held record up to it is final. Each round sorts only
    the records it writes (each run's held prefix up to the frontier), so every record is sorted once here, not
    once per round it waits (which cost a factor of the run count)."""
    if len(runs) == 1:
        return runs[0]
    dtype = runs[0].dtype
    block = max(256, memory // (4 * dtype.itemsize * (len(runs) + 1)))
    readers = [run.chunks(block) for run in runs]
    held: dict[int, np.ndarray] = {}  # the records read and not yet written, per live run (never empty)
    out = Spill(folder, dtype, "merged")
    empty = list(range(len(runs)))
    while True:
        for i in empty:  # a run whose every record read so far is written: read on
            chunk = next(readers[i], None)
            if chunk is not None:
                held[i] = chunk
        if not held:
            break
        frontier = min(tuple(chunk[-1][k] for k in keys) for chunk in held.values())
        final = []
        for i, chunk in held.items():
            cut = _count_up_to(chunk, keys, frontier)
            if cut:
                final.append(chunk[:cut])
                held[i] = chunk[cut:]
        written = np.concatenate(final)
        del final
        out.append(written[_order(written, keys)])
        del written
        empty = [i for i, chunk in held.items() if not len(chunk)]
        for i in empty:
            del held[i]
    for run in runs:
        run.remove()
    return out.done()


def _count_up_to(records: np.ndarray, keys: tuple[str, ...], bound: tuple[Any, ...]) -> int:
    """How many of `records` (sorted by keys) have a key at most `bound`: binary searches, key by key, narrowing
    to the records that tie the bound on every key before."""
    lo, hi = 0, len(records)
    for key, value in zip(keys, bound, strict=True):
        column = records[key][lo:hi]
        lo, hi = lo + int(np.searchsorted(column, value, "left")), lo + int(np.searchsorted(column, value, "right"))
        if lo == hi:
            break
    return hi


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
ARRAY_MMAP_BYTES = 1 << 20


def map_big_arrays() -> None:
    """Have glibc give every array of 1 MiB or more its own mapping, returned to the OS when freed. Its default
    threshold rises to 32 MiB after the first big free, and the chunk-sized arrays of the passes (2 to 50 MB, made
    and freed thousands of times) then fragment the heap: ~80 MB of resident memory at 10M tracks. No-op off
    glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, ARRAY_MMAP_BYTES)
        libc.mallopt(M_TRIM_THRESHOLD, 2 * ARRAY_MMAP_BYTES)
    except (OSError, AttributeError):
        pass


def scratch(folder: Path) -> Path:
    """A private folder for one computation's spills (removed by the caller)."""
    path = folder / f"plan-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    path.mkdir(parents=True, exist_ok=True)
    return path
