"""The plan in bounded memory ([plan] memory): the same plan as the in-memory solver on catalogs small enough for
both, and the same numbers for `stats --out`."""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.plan import planner
from tests.conftest import run_cli

BUDGETS = ["1MB", "20MB", "300MB", "700MB", "1GB", "1.7GB", "2.2GB", "3GB", "4.5GB", "6GB", "9GB", "12GB", "1TB"]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[archive_mod.Archive, archive_mod.Archive]:
    """One catalog (the synthetic layout: shared ISRCs, track_files statuses and sizes) with play counts, stored
    file sizes and tracks without duration or popularity; and a copy of it planned in 1 MB (bounded, in chunks
    of 700 tracks)."""
    folder = tmp_path_factory.mktemp("layout")
    assert (
        run_cli(
            "synth",
            "spotify-clean",
            "--tracks",
            "4000",
            "--out",
            str(folder),
            "--seed",
            "21",
            "--databases",
            "main,track_files",
        ).exit_code
        == 0
    )
    root = tmp_path_factory.mktemp("plans")
    memory = archive_mod.init(root / "memory")
    assert run_cli("import", "spotify-clean", str(folder), archive=memory.root).exit_code == 0
    conn = sqlite3.connect(memory.catalog_path)
    conn.execute("UPDATE tracks SET duration_ms = NULL WHERE rowid % 13 = 0")
    conn.execute("UPDATE tracks SET popularity = NULL WHERE rowid % 17 = 0")
    # plays that grow with popularity, with noise: the listen model is fitted to them (calibration = auto)
    conn.executemany(
        "INSERT INTO track_plays VALUES (?, ?, 'test')",
        [
            (rowid, round(3 * 10 ** (popularity / 15) * (1 + 7 * rowid % 50)))
            for rowid, popularity in conn.execute(
                "SELECT rowid, popularity FROM tracks WHERE rowid % 3 = 0 AND popularity > 0"
            ).fetchall()
        ],
    )
    conn.execute("INSERT INTO plan_sizes SELECT rowid, 1, 1000 + rowid FROM tracks WHERE rowid % 29 = 0")
    conn.commit()
    conn.close()
    shutil.copytree(memory.root, root / "bounded")
    with open(root / "bounded" / "fonoteca.toml", "a", encoding="utf-8") as handle:
        handle.write('\n[plan]\nmemory = "1MB"\nchunk_rows = 700\n')
    return memory, archive_mod.open_archive(root / "bounded")


def rows(archive: archive_mod.Archive) -> list[tuple]:
    conn = sqlite3.connect(archive.catalog_path)
    try:
        return conn.execute("SELECT track, tier, bytes, listens, rep FROM plan ORDER BY track").fetchall()
    finally:
        conn.close()


def same_summary(a: dict, b: dict, path: str = "") -> None:
    """Equal, floats to the last few digits (totals are summed chunk by chunk)."""
    if isinstance(a, dict):
        assert set(a) - {"run", "solver"} == set(b) - {"run", "solver"}, path
        for key in a:
            if key not in ("run", "solver"):
                same_summary(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_summary(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.mark.parametrize("policy,budget", [("anna", None), ("all", None)] + [("optimal", b) for b in BUDGETS])
def test_bounded_memory_gives_the_in_memory_plan(archives, policy, budget):
    from fonoteca.units import parse_size

    memory, bounded = archives
    size = parse_size(budget) if budget else None
    a = planner.run(memory, policy, size)
    b = planner.run(bounded, policy, size)
    assert a["solver"] == "in memory" and b["solver"] == "bounded"
    assert a["listen_model"]["origin"] == "fitted" and a["listen_model"] == b["listen_model"]
    assert rows(bounded) == rows(memory)
    same_summary(a, b)
    assert not list((bounded.root / "tmp").iterdir())  # the spills are gone


def test_budgets_that_need_the_fill_pass_are_covered(archives):
    """Some budgets leave room after the greedy prefix that smaller steps use (the fill pass)."""
    from fonoteca.plan import policies
    from fonoteca.units import parse_size

    memory, _ = archives
    conn = memory.connect(readonly=True)
    model = planner.build_model(conn, memory.config)
    conn.close()
    filled = 0
    for budget in BUDGETS:
        inc = model.inc
        import numpy as np

        cum = np.cumsum(inc.weight, dtype=np.int64)
        k = int(np.searchsorted(cum, parse_size(budget), side="right"))
        result = policies.optimal(model.cost, parse_size(budget), model.compact_value, inc)
        filled += int((result.tier > 0).sum()) > int(len(set(inc.track[:k].tolist())))
    assert filled >= 3


def test_stats_numbers_in_bounded_memory_equal_the_in_memory_ones(archives, tmp_path):
    memory, bounded = archives
    for archive, out in ((memory, tmp_path / "memory"), (bounded, tmp_path / "bounded")):
        result = run_cli("stats", "--out", str(out), "--json", archive=archive.root)
        assert result.exit_code == 0, result.stderr
    a = orjson.loads((tmp_path / "memory" / "stats.json").read_bytes())
    b = orjson.loads((tmp_path / "bounded" / "stats.json").read_bytes())
    for name, chart in a["charts"].items():
        same_summary(chart["numbers"], b["charts"][name]["numbers"], name)
    assert not list((bounded.root / "tmp").iterdir())


def test_the_plan_command_says_which_solver_ran(archives):
    _, bounded = archives
    result = run_cli("plan", "--budget", "2GB", "--json", archive=bounded.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["solver"] == "bounded"
    Path  # noqa: B018


@pytest.mark.parametrize("count", [1, 2, 7, 1000, 1001])
def test_the_fallback_duration_is_the_median_of_the_known_ones(count):
    """The bounded planner counts durations (a fixed array, the rare long ones apart) instead of keeping them; its
    median is np.median's, as the in-memory model takes it, including durations past the array's end."""
    from fonoteca.plan.bounded import DurationCounts

    rng = np.random.default_rng(count)
    durations = rng.integers(1, 400_000, count)
    durations[: count // 3] += DurationCounts.SHORT_MS  # long ones too (> 35 minutes)
    durations[count // 2 + 1 :: 5] = -1  # and unknown ones, which do not count
    counts = DurationCounts()
    for part in np.array_split(durations, 3):
        counts.add(part)
    known = durations[durations > 0]
    assert len(known) and counts.median() == int(np.median(known))
    assert DurationCounts().median() > 0  # nothing known: the default duration
