"""Which file goes into which torrent, under which path and torrent name: bands, order, cuts, safe names.

Deterministic: the result depends only on the files (id, namespace, popularity, tier, extension, size), the
collection id, the [pack] settings and the sequence numbers already used per band.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from fonoteca.catalog.ids import NAMESPACE_NAMES
from fonoteca.pack import hybrid, paths
from fonoteca.pack.settings import Band, PackSettings


@dataclass(slots=True)
class Candidate:
    """A stored file not released yet (files joined with tracks)."""

    file: int  # files.rowid
    track: int  # tracks.rowid
    tier: int
    rel_path: str  # files.path, relative to the archive
    size: int
    sha256: str
    ns: int
    id: str
    isrc: str | None
    popularity: int  # 0-100 (NULL counts as 0)
    listens: float = 0.0  # estimated listens covered (own + tracks it stands for)
    tracks: int = 1  # catalog tracks covered
    source: object = None  # the checked real path of the stored file (set by pack)
    title: str | None = None  # the track's name and artists (for the manifest; never in a path or a hash)
    artists: str | None = None
    licence: str | None = None  # the track's licence id and the credit it asks for (manifest columns)
    attribution: str | None = None

    @property
    def ns_name(self) -> str:
        return NAMESPACE_NAMES.get(self.ns, f"ns{self.ns}")

    @property
    def order_key(self) -> tuple:
        return (-self.popularity, self.id, self.ns, -self.tier, self.file)


@dataclass
class PlannedTorrent:
    name: str
    band: Band
    seq: int
    files: list[Candidate]
    paths: list[tuple[str, str]] = field(default_factory=list)  # (fan-out folder, file name) per file

    @property
    def data_size(self) -> int:
        return sum(c.size for c in self.files)


def collection_slug(collection: str) -> str:
    """The collection id as it appears in torrent names: ASCII letters, digits, '-' (at most 40)."""
    slug = re.sub(r"[^A-Za-z0-9-]+", "-", collection).strip("-")[:40].strip("-")
    return slug or "fonoteca"


def fan_out(ns_name: str, track_id: str) -> str:
    """Two hex digits spreading files over 256 folders (the same as files/ uses)."""
    return hashlib.sha1(f"{ns_name}:{track_id}".encode()).hexdigest()[:2]


def file_name(c: Candidate) -> str:
    ext = paths.extension(c.rel_path.rsplit(".", 1)[1] if "." in c.rel_path.rsplit("/", 1)[-1] else "")
    return f"{paths.component(c.id, limit=120)}.{ext}"


def torrent_name(collection: str, band: Band, seq: int, first: Candidate, last: Candidate) -> str:
    a, b = (re.sub(r"[^A-Za-z0-9-]+", "_", c.id)[:24].strip("_") or "x" for c in (first, last))
    return f"{collection_slug(collection)}__{band.name}__{seq:05d}__{a}--{b}"


def plan(
    candidates: Iterable[Candidate], settings: PackSettings, collection: str, next_seq: dict[str, int]
) -> list[PlannedTorrent]:
    """Group by band (in the settings' order), sort by popularity (high first) then id, and cut (see cut())."""
    by_band: dict[Band, list[Candidate]] = {b: [] for b in settings.bands}
    for c in candidates:
        by_band[settings.band_of(c.popularity)].append(c)
    out: list[PlannedTorrent] = []
    for band in settings.bands:
        files = sorted(by_band[band], key=lambda c: c.order_key)
        out.extend(cut(files, band, settings, collection, next_seq.get(band.name, 1)))
    return out


def cut(
    files: Iterable[Candidate], band: Band, settings: PackSettings, collection: str, seq: int
) -> Iterator[PlannedTorrent]:
    """Cut one band's files (already in release order) into torrents, one at a time: a torrent ends before a file
    that would take it past the target size, the file count, or 60% of the .torrent size limit in per-file
    entries (the rest is left for the piece hashes)."""
    max_entries = int(settings.max_torrent_file_size * 0.6)
    current: list[Candidate] = []
    size = entries = 0
    for c in files:
        cost = hybrid.file_overhead("00/" + file_name(c) + "~99", c.size)
        if current and (
            size + c.size > settings.target_size or len(current) >= settings.max_files or entries + cost > max_entries
        ):
            yield _torrent(collection, band, seq, current)
            seq += 1
            current, size, entries = [], 0, 0
        current.append(c)
        size += c.size
        entries += cost
    if current:
        yield _torrent(collection, band, seq, current)


def _torrent(collection: str, band: Band, seq: int, files: list[Candidate]) -> PlannedTorrent:
    t = PlannedTorrent(torrent_name(collection, band, seq, files[0], files[-1]), band, seq, files)
    used: set[str] = set()
    for c in files:
        folder = fan_out(c.ns_name, c.id)
        name = file_name(c)
        stem, ext = name.rsplit(".", 1)
        n = 1
        # Unique even on case-insensitive file systems (libtorrent renames case-insensitive duplicates on load).
        while paths.casefold_key(f"{folder}/{name}") in used:
            n += 1
            name = f"{stem}~{n}.{ext}"
        used.add(paths.casefold_key(f"{folder}/{name}"))
        t.paths.append((folder, name))
    return t
