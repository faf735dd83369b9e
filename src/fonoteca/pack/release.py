"""`fonoteca pack`: a new immutable release of every stored file not released yet.

    releases/NAME/
      torrents/TORRENT.torrent     BitTorrent v1+v2 hybrid, one per data torrent, plus the metadata torrent
      torrents-v1/TORRENT.v1.torrent  its v1-only twin (hybrid.v1_only): same files and pieces, another info-hash,
                                   for clients that cannot read hybrids (Transmission 3)
      data/TORRENT/FF/ID.EXT       payload: hard links to files/ (FF: two hex digits of sha1("ns:id"))
      data/COLL__metadata__NAME/   catalog.sqlite3.zst, manifest-R.jsonl.zst of every release, torrents.json
      manifest.jsonl.zst           one JSON line per data file (see MANIFEST_FIELDS)
      manifest-sha256.txt          "SHA256  data/TORRENT/FF/ID.EXT" lines: `sha256sum -c manifest-sha256.txt`
      torrents.json                this release's torrents (listing.record); the only file of a release that is
                                   rewritten later, when swarm figures or obsolete/embargo flags change
    releases/torrents.json         every torrent of every release (rewritten by pack, mark, set_stats)

The metadata torrent's torrents.json lists every torrent of every release up to this one (all but itself).

A release is built in releases/.NAME.building/ and its catalog rows are written with status 'building'; the folder
is renamed into place and the status set to 'done' last. A pack that finds a 'building' release (a crash) removes
it and starts again; as the torrents are deterministic, the same info-hashes come out.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import zstandard

from fonoteca import locks
from fonoteca.archive import Archive
from fonoteca.catalog.db import transaction
from fonoteca.durable import fsync_dir, now, write_new
from fonoteca.errors import FonotecaError
from fonoteca.ledger import LEDGER_NAME
from fonoteca.licences import ReleasePolicy
from fonoteca.pack import bag, hybrid, layout, listing, paths
from fonoteca.pack.manifest import MANIFEST_FIELDS, ManifestLine, write_line  # noqa: F401 (MANIFEST_FIELDS: API)
from fonoteca.pack.settings import Band, PackSettings
from fonoteca.progress import Progress
from fonoteca.storage import Storage, StorageError
from fonoteca.tiers import Tier

CREATED_BY = "Fonoteca"


@dataclass
class TorrentSummary:
    name: str
    kind: str
    band: str | None
    btih: str
    btmh: str
    files: int
    bytes: int
    tracks: int
    listens: float
    piece_length: int
    torrent_file: str
    magnet: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PackSummary:
    release: str | None
    root: str | None = None
    files: int = 0
    bytes: int = 0
    torrents: list[TorrentSummary] = field(default_factory=list)
    metadata: TorrentSummary | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    withheld: dict[str, int] = field(default_factory=dict)  # files not released: "licence ID" | withdrawn
    replacements: list[dict[str, Any]] = field(default_factory=list)  # {"replaces", "torrent", "left_out"}
    seconds: float = 0.0
    hash_seconds: float = 0.0

    @property
    def bands(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for t in self.torrents:
            b = out.setdefault(t.band or "", {"torrents": 0, "files": 0, "bytes": 0, "tracks": 0, "listens": 0.0})
            b["torrents"] += 1
            b["files"] += t.files
            b["bytes"] += t.bytes
            b["tracks"] += t.tracks
            b["listens"] += t.listens
        return out

    @property
    def hash_rate(self) -> float:
        """Bytes of data torrents hashed per second."""
        return self.bytes / self.hash_seconds if self.hash_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "root": self.root,
            "files": self.files,
            "bytes": self.bytes,
            "torrents": [t.as_dict() for t in self.torrents],
            "metadata": self.metadata.as_dict() if self.metadata else None,
            "bands": self.bands,
            "skipped": self.skipped,
            "recovered": self.recovered,
            "withheld": self.withheld,
            "replacements": self.replacements,
            "seconds": round(self.seconds, 3),
            "hash_seconds": round(self.hash_seconds, 3),
            "hash_bytes_per_second": round(self.hash_rate),
        }


# ------------------------------------------------------------------------------------------------ helpers


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def releases_dir(archive: Archive) -> Path:
    """releases/, refused when it (or the archive) leads out of the archive through a symbolic link."""
    root = archive.root.resolve()
    folder = archive.dir("releases")
    if not _inside(root, folder.resolve()) or folder.is_symlink():
        raise FonotecaError(
            f"{folder} is a symbolic link out of the archive; releases must live inside it "
            "(hard links need the same file system as files/)"
        )
    return folder


# ------------------------------------------------------------------------------------------------ catalog reads


_UNRELEASED = (
    "FROM files f JOIN tracks t ON t.rowid = f.track "
    "WHERE NOT EXISTS (SELECT 1 FROM torrent_files tf WHERE tf.file = f.rowid)"
)
# What may be released (fonoteca.publication installs the function and the table on each connection): a licence
# [release] licences allows, and not withdrawn.
_PUBLISHED = (
    "fonoteca_published((SELECT licence FROM track_licences WHERE track = f.track)) "
    "AND f.track NOT IN (SELECT rowid FROM temp.withdrawn_tracks)"
)


def _pending(conn: sqlite3.Connection) -> tuple[int, int]:
    """Files not released yet that may be published, and their bytes."""
    n, size = conn.execute(f"SELECT count(*), coalesce(sum(f.size), 0) {_UNRELEASED} AND {_PUBLISHED}").fetchone()
    return int(n), int(size)


def _withheld(conn: sqlite3.Connection, policy: ReleasePolicy) -> dict[str, int]:
    """Files not released because of their licence or a withdrawal: {"licence ID": files, "withdrawn": files}."""
    out: dict[str, int] = {}
    for licence, withdrawn, n in conn.execute(
        "SELECT l.licence, f.track IN (SELECT rowid FROM temp.withdrawn_tracks), count(*) FROM files f "
        "LEFT JOIN track_licences l ON l.track = f.track WHERE NOT EXISTS (SELECT 1 FROM torrent_files tf "
        "WHERE tf.file = f.rowid) GROUP BY 1, 2"
    ):
        if withdrawn:
            out["withdrawn"] = out.get("withdrawn", 0) + int(n)
        elif not policy.allows(licence):
            key = f"licence {licence or 'unknown'}"
            out[key] = out.get(key, 0) + int(n)
    return out


def _open_reader(archive: Archive) -> sqlite3.Connection:
    """A second, read-only connection that streams the files to release from one snapshot while the main one writes
    each torrent's rows; sorts spill to disk, not memory. Same-ISRC coverage is summed once into a temp table."""
    reader = archive.connect(readonly=True)
    reader.execute("PRAGMA temp_store=FILE")
    reader.execute("BEGIN")  # a read snapshot held for the whole pack (no writes: not a transaction() block)
    reader.execute("CREATE TEMP TABLE pack_covered (rep INTEGER PRIMARY KEY, n INTEGER, listens REAL)")
    reader.execute(
        "INSERT INTO pack_covered SELECT rep, count(*), sum(listens) FROM plan WHERE rep IS NOT NULL GROUP BY rep"
    )
    return reader


