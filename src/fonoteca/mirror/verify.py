"""Fixity: every piece hash of every torrent and every manifest sha256, read once.

Files of pack's torrents start on piece boundaries (v2 hybrid pad files), so each file is read once, in piece-sized
blocks, feeding sha1 for the v1 piece hashes and sha256 for the manifest at the same time; a piece that runs past the
file's end is completed from the following files (pad files are zeros). Files are hashed in parallel threads
(hashlib releases the GIL)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

from fonoteca.mirror.torrents import FileEntry, files_of
from fonoteca.pack.manifest import ManifestLine
from fonoteca.progress import Progress


@dataclass
class Target:
    """One torrent to check: its metainfo, where its data lies, which files (None: all) and the manifest lines
    of its files by file index."""

    release: str
    ti: lt.torrent_info
    save_path: Path
    wanted: set[int] | None = None
    manifest: dict[int, ManifestLine] = field(default_factory=dict)
    withdrawn: dict[int, str] = field(default_factory=dict)  # file index -> why (the ledger withdraws its track)

    @property
    def name(self) -> str:
        return self.ti.name()


KINDS = ("missing", "corrupt", "extra", "unreadable")  # unreadable: a .torrent that could not be checked at all
WITHDRAWN = "withdrawn"  # a file whose track the ledger withdraws: not a problem, never fetched


@dataclass
class Problem:
    kind: str  # one of KINDS
    release: str
    torrent: str
    path: str
    file_index: int | None = None
    track: str | None = None
    pieces: list[int] = field(default_factory=list)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "release": self.release,
            "torrent": self.torrent,
            "path": self.path,
            "file_index": self.file_index,
            "track": self.track,
            "pieces": self.pieces,
            "reason": self.reason,
        }


@dataclass
class Report:
    torrents: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    withdrawn: list[Problem] = field(default_factory=list)  # files of withdrawn tracks, held here or not

    @property
    def ok(self) -> bool:
        return not self.problems

    def of(self, kind: str) -> list[Problem]:
        if kind == WITHDRAWN:
            return list(self.withdrawn)
        return [p for p in self.problems if p.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "torrents": self.torrents,
            "files": self.files,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            **{kind: [p.as_dict() for p in self.of(kind)] for kind in KINDS},
            WITHDRAWN: [p.as_dict() for p in self.withdrawn],
        }


BLOCK_MAX = 4 * 1024 * 1024


def _read_range(t: Target, files: list[FileEntry], start: int, length: int) -> bytes | None:
    """Bytes [start, start+length) of the torrent's data (pad files are zeros); None when a file is missing."""
    out = bytearray()
    for f in files:
        if f.offset + f.size <= start or f.offset >= start + length or f.size == 0:
            continue
        lo, hi = max(start, f.offset), min(start + length, f.offset + f.size)
        if f.pad:
            out += bytes(hi - lo)
            continue
        try:
            with open(t.save_path / f.path, "rb") as fh:
                fh.seek(lo - f.offset)
                chunk = fh.read(hi - lo)
        except OSError:
            return None
        if len(chunk) != hi - lo:
            return None
        out += chunk
    return bytes(out)


def check_symlink(t: Target, f: FileEntry) -> Problem | None:
    """A BEP 47 symbolic link entry holds no data: it is right when the link exists and points at its target."""
    assert f.symlink is not None
    full = t.save_path / f.path
    if not os.path.islink(full):
        return Problem(
            "missing",
            t.release,
            t.name,
            f.path,
            f.index,
            reason=f"symbolic link to {f.symlink} missing"
            if not full.exists()
            else f"a file where a symbolic link to {f.symlink} belongs",
        )
    points_to = os.path.normpath(os.path.join(os.path.dirname(f.path), os.readlink(full)))
    if points_to != os.path.normpath(f.symlink):
        return Problem(
            "corrupt",
            t.release,
            t.name,
            f.path,
            f.index,
            reason=f"symbolic link points to {points_to}, expected {f.symlink}",
        )
    return None


def make_symlink(t: Target, f: FileEntry) -> None:
    """Create (or correct) a symbolic link entry, relative, so the data folder stays movable."""
    assert f.symlink is not None
    full = t.save_path / f.path
    full.parent.mkdir(parents=True, exist_ok=True)
    if full.is_symlink() or full.exists():
        full.unlink()
    os.symlink(os.path.relpath(t.save_path / f.symlink, full.parent), full)


