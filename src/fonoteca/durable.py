"""Durable file writes shared by the stages that write into the archive (ingest, pack): a file is either absent or
complete after a crash, and a rename is not reported done before its folder is on disk."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path


def now() -> str:
    """The current time as stored in catalog rows and records: UTC, seconds, ISO 8601."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_of(path: Path) -> str:
    """The sha256 of a file's content, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new names, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace or create `path` so that it is either the old file or the complete new one: temporary file beside
    it, fsync, rename, fsync the folder. The temporary name starts with a dot and ends in .part, so recovery code
    and listings can tell it from a finished file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_new(path: Path, data: bytes) -> None:
    """Create a file that must not exist yet, fsynced; for files inside a build folder that is itself renamed into
    place (and its folder fsynced) once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


# Errors that say the machine ran out of something, not that an input is bad: a run that meets one stops, marks
# nothing done and leaves the work to the next run (see fonoteca.errors.ResourceError).
RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE})
_SQLITE_RESOURCE = (
    "database or disk is full",
    "disk i/o error",
    "attempt to write a readonly database",
    "unable to open database file",
)


def resource_error(exc: BaseException | None) -> str | None:
    """What ran out, when `exc` (or an exception it was raised from) is a resource error; None otherwise."""
    seen = 0
    while exc is not None and seen < 10:
        number = getattr(exc, "errno", None)
        if isinstance(number, int) and number in RESOURCE_ERRNOS:
            where = getattr(exc, "filename", None)
            return os.strerror(number) + (f" ({where})" if where else "")
        text = str(exc).lower()
        if type(exc).__name__ in ("OperationalError", "DatabaseError") and any(s in text for s in _SQLITE_RESOURCE):
            return str(exc)
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None