def _band_candidates(reader: sqlite3.Connection, archive: Archive, low: int, high: int) -> Iterator[layout.Candidate]:
    """The unreleased files of one popularity band in release order (popularity high to low, then track id,
    namespace, tier, file), streamed, with their estimated listens covered: the plan's, else the listen
    model's, plus those of the tracks they stand for (same ISRC)."""
    import numpy as np

    from fonoteca.plan import listens as listen_mod

    model = listen_mod.from_config(archive.config)
    rows = reader.execute(
        "SELECT f.rowid, f.track, f.tier, f.path, f.size, f.sha256, t.ns, t.id, t.isrc, "
        "max(0, min(100, coalesce(t.popularity, 0))) AS pop, p.listens, tp.plays, c.n, c.listens, t.name, "
        "(SELECT group_concat(name, ', ') FROM (SELECT a.name FROM track_artists ta JOIN artists a "
        " ON a.rowid = ta.artist WHERE ta.track = t.rowid ORDER BY ta.position)), l.licence, l.attribution "
        "FROM files f JOIN tracks t ON t.rowid = f.track LEFT JOIN plan p ON p.track = f.track "
        "LEFT JOIN track_plays tp ON tp.track = f.track LEFT JOIN temp.pack_covered c ON c.rep = f.track "
        "LEFT JOIN track_licences l ON l.track = f.track "
        f"WHERE NOT EXISTS (SELECT 1 FROM torrent_files tf WHERE tf.file = f.rowid) AND {_PUBLISHED} "
        "AND pop BETWEEN ? AND ? ORDER BY pop DESC, t.id, t.ns, f.tier DESC, f.rowid",
        (low, high),
    )
    for (
        rowid,
        track,
        tier,
        rel,
        size,
        sha,
        ns,
        tid,
        isrc,
        pop,
        listens,
        plays,
        n,
        extra,
        title,
        artists,
        licence,
        attribution,
    ) in rows:
        if listens is None:
            listens = float(
                model.listens(
                    np.array([pop], dtype=np.float64), np.array([-1 if plays is None else plays], dtype=np.float64)
                )[0]
            )
        yield layout.Candidate(
            int(rowid),
            int(track),
            int(tier),
            rel,
            int(size),
            sha,
            int(ns),
            str(tid),
            isrc,
            int(pop),
            float(listens) + float(extra or 0.0),
            1 + int(n or 0),
            title=title,
            artists=artists,
            licence=licence,
            attribution=attribution,
        )


