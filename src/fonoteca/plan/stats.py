"""`fonoteca stats --out DIR`: the charts an archivist expects, each as PNG and SVG with its numbers as JSON.

Every chart is a Chart: a name, a function computing its numbers from the catalog (plain JSON data, written to
NAME.json) and a function drawing them. Adding a chart is adding one entry to CHARTS.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from fonoteca.archive import Archive
from fonoteca.catalog import db
from fonoteca.catalog.records import CONTINUOUS_FEATURES
from fonoteca.plan import bounded, coverage, planner, policies
from fonoteca.progress import Progress
from fonoteca.tiers import Tier

FEATURES = CONTINUOUS_FEATURES
KEYS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
CORRELATION_SAMPLE = 200_000  # audio-feature rows read for the correlation (an even stride over the table)
TOP_GENRES = 30
DURATION_BIN_S = 10
DURATION_MAX_S = 900


class MemoryFacts:
    """The numbers the charts take from the plan's model, from the in-memory model."""

    def __init__(self, model: planner.Model) -> None:
        self.m = model

    @property
    def tracks(self) -> int:
        return len(self.m.data)

    def popularity(self) -> tuple[np.ndarray, int]:
        pop = self.m.data.popularity
        known = (pop >= 0) & (pop <= 100)
        return np.bincount(pop[known], minlength=101), int((~known).sum())

    def listens(self) -> tuple[np.ndarray, dict[str, Any], int]:
        m = self.m
        pop = np.clip(m.data.popularity, 0, 100)  # unknown counts as 0, as in the plan
        plays = 0 if m.data.plays is None else int((m.data.plays >= 0).sum())
        return np.bincount(pop, weights=m.cost.listens, minlength=101), m.listen_model.as_dict(), plays

    def durations(self, bin_ms: int, bins: int) -> tuple[np.ndarray, int]:
        duration = self.m.data.duration_ms  # -1: unknown
        known = duration[duration >= 0]
        return np.bincount(np.minimum(known // bin_ms, bins), minlength=bins + 1), int(len(duration) - len(known))

    def coverage(self) -> dict[str, Any]:
        m = self.m
        out = coverage.curve(m.cost, m.compact_value, inc=m.inc)
        anna = policies.summarize(m.cost, policies.anna(m.data, m.cost), m.compact_value)
        out["anna"] = {"bytes": anna["bytes"], "files": anna["files"], "listens_covered": anna["listens_covered"]}
        out["total"] = {
            "recordings": int(m.cost.is_rep.sum()),
            "tracks": len(m.data),
            "bytes_all_original": int(m.cost.bytes[Tier.ORIGINAL][m.cost.is_rep].sum()),
        }
        return out


@dataclass
class Context:
    conn: sqlite3.Connection
    archive: Archive
    _model: planner.Model | None = None
    _facts: Any = None

    def rows(self, sql: str, *params: Any) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, *params: Any) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]

    @property
    def model(self) -> planner.Model:
        """The plan's listen model over the whole catalog (loaded once, for listens and coverage)."""
        if self._model is None:
            self._model = planner.build_model(self.conn, self.archive.config, connect=planner.reader(self.archive))
        return self._model

    @property
    def facts(self) -> Any:
        """The plan's numbers for the charts: from the in-memory model, or computed in bounded memory when the
        catalog is too large for [plan] memory (plan/bounded.py)."""
        if self._facts is None:
            top = self.one("SELECT coalesce(max(rowid), 0) FROM tracks")
            if bounded.fits_in_memory(self.archive.config, top):
                self._facts = MemoryFacts(self.model)
            else:
                self._facts = bounded.Facts(self.archive, self.conn)
        return self._facts

    def close(self) -> None:
        if isinstance(self._facts, bounded.Facts):
            self._facts.close()


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    compute: Callable[[Context], dict[str, Any]]
    draw: Callable[[Any, dict[str, Any]], None]  # (matplotlib Figure, numbers)


# --- numbers ----------------------------------------------------------------------------------------------------
def _by_popularity(ctx: Context, table: str) -> dict[str, Any]:
    counts = [0] * 101
    unknown = 0
    for pop, n in ctx.rows(f"SELECT popularity, count(*) FROM {table} WHERE level > 0 GROUP BY popularity"):
        if pop is None or not 0 <= pop <= 100:
            unknown += n
        else:
            counts[int(pop)] = n
    return {"counts": counts, "unknown": unknown}


