"""Releases as the site shows them: ARCHIVE/releases/NAME/torrents.json (the torrent list, with seeding health)
and manifest.jsonl.zst (which torrent and path hold each track), read-only and re-read when they change.

torrents.json is a JSON list of torrents (or an object with a "torrents" list) with the field names volunteers
know: url, group_name, display_name, btih, magnet_link, torrent_size, num_files, data_size,
added_to_torrents_list_at, is_metadata, obsolete, embargo, seeders, leechers, completed, stats_scraped_at, and
Fonoteca's band, tracks, listens_covered (estimated listens: a count, shown beside its share of all the
torrents' listens). Missing or mistyped fields are shown as unknown, never trusted; a seeder count of 0 without
stats_scraped_at is unknown too (nobody counted).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from fonoteca.errors import FonotecaError
from fonoteca.pack import manifest
from fonoteca.pack.paths import is_safe_name

CHECK_EVERY_S = 5.0
MAX_TORRENTS_JSON = 256 * 1024 * 1024
INT_FIELDS = (
    "torrent_size",
    "num_files",
    "data_size",
    "seeders",
    "leechers",
    "completed",
    "tracks",
    "pop_min",
    "pop_max",
)
STR_FIELDS = (
    "url",
    "group_name",
    "display_name",
    "btih",
    "magnet_link",
    "added_to_torrents_list_at",
    "stats_scraped_at",
    "band",
    "btmh",
    "kind",
    "replaced_by",
    "replaces",
)
BOOL_FIELDS = ("is_metadata", "obsolete", "embargo", "partially_broken")  # partially_broken: holds withdrawn tracks
# Seeding health, as volunteers read it: fewer than 4 seeders is at risk.
HEALTH = (("none", 0), ("low", 3), ("medium", 10))


def health(seeders: int | None) -> str:
    """none / low / medium / good by seeders; unknown when there is no figure."""
    if seeders is None:
        return "unknown"
    for name, upto in HEALTH:
        if seeders <= upto:
            return name
    return "good"


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value[:4096] if isinstance(value, str) else None


def _listens(entry: dict[str, Any]) -> float | None:
    for key in ("listens_covered", "listens covered"):
        value = entry.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def _torrent_name(entry: dict[str, Any]) -> str | None:
    """The torrent's name: display_name, else the file name of its url without .torrent."""
    name = entry.get("display_name")
    if not name and entry.get("url"):
        name = entry["url"].rstrip("/").rsplit("/", 1)[-1]
    if name and name.endswith(".torrent"):
        name = name[: -len(".torrent")]
    return name or None


def normalize(entry: Any, release: str, local_files: set[str]) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    out: dict[str, Any] = {"release": release}
    for key in INT_FIELDS:
        out[key] = _int(entry.get(key))
    for key in STR_FIELDS:
        out[key] = _str(entry.get(key))
    for key in BOOL_FIELDS:
        value = entry.get(key)
        out[key] = bool(value) if isinstance(value, (bool, int)) else False
    out["listens_covered"] = _listens(entry)
    if out["magnet_link"] and not out["magnet_link"].startswith("magnet:?"):
        out["magnet_link"] = None
    name = entry.get("name")
    out["name"] = name[:4096] if isinstance(name, str) and name else _torrent_name(out)
    if not out["stats_scraped_at"]:
        # a 0 that no scrape reported means "not counted yet" (`fonoteca pack` lists 0 seeders with
        # stats_scraped_at null until swarm figures are recorded): unknown, never "0 seeders"
        for key in ("seeders", "leechers", "completed"):
            if out[key] == 0:
                out[key] = None
    out["health"] = health(out["seeders"])
    local = None
    if out["url"]:
        base = out["url"].rstrip("/").rsplit("/", 1)[-1]
        if base in local_files:
            local = f"/torrents/file/{quote(release, safe='')}/{quote(base, safe='')}"
    if local is None and out["name"] and out["name"] + ".torrent" in local_files:
        local = f"/torrents/file/{quote(release, safe='')}/{quote(out['name'] + '.torrent', safe='')}"
    out["local_url"] = local
    return out


@dataclass
class Location:
    release: str
    torrent: str | None
    path: str | None
    file_index: int | None
    size: int | None
    sha256: str | None