def _recover(conn: sqlite3.Connection, folder: Path) -> list[str]:
    """Remove what a crashed pack left: releases still 'building' (rows and folders) and stray build folders."""
    removed = []
    for rowid, name in conn.execute("SELECT rowid, name FROM releases WHERE status != 'done'").fetchall():
        with transaction(conn):
            conn.execute(
                "DELETE FROM torrent_files WHERE torrent IN (SELECT rowid FROM torrents WHERE release = ?)", (rowid,)
            )
            conn.execute("DELETE FROM torrents WHERE release = ?", (rowid,))
            conn.execute("DELETE FROM releases WHERE rowid = ?", (rowid,))
        if _safe_release_name(name) and (folder / name).is_dir() and not (folder / name).is_symlink():
            shutil.rmtree(folder / name)
        removed.append(name)
    for entry in folder.iterdir():
        if (
            entry.name.startswith(".")
            and entry.name.endswith(".building")
            and entry.is_dir()
            and not entry.is_symlink()
        ):
            shutil.rmtree(entry)
            removed.append(entry.name)
    return removed


def _safe_release_name(name: str) -> bool:
    try:
        paths.check_name(name, "release")
        return True
    except FonotecaError:
        return False


def _release_name(conn: sqlite3.Connection, folder: Path, collection: str, name: str | None) -> str:
    if name is not None:
        paths.check_name(name, "release name")
        if conn.execute("SELECT 1 FROM releases WHERE name = ?", (name,)).fetchone() or (folder / name).exists():
            raise FonotecaError(f"release {name!r} exists already; releases never change, choose another name")
        return name
    n = conn.execute("SELECT count(*) FROM releases").fetchone()[0] + 1
    slug = layout.collection_slug(collection)
    while True:
        candidate = f"{slug}-{n:04d}"
        if (
            not conn.execute("SELECT 1 FROM releases WHERE name = ?", (candidate,)).fetchone()
            and not (folder / candidate).exists()
        ):
            return candidate
        n += 1


# ------------------------------------------------------------------------------------------------ replacements


@dataclass
class Original:
    """A released data torrent that holds withdrawn tracks."""

    rowid: int
    name: str
    band: str
    seq: int
    files: int  # real files it holds


def _replacements_needed(conn: sqlite3.Connection) -> list[tuple[Original, list[layout.Candidate]]]:
    """Every original data torrent holding a withdrawn track, with the files a replacement keeps (the others, in
    the original's order and paths), when no torrent holds exactly those already. An original whose every file
    is withdrawn gets no replacement."""
    out = []
    for rowid, name, band, seq, num_files in conn.execute(
        "SELECT t.rowid, t.name, t.band, t.seq, t.num_files FROM torrents t JOIN releases r ON r.rowid = t.release "
        "WHERE r.status = 'done' AND t.kind = 'data' AND t.replaces IS NULL AND EXISTS (SELECT 1 FROM "
        "torrent_files tf WHERE tf.torrent = t.rowid AND tf.track IN (SELECT rowid FROM temp.withdrawn_tracks)) "
        "ORDER BY t.rowid"
    ).fetchall():
        files = _kept_files(conn, rowid)
        if not files:
            continue
        wanted = {c.file for c in files}
        existing = [
            {f for (f,) in conn.execute("SELECT file FROM torrent_files WHERE torrent = ? AND file IS NOT NULL", (r,))}
            for (r,) in conn.execute(
                "SELECT t.rowid FROM torrents t JOIN releases r ON r.rowid = t.release "
                "WHERE t.replaces = ? AND r.status = 'done'",
                (rowid,),
            )
        ]
        if wanted in existing:
            continue
        out.append((Original(rowid, name, band or "", int(seq or 0), int(num_files)), files))
    return out


