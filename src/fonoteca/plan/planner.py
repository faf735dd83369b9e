"""`fonoteca plan` as a function: read the catalog, model listens, choose tiers, report, store."""

from __future__ import annotations

import ctypes
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fonoteca.archive import Archive
from fonoteca.catalog import db
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.plan import bounded, coverage, policies, store
from fonoteca.plan import data as data_mod
from fonoteca.plan import listens as listens_mod
from fonoteca.progress import Progress
from fonoteca.tiers import Tier, TierSettings

DEFAULT_COMPACT_VALUE = 0.9
# Fonoteca's own policies also run in bounded memory (plan/bounded.py) when the catalog is too large for the
# [plan] memory budget; a plugin's policy gets the in-memory model.
BOUNDED_POLICIES = ("optimal", "anna", "all")


def available_policies() -> dict[str, policies.Policy]:
    """Every tier policy by name: Fonoteca's own and those of installed plugins (hook register_policies)."""
    from fonoteca import plugins

    return plugins.policies()


def find_policy(name: str, budget: int | None) -> policies.Policy:
    """The policy called `name`, checked against the budget it needs; UsageError naming the choices otherwise."""
    known = available_policies()
    policy = known.get(name)
    if policy is None:
        raise UsageError(f"--policy must be one of {', '.join(sorted(known))}, not {name!r}")
    if policy.needs_budget and budget is None:
        raise UsageError(f"the {name} policy needs --budget SIZE (e.g. 300TB, 1.5TiB)")
    return policy


@dataclass
class Model:
    """Everything derived from the catalog that a plan needs, computed once and reusable for several policies."""

    data: data_mod.TrackData
    cost: policies.Costs
    listen_model: listens_mod.ListenModel
    bitrates: dict[int, int]
    compact_value: float
    _inc: policies.Increments | None = None
    # for policies that need more of the catalog than the model holds (a plugin's per-genre quotas, say):
    config: dict[str, Any] = field(default_factory=dict)  # the archive's fonoteca.toml
    catalog: Callable[[], sqlite3.Connection] | None = None  # read-only catalog connections

    @property
    def inc(self) -> policies.Increments:
        if self._inc is None:
            self._inc = policies.increments(self.cost, self.compact_value)
        return self._inc

    def params(self) -> dict[str, Any]:
        return {
            "bitrates": {Tier(t).label: b for t, b in self.bitrates.items()},
            "listen_model": self.listen_model.as_dict(),
            "compact_value": self.compact_value,
            "anna_threshold": policies.ANNA_THRESHOLD,
        }


def tier_bitrates(config: dict[str, Any]) -> dict[int, int]:
    return dict(TierSettings.from_config(config).bitrates)


def compact_value_from(config: dict[str, Any], override: float | None) -> float:
    value = (
        override if override is not None else float(config.get("plan", {}).get("compact_value", DEFAULT_COMPACT_VALUE))
    )
    if not 0.0 < value <= 1.0:
        raise UsageError(f"compact value must be in (0, 1], got {value}")
    return value


def build_model(
    conn: sqlite3.Connection,
    config: dict[str, Any],
    *,
    compact_value: float | None = None,
    progress: Progress | None = None,
    connect: Callable[[], sqlite3.Connection] | None = None,
) -> Model:
    """Read the catalog and derive listens and file sizes; `connect` (read-only connections) enables parallel reads."""
    db.for_scans(conn)
    top = conn.execute("SELECT max(rowid) FROM tracks").fetchone()[0] or 0
    if progress:
        progress(stage="read catalog", total=top)
    data = data_mod.load(conn, progress=progress, connect=connect)
    _release_free_memory()
    if len(data) == 0:
        raise FonotecaError("the catalog has no tracks to plan; import metadata first (fonoteca import ...)")
    model = listens_mod.from_config(config, listens_mod.fit_sums(data.popularity, data.plays))
    lis = model.listens(data.popularity, data.plays)
    bitrates = tier_bitrates(config)
    cost = policies.costs(data, lis, bitrates)
    return Model(data, cost, model, bitrates, compact_value_from(config, compact_value), config=config, catalog=connect)


def _release_free_memory() -> None:
    """Hand the heap pages freed by the reading threads back to the OS (glibc keeps them otherwise: its
    per-thread arenas and raised mmap threshold make ~250 MB of a 10M-track read linger as resident memory)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def reader(archive: Archive) -> Callable[[], sqlite3.Connection]:
    """A factory of extra read-only connections to the archive's catalog (for the parallel scan)."""
    return lambda: db.for_scans(db.connect(archive.catalog_path, readonly=True))


