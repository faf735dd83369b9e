"""`fonoteca stats --out DIR`: every chart as PNG and SVG, with the right numbers behind it in JSON."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.plan.stats import CHARTS
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def charts(tmp_path_factory, synth_small):
    archive = archive_mod.init(tmp_path_factory.mktemp("stats") / "archive")
    assert run_cli("import", "spotify", str(synth_small), archive=archive.root).exit_code == 0
    out = archive.root.parent / "charts"
    result = run_cli("stats", "--out", str(out), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    index = orjson.loads(result.stdout)
    conn = sqlite3.connect(archive.catalog_path)
    yield archive, out, index, conn
    conn.close()


def numbers(out, name):
    return orjson.loads((out / f"{name}.json").read_bytes())


def one(conn, sql, *params):
    return conn.execute(sql, params).fetchone()[0]


def test_every_chart_is_written_as_png_svg_and_json(charts):
    _, out, index, _ = charts
    assert set(index["charts"]) == {c.name for c in CHARTS}
    for chart in CHARTS:
        assert (out / f"{chart.name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = (out / f"{chart.name}.svg").read_text()
        assert "<svg" in svg and chart.title in svg  # matplotlib keeps each text as a comment beside its glyphs
        assert index["charts"][chart.name]["numbers"] == numbers(out, chart.name)
    assert orjson.loads((out / "stats.json").read_bytes())["counts"]["tracks"] == index["counts"]["tracks"]


def test_popularity_numbers(charts):
    _, out, _, conn = charts
    d = numbers(out, "popularity")
    for kind in ("tracks", "artists", "albums"):
        assert sum(d[kind]["counts"]) + d[kind]["unknown"] == one(conn, f"SELECT count(*) FROM {kind} WHERE level > 0")
    assert d["tracks"]["counts"][0] == one(conn, "SELECT count(*) FROM tracks WHERE level > 0 AND popularity = 0")
    assert d["artists"]["counts"][37] == one(conn, "SELECT count(*) FROM artists WHERE level > 0 AND popularity = 37")


def test_listens_by_popularity_matches_the_plan(charts):
    archive, out, _, _ = charts
    d = numbers(out, "listens_by_popularity")
    summary = orjson.loads(run_cli("plan", "--policy", "anna", "--dry-run", "--json", archive=archive.root).stdout)
    assert sum(d["listens"]) == pytest.approx(summary["listens_total"])
    assert sum(d["share"]) == pytest.approx(1.0)
    tracks = numbers(out, "popularity")["tracks"]["counts"]
    # Without play counts every track of popularity p has the model's estimate.
    p = max(i for i, n in enumerate(tracks) if n)
    assert d["listens"][p] == pytest.approx(tracks[p] * 30 * 10 ** (p / 12.5))


def test_duration_explicit_and_isrc_numbers(charts):
    _, out, _, conn = charts
    d = numbers(out, "duration")
    assert sum(d["counts"]) == one(conn, "SELECT count(*) FROM tracks WHERE level > 0 AND duration_ms IS NOT NULL")
    assert d["counts"][18] == one(
        conn, "SELECT count(*) FROM tracks WHERE level > 0 AND duration_ms BETWEEN 180000 AND 189999"
    )
    e = numbers(out, "explicit")
    assert e["counts"]["explicit"] == one(conn, "SELECT count(*) FROM tracks WHERE level > 0 AND explicit = 1")
    assert e["explicit_share"] == pytest.approx(
        e["counts"]["explicit"] / (e["counts"]["explicit"] + e["counts"]["clean"])
    )
    i = numbers(out, "tracks_per_isrc")
    assert i["distinct_isrcs"] == one(conn, "SELECT count(DISTINCT isrc) FROM tracks WHERE level > 0")
    assert i["tracks_with_isrc"] + i["tracks_without_isrc"] == one(conn, "SELECT count(*) FROM tracks WHERE level > 0")
    assert i["isrcs"][1] == one(
        conn, "SELECT count(*) FROM (SELECT isrc FROM tracks WHERE level > 0 GROUP BY isrc HAVING count(*) = 2)"
    )
    assert i["isrcs"][1] > 0  # the synthetic catalog re-uses recordings on compilations


def test_album_numbers(charts):
    _, out, _, conn = charts
    y = numbers(out, "release_years")
    albums = one(conn, "SELECT count(*) FROM albums WHERE level > 0")
    assert sum(y["albums"]) + y["unknown"] == albums
    year = y["years"][y["albums"].index(max(y["albums"]))]
    assert max(y["albums"]) == one(
        conn, "SELECT count(*) FROM albums WHERE level > 0 AND release_date LIKE ?", f"{year}%"
    )
    a = numbers(out, "albums")
    assert sum(a["album_types"].values()) == albums
    assert a["album_types"].get("single") == one(
        conn, "SELECT count(*) FROM albums WHERE level > 0 AND album_type = 'single'"
    )
    assert sum(a["albums"]) + a["total_tracks_unknown"] == albums
    assert a["albums"][0] == one(conn, "SELECT count(*) FROM albums WHERE level > 0 AND total_tracks = 1")


def test_key_mode_correlation_and_genres(charts):
    _, out, _, conn = charts
    k = numbers(out, "key_mode")
    assert sum(k["major"]) + sum(k["minor"]) + k["no_key"] == one(conn, "SELECT count(*) FROM audio_features")
    assert k["major"][0] == one(conn, "SELECT count(*) FROM audio_features WHERE key = 0 AND mode = 1")
    c = numbers(out, "feature_correlation")
    m = c["correlation"]
    n = len(c["features"])
    assert all(m[i][i] == pytest.approx(1.0) for i in range(n))
    assert all(m[i][j] == m[j][i] for i in range(n) for j in range(n))
    energy, acoustic = c["features"].index("energy"), c["features"].index("acousticness")
    assert m[energy][acoustic] < -0.5  # the synthetic catalog derives acousticness from 1 - energy
    assert c["sample"] == one(conn, "SELECT count(*) FROM audio_features")
    g = numbers(out, "top_genres")
    assert g["artists"] == sorted(g["artists"], reverse=True) and len(g["genres"]) == 30
    assert g["artists"][0] == one(
        conn,
        "SELECT count(*) FROM artist_genres ag JOIN genres x ON x.rowid = ag.genre WHERE x.name = ?",
        g["genres"][0],
    )


def test_coverage_curve(charts):
    archive, out, _, _ = charts
    d = numbers(out, "coverage")
    for curve, x in ((d["by_bytes"], "bytes"), (d["by_files"], "files")):
        assert curve[x] == sorted(curve[x])
        assert curve["listens_covered"] == sorted(curve["listens_covered"])
        assert curve["listens_covered"][-1] == pytest.approx(1.0)
    assert d["by_files"]["files"][-1] == d["total"]["recordings"]
    anna = orjson.loads(run_cli("plan", "--policy", "anna", "--dry-run", "--json", archive=archive.root).stdout)
    assert d["anna"] == {"bytes": anna["bytes"], "files": anna["files"], "listens_covered": anna["listens_covered"]}


def test_stats_without_out_counts_the_catalog_and_writes_nothing(charts):
    archive, *_ = charts
    before = sorted(p.relative_to(archive.root) for p in archive.root.rglob("*") if p.is_file())
    result = run_cli("stats", "--json", archive=archive.root)
    assert result.exit_code == 0
    counts = orjson.loads(result.stdout)
    conn = archive.connect(readonly=True)
    try:
        expected = {
            "tracks": conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0],
            "artists": conn.execute("SELECT count(*) FROM artists WHERE level > 0").fetchone()[0],
            "isrcs": conn.execute("SELECT count(DISTINCT isrc) FROM tracks WHERE isrc IS NOT NULL").fetchone()[0],
        }
    finally:
        conn.close()
    assert {k: counts[k] for k in expected} == expected and expected["tracks"] > 0
    after = sorted(p.relative_to(archive.root) for p in archive.root.rglob("*") if p.is_file())
    assert [p for p in after if not str(p).endswith(("-wal", "-shm"))] == [
        p for p in before if not str(p).endswith(("-wal", "-shm"))
    ]  # no charts written without --out
