"""The preservation plan: the reference rule track by track, the budgeted optimum, ISRC de-duplication, bad input."""

from __future__ import annotations

import itertools
import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.errors import UsageError
from fonoteca.plan import listens, policies, store
from fonoteca.synth.catalog import CatalogSynth
from fonoteca.tiers import Tier
from fonoteca.units import format_size, parse_size
from tests.conftest import run_cli
from tests.helpers import write_jsonl


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, synth_small) -> archive_mod.Archive:
    """The 2,000-track synthetic catalog, imported once for this module."""
    archive = archive_mod.init(tmp_path_factory.mktemp("plan") / "archive")
    assert run_cli("import", "spotify", str(synth_small), archive=archive.root).exit_code == 0
    return archive


def plan(archive: archive_mod.Archive, *args: str) -> dict:
    result = run_cli("plan", *args, "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    return orjson.loads(result.stdout)


def plan_rows(archive: archive_mod.Archive) -> dict[int, tuple[str, int, float, int | None]]:
    conn = sqlite3.connect(archive.catalog_path)
    try:
        return {
            r[0]: (Tier(r[1]).label, r[2], r[3], r[4])
            for r in conn.execute("SELECT track, tier, bytes, listens, rep FROM plan")
        }
    finally:
        conn.close()


def anna_reference(archive: archive_mod.Archive) -> dict[int, tuple[str, int | None]]:
    """The reference archive's rule written out plainly, track by track, in the order it would keep them: most
    popular first, then by secondary priority (its artist terms: the highest among the track's artists). Every
    track of popularity > 0 is kept; at popularity 0 a track whose ISRC is already kept gets -10 (so is skipped)."""
    conn = sqlite3.connect(archive.catalog_path)
    rows = conn.execute(
        "SELECT t.rowid, t.popularity, t.isrc, al.popularity, max(coalesce(ar.popularity, 0)), "
        "max(coalesce(ar.followers, 0)) FROM tracks t "
        "LEFT JOIN albums al ON al.rowid = t.album "
        "LEFT JOIN track_artists ta ON ta.track = t.rowid "
        "LEFT JOIN artists ar ON ar.rowid = ta.artist WHERE t.level > 0 GROUP BY t.rowid"
    ).fetchall()
    conn.close()

    def priority(row) -> float:
        return (row[4] or 0) / 100 + (row[3] or 0) / 100 + math.log10(min(1e8, (row[5] or 0) + 1)) / 8

    kept: dict[str, int] = {}
    expected: dict[int, tuple[str, int | None]] = {}
    for row in sorted(rows, key=lambda r: (-(r[1] if r[1] is not None else -1), -priority(r), r[0])):
        rowid, popularity, isrc = row[0], row[1] or 0, row[2]
        penalty = 10 if isrc is not None and isrc in kept else 0
        if popularity > 0:
            tier = "original"
        elif priority(row) - penalty >= 0.351:
            tier = "compact"
        else:
            tier = "skip"
        if tier != "skip" and isrc is not None:
            kept.setdefault(isrc, rowid)
        expected[rowid] = (tier, kept.get(isrc) if penalty and tier == "skip" else None)
    return expected


def test_anna_rule_track_by_track(catalog):
    summary = plan(catalog, "--policy", "anna")
    rows = plan_rows(catalog)
    expected = anna_reference(catalog)
    assert set(rows) == set(expected)
    for rowid, (tier, covered_by) in expected.items():
        assert rows[rowid][0] == tier, rowid
        if covered_by is not None:
            assert rows[rowid][3] == covered_by, rowid
    tiers = [t for t, _ in expected.values()]
    # The small catalog exercises every branch of the rule, the ISRC penalty included.
    assert tiers.count("original") and tiers.count("compact") and tiers.count("skip")
    assert any(by is not None for _, by in expected.values())
    assert summary["files"] == tiers.count("original") + tiers.count("compact")
    assert summary["tiers"]["original"]["files"] == tiers.count("original")
    assert summary["budget"] is None and summary["fits"] is None


def test_plan_table_holds_bytes_listens_and_run(catalog):
    summary = plan(catalog, "--budget", "2GB")
    rows = plan_rows(catalog)
    conn = sqlite3.connect(catalog.catalog_path)
    durations = dict(conn.execute("SELECT rowid, duration_ms FROM tracks WHERE level > 0"))
    runs = conn.execute("SELECT DISTINCT run FROM plan").fetchall()
    view = dict(conn.execute("SELECT tier, count(*) FROM plan_view GROUP BY tier"))
    stored = orjson.loads(
        conn.execute("SELECT summary FROM plan_runs WHERE rowid = ?", (summary["run"],)).fetchone()[0]
    )
    conn.close()
    rates = {"compact": 75_000, "original": 160_000}
    for rowid, (tier, size, est, _) in rows.items():
        if tier == "skip":
            assert size == 0
        else:
            assert size == round(durations[rowid] / 1000 * rates[tier] / 8)
        assert est > 0
    assert sum(r[1] for r in rows.values()) == summary["bytes"] <= 2_000_000_000
    assert runs == [(summary["run"],)] and stored["bytes"] == summary["bytes"]
    assert view.get("original", 0) + view.get("compact", 0) == summary["files"]
    assert view.get("compact", 0) == summary["tiers"]["compact"]["files"] > 0
    conn = catalog.connect(readonly=True)
    try:
        assert store.latest_run(conn)["policy"] == "optimal"
        files = list(store.planned_tracks(conn))
        assert len(files) == summary["files"] and all(f.tier != "skip" for f in files)
        one = files[0]
        assert store.tier_of(conn, one.track) == one
    finally:
        conn.close()


@pytest.mark.parametrize("budget", ["0", "1kB", "100MB", "1GB", "3.5GB", "1TB"])
def test_optimal_never_exceeds_the_budget(catalog, budget):
    summary = plan(catalog, "--budget", budget)
    assert summary["bytes"] <= parse_size(budget)
    assert sum(t["bytes"] for t in summary["tiers"].values()) == summary["bytes"]
    assert summary["bound"]["greedy_value"] <= summary["bound"]["lp_value"] + 1e-6
    assert summary["fits"] is True
    if budget == "1TB":  # room for everything: every recording as original
        assert summary["listens_covered"] == pytest.approx(1.0)
        assert summary["tiers"]["original"]["files"] == summary["recordings"]


def test_optimal_beats_or_equals_anna_at_equal_bytes(catalog):
    anna = plan(catalog, "--policy", "anna", "--dry-run")
    best = plan(catalog, "--budget", str(anna["bytes"]), "--dry-run")
    assert best["bytes"] <= anna["bytes"]
    assert best["listens_covered"] >= anna["listens_covered"]
    assert best["quality_weighted"] >= anna["quality_weighted"]


def test_budget_below_one_file_is_a_clear_empty_plan(catalog):
    summary = plan(catalog, "--budget", "0")
    assert summary["files"] == 0 and summary["bytes"] == 0 and summary["listens_covered"] == 0
    assert any("smaller than the smallest file" in w for w in summary["warnings"])
    assert all(tier == "skip" for tier, *_ in plan_rows(catalog).values())
    human = run_cli("plan", "--budget", "10kB", "--dry-run", archive=catalog.root)
    assert human.exit_code == 0 and "nothing fits" in human.stderr


def test_anna_reports_whether_it_fits(catalog):
    summary = plan(catalog, "--policy", "anna", "--budget", "1MB", "--dry-run")
    assert summary["fits"] is False and summary["bytes"] > 1_000_000
    assert any("more than the budget" in w for w in summary["warnings"])


def _cost(weights_c, weights_o, values) -> policies.Costs:
    n = len(values)
    return policies.Costs(
        bytes={1: np.array(weights_c, dtype=np.int64), 2: np.array(weights_o, dtype=np.int64)},
        listens=np.array(values, dtype=float),
        group_listens=np.array(values, dtype=float),
        is_rep=np.ones(n, bool),
        group_size=np.ones(n, dtype=np.int64),
        fallback_duration_ms=0,
        missing_duration=0,
        missing_popularity=0,
    )


def test_greedy_is_feasible_and_below_the_exact_optimum_and_the_lp_bound_above_it():
    rng = np.random.default_rng(4)
    for _ in range(25):
        n = 7
        seconds = rng.integers(60, 400, n)
        cost = _cost(seconds * 75_000 // 8, seconds * 160_000 // 8, rng.lognormal(4, 2, n))
        value = {0: np.zeros(n), 1: 0.9 * cost.listens, 2: cost.listens}
        weight = {0: np.zeros(n, dtype=np.int64), 1: cost.bytes[1], 2: cost.bytes[2]}
        budget = int(rng.integers(0, int(cost.bytes[2].sum())))
        exact = max(
            sum(value[t][i] for i, t in enumerate(choice))
            for choice in itertools.product((0, 1, 2), repeat=n)
            if sum(weight[t][i] for i, t in enumerate(choice)) <= budget
        )
        result = policies.optimal(cost, budget, 0.9)
        used = sum(int(weight[t][i]) for i, t in enumerate(result.tier))
        got = sum(value[t][i] for i, t in enumerate(result.tier))
        assert used <= budget
        assert got == pytest.approx(result.bound["greedy_value"])
        assert got <= exact + 1e-6 <= result.bound["lp_value"] + 2e-6


def test_tracks_sharing_an_isrc_count_once(tmp_path):
    synth = CatalogSynth(tracks=40, seed=11)
    objects = list(synth.objects({"artist", "track"}))
    tracks = [o for o in objects if o.get("type") == "track"]
    shared = tracks[:3]
    for track, popularity in zip(shared, (0, 40, 10), strict=True):
        track["external_ids"] = {"isrc": "USQX92400001"}
        track["popularity"] = popularity
    source = write_jsonl(tmp_path / "dup.jsonl", objects)
    archive = archive_mod.init(tmp_path / "a")
    assert run_cli("import", "spotify", str(source), archive=archive.root).exit_code == 0
    conn = sqlite3.connect(archive.catalog_path)
    rowids = {r[1]: r[0] for r in conn.execute("SELECT rowid, id FROM tracks WHERE isrc = 'USQX92400001'")}
    conn.close()
    assert len(rowids) == 3
    best = rowids[shared[1]["id"]]
    summary = plan(archive, "--budget", "1TB")
    rows = plan_rows(archive)
    group = [rows[r] for r in rowids.values()]
    assert [row[0] for row in group].count("original") == 1 and rows[best][0] == "original"
    for rowid in rowids.values():
        assert rows[rowid][3] == (None if rowid == best else best)
    assert summary["files"] == summary["recordings"] == summary["tracks"] - 2
    assert summary["tracks_kept"] == summary["tracks"]  # the two others are covered by the kept file
    assert summary["tiers"]["original"]["tracks"] == summary["tracks"]
    assert summary["listens_covered"] == pytest.approx(1.0)
    anna = plan(archive, "--policy", "anna")
    # the reference rule keeps every popular track (it de-duplicates by ISRC at popularity 0 only)
    assert [plan_rows(archive)[rowids[t["id"]]][0] for t in shared] == ["skip", "original", "original"]
    assert plan_rows(archive)[rowids[shared[0]["id"]]][3] == best
    assert anna["duplicates"] == 2


def _copy(archive: archive_mod.Archive, tmp_path: Path) -> archive_mod.Archive:
    target = tmp_path / "copy"
    shutil.copytree(archive.root, target)
    return archive_mod.open_archive(target)


def test_tracks_without_duration_or_popularity(catalog, tmp_path):
    archive = _copy(catalog, tmp_path)
    conn = sqlite3.connect(archive.catalog_path)
    conn.execute("UPDATE tracks SET duration_ms = NULL WHERE rowid % 10 = 0")
    conn.execute("UPDATE tracks SET popularity = NULL WHERE rowid % 7 = 0")
    conn.commit()
    conn.close()
    summary = plan(archive, "--budget", "1TB")
    assert summary["missing"]["duration"] > 0 and summary["missing"]["popularity"] > 0
    assert summary["listens_covered"] == pytest.approx(1.0)
    assert len(summary["warnings"]) == 2
    median = summary["missing"]["duration_assumed_ms"]
    rows = plan_rows(archive)
    assert rows[10][1] == round(median / 1000 * 160_000 / 8)
    assert rows[7][2] == pytest.approx(listens.DEFAULT_LISTENS_AT_ZERO)  # unknown popularity counts as 0
    anna = plan(archive, "--policy", "anna")
    assert anna["files"] > 0


@pytest.mark.parametrize(
    "text,expected",
    [
        ("300TB", 300 * 10**12),
        ("1.5 TiB", int(1.5 * 2**40)),
        ("500GB", 500 * 10**9),
        ("500gb", 500 * 10**9),
        ("0", 0),
        ("2e12", 2 * 10**12),
        ("750 MiB", 750 * 2**20),
        ("12345", 12345),
        ("1_000kB", 10**6),
    ],
)
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "-5GB", "12XB", "TB", "1.5.2GB", "ten GB", "1e999TB"])
def test_bad_sizes(text):
    with pytest.raises(UsageError):
        parse_size(text)