def popularity_numbers(ctx: Context) -> dict[str, Any]:
    counts, unknown = ctx.facts.popularity()  # tracks: from the plan's read (a GROUP BY would look up every row)
    tracks = {"counts": counts.tolist(), "unknown": unknown}
    return {
        "popularity": list(range(101)),
        "tracks": tracks,
        **{kind: _by_popularity(ctx, kind) for kind in ("artists", "albums")},
    }


def listens_numbers(ctx: Context) -> dict[str, Any]:
    listens, model, with_plays = ctx.facts.listens()
    total = float(listens.sum()) or 1.0
    return {
        "popularity": list(range(101)),
        "listens": listens.tolist(),
        "share": (listens / total).tolist(),
        "listen_model": model,
        "tracks_with_plays": with_plays,
    }


def duration_numbers(ctx: Context) -> dict[str, Any]:
    bins = DURATION_MAX_S // DURATION_BIN_S
    histogram, missing = ctx.facts.durations(DURATION_BIN_S * 1000, bins)
    counts = histogram.tolist()
    return {
        "bin_seconds": DURATION_BIN_S,
        "bin_start_s": [i * DURATION_BIN_S for i in range(bins + 1)],
        "counts": counts,
        "missing": missing,
        "median_s": _median_from_bins(counts, DURATION_BIN_S),
    }


def _median_from_bins(counts: list[int], width: int) -> float | None:
    total = sum(counts)
    if not total:
        return None
    running = 0
    for i, n in enumerate(counts):
        running += n
        if running * 2 >= total:
            return float(i * width + width / 2)
    return None


def explicit_numbers(ctx: Context) -> dict[str, Any]:
    counts = {"explicit": 0, "clean": 0, "unknown": 0}
    for value, n in ctx.rows("SELECT explicit, count(*) FROM tracks WHERE level > 0 GROUP BY explicit"):
        counts["unknown" if value is None else ("explicit" if value else "clean")] += n
    known = counts["explicit"] + counts["clean"]
    return {"counts": counts, "explicit_share": counts["explicit"] / known if known else None}


def isrc_numbers(ctx: Context) -> dict[str, Any]:
    # On the covering index alone: stubs (level 0) carry only an id, never an ISRC, so no level filter is needed.
    sizes = dict(
        ctx.rows(
            "SELECT n, count(*) FROM (SELECT count(*) AS n FROM tracks WHERE isrc IS NOT NULL GROUP BY isrc) GROUP BY n"
        )
    )
    labels = [str(i) for i in range(1, 10)] + ["10+"]
    isrcs = [sizes.get(i, 0) for i in range(1, 10)] + [sum(n for k, n in sizes.items() if k >= 10)]
    with_isrc = sum(k * n for k, n in sizes.items())
    return {
        "tracks_per_isrc": labels,
        "isrcs": isrcs,
        "tracks_without_isrc": ctx.facts.tracks - with_isrc,
        "distinct_isrcs": sum(sizes.values()),
        "tracks_with_isrc": with_isrc,
    }


def year_numbers(ctx: Context) -> dict[str, Any]:
    years: dict[int, int] = {}
    unknown = 0
    for year, n in ctx.rows("SELECT substr(release_date, 1, 4), count(*) FROM albums WHERE level > 0 GROUP BY 1"):
        if year and len(year) == 4 and year.isdigit() and int(year) > 0:
            years[int(year)] = n
        else:
            unknown += n
    span = range(min(years), max(years) + 1) if years else range(0)
    return {"years": list(span), "albums": [years.get(y, 0) for y in span], "unknown": unknown}


def album_numbers(ctx: Context) -> dict[str, Any]:
    types = {
        t or "unknown": n
        for t, n in ctx.rows(
            "SELECT album_type, count(*) FROM albums WHERE level > 0 GROUP BY album_type ORDER BY 2 DESC"
        )
    }
    cap = 40
    counts = [0] * (cap + 1)  # index i: albums with i tracks, the last one: cap or more
    unknown = 0
    for total, n in ctx.rows("SELECT total_tracks, count(*) FROM albums WHERE level > 0 GROUP BY total_tracks"):
        if total is None or total < 1:
            unknown += n
        else:
            counts[min(int(total), cap)] += n
    return {
        "album_types": types,
        "total_tracks": list(range(1, cap + 1)),
        "albums": counts[1:],
        "total_tracks_unknown": unknown,
        "last_bin_is_at_least": cap,
    }