def evaluate(model: Model, policy: str, budget: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Tiers per track and the `plan --json` summary for one policy."""
    tier, bound = find_policy(policy, budget).choose(model, budget)
    summary = policies.summarize(model.cost, tier, model.compact_value)
    cost = model.cost
    smallest = int(cost.bytes[Tier.COMPACT][cost.is_rep].min()) if cost.is_rep.any() else 0
    summary = {
        "policy": policy,
        "budget": budget,
        "fits": None if budget is None else summary["bytes"] <= budget,
        **summary,
        "tracks": len(model.data),
        "recordings": int(cost.is_rep.sum()),
        "duplicates": int(len(model.data) - cost.is_rep.sum()),
        "listens_total": cost.total_listens,
        "listen_model": model.listen_model.as_dict(),
        "tracks_with_plays": 0 if model.data.plays is None else int((model.data.plays >= 0).sum()),
        "compact_value": model.compact_value,
        "missing": {
            "duration": cost.missing_duration,
            "popularity": cost.missing_popularity,
            "duration_assumed_ms": cost.fallback_duration_ms,
        },
        "smallest_file": smallest,
        "bytes_for_share": coverage.bytes_for_share(cost, model.compact_value, inc=model.inc),
        "warnings": _warnings(model, budget, summary, smallest),
    }
    if bound is not None:
        summary["bound"] = bound
    if policy == "anna":
        from fonoteca.plan.data import STATUSES

        counts = np.bincount(
            policies.reference_statuses(model.data, tier).astype(np.int64) + 1, minlength=len(STATUSES) + 1
        )[1:]
        summary["statuses"] = {name: int(n) for name, n in zip(STATUSES, counts, strict=True) if n}
    return tier, summary


def _warnings(model: Model, budget: int | None, summary: dict[str, Any], smallest: int) -> list[str]:
    cost = model.cost
    return budget_warnings(
        budget, summary, smallest, cost.missing_duration, cost.fallback_duration_ms, cost.missing_popularity
    )


def budget_warnings(
    budget: int | None,
    summary: dict[str, Any],
    smallest: int,
    missing_duration: int,
    fallback_ms: float,
    missing_popularity: int,
) -> list[str]:
    """What a plan's summary warns about, for both solvers (in memory and bounded)."""
    from fonoteca.units import format_size

    out = []
    if budget is not None and budget < smallest:
        out.append(
            f"the budget ({format_size(budget)}) is smaller than the "
            f"smallest file ({format_size(smallest)}): nothing fits"
        )
    if budget is not None and summary["bytes"] > budget:
        out.append(f"this plan needs {format_size(summary['bytes'])}, more than the budget of {format_size(budget)}")
    if missing_duration:
        out.append(
            f"{missing_duration:,} tracks have no duration: sized as {fallback_ms / 1000:.0f} s (the catalog's median)"
        )
    if missing_popularity:
        out.append(f"{missing_popularity:,} tracks have no popularity: counted as popularity 0")
    return out


def run(
    archive: Archive,
    policy: str,
    budget: int | None,
    *,
    compact_value: float | None = None,
    write: bool = True,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Plan the archive with one policy; store it (unless write=False) and return the summary. `progress` is told
    the tracks read ("read catalog") and written ("write plan")."""
    find_policy(policy, budget)
    conn = archive.connect(readonly=not write)
    try:
        top = conn.execute("SELECT coalesce(max(rowid), 0) FROM tracks").fetchone()[0]
        if policy in BOUNDED_POLICIES and not bounded.fits_in_memory(archive.config, top):
            db.for_scans(conn)
            summary = bounded.plan(
                archive,
                conn,
                policy,
                budget,
                compact_value=compact_value_from(archive.config, compact_value),
                bitrates=tier_bitrates(archive.config),
                write=write,
                progress=progress,
            )
            return dict(summary, solver="bounded")
        model = build_model(
            conn, archive.config, compact_value=compact_value, progress=progress, connect=reader(archive)
        )
        tier, summary = evaluate(model, policy, budget)
        model._inc = None  # the sorted steps are not needed for writing: free them first
        if write:
            if progress:
                progress(stage="write plan", total=len(tier))
            summary["run"] = store.write(
                conn,
                rowid=model.data.rowid,
                rep=model.data.rep,
                tier=tier,
                cost=model.cost,
                policy=policy,
                budget=budget,
                params=model.params(),
                summary=summary,
                progress=progress,
            )
    finally:
        conn.close()
    return dict(summary, solver="in memory")