def test_format_size():
    assert format_size(3.4e14) == "340.00 TB" and format_size(999) == "999 B"


def test_bad_arguments_exit_2(catalog):
    assert run_cli("plan", "--budget", "300 parsecs", archive=catalog.root).exit_code == 2
    assert run_cli("plan", "--budget", "-1TB", archive=catalog.root).exit_code == 2
    result = run_cli("plan", archive=catalog.root)  # optimal needs a budget
    assert result.exit_code == 2 and "--budget" in result.stderr
    assert run_cli("plan", "--budget", "1TB", "--policy", "greedy", archive=catalog.root).exit_code == 2


def test_empty_catalog_is_a_clear_error(archive):
    result = run_cli("plan", "--budget", "1TB", archive=archive.root)
    assert result.exit_code == 1 and "no tracks" in result.stderr


def test_play_counts_beat_the_popularity_estimate_and_calibrate_it(catalog, tmp_path):
    archive = _copy(catalog, tmp_path)
    conn = sqlite3.connect(archive.catalog_path)
    tracks = conn.execute("SELECT rowid, popularity FROM tracks WHERE level > 0 AND popularity > 0").fetchall()
    assert len(tracks) >= listens.MIN_TRACKS_TO_FIT
    # Plays that follow listens = 5 * 10 ** (popularity / 20) exactly: the fit must find 5 and 20.
    conn.executemany(
        "INSERT INTO track_plays (track, plays, source) VALUES (?, ?, 'test')",
        [
            (
                r,
                round(5 * 10 ** (p / 20)),
            )
            for r, p in tracks
        ],
    )
    conn.commit()
    conn.close()
    summary = plan(archive, "--budget", "1TB")
    model = summary["listen_model"]
    assert model["origin"] == "fitted"
    assert model["listens_at_zero"] == pytest.approx(5, rel=0.05)
    assert model["points_per_decade"] == pytest.approx(20, rel=0.02)
    rows = plan_rows(archive)
    rowid, popularity = tracks[0]
    assert rows[rowid][2] == round(5 * 10 ** (popularity / 20))  # the play count itself
    assert summary["tracks_with_plays"] == len(tracks)


