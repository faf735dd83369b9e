"""Imported by every Dask worker when it starts (`fonoteca cluster local` does it; on other machines:
`dask worker tcp://HOST:8786 --nthreads 1 --preload fonoteca.cluster.worker`). It

- undoes the malloc setting Dask's nanny starts workers with (see tune_malloc), which costs ingest about a
  quarter more CPU;
- loads the stages' task modules, so that a worker's first task does not pay for importing PyAV, NumPy and
  Chromaprint;
- pins the worker's code fingerprint (fonoteca.cluster.executors.code_fingerprint) to the code it started with."""

from __future__ import annotations

import ctypes
import importlib

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def tune_malloc() -> None:
    """Dask's nanny starts each worker with MALLOC_TRIM_THRESHOLD_=65536 (give freed memory back to the system
    early). Setting it also turns off glibc's adaptive mmap threshold, so every buffer over 128 KiB (each file read,
    each decoded chunk) is mmapped and unmapped again: measured here, 6x the page faults and about 25% more CPU for
    original-tier ingest tasks. Large fixed thresholds fix it (the local pool's workers get them too)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's upper bound for the adaptive threshold
        libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024)
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


tune_malloc()

from fonoteca.cluster import executors  # noqa: E402, F401 - after tune_malloc(); imported for its side effect: the code fingerprint

# Task modules of the stages that run on workers; a stage adds its own here when it adopts the executor.
TASK_MODULES = ("fonoteca.ingest.task", "fonoteca.ingest.executor")

for _name in TASK_MODULES:
    try:
        importlib.import_module(_name)
    except ImportError:  # a stage that is not installed here: its tasks will say so
        pass
