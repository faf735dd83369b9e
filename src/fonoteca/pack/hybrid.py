"""BitTorrent v1+v2 hybrid torrents (BEP 3, BEP 47 pad files, BEP 52), hashed in parallel and written directly.

libtorrent's Python bindings (2.1) can set v1 piece hashes on a `create_torrent` but not the v2 merkle trees, and
its own `set_piece_hashes` hashes SHA-1 and SHA-256 one after the other on one thread. This module computes both
in one pass over each file on a pool of threads (hashlib releases the GIL on buffers over 2 KiB) and bencodes the
metainfo itself, in exactly the form libtorrent 2.1 gives for the same files (the tests compare info-hashes):

* files in the order of the v2 file tree (path components compared as UTF-8 bytes), v1 `files` in the same order;
* every non-empty file whose size is not a multiple of the piece length is followed by a pad file
  (`attr` = `p`, path `.pad/N`), the last one included, so that every file starts on a piece boundary; this makes
  v1 pieces and v2 piece layers describe the same bytes and lets each file be hashed on its own;
* v2: `pieces root` per file = merkle root over SHA-256 of 16 KiB blocks (zero hashes pad the leaves to a power
  of two); `piece layers` (outside `info`) for files larger than one piece;
* no creation date, no machine-specific field: the same files, names and piece length give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fonoteca.pack import bencode
from fonoteca.progress import Progress

BLOCK = 16 * 1024
MIN_PIECE = 16 * 1024
MAX_PIECE = 64 * 1024 * 1024
READ_CHUNK = 1024 * 1024  # bytes read per system call (rounded to whole pieces)
SPLIT_AT = 256 * 1024 * 1024  # files at least this big are hashed in segments on several threads
SEGMENT = 64 * 1024 * 1024  # segment size (rounded to whole pieces)

_sha1 = hashlib.sha1
_sha256 = hashlib.sha256

# ZERO[k]: root of a merkle subtree over 2**k zero leaves.
ZERO = [b"\0" * 32]
for _ in range(40):
    ZERO.append(_sha256(ZERO[-1] + ZERO[-1]).digest())


class HashError(Exception):
    """A file could not be hashed as described (missing, not a regular file, wrong size, wrong sha256)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of a torrent: its path inside the torrent (components, below the torrent's name), the file to read
    and its size. `sha256` (hex), when given, is checked against the bytes while they are hashed; with `digest`
    the whole-file SHA-256 is computed (FileHashes.sha256) without a value to check."""

    path: tuple[str, ...]
    source: str
    size: int
    sha256: str | None = None
    digest: bool = False

    @property
    def whole(self) -> bool:
        return bool(self.sha256) or self.digest


@dataclass(slots=True)
class FileHashes:
    v1: bytes  # SHA-1 of each piece of the file (last one zero-padded), concatenated
    root: bytes | None  # v2 pieces root (None for an empty file)
    layer: bytes | None  # v2 piece layer (files larger than one piece)
    sha256: str | None = None  # whole-file SHA-256 when it was checked


@dataclass(slots=True)
class PlacedFile:
    """Where a file ended up in the torrent."""

    path: str  # inside the torrent, components joined by '/' (below the torrent's name)
    index: int  # file index as libtorrent counts it (pad files included)
    offset: int  # byte offset in the torrent's v1 byte stream (pad files included)
    size: int
    root: bytes | None
    entry: Entry


@dataclass
class Torrent:
    name: str
    piece_length: int
    metainfo: bytes  # the .torrent file
    info_hash_v1: str  # hex SHA-1 of the info dictionary (btih)
    info_hash_v2: str  # hex SHA-256 of the info dictionary (btmh without the multihash prefix)
    files: list[PlacedFile]
    data_size: int  # sum of the real files
    num_pieces: int

    @property
    def total_size(self) -> int:
        """Size of the v1 byte stream, pad files included."""
        return self.num_pieces * self.piece_length if self.files else 0

    def magnet(self, trackers: Sequence[str] = ()) -> str:
        from urllib.parse import quote

        link = f"magnet:?xt=urn:btih:{self.info_hash_v1}&xt=urn:btmh:1220{self.info_hash_v2}&dn={quote(self.name)}"
        return link + "".join(f"&tr={quote(t, safe='')}" for t in trackers)


# ------------------------------------------------------------------------------------------------ piece size


def piece_length_for(
    total_size: int,
    sizes: Iterable[int] | None = None,
    *,
    max_piece: int = 16 * 1024 * 1024,
    target_pieces: int = 32768,
) -> int:
    """The piece length for a torrent: the smallest power of two giving at most `target_pieces` pieces (16 KiB to
    `max_piece`), then at most a quarter of the mean file size (each file starts a new piece, so a piece much
    bigger than the files would mostly hash padding)."""
    piece = MIN_PIECE
    while piece < max_piece and total_size > piece * target_pieces:
        piece *= 2
    if sizes is not None:
        nonempty = [s for s in sizes if s > 0]
        if nonempty:
            mean = sum(nonempty) / len(nonempty)
            while piece > MIN_PIECE and piece * 4 > mean:
                piece //= 2
    return piece


# libtorrent (and so most clients) refuses to load a .torrent file over 10 MB by default (load_torrent_limits
# max_buffer_size), and one of more than about 3 million bencoded items; a hybrid torrent costs per file about
# twice its name plus FILE_OVERHEAD bytes (v1 entry, pad entry, v2 tree entry, piece layer key) and ~25 items.
FILE_OVERHEAD = 200


def file_overhead(name: str, size: int) -> int:
    """Bytes one file adds to a hybrid .torrent besides its piece hashes (an upper estimate)."""
    return 2 * len(name.encode("utf-8")) + FILE_OVERHEAD + len(str(size))


def metainfo_estimate(files: Sequence[tuple[str, int]], piece: int) -> int:
    """An upper estimate of the .torrent size for (path, size) files at this piece length."""
    total = 1024
    for name, size in files:
        n = -(-size // piece)
        total += file_overhead(name, size) + 20 * n + (32 * n if size > piece else 0)
    return total


def fit_piece_length(files: Sequence[tuple[str, int]], piece: int, max_metainfo: int) -> int:
    """The piece length, doubled (up to 64 MiB) until the .torrent fits in max_metainfo bytes."""
    while piece < MAX_PIECE and metainfo_estimate(files, piece) > max_metainfo:
        piece *= 2
    return piece


def check_piece_length(piece: int) -> int:
    if piece < MIN_PIECE or piece > MAX_PIECE or piece & (piece - 1):
        raise ValueError(f"piece length {piece} is not a power of two between 16 KiB and 64 MiB")
    return piece


# ------------------------------------------------------------------------------------------------ merkle trees


def _reduce(nodes: list[bytes], levels: int, k: int) -> list[bytes]:
    """Go up `levels` levels from nodes at height k (missing right siblings are zero subtrees of height k)."""
    sha = _sha256
    for level in range(k, k + levels):
        if len(nodes) & 1:
            nodes.append(ZERO[level])
        it = iter(nodes)
        nodes = [sha(a + b).digest() for a, b in zip(it, it, strict=True)]
    return nodes


def merkle_root(nodes: list[bytes], width: int, k: int = 0) -> bytes:
    """Root over `nodes` at height k, padded to `width` nodes (a power of two) with zero subtrees."""
    levels = width.bit_length() - 1
    if not nodes:
        return ZERO[k + levels]
    return _reduce(list(nodes), levels, k)[0]


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


# ------------------------------------------------------------------------------------------------ hashing


_local = threading.local()


def _buffer(size: int) -> memoryview:
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) < size:
        buf = memoryview(bytearray(size))
        _local.buf = buf
    return buf


def _open(path: str) -> int:
    """Open a regular file for reading without following a symbolic link at its last component."""
    return _open_sized(path)[0]


def _open_sized(path: str) -> tuple[int, int]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise HashError(f"{path}: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise HashError(f"{path}: not a regular file")
    return fd, st.st_size


def _hash_range(
    path: str, start: int, length: int, file_size: int, piece: int, whole: Any, fd: int | None = None
) -> tuple[bytes, list[bytes]]:
    """Hash [start, start + length) of a file (start on a piece boundary): the v1 digests of its pieces (the piece
    at the end of the file zero-padded) and, per piece, the v2 hash of the piece's subtree (files longer than one
    piece) or the leaf hashes (files of at most one piece). `whole`, if given, is updated with the bytes."""
    own = fd is None
    fd = _open(path) if fd is None else fd
    try:
        chunk = max(piece, READ_CHUNK // piece * piece)
        buf = _buffer(chunk)
        sha1, sha256 = _sha1, _sha256
        per_piece = piece // BLOCK
        levels = per_piece.bit_length() - 1
        small = file_size <= piece
        v1: list[bytes] = []
        v2: list[bytes] = []
        pos, end = start, start + length
        if own:
            try:
                os.posix_fadvise(fd, start, length, os.POSIX_FADV_SEQUENTIAL)
            except (AttributeError, OSError):
                pass
        while pos < end:
            want = min(chunk, end - pos)
            n = os.preadv(fd, [buf[:want]], pos)
            got = n
            while got < want and n > 0:  # short read: keep going until the chunk is complete or the file ends
                n = os.preadv(fd, [buf[got:want]], pos + got)
                got += n
            if got != want:
                raise HashError(
                    f"{path}: file is shorter than the {file_size:,} bytes expected (changed while packing?)"
                )
            data = buf[:got]
            if whole is not None:
                whole.update(data)
            leaves = [sha256(data[o : o + BLOCK]).digest() for o in range(0, got, BLOCK)]
            tail = got % piece
            if tail:  # the last piece of the file: v1 hashes it padded with zeros to the full piece
                full = got - tail + piece
                buf[got:full] = bytes(full - got)
                data = buf[:full]
            v1.extend(sha1(data[o : o + piece]).digest() for o in range(0, len(data), piece))
            if small:
                v2.extend(leaves)
            else:
                for p in range(0, len(leaves), per_piece):
                    v2.append(_reduce(leaves[p : p + per_piece], levels, 0)[0])
            pos += got
        return b"".join(v1), v2
    finally:
        if own:
            os.close(fd)


def _check_size(path: str, size: int) -> int:
    fd, actual = _open_sized(path)
    if actual != size:
        os.close(fd)
        raise HashError(f"{path}: {actual:,} bytes on disk, {size:,} expected")
    return fd


def _hash_one(source: str, size: int, piece: int, expected: str | None, digest: bool) -> tuple:
    """(v1, root, layer, sha256 hex or None) of one file, on the calling thread (plain values: cheap to pickle)."""
    fd = _check_size(source, size)
    whole = _sha256() if (expected or digest) else None
    try:
        if size:
            v1, v2 = _hash_range(source, 0, size, size, piece, whole, fd)
        else:
            v1, v2 = b"", []
    finally:
        os.close(fd)
    sha = whole.hexdigest() if whole is not None else None
    if expected and sha != expected.lower():
        raise HashError(
            f"{source}: sha256 {sha} does not match the catalog's {expected} "
            "(the stored file changed since it was ingested)"
        )
    if not size:
        return b"", None, None, sha
    root, layer = _root(size, piece, v2)
    return v1, root, layer, sha


def _root(size: int, piece: int, v2: list[bytes]) -> tuple[bytes, bytes | None]:
    """Pieces root and piece layer from the leaf hashes (files of one piece) or the piece hashes (longer files)."""
    if size <= piece:
        return merkle_root(v2, _pow2_at_least(len(v2))), None
    k = (piece // BLOCK).bit_length() - 1
    return merkle_root(v2, _pow2_at_least(len(v2)), k), b"".join(v2)


# A task is a batch of consecutive work items, so that a pool of processes pays its per-task cost once per
# BATCH_BYTES or BATCH_FILES rather than once per file: ("file", index, entry) or ("segment", index, entry, start,
# length). The results come back in order.
BATCH_BYTES = 32 * 1024 * 1024
BATCH_FILES = 256


def _run_batch(items: list[tuple], piece: int) -> list[tuple]:
    out = []
    for item in items:
        if item[0] == "file":
            _, i, source, size, expected, digest = item
            out.append(("file", i, size, _hash_one(source, size, piece, expected, digest)))
        else:
            _, i, source, size, start, length = item
            out.append(("segment", i, length, (start, *_hash_range(source, start, length, size, piece, None))))
    return out


def _batches(entries: Sequence[Entry], piece: int) -> Iterator[list[tuple]]:
    segment = max(piece, SEGMENT // piece * piece)
    batch: list[tuple] = []
    size = 0
    for i, entry in enumerate(entries):
        if entry.size >= SPLIT_AT and not entry.whole:
            os.close(_check_size(entry.source, entry.size))  # type and size checked up front
            items: list[tuple[Any, ...]] = [
                ("segment", i, entry.source, entry.size, s, min(segment, entry.size - s))
                for s in range(0, entry.size, segment)
            ]
        else:
            items = [("file", i, entry.source, entry.size, entry.sha256, entry.digest)]
        for item in items:
            batch.append(item)
            size += item[5] if item[0] == "segment" else entry.size
            if size >= BATCH_BYTES or len(batch) >= BATCH_FILES:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def _start_method() -> str | None:
    """How to start hashing processes here: fork while this process runs no other thread (cheap, nothing to
    re-import); else forkserver when the main module can be imported again by name or path (the multiprocessing
    rule); else None: use threads."""
    import multiprocessing
    import sys

    methods = multiprocessing.get_all_start_methods()
    if threading.active_count() == 1 and "fork" in methods:
        return "fork"
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if "forkserver" in methods and (getattr(main, "__spec__", None) is not None or (path and os.path.isfile(path))):
        return "forkserver"
    return None


class Hasher:
    """Hashes files on a pool of `workers` processes (default: one per core), or threads with `mode="thread"`
    (hashlib runs them in parallel too, but they contend for the GIL at every 16 KiB block: about 10% more CPU).
    Reuse one Hasher for many torrents: `with Hasher() as h: build(..., hasher=h)`; call start() before starting
    other threads (a progress bar) so that the workers can be forked. With one worker everything runs in the
    calling thread."""

    def __init__(self, workers: int | None = None, mode: str = "process") -> None:
        if mode not in ("process", "thread"):
            raise ValueError("mode is process or thread")
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.mode = mode
        self._pool: Any = None

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def start(self) -> Hasher:
        """Start the workers now (they are started on first use otherwise)."""
        if self.workers > 1:
            self._executor()
        return self

    def _executor(self) -> Any:
        if self._pool is None:
            method = _start_method() if self.mode == "process" else None
            if method is None:
                self.mode = "thread"
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="hash")
            else:
                import gc
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                from fonoteca.children import die_with

                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=multiprocessing.get_context(method),
                    initializer=die_with,
                    initargs=(os.getpid(),),
                )
                if method == "fork":
                    # Forked workers would copy every page of the parent's objects the first time their garbage
                    # collector walks them; frozen objects are left alone. The workers are forked right here.
                    gc.freeze()
                    try:
                        list(self._pool.map(abs, range(self.workers)))
                    finally:
                        gc.unfreeze()
        return self._pool

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers (for measurements)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return list(procs)

    def hash_files(self, entries: Sequence[Entry], piece: int, *, progress: Progress | None = None) -> list[FileHashes]:
        """Hashes of every entry, in order. At most a few batches per worker are in flight, so memory does not
        grow with the number of files; files of SPLIT_AT bytes or more (whose sha256 is not wanted) are cut into
        segments hashed in parallel."""
        check_piece_length(piece)
        results: list[FileHashes | None] = [None] * len(entries)
        segments: dict[int, list[tuple]] = {}
        if self.workers <= 1:
            for batch in _batches(entries, piece):
                _collect(entries, piece, results, segments, _run_batch(batch, piece), progress)
            return results  # type: ignore[return-value]
        pool = self._executor()
        window: deque[Future] = deque()
        try:
            for batch in _batches(entries, piece):
                window.append(pool.submit(_run_batch, batch, piece))
                if len(window) >= self.workers * 3:
                    _collect(entries, piece, results, segments, window.popleft().result(), progress)
            while window:
                _collect(entries, piece, results, segments, window.popleft().result(), progress)
        except BaseException:
            for future in window:
                future.cancel()
            raise
        return results  # type: ignore[return-value]


def hash_files(
    entries: Sequence[Entry],
    piece: int,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    hasher: Hasher | None = None,
) -> list[FileHashes]:
    """Hashes of every entry, in order, on `hasher` or on a pool of `workers` processes made for the call."""
    if hasher is not None:
        return hasher.hash_files(entries, piece, progress=progress)
    with Hasher(workers) as h:
        return h.hash_files(entries, piece, progress=progress)


def _collect(
    entries: Sequence[Entry],
    piece: int,
    results: list,
    segments: dict,
    batch: list[tuple],
    progress: Progress | None,
) -> None:
    done = 0
    for kind, i, length, value in batch:
        done += length
        if kind == "file":
            results[i] = FileHashes(*value)
            continue
        parts = segments.setdefault(i, [])
        parts.append(value)
        if sum(len(p[1]) // 20 for p in parts) * piece >= entries[i].size:  # every segment is in
            parts.sort(key=lambda p: p[0])
            v1 = b"".join(p[1] for p in parts)
            v2 = [h for p in parts for h in p[2]]
            results[i] = FileHashes(v1, *_root(entries[i].size, piece, v2))
            del segments[i]
    if progress and done:
        progress(done)


# ------------------------------------------------------------------------------------------------ metainfo


def _sort_key(entry: Entry) -> tuple[bytes, ...]:
    return tuple(c.encode("utf-8") for c in entry.path)


def order(entries: Iterable[Entry]) -> list[Entry]:
    """Entries in torrent order (the v2 file tree's: components compared as UTF-8 bytes). Refuses layouts where a
    name is both a file and a folder, or where libtorrent's v1 order (whole paths compared) would differ."""
    ordered = sorted(entries, key=_sort_key)
    prev: tuple[str, ...] | None = None
    prev_joined = b""
    for e in ordered:
        if not e.path or any(not c or c in (".", "..") or "/" in c for c in e.path):
            raise ValueError(f"bad path in torrent: {e.path!r}")
        joined = "/".join(e.path).encode("utf-8")
        if prev is not None:  # sorted, so checking neighbours is enough
            if e.path == prev:
                raise ValueError(f"duplicate path in torrent: {joined.decode()}")
            if e.path[: len(prev)] == prev:
                raise ValueError(f"{'/'.join(prev)} is both a file and a folder")
            if joined <= prev_joined:
                raise ValueError(
                    "paths whose order differs between whole-path and per-folder comparison "
                    "(a file name sorting between a folder name and its '/') are not supported"
                )
        prev, prev_joined = e.path, joined
    return ordered


def build(
    name: str,
    entries: Iterable[Entry],
    piece_length: int,
    *,
    trackers: Sequence[str] = (),
    web_seeds: Sequence[str] = (),
    created_by: str = "Fonoteca",
    workers: int | None = None,
    progress: Progress | None = None,
    hasher: Hasher | None = None,
) -> Torrent:
    """Hash the files (on `hasher`, else on `workers` processes) and bencode a hybrid torrent named `name` (the
    top folder of its files)."""
    check_piece_length(piece_length)
    ordered = order(entries)
    hashes = hash_files(ordered, piece_length, workers=workers, progress=progress, hasher=hasher)
    return assemble(name, ordered, hashes, piece_length, trackers=trackers, web_seeds=web_seeds, created_by=created_by)


def assemble(
    name: str,
    ordered: Sequence[Entry],
    hashes: Sequence[FileHashes],
    piece_length: int,
    *,
    trackers: Sequence[str] = (),
    web_seeds: Sequence[str] = (),
    created_by: str = "Fonoteca",
) -> Torrent:
    """The metainfo for files already in torrent order and hashed. Written straight into one buffer per part
    (about two copies of the metainfo at the peak, whatever the number of files)."""
    if not ordered:
        raise ValueError("a torrent needs at least one file")
    piece = piece_length
    info = bytearray(b"d9:file tree")
    _tree_into(info, [(e.path, e.size, h.root) for e, h in zip(ordered, hashes, strict=True)], 0)
    info += b"5:filesl"
    placed: list[PlacedFile] = []
    index = offset = 0
    for entry, h in zip(ordered, hashes, strict=True):
        placed.append(PlacedFile("/".join(entry.path), index, offset, entry.size, h.root, entry))
        info += b"d6:lengthi%de4:path" % entry.size
        bencode.encode_into(info, entry.path)
        info += b"e"
        index += 1
        offset += entry.size
        gap = -entry.size % piece if entry.size else 0
        if gap:
            digits = b"%d" % gap
            info += b"d4:attr1:p6:lengthi%se4:pathl4:.pad%d:%see" % (digits, len(digits), digits)
            index += 1
            offset += gap
    num_pieces = offset // piece
    if sum(len(h.v1) for h in hashes) != 20 * num_pieces:
        raise AssertionError("v1 piece count does not match the padded size")
    info += b"e12:meta versioni2e4:name"
    bencode.encode_into(info, name)
    info += b"12:piece lengthi%de6:pieces%d:" % (piece, 20 * num_pieces)
    for h in hashes:
        info += h.v1
    info += b"e"

    head = bytearray(b"d")
    if trackers:
        head += b"8:announce"
        bencode.encode_into(head, trackers[0])
        if len(trackers) > 1:
            head += b"13:announce-list"
            bencode.encode_into(head, [[t] for t in trackers])
    head += b"10:created by"
    bencode.encode_into(head, created_by)
    head += b"4:info"
    tail = bytearray(b"12:piece layersd")
    for root, layer in sorted((h.root, h.layer) for h in hashes if h.layer):
        tail += b"32:" + root  # type: ignore[operator]
        bencode.encode_into(tail, layer)
    tail += b"e"
    if web_seeds:
        tail += b"8:url-list"
        bencode.encode_into(tail, list(web_seeds))
    tail += b"e"
    v1, v2 = hashlib.sha1(info).hexdigest(), hashlib.sha256(info).hexdigest()
    metainfo = b"".join((head, info, tail))
    del info
    return Torrent(name, piece, metainfo, v1, v2, placed, sum(e.size for e in ordered), num_pieces)


def _tree_into(out: bytearray, items: list[tuple[tuple[str, ...], int, bytes | None]], depth: int) -> None:
    """Bencode the v2 file tree of items (sorted, paths unique) below `depth` components."""
    out += b"d"
    i = 0
    while i < len(items):
        key = items[i][0][depth]
        j = i
        while j < len(items) and items[j][0][depth] == key:
            j += 1
        bencode.encode_into(out, key)
        path, size, root = items[i]
        if len(path) == depth + 1:
            out += b"d0:d6:length" + b"i%de" % size
            if size:
                out += b"11:pieces root32:" + root  # type: ignore[operator]
            out += b"ee"
        else:
            _tree_into(out, items[i:j], depth + 1)
        i = j
    out += b"e"


# ------------------------------------------------------------------------------------------------ v1-only twin

V2_INFO_KEYS = (b"file tree", b"meta version")


def v1_only(metainfo: bytes) -> bytes:
    """The BitTorrent v1-only twin of a hybrid .torrent: the info dictionary without the v2 keys (`file tree`,
    `meta version`) and the metainfo without `piece layers`; everything else as it is (name, v1 file list with
    its pad files, piece length, pieces, trackers, web seeds). So it describes the same bytes on disk, piece for
    piece, under another info-hash. A pure function of the hybrid's bytes: anyone holding the hybrid derives the
    very same twin (its info-hash included). ValueError when `metainfo` is not a hybrid torrent."""
    meta = bencode.decode(metainfo)
    info = meta.get(b"info") if isinstance(meta, dict) else None
    if not isinstance(info, dict) or b"file tree" not in info or b"pieces" not in info:
        raise ValueError("not a BitTorrent v1+v2 hybrid torrent")
    twin = {k: v for k, v in meta.items() if k != b"piece layers"}
    twin[b"info"] = {k: v for k, v in info.items() if k not in V2_INFO_KEYS}
    return bencode.encode(twin)


def info_hash_v1(metainfo: bytes) -> str:
    """The v1 info-hash (hex SHA-1 of the bencoded info dictionary) of a .torrent."""
    meta = bencode.decode(metainfo)
    return hashlib.sha1(bencode.encode(meta[b"info"])).hexdigest()
