"""mirror, fetch, verify, repair, coverage and the seeding list of an archive or a mirror.

A mirror is an archive-shaped folder, usable by the other stages (`fonoteca -A MIRROR serve`, `verify`, `seed`):

    MIRROR/
      fonoteca.toml                 [archive] name and collection of the source, [mirror] source
      catalog.sqlite3               the catalog, unpacked from the newest metadata torrent
      mirror.json                   what this mirror holds: {torrents: {NAME: {release, btih, files, complete}}}
      releases/torrents.json        the source's list of every torrent
      releases/R/torrents/*.torrent the .torrent files of the torrents held (checked, see torrents.load_torrent)
      releases/R/torrents-v1/*.v1.torrent  their v1-only twins (fonoteca.pack.hybrid.v1_only), when listed; a
                                    torrent mirrored with --v1 from its twin alone has only this one
      releases/R/torrents.json      the source's list of release R (when it had one)
      releases/R/manifest.jsonl.zst release R's manifest (from the source, else from the metadata torrent)
      releases/R/data/TORRENT/...   the payload, as in the archive
      .mirror/resume/BTIH.resume    libtorrent resume data (finished pieces are never fetched again)
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libtorrent as lt
import orjson
import zstandard

from fonoteca import ledger
from fonoteca.catalog.ids import NAMESPACE_NAMES, parse_reference
from fonoteca.durable import sha256_of
from fonoteca.errors import FonotecaError
from fonoteca.mirror import session as sess
from fonoteca.mirror.sources import (
    Metainfo,
    Source,
    Swarm,
    check_metainfo,
    collect_metainfo,
    http_get,
    open_source,
    parse_list,
)
from fonoteca.mirror.torrents import files_of, load_torrent, safe_name
from fonoteca.mirror.verify import Problem, Report, Target, make_symlink, verify
from fonoteca.pack import paths
from fonoteca.pack.listing import MAX_LIST_BYTES
from fonoteca.pack.manifest import MANIFEST_NAME, ManifestLine, read_manifest
from fonoteca.progress import Progress

STATE = "mirror.json"
# A release's own files a mirror copies from a local source beside the payload: the list, the manifest, and the
# BagIt tag files (so a complete mirrored release is a valid bag too).
RELEASE_FILES = (
    "torrents.json",
    "manifest.jsonl.zst",
    "bagit.txt",
    "bag-info.txt",
    "manifest-sha256.txt",
    "tagmanifest-sha256.txt",
)


# ------------------------------------------------------------------------------------------------ sources


def choose(
    records: list[dict[str, Any]],
    *,
    budget: int | None = None,
    bands: list[str] | None = None,
    popularity_weight: float = 1.0,
    seed: int | None = None,
) -> list[dict]:
    """The torrents to mirror: with a budget, `torrents pick`'s choice (bands applied before the budget); without,
    the newest metadata torrent and every data torrent of the bands."""
    from fonoteca.pack.listing import pick

    if budget is not None:
        return [p.record for p in pick(records, budget, popularity_weight=popularity_weight, bands=bands, seed=seed)]
    usable = [
        r
        for r in records
        if not r.get("obsolete") and not r.get("embargo") and not (r.get("partially_broken") and r.get("replaced_by"))
    ]  # its replacement is taken instead
    meta = sorted(
        [r for r in usable if r.get("is_metadata")],
        key=lambda r: r.get("added_to_torrents_list_at") or "",
        reverse=True,
    )[:1]
    return meta + [r for r in usable if not r.get("is_metadata") and (not bands or r.get("band") in bands)]


# ------------------------------------------------------------------------------------------------ mirror state


def load_state(root: Path) -> dict[str, Any]:
    p = root / STATE
    if not p.is_file():
        return {"torrents": {}}
    try:
        state = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FonotecaError(f"{p}: unreadable ({exc})") from None
    if not isinstance(state, dict) or not isinstance(state.get("torrents"), dict):
        raise FonotecaError(f"{p}: not a mirror state")
    return state


def save_state(root: Path, state: dict[str, Any]) -> None:
    tmp = root / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(root / STATE)


def _inside(root: Path, path: Path) -> Path:
    r, p = root.resolve(), path.resolve()
    if p != r and not str(p).startswith(str(r) + os.sep):
        raise FonotecaError(f"refused: {path} lies outside {root}")
    return path


def _install_torrent(into: Path, rec: dict[str, Any], data: bytes) -> lt.torrent_info:
    """Write a checked .torrent into the mirror (sources.check_metainfo: name, info-hash, sizes)."""
    release, name = safe_name(rec["release"], "release"), safe_name(rec["name"], "torrent")
    ti = check_metainfo(rec, data)
    dest = _inside(into, into / "releases" / release / "torrents" / f"{name}.torrent")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.is_file() or dest.read_bytes() != data:
        tmp = dest.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(dest)
    return ti


def _install(into: Path, rec: dict[str, Any], meta: Metainfo) -> lt.torrent_info:
    """Write a record's checked metainfo into the mirror: the torrent's own .torrent in torrents/, its v1-only
    twin in torrents-v1/; the torrent_info of what is downloaded."""
    release, name = safe_name(rec["release"], "release"), safe_name(rec["name"], "torrent")
    for data, folder, file in (
        (meta.hybrid, "torrents", f"{name}.torrent"),
        (meta.twin, paths.V1_ONLY_FOLDER, paths.v1_only_file(name)),
    ):
        if data is None:
            continue
        dest = _inside(into, into / "releases" / release / folder / file)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.is_file() or dest.read_bytes() != data:
            tmp = dest.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(dest)
    return load_torrent(meta.data, f"{name}.torrent")


def twin_file(root: Path, release: str, name: str) -> Path:
    """Where a torrent's v1-only twin lies in an archive or mirror."""
    return root / "releases" / release / paths.V1_ONLY_FOLDER / paths.v1_only_file(name)


