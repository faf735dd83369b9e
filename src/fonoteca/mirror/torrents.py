"""Reading and checking .torrent files and torrents.json lists from untrusted sources.

Every .torrent a mirror adds goes through `load_torrent`: its name and every file path must be safe relative
paths (pack's sanitiser), the counts of files and pieces and the piece length must be sane, so that nothing a
hostile torrent says can make libtorrent write outside the mirror's release folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt

from fonoteca.errors import FonotecaError
from fonoteca.pack import paths

MAX_FILES = 200_000
MAX_PIECES = 4_000_000
MAX_PIECE_LENGTH = 64 * 1024 * 1024
MAX_TORRENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    index: int
    path: str  # relative to the data folder, the torrent name first
    offset: int
    size: int
    pad: bool
    symlink: str | None = None  # BEP 47: a symbolic link entry, and its target (relative to the data folder)


def is_pad(fs: Any, i: int) -> bool:
    return bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)


def symlink_of(fs: Any, i: int) -> str | None:
    return fs.symlink(i).replace("\\", "/") if fs.file_flags(i) & lt.file_storage.flag_symlink else None


def safe_name(name: Any, what: str) -> str:
    """A release or torrent name from an untrusted source, refused unless it follows pack's one name rule."""
    return paths.check_name(name, what, refuse=True)


def load_torrent(data: bytes | Path, where: str = "torrent") -> lt.torrent_info:
    """A torrent_info from bytes or a file, refused when hostile (unsafe paths, absurd counts or sizes)."""
    if isinstance(data, Path):
        try:
            if data.stat().st_size > MAX_TORRENT_BYTES:
                raise FonotecaError(f"refused: {where} is larger than {MAX_TORRENT_BYTES} bytes")
            data = data.read_bytes()
        except OSError as exc:
            raise FonotecaError(f"cannot read {where}: {exc.strerror}") from None
    if len(data) > MAX_TORRENT_BYTES:
        raise FonotecaError(f"refused: {where} is larger than {MAX_TORRENT_BYTES} bytes")
    _check_raw(data, where)
    try:
        ti = lt.torrent_info(data)
    except Exception as exc:  # libtorrent raises RuntimeError on malformed data
        raise FonotecaError(f"refused: {where} is not a valid torrent ({exc})") from None
    check_torrent(ti, where)
    return ti


def _component_ok(c: Any) -> bool:
    if isinstance(c, bytes):
        try:
            c = c.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return isinstance(c, str) and bool(c) and paths.component(c, limit=255) == c


def _check_raw(data: bytes, where: str) -> None:
    """Refuse unsafe path components before libtorrent sanitises them silently ('..', '/', control chars)."""
    try:
        meta: Any = lt.bdecode(data)  # libtorrent's C++ decoder: linear, depth-limited, ten times the pure-Python one
        info = meta[b"info"]
    except Exception:
        raise FonotecaError(f"refused: {where} is not a valid torrent") from None

    def get(d: Any, k: str) -> Any:
        """A key of a decoded dictionary, as bytes or as str (libtorrent gives either)."""
        if not isinstance(d, dict):
            return None
        return d.get(k.encode()) if k.encode() in d else d.get(k)

    if not _component_ok(get(info, "name")):
        raise FonotecaError(f"refused: {where} has an unsafe name")
    files = get(info, "files") or []
    if not isinstance(files, list) or len(files) > MAX_FILES:
        raise FonotecaError(f"refused: {where} has too many files or a malformed file list")
    for f in files:
        attr = get(f, "attr") or b""
        if isinstance(attr, (bytes, str)) and ("p" in (attr.decode() if isinstance(attr, bytes) else attr)):
            continue
        parts = get(f, "path")
        if not isinstance(parts, list) or not parts or not all(_component_ok(c) for c in parts):
            raise FonotecaError(f"refused: {where} has a file path that escapes its folder: {parts!r}")
        link = get(f, "symlink path")
        if link is not None and (not isinstance(link, list) or not all(_component_ok(c) for c in link)):
            raise FonotecaError(f"refused: {where} has a symbolic link that points out of its folder: {parts!r}")
    count = 0

    def walk(tree: Any, depth: int) -> None:
        nonlocal count
        if not isinstance(tree, dict) or depth > 64:
            raise FonotecaError(f"refused: {where} has a malformed file tree")
        for k, v in tree.items():
            if k in (b"", ""):
                continue  # a leaf's file entry
            if not _component_ok(k):
                raise FonotecaError(f"refused: {where} has a file path that escapes its folder: {k!r}")
            count += 1
            if count > 4 * MAX_FILES:
                raise FonotecaError(f"refused: {where} has too many files")
            walk(v, depth + 1)

    tree = get(info, "file tree")
    if tree is not None:
        walk(tree, 0)


def check_torrent(ti: lt.torrent_info, where: str = "torrent") -> None:
    safe_name(ti.name(), f"{where}: torrent name")
    fs = ti.files()
    if fs.num_files() > MAX_FILES:
        raise FonotecaError(f"refused: {where} has {fs.num_files()} files (at most {MAX_FILES})")
    if ti.num_pieces() > MAX_PIECES:
        raise FonotecaError(f"refused: {where} has {ti.num_pieces()} pieces (at most {MAX_PIECES})")
    if not 16 * 1024 <= ti.piece_length() <= MAX_PIECE_LENGTH:
        raise FonotecaError(f"refused: {where} has an absurd piece length ({ti.piece_length()})")
    for i in range(fs.num_files()):
        if is_pad(fs, i):
            continue
        p = fs.file_path(i).replace("\\", "/")
        if not paths.is_safe_relative(p, limit=1024) or not p.startswith(ti.name() + "/") and p != ti.name():
            raise FonotecaError(f"refused: {where} has a file path that escapes its folder: {p!r}")
        target = symlink_of(fs, i)
        if target is not None and (
            not paths.is_safe_relative(target, limit=1024) or not target.startswith(ti.name() + "/")
        ):
            raise FonotecaError(f"refused: {where} has a symbolic link that points out of its folder: {p!r}")


def files_of(ti: lt.torrent_info) -> list[FileEntry]:
    fs = ti.files()
    return [
        FileEntry(
            i, fs.file_path(i).replace("\\", "/"), fs.file_offset(i), fs.file_size(i), is_pad(fs, i), symlink_of(fs, i)
        )
        for i in range(fs.num_files())
    ]