def test_listen_model_from_config():
    model = listens.from_config({"plan": {"listens_at_zero": 100, "points_per_decade": 10}})
    assert model.origin == "config"
    assert model.estimate(np.array([0, 10, 20, -1])).tolist() == pytest.approx([100, 1000, 10000, 100])
    default = listens.from_config({})
    assert default.estimate(np.array([100]))[0] == pytest.approx(30 * 10**8)


def test_the_calibration_is_the_same_however_the_tracks_are_chunked():
    """The fit's sums are exact, so the bounded planner (chunk by chunk) and the in-memory one (all at once) fit
    the same model to the last bit; and it is the ordinary least-squares fit."""
    rng = np.random.default_rng(7)
    popularity = rng.integers(-1, 101, 50_000).astype(np.int16)
    plays = np.where(
        rng.random(50_000) < 0.2, -1, np.rint(3 * 10 ** (popularity / 15.0) * rng.lognormal(0, 1, 50_000))
    ).astype(np.int64)
    whole = listens.fit_sums(popularity, plays)
    assert whole is not None
    model = whole.fit()
    for cuts in ([17], [1, 2, 3, 10_000, 49_999], list(range(0, 50_000, 4_321))):
        chunked = listens.FitSums()
        for part_pop, part_plays in zip(np.split(popularity, cuts), np.split(plays, cuts), strict=True):
            chunked.add(part_pop, part_plays)
        assert chunked.fit() == model  # equal floats, not close ones
    known = (plays > 0) & (popularity > 0)
    slope, intercept = np.polyfit(popularity[known], np.log10(plays[known]), 1)
    assert model is not None and model.origin == "fitted"
    assert model.points_per_decade == pytest.approx(1 / slope, rel=1e-9)
    assert model.listens_at_zero == pytest.approx(10**intercept, rel=1e-9)
    assert listens.fit_sums(popularity[:50], plays[:50]).fit() is None  # fewer than MIN_TRACKS_TO_FIT
    flat = listens.fit_sums(np.full(500, 40, dtype=np.int16), plays[:500].clip(1))
    assert flat.fit() is None  # one popularity: no slope to fit
    assert listens.fit_sums(popularity, None) is None