def _data_dir(into: Path, release: str) -> Path:
    return _inside(into, into / "releases" / release / "data")


def _resume_file(into: Path, ti: lt.torrent_info) -> Path:
    return into / ".mirror" / "resume" / f"{ti.info_hashes().v1}.resume"


def _write_config(into: Path, source: Source, meta_name: str | None) -> None:
    cfg = into / "fonoteca.toml"
    if cfg.exists():
        return
    from fonoteca.archive import _toml_string

    name = collection = None
    if source.root is not None and (source.root / "fonoteca.toml").is_file():
        import tomllib

        try:
            arch = tomllib.loads((source.root / "fonoteca.toml").read_text(encoding="utf-8")).get("archive", {})
            name, collection = arch.get("name"), arch.get("collection")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            pass
    if collection is None and meta_name and "__metadata__" in meta_name:
        collection = meta_name.split("__metadata__")[0]
    name = str(name or f"Mirror of {collection or 'a Fonoteca archive'}")
    collection = str(collection or "fonoteca")
    cfg.write_text(
        f"# A Fonoteca mirror (fonoteca mirror); see mirror.json for what it holds.\n\n[archive]\n"
        f'name = "{_toml_string(name)}"\ncollection = "{_toml_string(collection)}"\n\n[mirror]\n'
        f'source = "{_toml_string(source.text)}"\n',
        encoding="utf-8",
    )


