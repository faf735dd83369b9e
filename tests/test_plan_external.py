"""The external sort of the bounded plan: runs spilled to disk and merged give the order one in-memory sort gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fonoteca.plan import external
from fonoteca.plan.external import Spill, sort

DTYPE = np.dtype([("neg_eff", "f8"), ("kind", "i1"), ("ordinal", "i8")])
KEYS = ("neg_eff", "kind", "ordinal")


def records(count: int, seed: int) -> np.ndarray:
    """Records unique on their keys, with many ties on the leading keys (as steps of equal efficiency have)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(count, dtype=DTYPE)
    out["neg_eff"] = -rng.integers(0, 40, count) / 8  # few distinct values: long ties on the first key
    out["kind"] = rng.integers(0, 2, count)
    out["ordinal"] = rng.permutation(count)
    return out


def spilled(folder: Path, data: np.ndarray, piece: int) -> Spill:
    spill = Spill(folder, DTYPE, "input")
    for start in range(0, len(data), piece):
        spill.append(data[start : start + piece])
    return spill.done()


def read_all(spill: Spill) -> np.ndarray:
    parts = list(spill.chunks(1 << 16))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=DTYPE)


@pytest.mark.parametrize(("count", "memory"), [(50_000, 200_000), (20_000, 2_000_000), (1, 10_000), (0, 10_000)])
def test_the_external_sort_gives_the_in_memory_order(tmp_path: Path, count: int, memory: int) -> None:
    data = records(count, seed=count)
    out = sort(spilled(tmp_path, data, 7_919), KEYS, memory, tmp_path)
    expected = data[np.lexsort((data["ordinal"], data["kind"], data["neg_eff"]))]
    assert np.array_equal(read_all(out), expected)
    assert [p.name for p in tmp_path.iterdir()] == [out.path.name], "runs and the input are removed"


def test_runs_beyond_the_fan_in_are_merged_in_rounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(external, "MAX_FANIN", 3)
    data = records(30_000, seed=3)
    out = sort(spilled(tmp_path, data, 1_000), KEYS, 100_000, tmp_path)  # ~30 runs, merged 3 at a time
    assert np.array_equal(read_all(out), data[np.lexsort((data["ordinal"], data["kind"], data["neg_eff"]))])


def test_counting_up_to_a_bound_follows_every_key() -> None:
    data = np.sort(records(2_000, seed=5), order=list(KEYS))
    for bound in (tuple(data[i][k] for k in KEYS) for i in (0, 1, 999, 1_999)):
        expected = sum(1 for row in data if tuple(row[k] for k in KEYS) <= bound)
        assert external._count_up_to(data, KEYS, bound) == expected
    assert external._count_up_to(data, KEYS, (-100.0, 0, 0)) == 0
    assert external._count_up_to(data, KEYS, (100.0, 0, 0)) == len(data)
