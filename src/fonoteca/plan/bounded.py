"""The plan of a catalog larger than its memory budget: the same plan as the in-memory solver, in bounded memory.

`[plan] memory` in fonoteca.toml (default 2GB) is the budget; a catalog whose in-memory model would not fit it is
planned here. Every per-track column goes to a file beside the archive (ARCHIVE/tmp) and is read back chunk by
chunk; what needs an order other than rowid's is sorted externally (plan/external.py):

1. tracks, in rowid chunks: popularity, duration, secondary priority (the artist maxima read per chunk), plays,
   the reference release's status and file sizes -> one record per track;
2. the tracks sharing an ISRC, joined to their records and sorted by group then by the rule's order (available,
   popularity, priority, rowid): the first of each group stands for its recording;
3. members with their listens, sorted by (representative, rowid): a recording's listens are summed in rowid
   order, exactly as the in-memory bincount does;
4. (optimal) every hull step of every recording, sorted by value per byte with the in-memory solver's ties
   (steps in step order): the budget's prefix is read off the sorted steps, and the fill pass after it walks
   them lazily, keeping only the few candidates a round can take;
5. the plan, written track by track in rowid order from the same records.

The decisions depend only on per-track values, those ordered group sums and integer sums of bytes, so the plan
rows are the in-memory solver's; float totals in the summary may differ from it in the last digits (they are
summed chunk by chunk).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fonoteca.archive import Archive
from fonoteca.catalog.db import transaction
from fonoteca.plan import data as data_mod
from fonoteca.plan import listens as listens_mod
from fonoteca.plan import policies
from fonoteca.plan.external import Spill, map_big_arrays, scratch, sort
from fonoteca.progress import Progress
from fonoteca.tiers import Tier
from fonoteca.units import parse_size

DEFAULT_MEMORY = "2GB"
BYTES_PER_TRACK = 160  # the in-memory model and solver, per track (measured: 1.4 GB at 10M tracks)
BASE_BYTES = 250_000_000  # interpreter, numpy, SQLite caches
TRACK = np.dtype(
    [
        ("rowid", "i8"),
        ("popularity", "i2"),
        ("duration", "i4"),
        ("priority", "f8"),
        ("status", "i1"),
        ("plays", "i8"),
        ("size_compact", "i8"),
        ("size_original", "i8"),
    ]
)
MEMBER = np.dtype([("grp", "i8"), ("lacking", "i1"), ("neg_popularity", "i4"), ("neg_priority", "f8"), ("rowid", "i8")])
REP = np.dtype([("rowid", "i8"), ("rep", "i8"), ("rep_kept", "i1")])  # rep_kept: the reference rule keeps it
SHARE = np.dtype([("rep", "i8"), ("rowid", "i8"), ("listens", "f8")])
GROUP = np.dtype([("rep", "i8"), ("listens", "f8"), ("size", "i8")])
STEP = np.dtype(
    [
        ("neg_eff", "f8"),
        ("kind", "i1"),
        ("ordinal", "i8"),
        ("rep_ordinal", "i8"),
        ("tier", "i1"),
        ("weight", "i8"),
        ("value", "f8"),
        ("covers", "f8"),
        ("first_neg_eff", "f8"),
    ]
)
STEP_KEY = ("neg_eff", "kind", "ordinal")


def memory_budget(config: dict[str, Any]) -> int:
    text = str(config.get("plan", {}).get("memory", DEFAULT_MEMORY))
    return parse_size(text)


def fits_in_memory(config: dict[str, Any], tracks: int) -> bool:
    return BASE_BYTES + tracks * BYTES_PER_TRACK <= memory_budget(config)


@dataclass
class Context:
    """What the passes share: the catalog, the settings, the folder of spills, the chunk sizes."""

    conn: sqlite3.Connection
    config: dict[str, Any]
    folder: Path
    memory: int
    chunk: int
    bitrates: dict[int, int]
    compact_value: float
    spills: list[Spill] = field(default_factory=list)

    def spill(self, dtype: np.dtype, name: str) -> Spill:
        found = Spill(self.folder, dtype, name)
        self.spills.append(found)
        return found

    def sorted(self, spill: Spill, keys: tuple[str, ...]) -> Spill:
        out = sort(spill, keys, self.memory // 2, self.folder)
        self.spills.append(out)
        return out


class Cursor:
    """Reads a spill sorted by `key` forward, handing out the records below a bound, bound after bound."""

    def __init__(self, spill: Spill, key: str, rows: int) -> None:
        self.chunks = spill.chunks(rows)
        self.key = key
        self.held = np.zeros(0, dtype=spill.dtype)
        self.done = False

    def below(self, bound: int) -> np.ndarray:
        parts = []
        while True:
            cut = int(np.searchsorted(self.held[self.key], bound, side="left"))
            parts.append(self.held[:cut])
            self.held = self.held[cut:]
            if len(self.held) or self.done:
                break
            nxt = next(self.chunks, None)
            if nxt is None:
                self.done = True
                break
            self.held = nxt
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


# --- 1. tracks --------------------------------------------------------------------------------------------------
@dataclass
class Tracks:
    spill: Spill
    count: int
    durations: DurationCounts  # tracks per known duration
    missing_duration: int
    missing_popularity: int
    fit: listens_mod.FitSums  # for the listen model's calibration (tracks with plays > 0 and popularity > 0)
    with_plays: int
    any_plays: bool
    any_status: bool


def read_tracks(ctx: Context, progress: Progress | None) -> Tracks:
    conn = ctx.conn
    top = conn.execute("SELECT coalesce(max(rowid), 0) FROM tracks").fetchone()[0]
    artists, albums = data_mod._artists(conn), data_mod._albums(conn)
    any_status = (
        data_mod._table_exists(conn, "track_files")
        and conn.execute("SELECT 1 FROM track_files LIMIT 1").fetchone() is not None
    )
    any_plays = (
        data_mod._table_exists(conn, "track_plays")
        and conn.execute("SELECT 1 FROM track_plays LIMIT 1").fetchone() is not None
    )
    out = ctx.spill(TRACK, "tracks")
    result = Tracks(out, 0, DurationCounts(), 0, 0, listens_mod.FitSums(), 0, any_plays, any_status)
    for lo in range(0, top + 1, ctx.chunk):
        data = _chunk_data(conn, lo, min(top + 1, lo + ctx.chunk), artists, albums)
        if not len(data):
            continue
        records = np.zeros(len(data), dtype=TRACK)
        records["rowid"], records["popularity"] = data.rowid, data.popularity
        records["duration"], records["priority"] = data.duration_ms, data.priority
        records["status"] = data.status if data.status is not None else -1
        records["plays"] = data.plays if data.plays is not None else -1
        for tier, column in ((Tier.COMPACT, "size_compact"), (Tier.ORIGINAL, "size_original")):
            records[column] = data.sizes[tier] if tier in data.sizes else -1
        out.append(records)
        result.count += len(data)
        result.durations.add(data.duration_ms)
        result.missing_duration += int((data.duration_ms <= 0).sum())
        result.missing_popularity += int((data.popularity < 0).sum())
        if data.plays is not None:
            result.with_plays += int((data.plays >= 0).sum())
            result.fit.add(data.popularity, data.plays)
        if progress:
            progress(len(data))
    out.done()
    return result


def _chunk_data(
    conn: sqlite3.Connection, lo: int, hi: int, artists: dict[str, np.ndarray], albums: dict[str, np.ndarray]
) -> data_mod.TrackData:
    """The in-memory model's columns for the tracks with lo <= rowid < hi (the same code reads them)."""
    tracks = data_mod._read_range(conn, lo, hi, None)
    best_popularity, best_followers = data_mod.artist_maxima(conn, tracks["rowid"], artists)
    data = data_mod._with_priority(tracks, best_popularity, best_followers, albums)
    plays = (
        np.array(
            conn.execute("SELECT track, plays FROM track_plays WHERE track >= ? AND track < ?", (lo, hi)).fetchall(),
            dtype=np.int64,
        ).reshape(-1, 2)
        if data_mod._table_exists(conn, "track_plays")
        else np.zeros((0, 2), dtype=np.int64)
    )
    pos = data.index_of(plays[:, 0])
    keep = pos >= 0
    if keep.any():
        data.plays = np.full(len(data), -1, dtype=np.int64)
        data.plays[pos[keep]] = np.maximum(plays[keep, 1], 0)
    data_mod.read_track_files(conn, data, lo, hi)
    if data_mod._table_exists(conn, "plan_sizes"):
        rows = np.array(
            conn.execute(
                "SELECT track, tier, bytes FROM plan_sizes WHERE track >= ? AND track < ?", (lo, hi)
            ).fetchall(),
            dtype=np.int64,
        ).reshape(-1, 3)
        for tier in (1, 2):
            sel = rows[rows[:, 1] == tier]
            pos = data.index_of(sel[:, 0])
            keep = pos >= 0
            if keep.any():
                sizes = data.sizes.setdefault(tier, np.full(len(data), -1, dtype=np.int64))
                sizes[pos[keep]] = sel[keep, 2]
    return data