def _finish_metadata(into: Path, rec: dict[str, Any], newest: bool) -> None:
    """Unpack what the metadata torrent brought: the catalog (newest only), the releases' manifests, the list."""
    payload = into / "releases" / rec["release"] / "data" / rec["name"]
    cat = payload / "catalog.sqlite3.zst"
    if newest and cat.is_file():
        tmp = into / "catalog.sqlite3.tmp"
        with open(cat, "rb") as src, open(tmp, "wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
        for suffix in ("-wal", "-shm"):
            (into / f"catalog.sqlite3{suffix}").unlink(missing_ok=True)
        tmp.replace(into / "catalog.sqlite3")
    for m in payload.glob("manifest-*.jsonl.zst"):
        release = m.name[len("manifest-") : -len(".jsonl.zst")]
        try:
            safe_name(release, "release")
        except FonotecaError:
            continue
        dest = into / "releases" / release / "manifest.jsonl.zst"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(m, dest)
    lst = payload / "torrents.json"
    if newest and lst.is_file() and not (into / "releases" / "torrents.json").exists():
        shutil.copyfile(lst, into / "releases" / "torrents.json")


# ------------------------------------------------------------------------------------------------ the ledger


def withdrawn_files(lines: dict[int, ManifestLine], withdrawals: dict[str, Any]) -> dict[int, str]:
    """File index -> why, for the files of one torrent whose track the ledger withdraws."""
    out = {}
    for index, line in lines.items():
        w = withdrawals.get(line.ref)
        if w is not None:
            e = w.entry
            out[index] = f"withdrawn {e.at[:10]} ({e.category or 'other'}): {e.reason}"[:500]
    return out


def adopt_ledger(into: Path, candidates: list[Path]) -> int:
    """Take the longest ledger among `candidates` that verifies and extends the mirror's own (a ledger only ever
    grows: one that would drop or change an entry the mirror holds is not taken). Returns the entries held."""
    from fonoteca.durable import write_atomic

    own = ledger.verify(ledger.ledger_path(into))
    best, best_path = own.entries, None
    for path in candidates:
        if path is None or not path.is_file():
            continue
        found = ledger.verify(path)
        if found.ok and len(found.entries) > len(best) and found.entries[: len(own.entries)] == own.entries:
            best, best_path = found.entries, path
    if best_path is not None:
        write_atomic(ledger.ledger_path(into), best_path.read_bytes())
    return len(best)


def _remote_ledger(src: Source, into: Path) -> Path | None:
    """The source site's ledger (/withdrawals.jsonl beside an http list), fetched into the mirror's scratch."""
    if src.base_url is None:
        return None
    try:
        data = http_get(urllib.parse.urljoin(src.base_url, "/withdrawals.jsonl"), MAX_LIST_BYTES)
    except FonotecaError:
        return None
    scratch = into / ".mirror" / "withdrawals.fetched.jsonl"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_bytes(data)
    return scratch


def _ledger_candidates(src: Source, into: Path, meta: dict[str, Any] | None) -> list[Path]:
    out = [src.root / ledger.LEDGER_NAME] if src.root is not None else []
    if meta is not None:
        out.append(into / "releases" / meta["release"] / "data" / meta["name"] / ledger.LEDGER_NAME)
    remote = _remote_ledger(src, into)
    if remote is not None:
        out.append(remote)
    return out


def _skip_withdrawn(into: Path, jobs: list[sess.Job], releases: dict[str, str]) -> int:
    """Priority 0 for the files of withdrawn tracks (file priorities: libtorrent never fetches them); returns
    how many files are skipped."""
    withdrawals = ledger.withdrawn(into)
    if not withdrawals:
        return 0
    skipped = 0
    manifests: dict[str, dict[tuple[str, int], ManifestLine]] = {}
    for job in jobs:
        release = releases[job.key]
        if release not in manifests:
            m = into / "releases" / release / MANIFEST_NAME
            manifests[release] = {(x.torrent, x.file_index): x for x in read_manifest(m)} if m.is_file() else {}
        lines = {i: x for (t, i), x in manifests[release].items() if t == job.key}
        out = withdrawn_files(lines, withdrawals)
        if out:
            entries = files_of(job.ti)
            prios = job.priorities or [4] * len(entries)
            job.priorities = [0 if e.index in out else prios[e.index] for e in entries]
            skipped += len(out)
    return skipped


def _merge(first: sess.Outcome | None, second: sess.Outcome) -> sess.Outcome:
    if first is None:
        return second
    return sess.Outcome(
        first.jobs + second.jobs,
        first.complete and second.complete,
        first.interrupted or second.interrupted,
        first.seconds + second.seconds,
        first.errors + second.errors,
    )


@dataclass
class MirrorResult:
    into: Path
    chosen: list[dict[str, Any]]
    outcome: sess.Outcome
    skipped_bytes: int = 0
    withdrawn_files: int = 0  # files not fetched because the ledger withdraws their tracks

    @property
    def complete(self) -> bool:
        return self.outcome.complete

    @property
    def incomplete(self) -> list[str]:
        """The chosen torrents not wholly downloaded (a refused list entry is named in the errors instead)."""
        return [j.key for j in self.outcome.jobs if not j.done]

    def as_dict(self) -> dict[str, Any]:
        return {
            "into": str(self.into),
            "complete": self.complete,
            "interrupted": self.outcome.interrupted,
            "incomplete": self.incomplete,
            "torrents": [r["name"] for r in self.chosen],
            "bytes": sum(r["data_size"] for r in self.chosen),
            "downloaded": self.outcome.downloaded,
            "seconds": round(self.outcome.seconds, 3),
            "withdrawn_files": self.withdrawn_files,
            "errors": self.outcome.errors,
        }


def mirror(
    source: str | Source,
    into: Path,
    *,
    budget: int | None = None,
    bands: list[str] | None = None,
    peers: Sequence[sess.Peer] = (),
    listen: str = "127.0.0.1:0",
    discovery: bool = False,
    timeout: float | None = None,
    stall: float | None = 300.0,
    stop: threading.Event | None = None,
    tick: sess.Tick | None = None,
    popularity_weight: float = 1.0,
    seed: int | None = None,
    v1: bool = False,
) -> MirrorResult:
    """Download the chosen torrents of SOURCE (see fonoteca.mirror.sources) into the mirror folder `into`
    (archive-shaped, see the module doc). Every torrent's metainfo is checked against the list before any budget
    decision; an entry that cannot be used is named in the result's errors and the rest is mirrored. `v1`: join
    the swarms of the v1-only twins (where Transmission 3 and other v1-only clients are). Safe to run again:
    finished pieces are kept (resume data, else a check of the files on disk)."""
    into = into.expanduser().resolve()
    into.mkdir(parents=True, exist_ok=True)
    swarm = Swarm(list(peers), listen, discovery, timeout or 300.0)
    src = source if isinstance(source, Source) else open_source(source, into, swarm)
    metainfo, refused = collect_metainfo(src, src.records, swarm, into / ".mirror" / "scratch", v1=v1)
    refused[:0] = src.refused
    chosen = choose(
        [r for r in src.records if r["name"] in metainfo],
        budget=budget,
        bands=bands,
        popularity_weight=popularity_weight,
        seed=seed,
    )
    if not chosen:
        raise FonotecaError(
            "nothing to mirror: no torrent fits the budget or the bands"
            + (f" ({'; '.join(refused[:3])})" if refused else "")
        )
    state = load_state(into)
    jobs = []
    for rec in chosen:
        meta = metainfo[rec["name"]]
        ti = _install(into, rec, meta)
        for name in RELEASE_FILES:
            f = src.release_file(rec["release"], name)
            dest = into / "releases" / rec["release"] / name
            if f is not None and not dest.exists():
                shutil.copyfile(f, dest)
        state["torrents"].setdefault(rec["name"], {}).update(
            {
                "release": rec["release"],
                "btih": rec.get("hybrid_btih") or rec["btih"],
                "files": None,
                "complete": False,
                "is_metadata": bool(rec.get("is_metadata")),
                "via": "v1" if meta.twin is not None and meta.data == meta.twin else "hybrid",
            }
        )
        jobs.append(sess.Job(rec["name"], ti, _data_dir(into, rec["release"]), resume_file=_resume_file(into, ti)))
    (into / "releases").mkdir(exist_ok=True)
    if src.root is not None and (src.root / "releases" / "torrents.json").is_file():
        shutil.copyfile(src.root / "releases" / "torrents.json", into / "releases" / "torrents.json")
    elif not (into / "releases" / "torrents.json").exists():
        (into / "releases" / "torrents.json").write_bytes(orjson.dumps(src.records, option=orjson.OPT_INDENT_2))
    save_state(into, state)
    meta_rec = next((r for r in chosen if r.get("is_metadata")), None)
    _write_config(into, src, meta_rec["name"] if meta_rec else None)
    # The metadata torrent first: it carries the ledger, which decides which files are not fetched at all.
    first = None
    meta_jobs = [j for j in jobs if meta_rec is not None and j.key == meta_rec["name"]]
    if meta_rec is not None and meta_jobs:
        first = sess.download(
            meta_jobs, peers, listen=listen, discovery=discovery, timeout=timeout, stall=stall, stop=stop, tick=tick
        )
        if meta_jobs[0].done:
            _finish_metadata(into, meta_rec, True)
    adopt_ledger(into, _ledger_candidates(src, into, meta_rec if meta_jobs and meta_jobs[0].done else None))
    data_jobs = [j for j in jobs if j not in meta_jobs]
    skipped = _skip_withdrawn(into, data_jobs, {r["name"]: r["release"] for r in chosen})
    outcome = _merge(
        first,
        sess.download(
            data_jobs, peers, listen=listen, discovery=discovery, timeout=timeout, stall=stall, stop=stop, tick=tick
        )
        if data_jobs
        else sess.Outcome([], True, False, 0.0),
    )
    if refused:  # a torrent that could not be taken means the mirror is not what was asked
        outcome.errors[:0] = refused
        outcome.complete = False
    for rec, job in zip(chosen, jobs, strict=True):
        state["torrents"][rec["name"]]["complete"] = job.done
        if job.done and rec.get("is_metadata") and rec is not meta_rec:
            _finish_metadata(into, rec, False)
    save_state(into, state)
    return MirrorResult(into, chosen, outcome, withdrawn_files=skipped)


# ------------------------------------------------------------------------------------------------ manifests


def find_track(manifests: list[Path], ref: str) -> tuple[str, ManifestLine]:
    """(release, manifest line) of a track: an id, NS:ID, NS:track:ID (as commands print it), a URL or
    isrc:CODE; the newest release wins."""
    wanted = parse_reference(ref)
    isrc = wanted.value if wanted.kind == "isrc" else None
    ns = NAMESPACE_NAMES.get(wanted.ns) if wanted.ns is not None else None
    for m in sorted(manifests, reverse=True):
        for line in read_manifest(m):
            if isrc is not None:
                if (line.isrc or "").upper() == isrc:
                    return m.parent.name, line
            elif wanted.kind in ("track", "any") and line.id in (wanted.value, ref) and ns in (None, line.ns):
                return m.parent.name, line
    where = ", ".join(str(m.parent.parent.parent) for m in manifests[:1]) or "no manifest at all"
    raise FonotecaError(
        f"no released file for {ref!r} in the manifests ({where}): give the release with --from "
        "(a torrents.json, a release folder, an archive or a mirror)"
    )


def _manifests(*roots: Path | None) -> list[Path]:
    out = []
    for r in roots:
        if r is not None and (r / "releases").is_dir():
            out += sorted((r / "releases").glob("*/manifest.jsonl.zst"))
    return out


@dataclass
class FetchResult:
    path: Path  # the file under its readable name (or, if it failed, where it was downloaded)
    track: str  # NS:track:ID
    sha256: str  # of what was downloaded ("" when nothing was)
    ok: bool
    outcome: sess.Outcome
    expected: str = ""  # the manifest's sha256
    stored: Path | None = None  # the file in the mirror layout

    @property
    def reason(self) -> str:
        """Why the fetch failed, in words ("" when it did not)."""
        if self.ok:
            return ""
        if not self.outcome.complete:
            last = self.outcome.errors[-1] if self.outcome.errors else "no peer sent the file's pieces in time"
            return f"the download did not complete: {last}"
        return f"the downloaded file's sha256 {self.sha256 or '(none)'} differs from the manifest's {self.expected}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "stored": str(self.stored) if self.stored else None,
            "track": self.track,
            "sha256": self.sha256,
            "expected_sha256": self.expected,
            "ok": self.ok,
            "reason": self.reason,
            "downloaded": self.outcome.downloaded,
            "seconds": round(self.outcome.seconds, 3),
        }


