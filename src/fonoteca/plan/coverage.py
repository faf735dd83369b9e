"""Coverage curves: the share of listens a given number of bytes or files can preserve."""

from __future__ import annotations

from typing import Any

import numpy as np

from fonoteca.plan.policies import Costs, Increments, increments

POINTS = 200


def _sample(n: int, points: int) -> np.ndarray:
    """Indices 0..n-1, log-spaced so that the steep start of the curve keeps its detail."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.unique(np.geomspace(1, n, num=min(points, n)).astype(np.int64) - 1)
    return idx


def _running_share(values: np.ndarray, total: float) -> np.ndarray:
    """Cumulative sum as a share of total, computed in place (these arrays hold one entry per step)."""
    np.cumsum(values, out=values)
    values /= total
    return values


def curve(cost: Costs, compact_value: float, points: int = POINTS, inc: Increments | None = None) -> dict[str, Any]:
    """Listens covered vs bytes (the optimal policy's greedy order: what each budget buys) and vs files
    (recordings by listens, most played first)."""
    total = cost.total_listens or 1.0
    inc = inc if inc is not None else increments(cost, compact_value)
    at = _sample(len(inc.weight), points)
    by_bytes = {
        "bytes": np.cumsum(inc.weight, dtype=np.int64)[at].tolist(),
        "listens_covered": _running_share(inc.covers(cost), total)[at].tolist(),
        "quality_weighted": _running_share(inc.value.copy(), total)[at].tolist(),
    }
    by_files = np.sort(cost.group_listens[cost.is_rep])[::-1].copy()
    at_f = _sample(len(by_files), points)
    return {
        "by_bytes": by_bytes,
        "by_files": {"files": (at_f + 1).tolist(), "listens_covered": _running_share(by_files, total)[at_f].tolist()},
    }


def bytes_for_share(
    cost: Costs,
    compact_value: float,
    shares: tuple[float, ...] = (0.5, 0.9, 0.99, 0.999),
    inc: Increments | None = None,
) -> dict[str, int | None]:
    """Bytes the optimal order needs to cover each share of listens (None: not reachable)."""
    total = cost.total_listens or 1.0
    inc = inc if inc is not None else increments(cost, compact_value)
    cum_cover = _running_share(inc.covers(cost), total)
    out: dict[str, int | None] = {}
    for share in shares:
        i = int(np.searchsorted(cum_cover, share - 1e-12, side="left"))
        out[f"{share:g}"] = int(inc.weight[: i + 1].sum(dtype=np.int64)) if i < len(cum_cover) else None
    return out