def key_mode_numbers(ctx: Context) -> dict[str, Any]:
    grid = [[0] * 12 for _ in range(2)]  # mode 0 minor, 1 major
    no_key = 0
    for key, mode, n in ctx.rows("SELECT key, mode, count(*) FROM audio_features GROUP BY key, mode"):
        if isinstance(key, (int, float)) and 0 <= key <= 11 and mode in (0, 1):
            grid[int(mode)][int(key)] += n
        else:
            no_key += n
    return {"keys": list(KEYS), "minor": grid[0], "major": grid[1], "no_key": no_key}


def correlation_numbers(ctx: Context) -> dict[str, Any]:
    total = ctx.one("SELECT count(*) FROM audio_features")
    stride = max(1, math.ceil(total / CORRELATION_SAMPLE))
    cols = ", ".join(FEATURES)
    rows = ctx.rows(f"SELECT {cols} FROM audio_features WHERE track % ? = 0", stride)
    values = np.array([r for r in rows if all(isinstance(v, (int, float)) for v in r)], dtype=np.float64)
    values = values.reshape(-1, len(FEATURES))
    if len(values) < 2:
        corr = np.full((len(FEATURES), len(FEATURES)), np.nan)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.asarray(np.corrcoef(values, rowvar=False))
    matrix = [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in corr]
    return {"features": list(FEATURES), "correlation": matrix, "sample": len(values), "stride": stride}


def genre_numbers(ctx: Context) -> dict[str, Any]:
    rows = ctx.rows(
        "SELECT g.name, count(*) FROM artist_genres ag JOIN genres g ON g.rowid = ag.genre "
        "GROUP BY ag.genre ORDER BY 2 DESC, g.name LIMIT ?",
        TOP_GENRES,
    )
    return {
        "genres": [r[0] for r in rows],
        "artists": [r[1] for r in rows],
        "artists_with_genre": ctx.one("SELECT count(DISTINCT artist) FROM artist_genres"),
    }


def coverage_numbers(ctx: Context) -> dict[str, Any]:
    return ctx.facts.coverage()


# --- drawing ----------------------------------------------------------------------------------------------------
def _bars(ax: Any, x: list, y: list, *, log: bool = False, color: str = "#3b6ea8", width: float = 0.85) -> None:
    if not any(y):
        ax.text(0.5, 0.5, "no data in the catalog", ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.bar(x, y, width=width, color=color)
    if log and any(v > 0 for v in y):
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)


def draw_popularity(fig: Any, d: dict[str, Any]) -> None:
    axes = fig.subplots(3, 1, sharex=True)
    for ax, kind in zip(axes, ("tracks", "artists", "albums"), strict=True):
        _bars(ax, d["popularity"], d[kind]["counts"], log=True)
        ax.set_ylabel(f"{kind}\n({d[kind]['unknown']:,} unknown)" if d[kind]["unknown"] else kind)
    axes[-1].set_xlabel("popularity")