def fetch(
    ref: str,
    into: Path,
    *,
    source: str | Source | None = None,
    peers: Sequence[sess.Peer] = (),
    listen: str = "127.0.0.1:0",
    discovery: bool = False,
    timeout: float | None = None,
    stall: float | None = 300.0,
    tick: sess.Tick | None = None,
) -> FetchResult:
    """Download one track's file out of its bulk torrent (only that file wanted) and check its sha256."""
    into = into.expanduser().resolve()
    into.mkdir(parents=True, exist_ok=True)
    src = source if isinstance(source, Source) or source is None else open_source(source)
    release, line = find_track(_manifests(into, src.root if src else None), ref)
    for root in (into, src.root if src else None):
        w = ledger.withdrawn(root).get(line.ref) if root is not None else None
        if w is not None:
            raise FonotecaError(
                f"{line.ref} is withdrawn ({w.entry.category or 'other'}, {w.entry.at[:10]}: "
                f"{w.entry.reason}); it is not fetched"
            )
    safe_name(release, "release")
    tname = safe_name(line.torrent, "torrent")
    tfile = into / "releases" / release / "torrents" / f"{tname}.torrent"
    if tfile.is_file():
        ti = load_torrent(tfile, tfile.name)
    else:
        if src is None:
            raise FonotecaError(f"{tname}.torrent is not in {into}: give the source (--from)")
        rec = next((r for r in src.records if r["name"] == tname), None)
        if rec is None:
            raise FonotecaError(f"the source does not list {tname}")
        ti = _install_torrent(into, rec, src.torrent_bytes(rec))
        mf = src.release_file(release, "manifest.jsonl.zst")
        if mf is not None and not (into / "releases" / release / "manifest.jsonl.zst").exists():
            shutil.copyfile(mf, into / "releases" / release / "manifest.jsonl.zst")
    if src is not None and not (into / "releases" / "torrents.json").exists():
        (into / "releases" / "torrents.json").write_bytes(orjson.dumps(src.records, option=orjson.OPT_INDENT_2))
    idx = line.file_index
    entries = files_of(ti)
    if not 0 <= idx < len(entries) or entries[idx].path != f"{tname}/{line.path}" and entries[idx].path != line.path:
        raise FonotecaError(f"the manifest and {tname}.torrent disagree about file {idx}")
    state = load_state(into)
    entry = state["torrents"].setdefault(
        tname,
        {"release": release, "btih": str(ti.info_hashes().v1), "files": [], "complete": False, "is_metadata": False},
    )
    if entry.get("files") is not None:
        entry["files"] = sorted(set(entry["files"]) | {idx})
    wanted = None if entry.get("files") is None else set(entry["files"])
    prios = [0] * len(entries)
    for e in entries:
        if wanted is None or e.index in wanted:
            prios[e.index] = 4
    save_state(into, state)
    job = sess.Job(tname, ti, _data_dir(into, release), priorities=prios, resume_file=_resume_file(into, ti))
    outcome = sess.download([job], peers, listen=listen, discovery=discovery, timeout=timeout, stall=stall, tick=tick)
    path = _inside(into, _data_dir(into, release) / entries[idx].path)
    digest = sha256_of(path) if path.is_file() else ""
    ok = outcome.complete and digest == line.sha256
    if entry.get("files") is None:
        entry["complete"] = outcome.complete
    save_state(into, state)
    readable = _readable_copy(into, path, line) if ok else None
    return FetchResult(readable or path, line.ref, digest, ok, outcome, line.sha256, path)


