"""Durable file writes shared by the stages that write into the archive (ingest, pack): a file is either absent or
complete after a crash, and a rename is not reported done before its folder is on disk."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path


def now() -> str:
    """The current time as stored in catalog rows and records: UTC, seconds, ISO 8601."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