def check_file(t: Target, files: list[FileEntry], f: FileEntry) -> tuple[int, Problem | None]:
    """Hash one file: (bytes read, the problem found or None)."""
    if f.symlink is not None:
        return 0, check_symlink(t, f)
    ti, pl = t.ti, t.ti.piece_length()
    man = t.manifest.get(f.index)
    track = man.ref if man is not None else None
    first_owned = -(-f.offset // pl)  # first piece starting inside the file
    end = f.offset + f.size
    last_owned = (end - 1) // pl if f.size else first_owned - 1
    owned = list(range(first_owned, last_owned + 1)) if f.size and first_owned * pl < end else []
    full = t.save_path / f.path
    try:
        st = os.stat(full)
    except OSError:
        return 0, Problem("missing", t.release, t.name, f.path, f.index, track, owned, "no such file")
    if st.st_size != f.size:
        return 0, Problem(
            "corrupt", t.release, t.name, f.path, f.index, track, owned, f"size {st.st_size}, expected {f.size}"
        )
    sha = hashlib.sha256()
    bad: list[int] = []
    read = 0
    try:
        with open(full, "rb", buffering=0) as fh:
            head = first_owned * pl - f.offset  # bytes before the first owned piece (not aligned torrents)
            if head > 0:
                data = fh.read(min(head, f.size))
                sha.update(data)
                read += len(data)
            buf = bytearray(pl)
            view = memoryview(buf)
            for p in owned:
                want = min(pl, end - p * pl)
                n = fh.readinto(view[:want])
                if n != want:
                    bad.append(p)
                    break
                sha.update(view[:n])
                read += n
                psize = ti.piece_size(p)
                h = hashlib.sha1(view[:n])
                if psize > n:
                    rest = _read_range(t, files, end, psize - n)
                    if rest is None:
                        bad.append(p)
                        continue
                    h.update(rest)
                if h.digest() != ti.hash_for_piece(p):
                    bad.append(p)
    except OSError as exc:
        return read, Problem("corrupt", t.release, t.name, f.path, f.index, track, owned, f"unreadable: {exc.strerror}")
    expected = man.sha256 if man is not None else None
    sha_bad = expected is not None and sha.hexdigest() != expected
    if bad or sha_bad:
        reasons = []
        if bad:
            reasons.append(f"{len(bad)} bad piece(s)")
        if sha_bad:
            reasons.append("sha256 differs from the manifest")
        return read, Problem("corrupt", t.release, t.name, f.path, f.index, track, bad, ", ".join(reasons))
    return read, None


def _withdrawn(t: Target, f: FileEntry) -> Problem:
    man = t.manifest.get(f.index)
    held = os.path.isfile(t.save_path / f.path)
    return Problem(
        WITHDRAWN,
        t.release,
        t.name,
        f.path,
        f.index,
        man.ref if man is not None else None,
        reason=t.withdrawn[f.index] + ("; the file is still held here" if held else "; not fetched"),
    )


def extras(t: Target) -> list[Problem]:
    """Files under the torrent's folder that the torrent does not list (part files of unwanted pieces aside).
    Pad files count as listed: a client that does not know BEP 47 (Transmission 3) writes them as files of zeros
    under NAME/.pad/; they hold no data, and the pieces are checked with zeros in their place, never from them."""
    root = t.save_path / t.name
    if not root.is_dir():
        return []
    known = {f.path for f in files_of(t.ti)}  # a withdrawn file held here is known, not extra
    out = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), t.save_path).replace(os.sep, "/")
            if rel not in known and not n.endswith(".parts"):
                out.append(Problem("extra", t.release, t.name, rel, reason="not listed in the torrent"))
    return out


def verify(
    targets: list[Target],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    unreadable: Sequence[Problem] = (),
) -> Report:
    """Check every file of every target; `unreadable` are torrents that could not even be loaded (reported, the
    rest still checked)."""
    import time

    t0 = time.perf_counter()
    report = Report(torrents=len(targets) + len(unreadable), problems=list(unreadable))
    jobs = []
    for t in targets:
        files = files_of(t.ti)
        for f in files:
            if f.pad or (t.wanted is not None and f.index not in t.wanted):
                continue
            if f.index in t.withdrawn:
                report.withdrawn.append(_withdrawn(t, f))
                continue
            jobs.append((t, files, f))
        report.problems += extras(t)
    report.files = len(jobs)
    jobs.sort(key=lambda j: -j[2].size)  # big files first: better balance
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        for n, problem in pool.map(lambda j: check_file(*j), jobs):
            report.bytes += n
            if problem is not None:
                report.problems.append(problem)
            if progress is not None:
                progress(n)
    report.problems.sort(key=lambda p: (p.kind, p.release, p.torrent, p.path))
    report.seconds = time.perf_counter() - t0
    return report