def _readable_copy(into: Path, path: Path, line: ManifestLine) -> Path:
    """The fetched file under a name a person reads (`Artist - Title.ext`) in the folder: a hard link to the
    verified file in the mirror layout (so seeding and verify keep working), a copy where links are impossible."""
    target = _inside(into, into / line.readable_name())
    if target.exists():
        if target.stat().st_ino == path.stat().st_ino or sha256_of(target) == line.sha256:
            return target
        target = _inside(into, into / f"{target.stem} ({line.id}){target.suffix}")
    try:
        os.link(path, target)
    except OSError:
        shutil.copyfile(path, target)
    return target


# ------------------------------------------------------------------------------------------------ verify / repair


def targets(root: Path) -> tuple[list[Target], list[Problem]]:
    """The torrents an archive or a mirror holds (a mirror: those in mirror.json, with the files it wants), and a
    problem for each .torrent that could not be loaded."""
    root = root.expanduser().resolve()
    rel = root / "releases"
    manifests: dict[str, dict[tuple[str, int], ManifestLine]] = {}

    def manifest(release: str) -> dict[tuple[str, int], ManifestLine]:
        if release not in manifests:
            m = rel / release / "manifest.jsonl.zst"
            manifests[release] = {(x.torrent, x.file_index): x for x in read_manifest(m)} if m.is_file() else {}
        return manifests[release]

    out: list[Target] = []
    unreadable: list[Problem] = []
    withdrawals = ledger.withdrawn(root)

    def add(release: str, tfile: Path, name: str, files: Any) -> None:
        try:
            ti = load_torrent(tfile, tfile.name)
        except FonotecaError as exc:  # one bad .torrent is reported; the others are still checked
            unreadable.append(
                Problem("unreadable", release, name, tfile.name, reason=str(exc).removeprefix("refused: "))
            )
            return
        lines = {i: v for (t, i), v in manifest(release).items() if t == ti.name()}
        out.append(
            Target(
                release,
                ti,
                rel / release / "data",
                None if files is None else set(files),
                lines,
                withdrawn_files(lines, withdrawals),
            )
        )

    if (root / STATE).is_file():
        for name, e in sorted(load_state(root)["torrents"].items()):
            release = safe_name(e.get("release"), "release")
            tfile = rel / release / "torrents" / f"{safe_name(name, 'torrent')}.torrent"
            if not tfile.is_file() and twin_file(root, release, name).is_file():  # mirrored from its twin alone
                tfile = twin_file(root, release, name)
            add(release, tfile, name, e.get("files"))
    elif rel.is_dir():
        for tfile in sorted(rel.glob("*/torrents/*.torrent")):
            release = tfile.parent.parent.name
            if not release.startswith("."):
                add(release, tfile, tfile.stem, None)
    return out, unreadable