def _kept_files(conn: sqlite3.Connection, torrent: int) -> list[layout.Candidate]:
    rows = conn.execute(
        "SELECT f.rowid, f.track, f.tier, f.path, f.size, f.sha256, t.ns, t.id, t.isrc, "
        "max(0, min(100, coalesce(t.popularity, 0))), coalesce(p.listens, 0), t.name, "
        "(SELECT group_concat(name, ', ') FROM (SELECT a.name FROM track_artists ta JOIN artists a "
        " ON a.rowid = ta.artist WHERE ta.track = t.rowid ORDER BY ta.position)), l.licence, l.attribution, tf.path "
        "FROM torrent_files tf JOIN files f ON f.rowid = tf.file JOIN tracks t ON t.rowid = f.track "
        "LEFT JOIN plan p ON p.track = f.track LEFT JOIN track_licences l ON l.track = f.track "
        "WHERE tf.torrent = ? AND tf.track NOT IN (SELECT rowid FROM temp.withdrawn_tracks) ORDER BY tf.idx",
        (torrent,),
    ).fetchall()
    out = []
    for (
        rowid,
        track,
        tier,
        rel,
        size,
        sha,
        ns,
        tid,
        isrc,
        pop,
        listens,
        title,
        artists,
        licence,
        attribution,
        inner,
    ) in rows:
        c = layout.Candidate(
            int(rowid),
            int(track),
            int(tier),
            rel,
            int(size),
            sha,
            int(ns),
            str(tid),
            isrc,
            int(pop),
            float(listens),
            1,
            title=title,
            artists=artists,
            licence=licence,
            attribution=attribution,
        )
        c.source = inner  # the path inside the original torrent, kept in the replacement
        out.append(c)
    return out


def _band_named(name: str) -> Band:
    """The band a torrent was listed under (pop_50-100, pop_0): a replacement stays in its original's band."""
    low, _, high = name.removeprefix("pop_").partition("-")
    try:
        return Band(int(low), int(high or low))
    except ValueError:
        return Band(0, 100)


def _replacement(
    conn: sqlite3.Connection,
    original: Original,
    files: list[layout.Candidate],
    taken: set[str],
    storage: Storage,
    skipped: list[dict[str, Any]],
) -> layout.PlannedTorrent | None:
    """The replacement torrent of `original`: the same band, sequence number and paths, named ORIGINAL__rN."""
    kept = []
    for c in files:
        inner = str(c.source)
        try:
            c.source = storage.local_path(c.rel_path)
        except StorageError as exc:
            skipped.append({"file": c.rel_path, "track": c.id, "reason": str(exc)})
            continue
        kept.append((c, inner))
    if len(kept) != len(files):
        return None  # a replacement must hold every kept file: leave it for the next pack
    n = 1 + conn.execute("SELECT count(*) FROM torrents WHERE replaces = ?", (original.rowid,)).fetchone()[0]
    name = f"{original.name}__r{n}"
    while name in taken:
        n += 1
        name = f"{original.name}__r{n}"
    paths.check_name(name, "replacement torrent name")
    t = layout.PlannedTorrent(name, _band_named(original.band), original.seq, [c for c, _ in kept])
    t.paths = [tuple(inner.split("/", 1)) if "/" in inner else ("", inner) for _, inner in kept]  # type: ignore[misc]
    return t


# ------------------------------------------------------------------------------------------------ pack


def pack(
    archive: Archive,
    *,
    name: str | None = None,
    settings: PackSettings | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    hasher: hybrid.Hasher | None = None,
) -> PackSummary:
    """Make a new release of every stored file not released yet (see the module docstring); returns its summary
    (release None when there was nothing to release). Hashing runs on `hasher`, else on `workers` processes
    (default: [pack] workers, else one per core)."""
    started = time.perf_counter()
    if name is not None:
        paths.check_name(name, "release name")
    settings = settings or PackSettings.from_config(archive.config)
    workers = workers or settings.workers or os.cpu_count() or 1
    folder = releases_dir(archive)
    archive.require_writable("pack")
    with locks.held(
        folder / ".pack.lock", busy="another `fonoteca pack` is running on this archive; wait for it to finish"
    ):
        own = None
        if hasher is None:  # started before the catalog is opened: forked workers inherit no connection
            own = hasher = hybrid.Hasher(workers).start()
        try:
            conn = archive.connect()
            try:
                recovered = _recover(conn, folder)
                summary = _pack_locked(archive, conn, folder, name, settings, progress, hasher)
                summary.recovered = recovered
            finally:
                conn.close()
        finally:
            if own is not None:
                own.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _usable(
    candidates: Iterator[layout.Candidate], storage: Storage, skipped: list[dict[str, Any]]
) -> Iterator[layout.Candidate]:
    """The candidates whose stored file can be released (others are reported and stay unreleased)."""
    for c in candidates:
        try:
            c.source = storage.local_path(c.rel_path)
        except StorageError as exc:
            skipped.append({"file": c.rel_path, "track": c.id, "reason": str(exc)})
            continue
        if c.size <= 0:
            skipped.append({"file": c.rel_path, "track": c.id, "reason": "empty"})
            continue
        yield c