@dataclass
class Release:
    name: str
    directory: Path
    signature: tuple[Any, ...]
    torrents: list[dict[str, Any]]
    error: str | None = None
    raw: list[Any] = field(default_factory=list, repr=False)
    _manifest: dict[str, tuple] | None = field(default=None, repr=False)


def _signature(path: Path) -> tuple[Any, ...] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class Releases:
    """Every release of one archive; cheap to ask often (the folder is looked at every few seconds at most)."""

    def __init__(self, root: Path) -> None:
        self.root = root / "releases"
        self._lock = threading.Lock()
        self._releases: dict[str, Release] = {}
        self._checked = 0.0

    def all(self) -> list[Release]:
        now = time.monotonic()
        if now - self._checked > CHECK_EVERY_S:
            with self._lock:
                if now - self._checked > CHECK_EVERY_S:
                    self._refresh()
                    self._checked = time.monotonic()
        return list(self._releases.values())

    def get(self, name: str) -> Release | None:
        if not is_safe_name(name):
            return None
        return next((r for r in self.all() if r.name == name), None)

    def _refresh(self) -> None:
        found: dict[str, Release] = {}
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except OSError:
            entries = []
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False) or not is_safe_name(entry.name):
                continue
            directory = Path(entry.path)
            listing = directory / "torrents.json"
            signature = (
                _signature(listing),
                _signature(directory / "manifest.jsonl.zst"),
                _signature(directory / "torrents"),
            )
            if signature[0] is None:
                continue
            old = self._releases.get(entry.name)
            if old is not None and old.signature == signature:
                found[entry.name] = old
                continue
            found[entry.name] = self._load(entry.name, directory, signature)
        self._releases = found

    @staticmethod
    def _load(name: str, directory: Path, signature: tuple[Any, ...]) -> Release:
        try:
            local = {
                p.name
                for p in (directory / "torrents").iterdir()
                if p.name.endswith(".torrent") and p.is_file() and not p.is_symlink()
            }
        except OSError:
            local = set()
        try:
            raw = (directory / "torrents.json").read_bytes()
            if len(raw) > MAX_TORRENTS_JSON:
                raise ValueError("torrents.json is too large")
            data = orjson.loads(raw)
            if isinstance(data, dict):
                data = data.get("torrents", [])
            if not isinstance(data, list):
                raise ValueError("torrents.json holds neither a list nor an object with a 'torrents' list")
        except (OSError, ValueError) as exc:
            return Release(name, directory, signature, [], error=f"cannot read torrents.json: {exc}")
        torrents = [t for t in (normalize(e, name, local) for e in data) if t is not None]
        return Release(name, directory, signature, torrents, raw=[e for e in data if isinstance(e, dict)])

    # --- queries --------------------------------------------------------------------------------------------
    def torrents(self) -> list[dict[str, Any]]:
        return [t for r in self.all() for t in r.torrents]

    def local_torrent(self, release: str, filename: str) -> Path | None:
        """The .torrent file of a release, only when `filename` is exactly one of the files in its torrents/."""
        rel = self.get(release)
        if rel is None or not filename.endswith(".torrent") or "/" in filename or "\\" in filename:
            return None
        folder = rel.directory / "torrents"
        try:
            names = {p.name for p in folder.iterdir()}
        except OSError:
            return None
        if filename not in names:
            return None
        path = folder / filename
        if path.is_symlink() or not path.is_file():
            return None
        return path

    def payload(self, release: str, torrent: str, inner: str) -> Path | None:
        """A file of a release's payload (releases/R/data/TORRENT/PATH), as a BEP 19 web seed serves it: only a
        regular file that stays inside that torrent's folder once every link is followed."""
        rel = self.get(release)
        if (
            rel is None
            or not torrent
            or "/" in torrent
            or "\\" in torrent
            or torrent in (".", "..")
            or "\x00" in torrent
        ):
            return None
        parts = inner.split("/")
        if not inner or "\x00" in inner or "\\" in inner or any(p in ("", ".", "..") for p in parts):
            return None
        base = rel.directory / "data" / torrent
        try:
            data = (rel.directory / "data").resolve(strict=True)
            root = base.resolve(strict=True)
            found = (base / inner).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not root.is_relative_to(data) or not found.is_relative_to(root) or not found.is_file():
            return None
        return found

    def raw_listing(self) -> list[Any]:
        """Every release's torrents.json entries as written (the volunteers' format, unchanged)."""
        return [entry for r in self.all() for entry in r.raw]

    def locate(self, track_id: str) -> list[tuple[Location, dict[str, Any] | None]]:
        """Where a track's file is in the releases: manifest entries, each with its torrent (None if unlisted)."""
        out = []
        for rel in self.all():
            entry = self._manifest(rel).get(track_id)
            if entry is None:
                continue
            location = Location(rel.name, *entry)
            torrent = next(
                (
                    t
                    for t in rel.torrents
                    if location.torrent
                    and location.torrent in (t["name"], t["display_name"], (t["url"] or "").rsplit("/", 1)[-1])
                ),
                None,
            )
            out.append((location, torrent))
        return out

    def _manifest(self, rel: Release) -> dict[str, tuple]:
        if rel._manifest is None:
            with self._lock:
                if rel._manifest is None:
                    rel._manifest = read_manifest(rel.directory / "manifest.jsonl.zst")
        return rel._manifest