def verify_root(root: Path, *, progress: Progress | None = None, workers: int | None = None) -> Report:
    ts, unreadable = targets(root)
    if not ts and not unreadable:
        raise FonotecaError(f"{root} holds no releases to verify")
    report = verify(ts, progress=progress, workers=workers, unreadable=unreadable)
    held: dict[Path, set[str]] = {}
    for t in ts:
        held.setdefault(t.save_path, set()).add(t.name)
    for data, names in held.items():  # folders of torrents that this copy does not hold
        for p in sorted(data.iterdir()) if data.is_dir() else []:
            if p.name not in names and not p.name.startswith("."):
                report.problems.append(
                    Problem("extra", data.parent.name, p.name, p.name, reason="not a torrent of this release held here")
                )
    return report


@dataclass
class RepairResult:
    before: Report
    after: Report
    downloaded: int
    outcome: sess.Outcome | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
            "downloaded": self.downloaded,
            "errors": self.outcome.errors if self.outcome else [],
        }


def _restore_symlinks(t: Target, report: Report) -> None:
    """Symbolic link entries hold no data to download: a missing or wrong one is made again from the metainfo."""
    broken = {p.file_index for p in report.problems if p.torrent == t.name and p.kind in ("missing", "corrupt")}
    for f in files_of(t.ti):
        if f.symlink is not None and f.index in broken:
            make_symlink(t, f)