def draw_listens(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    _bars(ax, d["popularity"], [100 * s for s in d["share"]], color="#c0504d")
    ax.set_xlabel("popularity")
    ax.set_ylabel("% of estimated listens")


def draw_duration(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    _bars(ax, [s / 60 for s in d["bin_start_s"]], d["counts"], width=d["bin_seconds"] / 60 * 0.9)
    ax.set_xlabel(f"duration (minutes; last bar: {d['bin_start_s'][-1] // 60} min or more)")
    ax.set_ylabel("tracks")


def draw_explicit(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    labels = [k for k, v in d["counts"].items() if v]
    ax.pie(
        [d["counts"][k] for k in labels],
        labels=labels,
        autopct="%1.1f%%",
        colors=[{"explicit": "#c0504d", "clean": "#3b6ea8", "unknown": "#aaaaaa"}[k] for k in labels],
    )


def draw_isrc(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    _bars(ax, d["tracks_per_isrc"], d["isrcs"], log=True)
    ax.set_xlabel("tracks sharing one ISRC")
    ax.set_ylabel("ISRCs")


def draw_years(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    _bars(ax, d["years"], d["albums"], width=1.0)
    ax.set_xlabel("release year")
    ax.set_ylabel("albums")


def draw_albums(fig: Any, d: dict[str, Any]) -> None:
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 3]})
    _bars(left, list(d["album_types"]), list(d["album_types"].values()))
    left.set_ylabel("albums")
    left.tick_params(axis="x", rotation=45)
    _bars(right, d["total_tracks"], d["albums"], log=True)
    right.set_xlabel(f"tracks per album (last bar: {d['last_bin_is_at_least']} or more)")


def draw_key_mode(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    x = np.arange(12)
    ax.bar(x - 0.2, d["major"], width=0.4, label="major", color="#3b6ea8")
    ax.bar(x + 0.2, d["minor"], width=0.4, label="minor", color="#c0504d")
    ax.set_xticks(x, d["keys"])
    ax.set_ylabel("tracks")
    ax.legend()


def draw_correlation(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    matrix = np.array([[np.nan if v is None else v for v in row] for row in d["correlation"]], dtype=float)
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    n = len(d["features"])
    ax.set_xticks(range(n), d["features"], rotation=45, ha="right")
    ax.set_yticks(range(n), d["features"])
    for i in range(n):
        for j in range(n):
            if np.isfinite(matrix[i, j]):
                ax.text(
                    j,
                    i,
                    f"{matrix[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(matrix[i, j]) > 0.6 else "black",
                )
    fig.colorbar(image, ax=ax, shrink=0.8)


def draw_genres(fig: Any, d: dict[str, Any]) -> None:
    ax = fig.subplots()
    ax.barh(d["genres"][::-1], d["artists"][::-1], color="#3b6ea8")
    ax.set_xlabel("artists")
    ax.tick_params(axis="y", labelsize=7)


def draw_coverage(fig: Any, d: dict[str, Any]) -> None:
    left, right = fig.subplots(1, 2)
    by_b, by_f, anna = d["by_bytes"], d["by_files"], d["anna"]
    left.plot([b / 1e9 for b in by_b["bytes"]], [100 * s for s in by_b["listens_covered"]], label="optimal")
    right.plot(by_f["files"], [100 * s for s in by_f["listens_covered"]], label="most played first")
    if anna["files"]:
        left.plot([anna["bytes"] / 1e9], [100 * anna["listens_covered"]], "o", color="#c0504d", label="anna rule")
        right.plot([anna["files"]], [100 * anna["listens_covered"]], "o", color="#c0504d", label="anna rule")
    for ax, label in ((left, "GB (log scale)"), (right, "files (log scale)")):
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("% of estimated listens covered")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right")


CHARTS: tuple[Chart, ...] = (
    Chart("popularity", "Tracks, artists and albums by popularity", popularity_numbers, draw_popularity),
    Chart("listens_by_popularity", "Estimated listens by popularity", listens_numbers, draw_listens),
    Chart("duration", "Track durations", duration_numbers, draw_duration),
    Chart("explicit", "Explicit tracks", explicit_numbers, draw_explicit),
    Chart("tracks_per_isrc", "Tracks per ISRC", isrc_numbers, draw_isrc),
    Chart("release_years", "Albums per release year", year_numbers, draw_years),
    Chart("albums", "Album types and track counts", album_numbers, draw_albums),
    Chart("key_mode", "Key and mode", key_mode_numbers, draw_key_mode),
    Chart("feature_correlation", "Audio-feature correlation", correlation_numbers, draw_correlation),
    Chart("top_genres", f"Top {TOP_GENRES} genres by artists", genre_numbers, draw_genres),
    Chart("coverage", "Share of listens covered vs bytes and files", coverage_numbers, draw_coverage),
)


def _render(chart: Chart, numbers: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "fonoteca"  # stable SVG ids, so unchanged data gives unchanged files
    fig = plt.figure(figsize=(10, 7 if chart.name == "popularity" else 5.5), layout="constrained")
    try:
        chart.draw(fig, numbers)
        fig.suptitle(chart.title)
        png, svg = out / f"{chart.name}.png", out / f"{chart.name}.svg"
        fig.savefig(png, dpi=100, metadata={"Software": None})
        fig.savefig(svg, metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)
    return [png, svg]


def write_stats(
    archive: Archive, out: Path, *, counts: dict[str, Any] | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Compute every chart's numbers, write NAME.json, NAME.png and NAME.svg under `out`, and stats.json with all
    the numbers; returns that index."""
    out.mkdir(parents=True, exist_ok=True)
    conn = db.for_scans(archive.connect(readonly=True))
    ctx = Context(conn, archive)
    index: dict[str, Any] = {"archive": archive.name, "counts": counts or {}, "charts": {}}
    try:
        for chart in CHARTS:
            if progress:
                progress(1, stage=chart.name)
            numbers = chart.compute(ctx)
            (out / f"{chart.name}.json").write_bytes(orjson.dumps(numbers, option=orjson.OPT_INDENT_2))
            files = _render(chart, numbers, out)
            index["charts"][chart.name] = {
                "title": chart.title,
                "files": [p.name for p in files] + [f"{chart.name}.json"],
                "numbers": numbers,
            }
    finally:
        ctx.close()
        conn.close()
    (out / "stats.json").write_bytes(orjson.dumps(index, option=orjson.OPT_INDENT_2))
    return index