class DurationCounts:
    """How many tracks have each known duration (ms), for the median: a fixed array up to 35 minutes (16 MB,
    whatever the catalog size), a dict of the rare longer ones."""

    SHORT_MS = 1 << 21

    def __init__(self) -> None:
        self.short = np.zeros(self.SHORT_MS, dtype=np.int64)
        self.long: dict[int, int] = {}

    def add(self, duration_ms: np.ndarray) -> None:
        known = duration_ms[duration_ms > 0].astype(np.int64)
        short = known < self.SHORT_MS
        self.short += np.bincount(known[short], minlength=self.SHORT_MS)
        values, counts = np.unique(known[~short], return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self.long[value] = self.long.get(value, 0) + count

    def median(self) -> int:
        """np.median of every known duration, as int() of it (the in-memory model's fallback duration)."""
        total = int(self.short.sum()) + sum(self.long.values())
        if not total:
            return policies.DEFAULT_DURATION_MS
        below = np.cumsum(self.short)  # tracks with a duration <= each value
        found = []
        for rank in ((total - 1) // 2, total // 2):
            at = int(np.searchsorted(below, rank, side="right"))
            if at < self.SHORT_MS:
                found.append(at)
                continue
            seen = int(below[-1])
            for value in sorted(self.long):
                seen += self.long[value]
                if rank < seen:
                    found.append(value)
                    break
        return int(np.median(np.array(found, dtype=np.float64)))


# --- 2. recordings ----------------------------------------------------------------------------------------------
def representatives(ctx: Context, tracks: Tracks) -> Spill:
    """(rowid, representative rowid) of every track whose ISRC other tracks share, sorted by rowid."""
    pairs = ctx.spill(np.dtype([("rowid", "i8"), ("grp", "i8")]), "shared")
    cursor = ctx.conn.execute(data_mod._DUPLICATES_SQL)
    while rows := cursor.fetchmany(data_mod.CHUNK * 4):
        pairs.append(np.array(rows, dtype=pairs.dtype))
    pairs = ctx.sorted(pairs.done(), ("rowid",))
    members = ctx.spill(MEMBER, "members")
    unavailable = [data_mod.STATUSES.index(s) for s in data_mod.UNAVAILABLE]
    shared = Cursor(pairs, "rowid", ctx.chunk)
    for chunk in tracks.spill.chunks(ctx.chunk):
        found = shared.below(int(chunk["rowid"][-1]) + 1)
        pos = np.searchsorted(chunk["rowid"], found["rowid"])
        pos = np.clip(pos, 0, len(chunk) - 1)
        keep = chunk["rowid"][pos] == found["rowid"]  # stubs (level 0) take no part
        found, own = found[keep], chunk[pos[keep]]
        out = np.zeros(len(found), dtype=MEMBER)
        out["grp"], out["rowid"] = found["grp"], found["rowid"]
        out["lacking"] = np.isin(own["status"], unavailable) if tracks.any_status else 0
        out["neg_popularity"] = -own["popularity"].astype(np.int32)
        out["neg_priority"] = -own["priority"]
        members.append(out)
    members = ctx.sorted(members.done(), ("grp", "lacking", "neg_popularity", "neg_priority", "rowid"))
    reps = ctx.spill(REP, "reps")
    carry: tuple[int, int, int] | None = None  # (group, representative, kept) of the group a chunk ends in
    for chunk in members.chunks(ctx.chunk):
        n = len(chunk)
        starts = np.ones(n, dtype=bool)
        starts[1:] = chunk["grp"][1:] != chunk["grp"][:-1]
        # the first member of a group stands for it; whether the reference rule keeps that one
        base = chunk["rowid"].copy()
        kept = (chunk["lacking"] == 0) & (
            (-chunk["neg_popularity"] > 0) | (-chunk["neg_priority"] >= policies.ANNA_THRESHOLD)
        )
        if carry is not None and chunk["grp"][0] == carry[0]:  # the chunk begins inside the last one's group
            base[0], kept[0] = carry[1], bool(carry[2])
        at = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        out = np.zeros(n, dtype=REP)
        out["rowid"], out["rep"], out["rep_kept"] = chunk["rowid"], base[at], kept[at]
        reps.append(out)
        carry = (int(chunk["grp"][-1]), int(out["rep"][-1]), int(out["rep_kept"][-1]))
    return ctx.sorted(reps.done(), ("rowid",))


# --- 3. listens per recording -----------------------------------------------------------------------------------
@dataclass
class Model:
    """What the bounded passes know once the tracks and recordings are read."""

    ctx: Context
    tracks: Tracks
    reps: Spill
    groups: Spill
    listen_model: listens_mod.ListenModel
    fallback_ms: int
    total_listens: float = 0.0
    recordings: int = 0
    smallest_compact: int = 0
    steps: Spill | None = None


def _sizes(records: np.ndarray, fallback_ms: int, bitrates: dict[int, int]) -> dict[int, np.ndarray]:
    duration = records["duration"]
    seconds = np.where(duration > 0, duration, fallback_ms).astype(np.float64) / 1000.0
    out = {}
    for tier, bitrate in bitrates.items():
        size = np.rint(seconds * (bitrate / 8.0)).astype(np.int64)
        real = records["size_original" if tier == Tier.ORIGINAL else "size_compact"]
        out[tier] = np.where(real >= 0, real, size)
    return out


def build(ctx: Context, progress: Progress | None = None) -> Model:
    tracks = read_tracks(ctx, progress)
    if not tracks.count:
        from fonoteca.errors import FonotecaError

        raise FonotecaError("the catalog has no tracks to plan; import metadata first (fonoteca import ...)")
    model = listens_mod.from_config(ctx.config, tracks.fit if tracks.any_plays and tracks.with_plays else None)
    reps = representatives(ctx, tracks)
    shares = ctx.spill(SHARE, "shares")
    total = 0.0
    for chunk, rep, _ in _walk(ctx, tracks, reps):
        lis = model.listens(chunk["popularity"], chunk["plays"] if tracks.any_plays else None)
        total += float(lis.sum())
        member = rep != -1  # in a group of tracks sharing an ISRC
        out = np.zeros(int(member.sum()), dtype=SHARE)
        out["rep"], out["rowid"], out["listens"] = rep[member], chunk["rowid"][member], lis[member]
        shares.append(out)
    shares = ctx.sorted(shares.done(), ("rep", "rowid"))
    groups = ctx.spill(GROUP, "groups")
    leftover = np.zeros(0, dtype=SHARE)
    for chunk in shares.chunks(ctx.chunk):
        both = np.concatenate([leftover, chunk])
        last = both["rep"][-1]
        cut = int(np.searchsorted(both["rep"], last, side="left"))  # the last group may go on in the next chunk
        whole, leftover = both[:cut], both[cut:].copy()
        groups.append(_group_sums(whole))
    groups.append(_group_sums(leftover))
    groups.done()
    fallback = tracks.durations.median()
    found = Model(ctx, tracks, reps, groups, model, fallback, total_listens=total)
    return found


def _group_sums(members: np.ndarray) -> np.ndarray:
    """Sum of listens and count per representative; members sorted by (representative, rowid): each sum is
    taken in rowid order, as np.bincount over all tracks takes it."""
    if not len(members):
        return np.zeros(0, dtype=GROUP)
    first = np.ones(len(members), dtype=bool)
    first[1:] = members["rep"][1:] != members["rep"][:-1]
    local = np.cumsum(first) - 1
    out = np.zeros(int(first.sum()), dtype=GROUP)
    out["rep"] = members["rep"][first]
    out["listens"] = np.bincount(local, weights=members["listens"])
    out["size"] = np.bincount(local)
    return out


def _walk(ctx: Context, tracks: Tracks, reps: Spill) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Track records chunk by chunk with each track's representative rowid (-1: no other track has its ISRC)
    and whether the reference rule keeps that representative."""
    cursor = Cursor(reps, "rowid", ctx.chunk)
    for chunk in tracks.spill.chunks(ctx.chunk):
        found = cursor.below(int(chunk["rowid"][-1]) + 1)
        rep = np.full(len(chunk), -1, dtype=np.int64)
        kept = np.zeros(len(chunk), dtype=bool)
        pos = np.searchsorted(chunk["rowid"], found["rowid"])
        rep[pos], kept[pos] = found["rep"], found["rep_kept"].astype(bool)
        yield chunk, rep, kept


def walk_costs(m: Model) -> Iterator[dict[str, Any]]:
    """Per chunk of tracks (rowid order): listens, sizes per tier, whether the track stands for its recording,
    the recording's listens and tracks at its representative (0 elsewhere), and the representative's rowid."""
    ctx = m.ctx
    groups = Cursor(m.groups, "rep", ctx.chunk)
    for chunk, rep, rep_kept in _walk(ctx, m.tracks, m.reps):
        lis = m.listen_model.listens(chunk["popularity"], chunk["plays"] if m.tracks.any_plays else None)
        own = rep == -1
        rep_rowid = np.where(own, chunk["rowid"], rep)
        is_rep = rep_rowid == chunk["rowid"]
        group = groups.below(int(chunk["rowid"][-1]) + 1)
        group_listens = np.where(is_rep & own, lis, 0.0)
        group_size = np.where(is_rep & own, 1, 0).astype(np.int64)
        pos = np.searchsorted(chunk["rowid"], group["rep"])
        group_listens[pos] = group["listens"]
        group_size[pos] = group["size"]
        yield {
            "records": chunk,
            "listens": lis,
            "sizes": _sizes(chunk, m.fallback_ms, ctx.bitrates),
            "is_rep": is_rep,
            "group_listens": group_listens,
            "group_size": group_size,
            "rep": rep_rowid,
            "rep_kept": rep_kept,
        }


# --- 4. the optimal policy on sorted steps ----------------------------------------------------------------------
def steps(m: Model) -> Spill:
    """Every recording's hull steps (see policies.increments), sorted as the in-memory solver sorts them."""
    if m.steps is not None:
        return m.steps
    q = m.ctx.compact_value
    out = m.ctx.spill(STEP, "steps")
    first_ordinal = upgrade_ordinal = 0
    for c in walk_costs(m):
        sel = c["is_rep"] & (c["group_listens"] > 0)
        lis = c["group_listens"][sel]
        wc, wo = c["sizes"][Tier.COMPACT][sel], c["sizes"][Tier.ORIGINAL][sel]
        dominated = (wo <= wc) | (q * (wo - wc) <= (1 - q) * wc)
        with np.errstate(divide="ignore", invalid="ignore"):
            first_w = np.where(dominated, wo, wc)
            eff_first = np.where(first_w > 0, np.where(dominated, 1.0, q) * lis / first_w, np.inf)
            eff_up = (1 - q) * lis / (wo - wc)
        j = np.arange(first_ordinal, first_ordinal + len(lis), dtype=np.int64)
        first = np.zeros(len(lis), dtype=STEP)
        first["neg_eff"], first["kind"], first["ordinal"], first["rep_ordinal"] = -eff_first, 0, j, j
        first["tier"] = np.where(dominated, Tier.ORIGINAL, Tier.COMPACT)
        first["weight"], first["value"] = first_w, lis * np.where(dominated, 1.0, q)
        first["covers"], first["first_neg_eff"] = lis, -eff_first
        two = ~dominated
        up = np.zeros(int(two.sum()), dtype=STEP)
        up["neg_eff"], up["kind"] = -eff_up[two], 1
        up["ordinal"] = np.arange(upgrade_ordinal, upgrade_ordinal + len(up), dtype=np.int64)
        up["rep_ordinal"], up["tier"] = j[two], Tier.ORIGINAL
        up["weight"], up["value"] = (wo - wc)[two], lis[two] * (1 - q)
        up["first_neg_eff"] = -eff_first[two]
        out.append(first)
        out.append(up)
        first_ordinal += len(lis)
        upgrade_ordinal += len(up)
        m.recordings += int(c["is_rep"].sum())
        rep_compact = c["sizes"][Tier.COMPACT][c["is_rep"]]
        if len(rep_compact):
            smallest = int(rep_compact.min())
            m.smallest_compact = smallest if m.smallest_compact == 0 else min(m.smallest_compact, smallest)
    m.steps = m.ctx.sorted(out.done(), STEP_KEY)
    return m.steps


def _before(records: np.ndarray, key: tuple[float, int, int]) -> np.ndarray:
    """Records whose (neg_eff, kind, ordinal) comes before `key`."""
    e, k, o = key
    return (records["neg_eff"] < e) | (
        (records["neg_eff"] == e) & ((records["kind"] < k) | ((records["kind"] == k) & (records["ordinal"] < o)))
    )


@dataclass
class Solution:
    key: tuple[float, int, int] | None  # the first step past the budget's prefix (None: every step fits)
    fill_first: set[int]  # rep ordinals whose first step the fill pass took
    fill_upgrade: set[int]
    bound: dict[str, Any]


def solve(m: Model, budget: int) -> Solution:
    """policies.optimal, on the sorted steps: the prefix that fits, its LP bound, then the fill pass."""
    sorted_steps = steps(m)
    used = 0
    prefix_value = 0.0
    key = None
    lp_extra = 0.0
    position = 0
    for chunk in sorted_steps.chunks(m.ctx.chunk):
        cum = used + np.cumsum(chunk["weight"], dtype=np.int64)
        k = int(np.searchsorted(cum, budget, side="right"))
        if k < len(chunk):
            prefix_value += float(chunk["value"][:k].sum())
            used = int(cum[k - 1]) if k else used
            step = chunk[k]
            key = (float(step["neg_eff"]), int(step["kind"]), int(step["ordinal"]))
            lp_extra = float(step["value"]) * (budget - used) / float(step["weight"])
            position += k
            break
        prefix_value += float(chunk["value"].sum())
        used = int(cum[-1])
        position += len(chunk)
    lp = prefix_value + lp_extra
    fill_first: set[int] = set()
    fill_upgrade: set[int] = set()
    greedy = prefix_value
    if key is not None:
        greedy += _fill(m, key, budget - used, fill_first, fill_upgrade)
    total = m.total_listens
    return Solution(
        key,
        fill_first,
        fill_upgrade,
        {
            "greedy_value": greedy,
            "lp_value": lp,
            "gap": (lp - greedy) / lp if lp > 0 else 0.0,
            "greedy_share": greedy / total if total else 0.0,
            "lp_share": lp / total if total else 0.0,
        },
    )


def _candidates(m: Model, key: tuple[float, int, int], room: int) -> Iterator[np.ndarray]:
    """Steps from the first one past the prefix on, in order, that weigh at most `room`."""
    for chunk in m.steps.chunks(m.ctx.chunk):  # type: ignore[union-attr]
        chunk = chunk[~_before(chunk, key) & (chunk["weight"] <= room)]
        if len(chunk):
            yield chunk


def _fill(m: Model, key: tuple[float, int, int], room: int, fill_first: set[int], fill_upgrade: set[int]) -> float:
    """policies._fill, round by round over the candidates in order: each round takes the longest run of eligible
    steps (first steps, and upgrades of recordings kept before the round) that fits. Steps are read lazily and
    only those a round can still take are kept: an upgrade whose first step can no longer be taken is dropped."""
    stream = _candidates(m, key, room)
    buffer: list[tuple[int, int, int, float, bool]] = []  # kind, rep ordinal, weight, value, first in prefix
    waiting: dict[int, int] = {}  # rep ordinal -> its first step, still in the buffer
    exhausted = False
    spent_value = 0.0

    def load() -> bool:
        nonlocal exhausted
        chunk = next(stream, None)
        if chunk is None:
            exhausted = True
            return False
        in_prefix = _before_first(chunk, key)
        for step, prefix in zip(chunk.tolist(), in_prefix.tolist(), strict=True):
            kind, rep, weight, value = int(step[1]), int(step[3]), int(step[5]), float(step[6])
            if weight > room:
                continue
            if kind == 1 and not prefix and rep not in fill_first and rep not in waiting:
                continue  # its first step is gone for good: it can never be taken
            if kind == 0:
                waiting[rep] = waiting.get(rep, 0) + 1
            buffer.append((kind, rep, weight, value, bool(prefix)))
        return True

    while True:
        started = set(fill_first)
        total, taken = 0, []
        i = 0
        overflow = False
        while True:
            if i == len(buffer):
                if exhausted or not load():
                    break
                continue
            kind, rep, weight, value, prefix = buffer[i]
            if kind == 0 or prefix or rep in started:
                if total + weight > room:
                    overflow = True
                    break
                total += weight
                taken.append(i)
            i += 1
        del overflow
        if not taken:
            break
        chosen = set(taken)
        for i in taken:
            kind, rep, weight, value, _ = buffer[i]
            spent_value += value
            (fill_first if kind == 0 else fill_upgrade).add(rep)
        room -= total
        kept = []
        for n, (kind, rep, weight, value, prefix) in enumerate(buffer):
            if n in chosen:
                if kind == 0:
                    waiting[rep] -= 1
                continue
            if weight > room:
                if kind == 0:
                    waiting[rep] -= 1
                continue
            kept.append((kind, rep, weight, value, prefix))
        waiting = {rep: n for rep, n in waiting.items() if n > 0}
        buffer = [b for b in kept if b[0] == 0 or b[4] or b[1] in fill_first or b[1] in waiting]
        if not buffer and exhausted:
            break
    return spent_value


def _before_first(chunk: np.ndarray, key: tuple[float, int, int]) -> np.ndarray:
    """For each step, whether its recording's first step lies in the prefix."""
    first = np.zeros(len(chunk), dtype=[("neg_eff", "f8"), ("kind", "i1"), ("ordinal", "i8")])
    first["neg_eff"], first["kind"], first["ordinal"] = chunk["first_neg_eff"], 0, chunk["rep_ordinal"]
    return _before(first, key)


# --- 5. the plan --------------------------------------------------------------------------------------------------
def tiers(
    m: Model, policy: str, c: dict[str, np.ndarray], solution: Solution | None, first_ordinal: int
) -> tuple[np.ndarray, int]:
    """Tier per track of one chunk; the rep ordinal the next chunk starts at."""
    records = c["records"]
    n = len(records)
    tier = np.zeros(n, dtype=np.int8)
    if policy == "all":
        tier[c["is_rep"]] = Tier.ORIGINAL
        return tier, first_ordinal
    if policy == "anna":
        popular = records["popularity"] > 0
        unavailable = [data_mod.STATUSES.index(s) for s in data_mod.UNAVAILABLE]
        available = ~np.isin(records["status"], unavailable) if m.tracks.any_status else np.ones(n, dtype=bool)
        tier[popular & available] = Tier.ORIGINAL
        tier[c["is_rep"] & ~popular & available & (records["priority"] >= policies.ANNA_THRESHOLD)] = Tier.COMPACT
        return tier, first_ordinal
    assert solution is not None
    q = m.ctx.compact_value
    sel = c["is_rep"] & (c["group_listens"] > 0)
    lis = c["group_listens"][sel]
    wc, wo = c["sizes"][Tier.COMPACT][sel], c["sizes"][Tier.ORIGINAL][sel]
    dominated = (wo <= wc) | (q * (wo - wc) <= (1 - q) * wc)
    with np.errstate(divide="ignore", invalid="ignore"):
        first_w = np.where(dominated, wo, wc)
        eff_first = np.where(first_w > 0, np.where(dominated, 1.0, q) * lis / first_w, np.inf)
        eff_up = (1 - q) * lis / (wo - wc)
    j = np.arange(first_ordinal, first_ordinal + len(lis), dtype=np.int64)
    up_ordinal = np.cumsum(~dominated) - 1 + m._upgrades_before  # type: ignore[attr-defined]
    if solution.key is None:
        first_taken = np.ones(len(lis), dtype=bool)
        up_taken = ~dominated
    else:
        keys = np.zeros(len(lis), dtype=[("neg_eff", "f8"), ("kind", "i1"), ("ordinal", "i8")])
        keys["neg_eff"], keys["kind"], keys["ordinal"] = -eff_first, 0, j
        first_taken = _before(keys, solution.key) | np.isin(j, list(solution.fill_first))
        keys["neg_eff"], keys["kind"], keys["ordinal"] = -eff_up, 1, up_ordinal
        up_taken = ~dominated & (_before(keys, solution.key) | np.isin(j, list(solution.fill_upgrade)))
    m._upgrades_before += int((~dominated).sum())  # type: ignore[attr-defined]
    chosen = np.where(first_taken, np.where(dominated, Tier.ORIGINAL, Tier.COMPACT), 0)
    chosen = np.where(up_taken, Tier.ORIGINAL, chosen)
    tier[np.flatnonzero(sel)] = chosen
    return tier, first_ordinal + len(lis)


def plan(
    archive: Archive,
    conn: sqlite3.Connection,
    policy: str,
    budget: int | None,
    *,
    compact_value: float,
    bitrates: dict[int, int],
    write: bool,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole plan in bounded memory: the summary `plan --json` prints, and (write) the plan table."""
    memory = memory_budget(archive.config)
    map_big_arrays()
    folder = scratch(archive.dir("tmp"))
    rows = int(archive.config.get("plan", {}).get("chunk_rows", 0)) or chunk_rows(memory)  # [plan] chunk_rows
    ctx = Context(conn, archive.config, folder, memory, rows, bitrates, compact_value)
    try:
        top = conn.execute("SELECT coalesce(max(rowid), 0) FROM tracks").fetchone()[0]
        if progress:
            progress(stage="read catalog", total=top)
        m = build(ctx, progress)
        solution = solve(m, budget) if policy == "optimal" else None  # type: ignore[arg-type]
        if policy != "optimal":
            steps(m)  # also gives the recordings count, the smallest file and the bytes for each share
        return _finish(archive, conn, m, policy, budget, solution, write, progress)
    finally:
        for spill in ctx.spills:
            spill.remove()
        shutil.rmtree(folder, ignore_errors=True)


def chunk_rows(memory: int) -> int:
    """Tracks per chunk: a chunk's columns and their temporaries take about 400 bytes a track."""
    return int(max(10_000, min(4_000_000, memory // 8 // 400)))


def _finish(
    archive: Archive,
    conn: sqlite3.Connection,
    m: Model,
    policy: str,
    budget: int | None,
    solution: Solution | None,
    write: bool,
    progress: Progress | None,
) -> dict[str, Any]:
    from fonoteca.plan import planner

    totals = {int(t): {"files": 0, "bytes": 0, "listens": 0.0, "tracks": 0} for t in (Tier.ORIGINAL, Tier.COMPACT)}
    m._upgrades_before = 0  # type: ignore[attr-defined]
    ordinal = 0
    run = None
    if write and progress:
        progress(stage="write plan", total=m.tracks.count)
    listens_total = 0.0
    rows_written = 0
    statuses = np.zeros(len(data_mod.STATUSES) + 1, dtype=np.int64)
    with transaction(conn) if write else _nothing():
        if write:
            run = conn.execute(
                "INSERT INTO plan_runs (created_at, policy, budget, params, summary) VALUES (?, ?, ?, ?, ?)",
                (
                    datetime.now(UTC).isoformat(timespec="seconds"),
                    policy,
                    budget,
                    orjson.dumps(_params(m)).decode(),
                    "{}",
                ),
            ).lastrowid
            conn.execute("DELETE FROM plan")
            conn.execute("DROP INDEX IF EXISTS plan_tier")
        for c in walk_costs(m):
            tier, ordinal = tiers(m, policy, c, solution, ordinal)
            listens_total += float(c["listens"].sum())
            for t in totals:
                sel = tier == t
                totals[t]["files"] += int(sel.sum())
                totals[t]["bytes"] += int(c["sizes"][t][sel].sum(dtype=np.int64))
                totals[t]["listens"] += float(c["group_listens"][sel].sum())
                totals[t]["tracks"] += int(c["group_size"][sel].sum(dtype=np.int64))
            if write:
                planned = np.zeros(len(tier), dtype=np.int64)
                for t, size in c["sizes"].items():
                    planned[tier == t] = size[tier == t]
                rowid = c["records"]["rowid"]
                covered_by = np.where((c["rep"] == rowid) | (tier > 0), 0, c["rep"])
                from fonoteca.plan.store import _insert

                _insert(conn, int(run), [rowid, tier, planned, c["listens"], covered_by])  # type: ignore[arg-type]
                if progress:
                    progress(len(tier))
            rows_written += len(tier)
            if policy == "anna":
                statuses += np.bincount(_statuses(m, c, tier).astype(np.int64) + 1, minlength=len(statuses))
        if write:
            conn.execute("CREATE INDEX plan_tier ON plan (tier) WHERE tier > 0")
        summary = _summary(m, policy, budget, totals, solution)
        if policy == "anna":
            summary["statuses"] = {name: int(n) for name, n in zip(data_mod.STATUSES, statuses[1:], strict=True) if n}
        if write:
            summary["run"] = run
            conn.execute("UPDATE plan_runs SET summary = ? WHERE rowid = ?", (orjson.dumps(summary).decode(), run))
    del planner
    return summary


def _statuses(m: Model, c: dict[str, np.ndarray], tier: np.ndarray) -> np.ndarray:
    """policies.reference_statuses for a chunk: a skipped track of a recording whose representative is kept has
    an ISRC with a download (the representative comes first in the rule's order among the tracks it could get)."""
    records = c["records"]
    status = np.full(len(tier), data_mod.STATUSES.index("skipped_low_priority"), dtype=np.int8)
    covered = (tier == 0) & ~c["is_rep"] & c["rep_kept"]
    status[covered] = data_mod.STATUSES.index("skipped_isrc_has_download")
    status[tier > 0] = data_mod.STATUSES.index("success")
    if m.tracks.any_status:
        unavailable = np.isin(records["status"], [data_mod.STATUSES.index(s) for s in data_mod.UNAVAILABLE])
        status[unavailable] = records["status"][unavailable]
    return status


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _params(m: Model) -> dict[str, Any]:
    return {
        "bitrates": {Tier(t).label: b for t, b in m.ctx.bitrates.items()},
        "listen_model": m.listen_model.as_dict(),
        "compact_value": m.ctx.compact_value,
        "anna_threshold": policies.ANNA_THRESHOLD,
    }


def _summary(
    m: Model, policy: str, budget: int | None, totals: dict[int, dict[str, Any]], solution: Solution | None
) -> dict[str, Any]:
    """What planner.evaluate reports, from the totals of the pass that wrote the plan."""
    from fonoteca.plan import planner

    total = m.total_listens or 1.0
    q = m.ctx.compact_value
    tiers_out: dict[str, Any] = {}
    files = size = tracks = 0
    covered = weighted = 0.0
    for t in (Tier.ORIGINAL, Tier.COMPACT):
        values = totals[int(t)]
        tiers_out[t.label] = {
            "files": values["files"],
            "tracks": values["tracks"],
            "bytes": values["bytes"],
            "listens_covered": values["listens"] / total,
        }
        files, size, tracks = files + values["files"], size + values["bytes"], tracks + values["tracks"]
        covered += values["listens"]
        weighted += values["listens"] * (1.0 if t == Tier.ORIGINAL else q)
    tiers_out["skip"] = {
        "files": 0,
        "tracks": m.tracks.count - tracks,
        "bytes": 0,
        "listens_covered": 0.0,
        "listens_lost": max(0.0, 1.0 - covered / total),
    }
    summary: dict[str, Any] = {
        "policy": policy,
        "budget": budget,
        "fits": None if budget is None else size <= budget,
        "tiers": tiers_out,
        "files": files,
        "bytes": size,
        "tracks_kept": tracks,
        "listens_covered": covered / total,
        "quality_weighted": weighted / total,
        "tracks": m.tracks.count,
        "recordings": m.recordings,
        "duplicates": m.tracks.count - m.recordings,
        "listens_total": m.total_listens,
        "listen_model": m.listen_model.as_dict(),
        "tracks_with_plays": m.tracks.with_plays,
        "compact_value": q,
        "missing": {
            "duration": m.tracks.missing_duration,
            "popularity": m.tracks.missing_popularity,
            "duration_assumed_ms": m.fallback_ms,
        },
        "smallest_file": m.smallest_compact,
        "bytes_for_share": bytes_for_share(m),
    }
    summary["warnings"] = _warnings(m, budget, summary)
    if solution is not None:
        summary["bound"] = solution.bound
    del planner
    return summary


def bytes_for_share(m: Model, shares: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999)) -> dict[str, int | None]:
    """coverage.bytes_for_share on the sorted steps."""
    total = m.total_listens or 1.0
    out: dict[str, int | None] = {f"{share:g}": None for share in shares}
    left = list(shares)
    cover = 0.0
    weight = 0
    for chunk in steps(m).chunks(m.ctx.chunk):
        covers = np.where(chunk["kind"] == 0, chunk["covers"], 0.0)
        covers[0] += cover
        cum_cover = np.cumsum(covers) / total
        cum_weight = weight + np.cumsum(chunk["weight"], dtype=np.int64)
        while left:
            i = int(np.searchsorted(cum_cover, left[0] - 1e-12, side="left"))
            if i >= len(chunk):
                break
            out[f"{left.pop(0):g}"] = int(cum_weight[i])
        cover = float(np.cumsum(covers)[-1])
        weight = int(cum_weight[-1])
        if not left:
            break
    return out


def _warnings(m: Model, budget: int | None, summary: dict[str, Any]) -> list[str]:
    from fonoteca.plan.planner import budget_warnings

    tracks = m.tracks
    return budget_warnings(
        budget, summary, m.smallest_compact, tracks.missing_duration, m.fallback_ms, tracks.missing_popularity
    )


# --- the numbers of `stats --out` ---------------------------------------------------------------------------------
class Facts:
    """What the charts take from the plan's model (see stats.MemoryFacts), computed by the bounded passes."""

    def __init__(self, archive: Archive, conn: sqlite3.Connection) -> None:
        from fonoteca.plan import planner

        memory = memory_budget(archive.config)
        map_big_arrays()
        self.folder = scratch(archive.dir("tmp"))
        rows = int(archive.config.get("plan", {}).get("chunk_rows", 0)) or chunk_rows(memory)
        self.ctx = Context(
            conn,
            archive.config,
            self.folder,
            memory,
            rows,
            planner.tier_bitrates(archive.config),
            planner.compact_value_from(archive.config, None),
        )
        self.archive = archive
        self.m = build(self.ctx)

    def close(self) -> None:
        for spill in self.ctx.spills:
            spill.remove()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def tracks(self) -> int:
        return self.m.tracks.count

    def popularity(self) -> tuple[np.ndarray, int]:
        counts, unknown = np.zeros(101, dtype=np.int64), 0
        for chunk in self.m.tracks.spill.chunks(self.ctx.chunk):
            pop = chunk["popularity"]
            known = (pop >= 0) & (pop <= 100)
            counts += np.bincount(pop[known], minlength=101)
            unknown += int((~known).sum())
        return counts, unknown

    def listens(self) -> tuple[np.ndarray, dict[str, Any], int]:
        out = np.zeros(101)
        for chunk in self.m.tracks.spill.chunks(self.ctx.chunk):
            lis = self.m.listen_model.listens(chunk["popularity"], chunk["plays"] if self.m.tracks.any_plays else None)
            out += np.bincount(np.clip(chunk["popularity"], 0, 100), weights=lis, minlength=101)
        return out, self.m.listen_model.as_dict(), self.m.tracks.with_plays

    def durations(self, bin_ms: int, bins: int) -> tuple[np.ndarray, int]:
        counts, missing = np.zeros(bins + 1, dtype=np.int64), 0
        for chunk in self.m.tracks.spill.chunks(self.ctx.chunk):
            duration = chunk["duration"]
            known = duration[duration >= 0]
            counts += np.bincount(np.minimum(known // bin_ms, bins), minlength=bins + 1)
            missing += len(duration) - len(known)
        return counts, missing

    def coverage(self, points: int = 200) -> dict[str, Any]:
        from fonoteca.plan.coverage import _sample

        m = self.m
        total = m.total_listens or 1.0
        sorted_steps = steps(m)
        at = _sample(sorted_steps.count, points)
        sampled: dict[str, list[Any]] = {"bytes": [], "listens_covered": [], "quality_weighted": []}
        position, weight, cover, value = 0, 0, 0.0, 0.0
        for chunk in sorted_steps.chunks(self.ctx.chunk):
            covers = np.where(chunk["kind"] == 0, chunk["covers"], 0.0)
            values = chunk["value"].astype(np.float64)
            covers[0] += cover
            values[0] += value
            cum_w = weight + np.cumsum(chunk["weight"], dtype=np.int64)
            cum_c, cum_v = np.cumsum(covers), np.cumsum(values)
            here = at[(at >= position) & (at < position + len(chunk))] - position
            sampled["bytes"] += cum_w[here].tolist()
            sampled["listens_covered"] += (cum_c[here] / total).tolist()
            sampled["quality_weighted"] += (cum_v[here] / total).tolist()
            position += len(chunk)
            weight, cover, value = int(cum_w[-1]), float(cum_c[-1]), float(cum_v[-1])
        by_listens = self.ctx.spill(np.dtype([("neg", "f8"), ("rowid", "i8")]), "by-files")
        bytes_all_original = 0
        for c in walk_costs(m):
            reps = c["is_rep"]
            out = np.zeros(int(reps.sum()), dtype=by_listens.dtype)
            out["neg"], out["rowid"] = -c["group_listens"][reps], c["records"]["rowid"][reps]
            by_listens.append(out)
            bytes_all_original += int(c["sizes"][Tier.ORIGINAL][reps].sum(dtype=np.int64))
        by_listens = self.ctx.sorted(by_listens.done(), ("neg", "rowid"))
        at_f = _sample(by_listens.count, points)
        files: list[float] = []
        position, running = 0, 0.0
        for chunk in by_listens.chunks(self.ctx.chunk):
            values = -chunk["neg"]
            values[0] += running
            cum = np.cumsum(values)
            here = at_f[(at_f >= position) & (at_f < position + len(chunk))] - position
            files += (cum[here] / total).tolist()
            position += len(chunk)
            running = float(cum[-1])
        anna = _finish(self.archive, self.ctx.conn, m, "anna", None, None, False, None)
        return {
            "by_bytes": sampled,
            "by_files": {"files": (at_f + 1).tolist(), "listens_covered": files},
            "anna": {"bytes": anna["bytes"], "files": anna["files"], "listens_covered": anna["listens_covered"]},
            "total": {"recordings": m.recordings, "tracks": m.tracks.count, "bytes_all_original": bytes_all_original},
        }