def repair(
    root: Path,
    peers: list[sess.Peer],
    *,
    listen: str = "127.0.0.1:0",
    discovery: bool = False,
    timeout: float | None = None,
    stall: float | None = 300.0,
    tick: sess.Tick | None = None,
    before: Report | None = None,
) -> RepairResult:
    """Verify, then let libtorrent check the damaged torrents against their files (dropping the resume data,
    which would claim the bad pieces) and download only the pieces that fail, then verify again."""
    root = root.expanduser().resolve()
    before = before or verify_root(root)
    bad = {(p.release, p.torrent) for p in before.problems if p.kind in ("missing", "corrupt")}
    if not bad:
        return RepairResult(before, before, 0, None)
    jobs = []
    for t in targets(root)[0]:
        if (t.release, t.name) not in bad:
            continue
        _restore_symlinks(t, before)
        prios = None
        if t.wanted is not None or t.withdrawn:  # a withdrawn file is never fetched again
            prios = [
                4 if (t.wanted is None or e.index in t.wanted) and e.index not in t.withdrawn else 0
                for e in files_of(t.ti)
            ]
        rf = _resume_file(root, t.ti)
        rf.unlink(missing_ok=True)
        jobs.append(sess.Job(t.name, t.ti, t.save_path, priorities=prios, resume_file=rf, recheck=True))
    outcome = sess.download(jobs, peers, listen=listen, discovery=discovery, timeout=timeout, stall=stall, tick=tick)
    after = verify_root(root)
    return RepairResult(before, after, outcome.downloaded, outcome)