def _pack_locked(
    archive: Archive,
    conn: sqlite3.Connection,
    folder: Path,
    name: str | None,
    settings: PackSettings,
    progress: Progress | None,
    hasher: hybrid.Hasher,
) -> PackSummary:
    from fonoteca.publication import install

    storage = archive.storage
    summary = PackSummary(release=None)
    policy = ReleasePolicy.from_config(archive.config)
    install(conn, policy, archive.root)
    summary.withheld = _withheld(conn, policy)
    pending, total = _pending(conn)
    replacements = _replacements_needed(conn)
    total += sum(c.size for _, files in replacements for c in files)
    if not pending and not replacements:
        return summary
    release = _release_name(conn, folder, archive.collection, name)
    next_seq = {
        band: int(seq) + 1
        for band, seq in conn.execute("SELECT band, max(seq) FROM torrents WHERE band IS NOT NULL GROUP BY band")
    }
    taken = {n for (n,) in conn.execute("SELECT name FROM torrents")}
    build = folder / f".{release}.building"
    (build / "torrents").mkdir(parents=True)
    (build / paths.V1_ONLY_FOLDER).mkdir()
    (build / "data").mkdir()
    created = now()
    with transaction(conn):
        release_id = conn.execute(
            "INSERT INTO releases (name, created_at, status, settings, files, bytes, torrents) "
            "VALUES (?, ?, 'building', ?, 0, 0, 0)",
            (release, created, orjson.dumps(settings.as_dict()).decode()),
        ).lastrowid
    assert release_id is not None  # an INSERT sets it
    summary.release = release
    try:
        if progress:
            progress(0, stage="hash", total=total)
        hash_started = time.perf_counter()
        web_seeds = listing.web_seeds_for(settings, release)
        reader = _open_reader(archive)
        install(reader, policy, archive.root)
        with (
            open(build / "manifest.jsonl.zst", "xb") as raw,
            open(build / "manifest-sha256.txt", "x", encoding="utf-8") as sums,
        ):
            manifest = zstandard.ZstdCompressor(level=10).stream_writer(raw, closefd=False)
            try:
                for band in settings.bands:
                    files = _usable(_band_candidates(reader, archive, band.low, band.high), storage, summary.skipped)
                    for t in layout.cut(files, band, settings, archive.collection, next_seq.get(band.name, 1)):
                        if t.name in taken:
                            raise FonotecaError(f"a torrent named {t.name} exists already (catalog edited by hand?)")
                        torrent = _make_torrent(build, t, settings, web_seeds, hasher, progress, storage)
                        _insert_torrent(conn, release_id, t, torrent, created, _write_twin(build, torrent))
                        for line, check in _manifest(t, torrent):
                            manifest.write(line)
                            sums.write(check)
                        summary.torrents.append(_summary(t, torrent, release, settings))
                        summary.files += len(torrent.files)
                        summary.bytes += torrent.data_size
                for original, kept in replacements:
                    replacement = _replacement(conn, original, kept, taken, storage, summary.skipped)
                    if replacement is None:
                        continue
                    torrent = _make_torrent(build, replacement, settings, web_seeds, hasher, progress, storage)
                    _insert_torrent(
                        conn,
                        release_id,
                        replacement,
                        torrent,
                        created,
                        _write_twin(build, torrent),
                        replaces=original.rowid,
                    )
                    taken.add(replacement.name)
                    for line, check in _manifest(replacement, torrent):
                        manifest.write(line)
                        sums.write(check)
                    summary.torrents.append(_summary(replacement, torrent, release, settings))
                    summary.replacements.append(
                        {
                            "replaces": original.name,
                            "torrent": replacement.name,
                            "left_out": original.files - len(replacement.files),
                        }
                    )
                    summary.files += len(torrent.files)
                    summary.bytes += torrent.data_size
            finally:
                reader.close()
            manifest.flush(zstandard.FLUSH_FRAME)
            raw.flush()
            os.fsync(raw.fileno())
            sums.flush()
            os.fsync(sums.fileno())
        summary.hash_seconds = time.perf_counter() - hash_started
        if not summary.torrents:  # every pending file was skipped: no release
            shutil.rmtree(build)
            _recover(conn, folder)
            summary.release = None
            return summary
        conn.execute(
            "UPDATE releases SET files = ?, bytes = ?, torrents = ? WHERE rowid = ?",
            (summary.files, summary.bytes, len(summary.torrents), release_id),
        )

        if progress:
            progress(0, stage="metadata torrent", total=1)
        summary.metadata = _metadata_torrent(
            archive, conn, folder, build, release, release_id, settings, created, hasher
        )
        own = listing.records(conn, settings, release=release, building=release_id)
        write_new(build / "torrents.json", listing.dumps(own))
        bag.write_declaration(build, name=release, organization=archive.name, bagged=created)
        bag.write_tag_manifest(build)
        final = folder / release
        for sub in ("torrents", paths.V1_ONLY_FOLDER, "data"):
            fsync_dir(build / sub)
        fsync_dir(build)
        os.rename(build, final)
        fsync_dir(folder)
        conn.execute("UPDATE releases SET status = 'done' WHERE rowid = ?", (release_id,))
        summary.root = str(final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        _recover(conn, folder)
        raise
    listing.write_current_list(archive, conn, settings)
    if progress:
        progress(1)
    return summary


def _make_torrent(
    build: Path,
    t: layout.PlannedTorrent,
    settings: PackSettings,
    web_seeds: list[str],
    hasher: hybrid.Hasher,
    progress: Progress | None,
    storage: Storage,
) -> hybrid.Torrent:
    """Link the torrent's payload, hash it, check that libtorrent reads it back alike, write the .torrent."""
    _link_payload(build, t, storage)
    entries = [
        hybrid.Entry((a, b), str(build / "data" / t.name / a / b), c.size, c.sha256 if settings.verify else None)
        for c, (a, b) in zip(t.files, t.paths, strict=True)
    ]
    piece = settings.piece_size or hybrid.fit_piece_length(
        [(f"{a}/{b}", c.size) for c, (a, b) in zip(t.files, t.paths, strict=True)],
        hybrid.piece_length_for(t.data_size, (c.size for c in t.files), max_piece=settings.max_piece_size),
        settings.max_torrent_file_size,
    )
    try:
        torrent = hybrid.build(
            t.name,
            entries,
            piece,
            trackers=settings.trackers,
            web_seeds=web_seeds,
            created_by=CREATED_BY,
            hasher=hasher,
            progress=progress,
        )
    except hybrid.HashError as exc:
        raise FonotecaError(f"cannot pack: {exc}") from None
    check_with_libtorrent(torrent)
    write_new(build / "torrents" / f"{t.name}.torrent", torrent.metainfo)
    return torrent


def check_with_libtorrent(torrent: hybrid.Torrent) -> None:
    """Load the metainfo with libtorrent, as every client built on it will: same info-hashes, files, offsets."""
    import libtorrent as lt

    ti = lt.torrent_info(torrent.metainfo)
    hashes = ti.info_hashes()
    fs = ti.layout() if hasattr(ti, "layout") else ti.files()
    ok = (
        str(hashes.v1) == torrent.info_hash_v1
        and hashes.v2.to_bytes().hex() == torrent.info_hash_v2
        and ti.name() == torrent.name
        and ti.num_pieces() == torrent.num_pieces
    )
    for placed in torrent.files if ok else ():
        if (
            fs.file_path(placed.index) != f"{torrent.name}/{placed.path}"
            or fs.file_offset(placed.index) != placed.offset
            or fs.file_size(placed.index) != placed.size
        ):
            ok = False
            break
    if not ok:
        raise FonotecaError(
            f"libtorrent reads torrent {torrent.name} differently from how it was written "
            "(a bug: please report it); nothing was published"
        )


def _write_twin(build: Path, torrent: hybrid.Torrent) -> tuple[str, int]:
    """Write the torrent's v1-only twin beside the hybrid, checked with libtorrent (the same files at the same
    offsets, the same pieces, another info-hash, no v2); (its btih, its .torrent size)."""
    import libtorrent as lt

    twin = hybrid.v1_only(torrent.metainfo)
    ti, original = lt.torrent_info(twin), lt.torrent_info(torrent.metainfo)
    btih = str(ti.info_hashes().v1)
    fs = ti.files()
    last = torrent.num_pieces - 1
    same = (
        not ti.info_hashes().has_v2()
        and btih != torrent.info_hash_v1
        and ti.name() == torrent.name
        and ti.num_pieces() == torrent.num_pieces
        and ti.piece_length() == torrent.piece_length
        and all(fs.file_offset(p.index) == p.offset and fs.file_size(p.index) == p.size for p in torrent.files)
        and all(ti.hash_for_piece(i) == original.hash_for_piece(i) for i in {0, last // 2, last})
    )
    if not same:
        raise FonotecaError(
            f"the v1-only twin of {torrent.name} does not describe the hybrid's pieces (a bug: "
            "please report it); nothing was published"
        )
    write_new(build / paths.V1_ONLY_FOLDER / paths.v1_only_file(torrent.name), twin)
    return btih, len(twin)


def _link_payload(build: Path, t: layout.PlannedTorrent, storage: Storage) -> None:
    """The stored files under data/TORRENT/FF/NAME, through the storage (the local folder: hard links, no copies)."""
    made: set[str] = set()
    for c, (folder_name, file_name) in zip(t.files, t.paths, strict=True):
        target_dir = build / "data" / t.name / folder_name
        if folder_name not in made:
            target_dir.mkdir(parents=True, exist_ok=True)
            made.add(folder_name)
        storage.link_into_release(c.rel_path, target_dir / file_name)


def _manifest(t: layout.PlannedTorrent, torrent: hybrid.Torrent) -> Iterator[tuple[bytes, str]]:
    """Manifest lines (JSON) and sha256sum lines of one torrent, in file index order."""
    by_path = {f"{a}/{b}": c for c, (a, b) in zip(t.files, t.paths, strict=True)}
    for placed in torrent.files:
        c = by_path[placed.path]
        line = ManifestLine(
            id=c.id,
            ns=c.ns_name,
            isrc=c.isrc,
            torrent=t.name,
            btih=torrent.info_hash_v1,
            path=placed.path,
            file_index=placed.index,
            offset=placed.offset,
            size=placed.size,
            sha256=c.sha256,
            pieces_root=placed.root.hex() if placed.root else None,
            tier=Tier.label_of(c.tier),
            popularity=c.popularity,
            band=t.band.name,
            title=c.title,
            artists=c.artists,
            licence=c.licence,
            attribution=c.attribution,
        )
        yield write_line(line), f"{c.sha256}  data/{t.name}/{placed.path}\n"


def _insert_torrent(
    conn: sqlite3.Connection,
    release_id: int,
    t: layout.PlannedTorrent,
    torrent: hybrid.Torrent,
    created: str,
    twin: tuple[str, int],
    replaces: int | None = None,
) -> None:
    by_path = {f"{a}/{b}": c for c, (a, b) in zip(t.files, t.paths, strict=True)}
    with transaction(conn):
        torrent_id = conn.execute(
            "INSERT INTO torrents (release, name, kind, band, seq, btih, btmh, piece_length, num_files, data_size, "
            "torrent_size, tracks, listens, pop_min, pop_max, first_id, last_id, added_at, replaces, v1_btih, "
            "v1_torrent_size) VALUES (?, ?, 'data', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                release_id,
                t.name,
                t.band.name,
                t.seq,
                torrent.info_hash_v1,
                torrent.info_hash_v2,
                torrent.piece_length,
                len(torrent.files),
                torrent.data_size,
                len(torrent.metainfo),
                sum(c.tracks for c in t.files),
                float(sum(c.listens for c in t.files)),
                min(c.popularity for c in t.files),
                max(c.popularity for c in t.files),
                t.files[0].id,
                t.files[-1].id,
                created,
                replaces,
                *twin,
            ),
        ).lastrowid
        conn.executemany(
            "INSERT INTO torrent_files (torrent, idx, file, track, path, offset, size, sha256, root) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    torrent_id,
                    p.index,
                    by_path[p.path].file,
                    by_path[p.path].track,
                    p.path,
                    p.offset,
                    p.size,
                    by_path[p.path].sha256,
                    p.root.hex() if p.root else None,
                )
                for p in torrent.files
            ],
        )