def test_parallel_read_equals_the_single_scan(catalog, monkeypatch):
    from fonoteca.plan import data as data_mod
    from fonoteca.plan import planner

    conn = catalog.connect(readonly=True)
    try:
        single = data_mod.load(conn)
        monkeypatch.setattr(data_mod, "PARALLEL_FROM", 0)
        parallel = data_mod.load(conn, connect=planner.reader(catalog), workers=3)
    finally:
        conn.close()
    for name in ("rowid", "popularity", "duration_ms", "priority", "rep"):
        assert np.array_equal(getattr(single, name), getattr(parallel, name)), name
    assert len(single) == 2000 and (single.rep != np.arange(len(single))).any()


def test_plays_import_by_track_id_and_isrc(catalog, tmp_path):
    archive = _copy(catalog, tmp_path)
    conn = sqlite3.connect(archive.catalog_path)
    (isrc,) = conn.execute("SELECT isrc FROM tracks GROUP BY isrc HAVING count(*) > 1 LIMIT 1").fetchone()
    members = [r[0] for r in conn.execute("SELECT rowid FROM tracks WHERE isrc = ? ORDER BY rowid", (isrc,))]
    (a_row, a_id), (b_row, b_id) = conn.execute(
        "SELECT rowid, id FROM tracks WHERE isrc IS NOT ? ORDER BY rowid LIMIT 2", (isrc,)
    )
    conn.close()
    table = tmp_path / "plays.csv"
    table.write_text(f'track,plays\nspotify:track:{a_id},1234\n{b_id},"5,000"\nnot-a-track,7\n{a_id},abc\n')
    result = run_cli("plays", "import", str(table), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout) | {"examples": None} == {
        "lines": 4,
        "tracks": 2,
        "unmatched": 1,
        "bad": 1,
        "examples": None,
    }
    by_isrc = tmp_path / "isrc.tsv"
    by_isrc.write_text(f"isrc\tstreams\n{isrc}\t900\n")
    assert run_cli("plays", "import", str(by_isrc), archive=archive.root).exit_code == 0
    conn = sqlite3.connect(archive.catalog_path)
    plays = dict(conn.execute("SELECT track, plays FROM track_plays"))
    conn.close()
    assert plays[a_row] == 1234 and plays[b_row] == 5000
    assert [plays[m] for m in members] == [900] + [0] * (len(members) - 1)  # the recording counts once
    summary = plan(archive, "--budget", "1TB")
    assert summary["tracks_with_plays"] == 2 + len(members)
    assert summary["listen_model"]["origin"] == "default"  # too few counts to fit
    assert plan_rows(archive)[a_row][2] == 1234
    bad = tmp_path / "bad.csv"
    bad.write_text("name,count\nx,1\n")
    result = run_cli("plays", "import", str(bad), archive=archive.root)
    assert result.exit_code == 1 and "header" in result.stderr