def read_manifest(path: Path) -> dict[str, tuple]:
    """track id -> (torrent, path, file index, size, sha256) from a manifest.jsonl.zst: empty when absent, and
    when it cannot be read, and without the lines that break the contract (a mirror's damaged copy must not take
    the site down; `fonoteca verify` names what is wrong)."""
    if not path.is_file():
        return {}
    try:
        lines = manifest.read_manifest(path, skip_bad=True)
    except FonotecaError:
        return {}
    out: dict[str, tuple] = {}
    for line in lines:
        out.setdefault(line.id, (line.torrent, line.path, line.file_index, line.size, line.sha256))
    return out


# --- summaries and the seeding list generator ----------------------------------------------------------------------
def summary(torrents: list[dict[str, Any]]) -> dict[str, Any]:
    bands: dict[str, dict[str, Any]] = {}
    totals: dict[str, Any] = {
        "torrents": 0,
        "data_size": 0,
        "num_files": 0,
        "tracks": 0,
        "listens_covered": 0.0,
        "health": {"none": 0, "low": 0, "medium": 0, "good": 0, "unknown": 0},
    }
    for t in torrents:
        key = "metadata" if t["is_metadata"] else (t["band"] or t["group_name"] or "other")
        band = bands.setdefault(
            key,
            {
                "band": key,
                "torrents": 0,
                "data_size": 0,
                "num_files": 0,
                "tracks": 0,
                "listens_covered": 0.0,
                "seeders_min": None,
                "health": {"none": 0, "low": 0, "medium": 0, "good": 0, "unknown": 0},
            },
        )
        for target in (band, totals):
            target["torrents"] += 1
            target["data_size"] += t["data_size"] or 0
            target["num_files"] += t["num_files"] or 0
            target["tracks"] += t["tracks"] or 0
            target["listens_covered"] += t["listens_covered"] or 0.0
            target["health"][t["health"]] += 1
        if t["seeders"] is not None:
            band["seeders_min"] = (
                t["seeders"] if band["seeders_min"] is None else min(band["seeders_min"], t["seeders"])
            )
    everything = totals["listens_covered"]
    for target in (*bands.values(), totals):
        target["listens_share"] = target["listens_covered"] / everything if everything > 0 else None
    return {"bands": list(bands.values()), "totals": totals}


def generate(
    torrents: list[dict[str, Any]],
    budget: int,
    *,
    include_metadata: bool = True,
    max_torrents: int = 10_000,
    popularity_weight: float = 1.0,
    seed: int | None = None,
) -> dict[str, Any]:
    """Torrents a volunteer with `budget` bytes should seed: `fonoteca torrents pick`'s own choice
    (fonoteca.pack.listing.pick, with the archive's popularity weight)."""
    from fonoteca.pack.listing import pick

    items = [t for t in torrents if t["data_size"] is not None]
    picked = [
        p.record
        for p in pick(items, budget, popularity_weight=popularity_weight, include_metadata=include_metadata, seed=seed)
    ][:max_torrents]
    listens = sum(t["listens_covered"] or 0.0 for t in picked)
    everything = sum(t["listens_covered"] or 0.0 for t in torrents if not t["obsolete"])
    return {
        "budget": budget,
        "bytes": sum(t["data_size"] or 0 for t in picked),
        "count": len(picked),
        "listens_covered": listens,
        "listens_share": listens / everything if everything > 0 else None,
        "tracks": sum(t["tracks"] or 0 for t in picked),
        "torrents": picked,
    }