# ------------------------------------------------------------------------------------------------ coverage / seeding


def coverage(root: Path) -> dict[str, Any]:
    """What share of the collection a mirror (or archive) holds: tracks, bytes and estimated listens, against the
    released data torrents of its torrents.json (and the catalog's track count when there is a catalog)."""
    root = root.expanduser().resolve()
    lst = root / "releases" / "torrents.json"
    if not lst.is_file():
        raise FonotecaError(f"{root} is not a mirror or an archive with releases (no releases/torrents.json)")
    records = parse_list(lst.read_bytes(), str(lst), [])
    data = [r for r in records if not r.get("is_metadata") and not r.get("obsolete")]
    state = load_state(root) if (root / STATE).is_file() else None
    held_tracks = held_bytes = 0
    held_listens = 0.0
    torrents_held = 0
    for r in data:
        if state is None:
            have = (root / "releases" / r["release"] / "data" / r["name"]).is_dir()
            files = None
        else:
            e = state["torrents"].get(r["name"])
            have = e is not None and (e.get("complete") or e.get("files"))
            files = None if e is None else e.get("files")
        if not have:
            continue
        if files is None:
            torrents_held += 1
            held_tracks += int(r.get("tracks") or 0)
            held_bytes += int(r["data_size"])
            held_listens += float(r.get("listens_covered") or 0)
        else:
            path = root / "releases" / r["release"] / MANIFEST_NAME
            lines = {(x.torrent, x.file_index): x for x in (read_manifest(path) if path.is_file() else [])}
            n = [lines[(r["name"], i)] for i in files if (r["name"], i) in lines]
            held_tracks += len(n)
            held_bytes += sum(x.size for x in n)
            tr = int(r.get("tracks") or 0)
            held_listens += float(r.get("listens_covered") or 0) * (len(n) / tr if tr else 0)
    catalog_tracks = None
    if (root / "catalog.sqlite3").is_file():
        import sqlite3

        try:
            conn = sqlite3.connect(f"file:{root / 'catalog.sqlite3'}?mode=ro", uri=True)
            catalog_tracks = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            catalog_tracks = None
    total_tracks = sum(int(r.get("tracks") or 0) for r in data)
    total_bytes = sum(int(r["data_size"]) for r in data)
    total_listens = sum(float(r.get("listens_covered") or 0) for r in data)

    def share(a: float, b: float | None) -> float | None:
        return round(a / b, 6) if b else None

    return {
        "torrents": torrents_held,
        "released_torrents": len(data),
        "tracks": held_tracks,
        "released_tracks": total_tracks,
        "catalog_tracks": catalog_tracks,
        "bytes": held_bytes,
        "released_bytes": total_bytes,
        "listens": round(held_listens, 3),
        "released_listens": round(total_listens, 3),
        "share_tracks_released": share(held_tracks, total_tracks),
        "share_tracks_catalog": share(held_tracks, catalog_tracks),
        "share_bytes": share(held_bytes, total_bytes),
        "share_listens": share(held_listens, total_listens),
    }


def seed_items(root: Path) -> list[tuple[lt.torrent_info, Path, bool]]:
    """(torrent, data folder, trusted) of everything an archive or mirror holds: each torrent, and beside it its
    v1-only twin (the same files: its own swarm, of the clients that cannot read hybrids). A twin is added
    trusted (libtorrent's seed mode: every piece is still checked the first time it is sent) when its hybrid
    holds every file, as the hybrid's own check covers the same pieces; else it is checked like any torrent."""
    out: list[tuple[lt.torrent_info, Path, bool]] = []
    state = load_state(root) if (root / STATE).is_file() else None
    for t in targets(root)[0]:
        out.append((t.ti, t.save_path, False))
        twin = twin_file(root.expanduser().resolve(), t.release, t.name)
        if not twin.is_file() or not t.ti.info_hashes().has_v2():
            continue  # no twin, or the target is the twin itself
        try:
            ti = load_torrent(twin, twin.name)
        except FonotecaError:
            continue  # a damaged twin is not seeded (the bag's tag manifest names it)
        whole = t.wanted is None and (state is None or bool(state["torrents"].get(t.name, {}).get("complete")))
        out.append((ti, t.save_path, whole))
    return out
