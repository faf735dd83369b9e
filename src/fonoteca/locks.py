"""The one lock helper: an advisory lock file (flock) held for a block, so that only one process at a time runs a
writer of the same kind (ingest, pack, index builds) on an archive. The lock goes with the process: a crashed or
killed holder never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fonoteca.errors import FonotecaError


@contextmanager
def held(path: Path, *, busy: str | None = None) -> Iterator[None]:
    """Hold the lock at `path` for the block. With `busy` (the message to give), refuse at once when another
    process holds it; without, wait for it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy is not None else 0))
        except BlockingIOError:
            raise FonotecaError(busy or "the lock is held") from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