def _summary(t: layout.PlannedTorrent, torrent: hybrid.Torrent, release: str, settings: PackSettings) -> TorrentSummary:
    return TorrentSummary(
        t.name,
        "data",
        t.band.name,
        torrent.info_hash_v1,
        torrent.info_hash_v2,
        len(torrent.files),
        torrent.data_size,
        sum(c.tracks for c in t.files),
        float(sum(c.listens for c in t.files)),
        torrent.piece_length,
        listing.torrent_path(release, t.name),
        listing.magnet_link(
            torrent.info_hash_v1,
            torrent.info_hash_v2,
            t.name,
            settings.trackers,
            listing.web_seeds_for(settings, release),
        ),
    )


# ------------------------------------------------------------------------------------------------ metadata torrent


def _catalog_snapshot(conn: sqlite3.Connection, target: Path, release_id: int) -> None:
    """A consistent copy of the catalog as published: this release marked done, the operator's local paths left
    out (ingest inputs, import source folders), free pages dropped so nothing deleted survives in the copy."""
    raw = target.with_suffix(".tmp")
    conn.execute("VACUUM INTO ?", (str(raw),))
    copy = sqlite3.connect(raw, isolation_level=None)
    try:
        copy.execute("PRAGMA journal_mode=DELETE")
        with transaction(copy, immediate=False):
            copy.execute("UPDATE releases SET status = 'done' WHERE rowid = ?", (release_id,))
            names = {r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "files" in names:
                copy.execute("UPDATE files SET source_path = ''")
            if "sources" in names:  # catalog import provenance: keep the file name, drop the operator's folders
                copy.executemany(
                    "UPDATE sources SET path = ? WHERE rowid = ?",
                    [
                        (p.replace("\\", "/").rsplit("/", 1)[-1], rowid)
                        for rowid, p in copy.execute("SELECT rowid, path FROM sources").fetchall()
                    ],
                )
            for table in ("ingest_sources", "ingest_pending"):
                if table in names:
                    copy.execute(f"DELETE FROM {table}")
        copy.execute("VACUUM")
    finally:
        copy.close()
    cctx = zstandard.ZstdCompressor(level=9, threads=-1)
    with open(raw, "rb") as src, open(target, "xb") as dst:
        cctx.copy_stream(src, dst, size=os.path.getsize(raw))
        dst.flush()
        os.fsync(dst.fileno())
    raw.unlink()


def _metadata_torrent(
    archive: Archive,
    conn: sqlite3.Connection,
    folder: Path,
    build: Path,
    release: str,
    release_id: int,
    settings: PackSettings,
    created: str,
    hasher: hybrid.Hasher,
) -> TorrentSummary:
    name = f"{layout.collection_slug(archive.collection)}__metadata__{release}"
    payload = build / "data" / name
    payload.mkdir(parents=True)
    _catalog_snapshot(conn, payload / "catalog.sqlite3.zst", release_id)
    done = [n for (n,) in conn.execute("SELECT name FROM releases WHERE status = 'done' ORDER BY rowid")]
    for earlier in done:
        src = folder / earlier / "manifest.jsonl.zst"
        if _safe_release_name(earlier) and src.is_file() and not src.is_symlink():
            os.link(src, payload / f"manifest-{earlier}.jsonl.zst", follow_symlinks=False)
    os.link(build / "manifest.jsonl.zst", payload / f"manifest-{release}.jsonl.zst", follow_symlinks=False)
    write_new(payload / "torrents.json", listing.dumps(listing.records(conn, settings, building=release_id)))
    ledger_file = archive.root / LEDGER_NAME
    if ledger_file.is_file() and not ledger_file.is_symlink():  # a copy: the archive's ledger grows in place
        write_new(payload / LEDGER_NAME, ledger_file.read_bytes())
    entries = [hybrid.Entry((p.name,), str(p), p.stat().st_size, digest=True) for p in sorted(payload.iterdir())]
    total = sum(e.size for e in entries)
    piece = hybrid.fit_piece_length(
        [(e.path[0], e.size) for e in entries],
        hybrid.piece_length_for(total, [e.size for e in entries], max_piece=settings.max_piece_size),
        settings.max_torrent_file_size,
    )
    ordered = hybrid.order(entries)
    hashes = hybrid.hash_files(ordered, piece, hasher=hasher)
    web_seeds = listing.web_seeds_for(settings, release)
    torrent = hybrid.assemble(
        name, ordered, hashes, piece, trackers=settings.trackers, web_seeds=web_seeds, created_by=CREATED_BY
    )
    check_with_libtorrent(torrent)
    write_new(build / "torrents" / f"{name}.torrent", torrent.metainfo)
    twin = _write_twin(build, torrent)
    payload_sums = []
    for p, h in zip(torrent.files, hashes, strict=True):
        assert h.sha256 is not None  # the entries were hashed with digest=True
        payload_sums.append((f"data/{name}/{p.path}", h.sha256))
    bag.add_payload(build, payload_sums)
    with transaction(conn):
        torrent_id = conn.execute(
            "INSERT INTO torrents (release, name, kind, band, seq, btih, btmh, piece_length, num_files, data_size, "
            "torrent_size, tracks, listens, added_at, v1_btih, v1_torrent_size) "
            "VALUES (?, ?, 'metadata', NULL, NULL, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
            (
                release_id,
                name,
                torrent.info_hash_v1,
                torrent.info_hash_v2,
                piece,
                len(torrent.files),
                torrent.data_size,
                len(torrent.metainfo),
                created,
                *twin,
            ),
        ).lastrowid
        conn.executemany(
            "INSERT INTO torrent_files (torrent, idx, file, track, path, offset, size, sha256, root) "
            "VALUES (?, ?, NULL, NULL, ?, ?, ?, ?, ?)",
            [
                (torrent_id, p.index, p.path, p.offset, p.size, h.sha256, p.root.hex() if p.root else None)
                for p, h in zip(torrent.files, hashes, strict=True)
            ],
        )
    return TorrentSummary(
        name,
        "metadata",
        None,
        torrent.info_hash_v1,
        torrent.info_hash_v2,
        len(torrent.files),
        torrent.data_size,
        0,
        0.0,
        piece,
        listing.torrent_path(release, name),
        listing.magnet_link(torrent.info_hash_v1, torrent.info_hash_v2, name, settings.trackers, web_seeds),
    )
