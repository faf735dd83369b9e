"""Where the archive keeps its stored audio: the Storage protocol, and the default, the archive's files/ folder.

Ingest, pack, restore and the website reach stored files only through a Storage, by the relative path the
catalog records (`files.path`, e.g. `files/original/3f/ID.flac`). A plugin gives the archive another storage
through the hook `archive_storage` (see docs/extending.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from fonoteca.errors import FonotecaError
from fonoteca.hookspecs import hookimpl

if TYPE_CHECKING:
    from fonoteca.archive import Archive


class StorageError(FonotecaError):
    """A stored file that cannot be used: the message says why (missing, a link, outside the storage...)."""


class Storage(Protocol):
    def put_atomic(self, rel: str, finished: Path) -> None:
        """Store a finished, fsynced file (in the archive's temporary folder) under `rel`: afterwards `rel` is
        either absent or the complete file, also after a crash. `finished` is consumed."""
        ...

    def open(self, rel: str) -> BinaryIO:
        """The stored file for reading (StorageError when it is missing or not a plain stored file)."""
        ...

    def exists(self, rel: str) -> bool: ...

    def link_into_release(self, rel: str, dest: Path) -> None:
        """Make the stored file appear at `dest` in a release's payload folder, without a copy where the storage
        allows (the local folder: a hard link). `dest` must not exist."""
        ...

    def local_path(self, rel: str) -> Path:
        """A checked path on this machine to read the stored file from (hashing, range requests), or
        StorageError saying why there is none."""
        ...

    def remove(self, rel: str) -> None:
        """Forget a stored file (crash recovery of a file whose catalog row never committed)."""
        ...


class LocalStorage:
    """The archive's files/ folder: renames for atomic stores, hard links into releases, and every path checked
    to stay inside files/ once symbolic links are resolved (a link is never followed out, never released)."""

    PREFIX = "files"

    def __init__(self, archive_root: Path) -> None:
        self.root = archive_root
        self.files = archive_root / self.PREFIX

    def _path(self, rel: str) -> Path:
        if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
            raise StorageError("bad path in the catalog")
        parts = rel.split("/")
        if parts[0] != self.PREFIX or len(parts) < 2 or any(p in ("", ".", "..") for p in parts):
            raise StorageError("bad path in the catalog")
        return self.root / rel

    def local_path(self, rel: str) -> Path:
        path = self._path(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise StorageError("missing") from None
        except OSError as exc:
            raise StorageError(f"unreadable: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise StorageError("a symbolic link (never followed)")
        if not stat.S_ISREG(st.st_mode):
            raise StorageError("not a regular file")
        real = Path(os.path.realpath(path))
        try:
            real.relative_to(os.path.realpath(self.files))
        except ValueError:
            raise StorageError("outside files/ (through a symbolic link)") from None
        return real

    def exists(self, rel: str) -> bool:
        try:
            self.local_path(rel)
        except StorageError:
            return False
        return True

    def open(self, rel: str) -> BinaryIO:
        return open(self.local_path(rel), "rb")

    def put_atomic(self, rel: str, finished: Path) -> None:
        from fonoteca.durable import fsync_dir

        final = self._path(rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(finished, final)
        fsync_dir(final.parent)

    def link_into_release(self, rel: str, dest: Path) -> None:
        source = self.local_path(rel)
        try:
            os.link(source, dest, follow_symlinks=False)
        except OSError as exc:
            raise FonotecaError(
                f"cannot hard-link {rel} into the release ({exc.strerror}); releases/ must be on the same file "
                "system as files/ and the file system must support hard links"
            ) from None

    def remove(self, rel: str) -> None:
        path = self._path(rel)
        if path.is_symlink() or path.exists():
            path.unlink()


@hookimpl(trylast=True)
def archive_storage(archive: Archive) -> Storage:
    return LocalStorage(archive.root)
