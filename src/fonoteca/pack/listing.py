"""The torrent list (torrents.json) and the seeding generator (`fonoteca torrents pick`).

A torrents.json record uses the field names volunteers know from the reference archive's list:

    url, group_name, display_name, btih, magnet_link, torrent_size, num_files, data_size,
    added_to_torrents_list_at, is_metadata, obsolete, embargo, seeders, leechers, completed, stats_scraped_at

plus Fonoteca's own: name, release, kind, band, seq, btmh, piece_length, tracks, listens_covered, pop_min,
pop_max, first_id, last_id, stats_source (who counted the swarm figures: "tracker" or "dht"; a DHT scrape gives
no completed count, so completed is null then), v1_only (the torrent's BitTorrent v1-only twin, for clients that
cannot read hybrid torrents: {url, display_name, btih, magnet_link, torrent_size}; null for torrents packed
before twins existed; see fonoteca.pack.hybrid.v1_only), and the withdrawals' marks: partially_broken (the torrent
holds tracks the ledger withdraws: mirrors skip those files), withdrawn_files, replaced_by (the replacement torrent
that holds the rest), replaces (on a replacement: the torrent it stands in for). A replacement that is no longer
needed (its tracks were reinstated, or a newer replacement exists) is listed obsolete. group_name is the band
(pop_50-100, ...) or "metadata"; seeders, leechers and completed are 0 and stats_scraped_at null until swarm figures
were recorded (set_stats).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from fonoteca.archive import Archive
from fonoteca.catalog.db import transaction
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.pack import paths
from fonoteca.pack.settings import PackSettings

_COLUMNS = (
    "t.rowid, t.name, r.name, t.kind, t.band, t.seq, t.btih, t.btmh, t.piece_length, t.num_files, "
    "t.data_size, t.torrent_size, t.tracks, t.listens, t.pop_min, t.pop_max, t.first_id, t.last_id, "
    "t.added_at, t.obsolete, t.embargo, t.seeders, t.leechers, t.completed, t.stats_scraped_at, t.v1_btih, "
    "t.v1_torrent_size, t.stats_source"
)


def magnet_link(
    btih: str, btmh: str | None, name: str, trackers: Iterable[str] = (), web_seeds: Iterable[str] = ()
) -> str:
    """A magnet link: the v1 info-hash and (a hybrid's) v2 info-hash, the name, trackers and web seeds."""
    link = f"magnet:?xt=urn:btih:{btih}" + (f"&xt=urn:btmh:1220{btmh}" if btmh else "") + f"&dn={quote(name, safe='')}"
    link += "".join(f"&tr={quote(t, safe='')}" for t in trackers)
    return link + "".join(f"&ws={quote(w, safe='')}" for w in web_seeds)


def web_seeds_for(settings: PackSettings, release: str) -> list[str]:
    return [w.replace("{release}", release) for w in settings.web_seeds]


def torrent_path(release: str, name: str, *, v1_only: bool = False) -> str:
    """Where a .torrent (or, `v1_only`, its v1-only twin) lies, relative to the archive root."""
    if v1_only:
        return f"releases/{release}/{paths.V1_ONLY_FOLDER}/{paths.v1_only_file(name)}"
    return f"releases/{release}/torrents/{name}.torrent"


def records(
    conn: sqlite3.Connection, settings: PackSettings, *, release: str | None = None, building: int | None = None
) -> list[dict[str, Any]]:
    """torrents.json records of finished releases, oldest first: all of them, or one release's (by name). With
    `building`, the torrents of that release (still being written) are listed too."""
    where = ["(r.status = 'done' OR r.rowid = ?)"]
    params: list[Any] = [-1 if building is None else building]
    if release is not None:
        where.append("r.name = ?")
        params.append(release)
    sql = (
        f"SELECT {_COLUMNS} FROM torrents t JOIN releases r ON r.rowid = t.release WHERE {' AND '.join(where)} "
        "ORDER BY t.rowid"
    )
    rows = conn.execute(sql, params).fetchall()
    marks = withdrawal_marks(conn, building)
    return [dict(record(row, settings), **marks.get(row[0], NO_MARKS)) for row in rows]


NO_MARKS = {"partially_broken": False, "withdrawn_files": 0, "replaced_by": None, "replaces": None}


def withdrawal_marks(conn: sqlite3.Connection, building: int | None = None) -> dict[int, dict[str, Any]]:
    """torrents.rowid -> the withdrawals' marks (see the module docstring), from the ledger beside the catalog."""
    from fonoteca.ledger import withdrawn_rowids

    try:
        links = conn.execute(
            "SELECT t.rowid, t.name, t.replaces, t.num_files FROM torrents t JOIN releases r "
            "ON r.rowid = t.release WHERE (r.status = 'done' OR r.rowid = ?) AND t.kind = 'data'",
            (-1 if building is None else building,),
        ).fetchall()
    except sqlite3.OperationalError:  # a catalog from before replacement torrents
        return {}
    withdrawn = sorted(withdrawn_rowids(conn))
    held: dict[int, int] = {}
    if withdrawn:
        held = {
            int(t): int(n)
            for t, n in conn.execute(
                "SELECT torrent, count(*) FROM torrent_files WHERE track IN (SELECT value FROM json_each(?)) "
                "GROUP BY torrent",
                (orjson.dumps(withdrawn).decode(),),
            )
        }
    by_rowid = {r: (name, replaces, files) for r, name, replaces, files in links}
    out: dict[int, dict[str, Any]] = {}
    current: dict[int, int] = {}  # original -> its replacement holding exactly the tracks not withdrawn
    for rowid, (_, replaces, files) in by_rowid.items():
        if replaces is not None and replaces in by_rowid and not held.get(rowid):
            wanted = by_rowid[replaces][2] - held.get(replaces, 0)
            if files == wanted and (replaces not in current or rowid > current[replaces]):
                current[replaces] = rowid
    for rowid, (_, replaces, _) in by_rowid.items():
        broken = bool(held.get(rowid))
        marks = {
            "partially_broken": broken,
            "withdrawn_files": held.get(rowid, 0),
            "replaced_by": None,
            "replaces": by_rowid[replaces][0] if replaces in by_rowid else None,
        }
        if broken:
            root = replaces if replaces in by_rowid else rowid
            if root in current and current[root] != rowid:
                marks["replaced_by"] = by_rowid[current[root]][0]
        if replaces in by_rowid and current.get(replaces) != rowid and not broken:
            marks["obsolete"] = True  # its original is whole again, or a newer replacement stands in for it
        out[rowid] = marks
    return out


def record(row: tuple, settings: PackSettings) -> dict[str, Any]:
    (
        _,
        name,
        release,
        kind,
        band,
        seq,
        btih,
        btmh,
        piece_length,
        num_files,
        data_size,
        torrent_size,
        tracks,
        listens,
        pop_min,
        pop_max,
        first_id,
        last_id,
        added_at,
        obsolete,
        embargo,
        seeders,
        leechers,
        completed,
        scraped,
        v1_btih,
        v1_torrent_size,
        source,
    ) = row
    path = torrent_path(release, name)
    twin = None
    if v1_btih:
        twin_path = torrent_path(release, name, v1_only=True)
        twin = {
            "url": (settings.torrent_url + twin_path) if settings.torrent_url else twin_path,
            "display_name": paths.v1_only_file(name),
            "btih": v1_btih,
            "magnet_link": magnet_link(v1_btih, None, name, settings.trackers, web_seeds_for(settings, release)),
            "torrent_size": v1_torrent_size,
        }
    return {
        "url": (settings.torrent_url + path) if settings.torrent_url else path,
        "group_name": band if kind == "data" else "metadata",
        "display_name": f"{name}.torrent",
        "btih": btih,
        "magnet_link": magnet_link(btih, btmh, name, settings.trackers, web_seeds_for(settings, release)),
        "torrent_size": torrent_size,
        "num_files": num_files,
        "data_size": data_size,
        "added_to_torrents_list_at": added_at,
        "is_metadata": kind == "metadata",
        "obsolete": bool(obsolete),
        "embargo": bool(embargo),
        "seeders": seeders or 0,
        "leechers": leechers or 0,
        "completed": None if source == "dht" else (completed or 0),  # the DHT counts no completed downloads
        "stats_scraped_at": scraped,
        "stats_source": source,
        "name": name,
        "release": release,
        "kind": kind,
        "band": band,
        "seq": seq,
        "btmh": btmh,
        "piece_length": piece_length,
        "tracks": tracks,
        "listens_covered": listens,
        "pop_min": pop_min,
        "pop_max": pop_max,
        "first_id": first_id,
        "last_id": last_id,
        "v1_only": twin,
    }


def dumps(items: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(items, option=orjson.OPT_INDENT_2) + b"\n"


def list_torrents(archive: Archive, *, release: str | None = None) -> list[dict[str, Any]]:
    """Every torrent of the archive's finished releases as torrents.json records (oldest first)."""
    settings = PackSettings.from_config(archive.config)
    conn = archive.connect(readonly=True)
    try:
        if (
            release is not None
            and conn.execute("SELECT 1 FROM releases WHERE name = ? AND status = 'done'", (release,)).fetchone() is None
        ):
            raise FonotecaError(f"no release named {release!r}; see `fonoteca torrents list`")
        return records(conn, settings, release=release)
    finally:
        conn.close()


def write_current_list(archive: Archive, conn: sqlite3.Connection, settings: PackSettings) -> None:
    """Rewrite the lists after a pack, mark or set_stats: releases/torrents.json (every torrent) and each
    release's releases/R/torrents.json (its own torrents) whose swarm figures or flags changed. Nothing else in
    a release folder ever changes."""
    from fonoteca.durable import write_atomic
    from fonoteca.pack import bag
    from fonoteca.pack.release import releases_dir

    folder = releases_dir(archive)
    items = records(conn, settings)
    write_atomic(folder / "torrents.json", dumps(items))
    by_release: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_release.setdefault(item["release"], []).append(item)
    for release, own in by_release.items():
        path = folder / release / "torrents.json"
        if path.parent.is_dir() and not path.parent.is_symlink():
            data = dumps(own)
            try:
                if path.read_bytes() == data:
                    continue
            except OSError:
                pass
            write_atomic(path, data)
            bag.write_tag_manifest(path.parent)  # torrents.json is a tag file of the release's bag


# ------------------------------------------------------------------------------------------------ reading lists

MAX_LIST_BYTES = 256 * 1024 * 1024
STATS_SOURCES = ("tracker", "dht")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")

_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "release": (str,),
    "url": (str,),
    "btih": (str,),
    "kind": (str,),
    "magnet_link": (str,),
    "data_size": (int,),
    "num_files": (int,),
    "is_metadata": (bool,),
    "obsolete": (bool,),
    "embargo": (bool,),
    "seeders": (int,),
    "tracks": (int,),
    "listens_covered": (int, float),
    "band": (str, type(None)),
    "pop_min": (int, type(None)),
    "pop_max": (int, type(None)),
    "added_to_torrents_list_at": (str, type(None)),
    "partially_broken": (bool,),
    "withdrawn_files": (int,),
    "replaced_by": (str, type(None)),
    "replaces": (str, type(None)),
    "stats_source": (str, type(None)),
    "v1_only": (dict, type(None)),
}
_V1_TYPES: dict[str, tuple[type, ...]] = {
    "url": (str,),
    "btih": (str,),
    "magnet_link": (str,),
    "display_name": (str,),
    "torrent_size": (int,),
}
_REQUIRED = ("name", "release", "url", "btih", "data_size", "is_metadata")


def check_list(items: Any, where: str = "torrents.json", errors: list[str] | None = None) -> list[dict[str, Any]]:
    """A torrents.json list with the types pack writes. A bad entry is refused with a clear error; with `errors`,
    it is named there instead and left out, and the good entries come back (a volunteer's list with one broken
    entry still mirrors the rest)."""
    if not isinstance(items, list):
        raise FonotecaError(f"refused: {where} is not a JSON list")
    good = []
    names: set[str] = set()
    for n, rec in enumerate(items):
        problem = _entry_problem(rec)
        if problem is None and rec["name"] in names:
            problem = "a torrent of this name is listed already"
        if problem is None:
            good.append(rec)
            names.add(rec["name"])
            continue
        named = f" ({rec['name']})" if isinstance(rec, dict) and isinstance(rec.get("name"), str) else ""
        message = f"refused: {where} item {n}{named}: {problem}"
        if errors is None:
            raise FonotecaError(message)
        errors.append(message)
    return good


def _entry_problem(rec: Any) -> str | None:
    """Why one torrents.json entry cannot be used (None: it can)."""
    if not isinstance(rec, dict):
        return "not an object"
    for key in _REQUIRED:
        if key not in rec:
            return f"has no {key!r}"
    for key, types in _TYPES.items():
        if key in rec and (not isinstance(rec[key], types) or (bool not in types and isinstance(rec[key], bool))):
            return f"{key!r} has the wrong type ({type(rec[key]).__name__})"
    for key in ("name", "release"):
        if not paths.is_safe_name(rec[key]):
            return f"{key} {rec[key]!r} is not a safe name"
    if not _HEX40.match(rec["btih"]):
        return "btih is not 40 hex digits"
    if rec["data_size"] < 0 or rec["data_size"] > 1 << 50:
        return "absurd data_size"
    if rec.get("stats_source") not in (None, *STATS_SOURCES):
        return f"unknown stats_source {rec['stats_source']!r}"
    return _twin_problem(rec.get("v1_only"), rec["btih"])


def v1_only_record(rec: dict[str, Any]) -> dict[str, Any] | None:
    """An entry as its v1-only twin: the same torrent name, release and sizes with the twin's btih, url, magnet
    link and .torrent size (`via` "v1", the hybrid's btih kept as `hybrid_btih`); None when the entry names no
    twin (a torrent packed before twins existed)."""
    twin = rec.get("v1_only")
    if not isinstance(twin, dict):
        return None
    return dict(
        rec,
        btih=twin["btih"],
        url=twin["url"],
        btmh=None,
        via="v1",
        hybrid_btih=rec["btih"],
        display_name=twin.get("display_name") or paths.v1_only_file(rec["name"]),
        magnet_link=twin.get("magnet_link") or f"magnet:?xt=urn:btih:{twin['btih']}",
        torrent_size=twin.get("torrent_size"),
    )


def _twin_problem(twin: Any, btih: str) -> str | None:
    """Why an entry's v1_only object cannot be used (None: it can, or there is none)."""
    if twin is None:
        return None
    for key in ("url", "btih"):
        if key not in twin:
            return f"v1_only has no {key!r}"
    for key, types in _V1_TYPES.items():
        if key in twin and (not isinstance(twin[key], types) or isinstance(twin[key], bool)):
            return f"v1_only {key!r} has the wrong type ({type(twin[key]).__name__})"
    if not _HEX40.match(twin["btih"]):
        return "v1_only btih is not 40 hex digits"
    if twin["btih"] == btih:
        return "v1_only btih is the hybrid's own"
    return None


def read_list(path: Path) -> list[dict[str, Any]]:
    """A torrents.json file (downloaded or local), checked (see check_list)."""
    try:
        size = path.stat().st_size
        if size > MAX_LIST_BYTES:
            raise FonotecaError(f"refused: {path} is larger than {MAX_LIST_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise FonotecaError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FonotecaError(f"refused: {path} is not JSON ({exc})") from None
    return check_list(items, str(path))


# ------------------------------------------------------------------------------------------------ picking


@dataclass
class Pick:
    record: dict[str, Any]
    score: float  # the generator's score: lower is needier (see pick)
    cumulative: int  # bytes picked so far, this one included

    @property
    def priority(self) -> float:
        """1 / score: higher is needier (what `torrents pick` shows)."""
        return 1.0 / self.score if self.score > 0 else float("inf")


def popularity_weight_of(rec: dict[str, Any], popularity_weight: float) -> float:
    """How much more a torrent counts for its popularity: 1 + weight x (mid-popularity of its files) / 100, so at
    the default weight 1.0 a torrent of the most popular band counts twice one of popularity 0."""
    low, high = rec.get("pop_min") or 0, rec.get("pop_max") or 0
    return 1.0 + popularity_weight * ((low + high) / 2) / 100


def _scraped(rec: dict[str, Any]) -> bool:
    return bool(rec.get("stats_scraped_at"))


def usable_for_seeding(rec: dict[str, Any]) -> bool:
    """The reference generator's filter: not embargoed, not obsolete, and not counted with no seeders at all (a
    torrent nobody counted is kept: its seeders are unknown, not zero)."""
    if rec.get("obsolete") or rec.get("embargo"):
        return False
    if rec.get("partially_broken") and rec.get("replaced_by"):
        return False  # seed its replacement instead: the same files but the withdrawn ones
    return not (_scraped(rec) and rec.get("seeders") == 0 and not rec.get("is_metadata"))


def score(rec: dict[str, Any], average_size: float, popularity_weight: float, jitter: float) -> float:
    """The reference site's score, `(seeders + 0.1 x leechers) x (average size / data_size) + uniform(0, 2)`,
    divided by Fonoteca's popularity weight; the lowest score is the neediest torrent. `jitter` is the uniform
    draw, so that volunteers who ask at the same time spread over the torrents."""
    seeders = (rec.get("seeders") or 0) if _scraped(rec) else 0
    leechers = (rec.get("leechers") or 0) if _scraped(rec) else 0
    size = max(int(rec.get("data_size") or 0), 1)
    return ((seeders + 0.1 * leechers) * (average_size / size) + jitter) / popularity_weight_of(rec, popularity_weight)


def pick(
    items: Iterable[dict[str, Any]],
    budget: int,
    *,
    popularity_weight: float = 1.0,
    bands: Iterable[str] | None = None,
    include_metadata: bool = True,
    seed: int | None = None,
) -> list[Pick]:
    """What to seed (or mirror) on a disk of `budget` bytes: the one implementation behind `torrents pick`, the
    site's and API's generator and `mirror --budget`.

    Filters first (bands, obsolete, embargo, no seeders at all), then the newest metadata torrent (the key to all
    the others), then the data torrents by ascending score() (neediest first), filled greedily: a torrent larger
    than what is left is passed over and smaller ones still fill the disk. `seed` fixes the uniform draws (the
    same seed, the same list); without it every call draws anew."""
    import random

    if budget < 0:
        raise UsageError("the budget must not be negative")
    wanted = None if bands is None else set(bands)
    usable = [
        r
        for r in items
        if usable_for_seeding(r) and (r.get("is_metadata") or wanted is None or r.get("band") in wanted)
    ]
    metadata = [r for r in usable if r.get("is_metadata")] if include_metadata else []
    data = [r for r in usable if not r.get("is_metadata")]
    rng = random.Random(seed)
    average = sum(int(r.get("data_size") or 0) for r in data) / len(data) if data else 1.0
    scored = [(score(r, average, popularity_weight, rng.uniform(0, 2)), r) for r in data]
    scored.sort(key=lambda sr: (sr[0], sr[1].get("name") or ""))
    newest = sorted(metadata, key=lambda r: r.get("added_to_torrents_list_at") or "", reverse=True)[:1]
    out: list[Pick] = []
    used = 0
    for value, r in [(0.0, m) for m in newest] + scored:
        size = int(r.get("data_size") or 0)
        if used + size > budget:
            continue
        used += size
        out.append(Pick(r, value, used))
    return out


# ------------------------------------------------------------------------------------------------ updates


def _resolve(conn: sqlite3.Connection, refs: list[str]) -> list[int]:
    ids = []
    for ref in refs:
        key = ref.removesuffix(".torrent").lower() if len(ref) in (40, 64) else ref.removesuffix(".torrent")
        row = conn.execute(
            "SELECT t.rowid FROM torrents t JOIN releases r ON r.rowid = t.release "
            "WHERE r.status = 'done' AND (t.name = ? OR t.btih = ? OR t.btmh = ?)",
            (key, key, key),
        ).fetchone()
        if row is None:
            raise FonotecaError(f"no torrent named {ref!r} (give a name, btih or btmh from `fonoteca torrents list`)")
        ids.append(int(row[0]))
    return ids


def mark(archive: Archive, refs: list[str], *, obsolete: bool | None = None, embargo: bool | None = None) -> int:
    """Set or clear the obsolete / embargo flags of torrents (by name, btih or btmh); returns how many."""
    settings = PackSettings.from_config(archive.config)
    conn = archive.connect()
    try:
        ids = _resolve(conn, refs)
        with transaction(conn):
            for rowid in ids:
                if obsolete is not None:
                    conn.execute("UPDATE torrents SET obsolete = ? WHERE rowid = ?", (int(obsolete), rowid))
                if embargo is not None:
                    conn.execute("UPDATE torrents SET embargo = ? WHERE rowid = ?", (int(embargo), rowid))
        write_current_list(archive, conn, settings)
        return len(ids)
    finally:
        conn.close()


def set_stats(archive: Archive, stats: Iterable[tuple], *, scraped_at: str | None = None) -> int:
    """Record swarm figures: (btih or name, seeders, leechers, completed[, source]) per torrent; source is
    "tracker" (the default) or "dht", whose completed is None (a DHT scrape does not count it)."""
    settings = PackSettings.from_config(archive.config)
    when = scraped_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conn = archive.connect()
    try:
        rows = list(stats)
        ids = _resolve(conn, [r[0] for r in rows])
        with transaction(conn):
            for rowid, (_, seeders, leechers, completed, *rest) in zip(ids, rows, strict=True):
                source = rest[0] if rest else "tracker"
                if source not in STATS_SOURCES:
                    raise ValueError(f"unknown source of swarm figures {source!r}")
                conn.execute(
                    "UPDATE torrents SET seeders = ?, leechers = ?, completed = ?, stats_scraped_at = ?, "
                    "stats_source = ? WHERE rowid = ?",
                    (int(seeders), int(leechers), None if completed is None else int(completed), when, source, rowid),
                )
        write_current_list(archive, conn, settings)
        return len(ids)
    finally:
        conn.close()
