"""Tier selection: the reference archive's rule (`anna`) and a budgeted optimum (`optimal`).

Everything works on recordings: tracks sharing an ISRC form one group, represented by one track (see
data._isrc_representatives); a group's listens are the sum of its members', its file is the representative's.

`optimal` is a multiple-choice knapsack: per recording none, compact or original, maximising covered listens
within the byte budget, where a listen served by the compact tier counts `compact_value` (default 0.9) and one
served by the original counts 1; without that weight the original would never beat a compact copy. It is solved
greedily on the LP relaxation's convex hulls (Sinha & Zoltners 1979): per recording the increments
none -> compact -> original (or none -> original when compact is LP-dominated), taken in order of value per
byte while they fit, then a fill pass for the leftover bytes. The LP optimum (same order, the first misfit taken
fractionally) bounds every integer solution, so `bound.gap` says how far from optimal the plan can be at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fonoteca.plan.data import TrackData
from fonoteca.tiers import Tier

if TYPE_CHECKING:
    from fonoteca.plan.planner import Model

COMPACT, ORIGINAL = Tier.COMPACT, Tier.ORIGINAL
ANNA_THRESHOLD = 0.351  # popularity-0 tracks below this secondary priority are skipped
DEFAULT_DURATION_MS = 210_000  # stands in for unknown durations when the catalog has none at all


@dataclass
class Costs:
    """Per track: bytes of each tier's file, listens; per recording (at its representative): summed listens."""

    bytes: dict[int, np.ndarray]  # tier -> bytes per track (int32, int64 if a file is over 2 GiB)
    listens: np.ndarray  # float64 per track
    group_listens: np.ndarray  # float64, the recording's listens at its representative, 0 elsewhere
    is_rep: np.ndarray  # bool, track stands for its recording
    group_size: np.ndarray  # int64, tracks in the recording, at its representative
    fallback_duration_ms: int
    missing_duration: int
    missing_popularity: int

    @property
    def total_listens(self) -> float:
        return float(self.listens.sum())


def costs(data: TrackData, listens: np.ndarray, bitrates: dict[int, int]) -> Costs:
    """File sizes from durations and tier bitrates (real sizes where plan_sizes has them) and listens per recording."""
    known = data.duration_ms > 0
    fallback = int(np.median(data.duration_ms[known])) if known.any() else DEFAULT_DURATION_MS
    seconds = np.where(known, data.duration_ms, fallback).astype(np.float64) / 1000.0
    sizes = {}
    for tier, bitrate in bitrates.items():
        size = np.rint(seconds * (bitrate / 8.0)).astype(np.int64)
        real = data.sizes.get(tier)
        size = np.where(real >= 0, real, size) if real is not None else size
        # int32 halves the memory of 10M-track plans; only absurd files (over 2 GiB) need int64.
        sizes[tier] = size.astype(np.int32) if len(size) and size.max() < 2**31 else size
    n = len(data)
    is_rep = data.rep == np.arange(n)
    return Costs(
        bytes=sizes,
        listens=listens,
        group_listens=np.bincount(data.rep, weights=listens, minlength=n),
        is_rep=is_rep,
        group_size=np.bincount(data.rep, minlength=n).astype(np.int32),
        fallback_duration_ms=fallback,
        missing_duration=int((~known).sum()),
        missing_popularity=int((data.popularity < 0).sum()),
    )


def anna(data: TrackData, cost: Costs) -> np.ndarray:
    """The reference rule: every track of popularity > 0 -> original (the reference release de-duplicated by ISRC
    at popularity 0 only); popularity 0 (or unknown) -> compact when its recording has no file yet and the
    secondary priority is >= 0.351, else skip (an ISRC that has a download costs the rule's -10). A track the
    reference release could not get a file of (track_files: error_*, todo_unk) is skipped."""
    tier = np.zeros(len(data), dtype=np.int8)
    popular = data.popularity > 0
    available = ~data.unavailable if data.unavailable is not None else np.ones(len(data), dtype=bool)
    tier[popular & available] = ORIGINAL
    tier[cost.is_rep & ~popular & available & (data.priority >= ANNA_THRESHOLD)] = COMPACT
    return tier


def isrc_has_download(data: TrackData, tier: np.ndarray) -> np.ndarray:
    """Per track, whether a track with its ISRC that comes before it in the reference rule's order (popularity,
    then secondary priority, descending; then rowid) is kept: the rule's isrc_has_download."""
    shared = np.flatnonzero(np.bincount(data.rep, minlength=len(data))[data.rep] > 1)
    out = np.zeros(len(data), dtype=bool)
    if not len(shared):
        return out
    order = shared[
        np.lexsort(
            (data.rowid[shared], -data.priority[shared], -data.popularity[shared].astype(np.int32), data.rep[shared])
        )
    ]
    kept = (tier[order] > 0).astype(np.int64)
    group = data.rep[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = group[1:] != group[:-1]
    before = np.cumsum(kept) - kept  # kept members before this one, over every group so far
    base = np.maximum.accumulate(np.where(first, before, 0))
    out[order] = (before - base) > 0
    return out


def reference_priority(data: TrackData, tier: np.ndarray) -> np.ndarray:
    """secondary_priority as the reference release publishes it: with -10 for an ISRC that has a download."""
    return data.priority - 10.0 * isrc_has_download(data, tier)


def reference_statuses(data: TrackData, tier: np.ndarray) -> np.ndarray:
    """The track_files status each track gets from a plan (the rule's, for anna): kept tracks success, a skipped
    track whose ISRC has a download skipped_isrc_has_download, the others skipped_low_priority; a track the
    reference release could not get keeps its own status."""
    from fonoteca.plan.data import STATUSES

    status = np.full(len(data), STATUSES.index("skipped_low_priority"), dtype=np.int8)
    status[isrc_has_download(data, tier) & (tier == 0)] = STATUSES.index("skipped_isrc_has_download")
    status[tier > 0] = STATUSES.index("success")
    unavailable = data.unavailable
    if unavailable is not None and data.status is not None:  # both come from the track_files rows
        status[unavailable] = data.status[unavailable]
    return status


def keep_all(data: TrackData, cost: Costs) -> np.ndarray:
    """Every recording kept as the original (one file per recording: tracks sharing an ISRC keep one)."""
    tier = np.zeros(len(data), dtype=np.int8)
    tier[cost.is_rep] = ORIGINAL
    return tier


@dataclass
class Increments:
    """Hull steps of every recording, in the greedy order (value per byte, best first)."""

    track: np.ndarray  # int32 index of the representative
    tier: np.ndarray  # int8 tier reached by taking this step
    first: np.ndarray  # bool: the recording's first step (needs nothing before it)
    weight: np.ndarray  # bytes added (dtype of Costs.bytes)
    value: np.ndarray  # float64 weighted listens added

    def covers(self, cost: Costs) -> np.ndarray:
        """Unweighted listens each step newly covers (a recording's listens on its first step, 0 on an upgrade)."""
        out = np.zeros(len(self.first))
        out[self.first] = cost.group_listens[self.track[self.first]]
        return out


GATHER = 1 << 20  # steps gathered per block: keeps the temporaries of 10M-recording plans small


def increments(cost: Costs, compact_value: float) -> Increments:
    """Per recording with listens, its hull steps, sorted by value per byte.

    Written for peak memory (10M recordings must stay well under 2 GB): one sort over all steps, then the fields
    gathered block by block through the sorted positions."""
    q = compact_value
    reps = np.flatnonzero(cost.is_rep & (cost.group_listens > 0)).astype(np.int32)
    lis = cost.group_listens[reps]
    wc, wo = cost.bytes[COMPACT][reps], cost.bytes[ORIGINAL][reps]
    # Compact is LP-dominated when the upgrade buys more per byte than compact itself (or costs nothing).
    dominated = (wo <= wc) | (q * (wo - wc) <= (1 - q) * wc)
    two = np.flatnonzero(~dominated).astype(np.int32)
    m, n = len(reps), len(reps) + len(two)
    eff = np.empty(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        first_w = np.where(dominated, wo, wc)
        eff[:m] = np.where(first_w > 0, np.where(dominated, 1.0, q) * lis / first_w, np.inf)  # zero-byte steps first
        del first_w
        eff[m:] = (1 - q) * lis[two] / (wo[two] - wc[two])
    np.negative(eff, out=eff)
    # Ties (equal value per byte) in step order: first steps by recording rowid, then the upgrades; the plan of a
    # catalog too large for memory (plan/bounded.py) sorts by the same keys and so makes the same plan.
    order = np.argsort(eff, kind="stable")
    del eff
    order = order.astype(np.int32)  # half the memory while the fields are gathered
    inc = Increments(
        track=np.empty(n, np.int32),
        tier=np.empty(n, np.int8),
        first=np.empty(n, bool),
        weight=np.empty(n, wc.dtype),
        value=np.empty(n),
    )
    for lo in range(0, n, GATHER):
        step = order[lo : lo + GATHER]
        first = step < m
        # the step's recording, as a position in reps (no upgrade steps at all: every step is a first one)
        src = np.where(first, step, two[np.where(first, 0, step - m)]) if len(two) else step
        dom = dominated[src]
        inc.track[lo : lo + GATHER] = reps[src]
        inc.first[lo : lo + GATHER] = first
        inc.tier[lo : lo + GATHER] = np.where(first & ~dom, COMPACT, ORIGINAL)
        inc.weight[lo : lo + GATHER] = np.where(first, np.where(dom, wo[src], wc[src]), wo[src] - wc[src])
        inc.value[lo : lo + GATHER] = lis[src] * np.where(first, np.where(dom, 1.0, q), 1 - q)
    return inc


@dataclass
class Optimum:
    tier: np.ndarray
    bound: dict[str, Any] = field(default_factory=dict)


def optimal(cost: Costs, budget: int, compact_value: float, inc: Increments | None = None) -> Optimum:
    """Greedy multiple-choice knapsack within `budget` bytes, with its LP upper bound."""
    n = len(cost.listens)
    inc = inc if inc is not None else increments(cost, compact_value)
    cum = np.cumsum(inc.weight, dtype=np.int64)
    k = int(np.searchsorted(cum, budget, side="right"))  # the prefix that fits
    used = int(cum[k - 1]) if k else 0
    prefix_value = float(inc.value[:k].sum())
    lp = prefix_value + (float(inc.value[k]) * (budget - used) / float(inc.weight[k]) if k < len(inc.weight) else 0.0)
    taken = np.zeros(len(inc.weight), dtype=bool)
    taken[:k] = True
    used += _fill(inc, taken, budget - used, n)
    tier = np.zeros(n, dtype=np.int8)
    # A recording's upgrade is only ever taken after its first step, so upgrades are written last.
    firsts = taken & inc.first
    tier[inc.track[firsts]] = inc.tier[firsts]
    tier[inc.track[taken & ~inc.first]] = ORIGINAL
    greedy = float(inc.value[taken].sum())
    return Optimum(
        tier,
        {
            "greedy_value": greedy,
            "lp_value": lp,
            "gap": (lp - greedy) / lp if lp > 0 else 0.0,
            "greedy_share": greedy / cost.total_listens if cost.total_listens else 0.0,
            "lp_share": lp / cost.total_listens if cost.total_listens else 0.0,
        },
    )


def _fill(inc: Increments, taken: np.ndarray, room: int, n: int) -> int:
    """Spend the bytes left after the greedy prefix on the best steps that still fit; returns bytes used."""
    started = np.zeros(n, dtype=bool)
    started[inc.track[taken & inc.first]] = True
    spent = 0
    rest = np.flatnonzero(~taken & (inc.weight <= room))
    while len(rest):
        ok = rest[inc.first[rest] | started[inc.track[rest]]]
        if not len(ok):
            break
        cum = np.cumsum(inc.weight[ok], dtype=np.int64)
        j = int(np.searchsorted(cum, room, side="right"))
        if j == 0:
            break
        pick = ok[:j]
        taken[pick] = True
        started[inc.track[pick]] = True
        room -= int(cum[j - 1])
        spent += int(cum[j - 1])
        rest = rest[~taken[rest] & (inc.weight[rest] <= room)]
    return spent


def summarize(cost: Costs, tier: np.ndarray, compact_value: float) -> dict[str, Any]:
    """Files, bytes, tracks and listens covered, in total and per tier (the `plan --json` contract)."""
    total = cost.total_listens or 1.0
    out: dict[str, Any] = {"tiers": {}}
    files = size = tracks = 0
    covered = weighted = 0.0
    for t in (ORIGINAL, COMPACT):
        sel = tier == t
        t_files = int(sel.sum())
        t_bytes = int(cost.bytes[t][sel].sum(dtype=np.int64))
        t_listens = float(cost.group_listens[sel].sum())
        t_tracks = int(cost.group_size[sel].sum(dtype=np.int64))
        out["tiers"][t.label] = {
            "files": t_files,
            "tracks": t_tracks,
            "bytes": t_bytes,
            "listens_covered": t_listens / total,
        }
        files, size, tracks, covered = files + t_files, size + t_bytes, tracks + t_tracks, covered + t_listens
        weighted += t_listens * (1.0 if t == ORIGINAL else compact_value)
    skipped_tracks = len(tier) - tracks
    out["tiers"]["skip"] = {
        "files": 0,
        "tracks": skipped_tracks,
        "bytes": 0,
        "listens_covered": 0.0,
        "listens_lost": max(0.0, 1.0 - covered / total),
    }
    out.update(
        files=files, bytes=size, tracks_kept=tracks, listens_covered=covered / total, quality_weighted=weighted / total
    )
    return out


# ------------------------------------------------------------------------------------------------ policies by name


class Policy(Protocol):
    """A tier policy `fonoteca plan --policy NAME` can run (plugins add their own through register_policies)."""

    @property
    def name(self) -> str: ...

    @property
    def help(self) -> str: ...

    @property
    def needs_budget(self) -> bool: ...

    def choose(self, model: Model, budget: int | None) -> tuple[np.ndarray, dict[str, Any] | None]:
        """Tier per track (int8: 0 skip, 1 compact, 2 original) and, if known, a bound on its optimality."""
        ...


@dataclass(frozen=True)
class Anna:
    name: str = "anna"
    help: str = (
        "the reference archive's rule: popularity > 0 original, else compact above a secondary priority of 0.351"
    )
    needs_budget: bool = False

    def choose(self, model: Model, budget: int | None) -> tuple[np.ndarray, dict[str, Any] | None]:
        return anna(model.data, model.cost), None


@dataclass(frozen=True)
class Optimal:
    name: str = "optimal"
    help: str = "most listens within the budget (compact or original per recording)"
    needs_budget: bool = True

    def choose(self, model: Model, budget: int | None) -> tuple[np.ndarray, dict[str, Any] | None]:
        assert budget is not None
        result = optimal(model.cost, budget, model.compact_value, model.inc)
        return result.tier, result.bound


@dataclass(frozen=True)
class KeepAll:
    name: str = "all"
    help: str = "keep every recording in the original tier (the budget, if given, is only checked)"
    needs_budget: bool = False

    def choose(self, model: Model, budget: int | None) -> tuple[np.ndarray, dict[str, Any] | None]:
        return keep_all(model.data, model.cost), None


BUILTIN_POLICIES: tuple[Policy, ...] = (Optimal(), Anna(), KeepAll())
