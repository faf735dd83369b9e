"""Scale benchmark (issue 18): the reference catalog's size on one machine, one run per size.

Per size (default 1M, 10M, 30M tracks), every command a fresh process, its wall time and the peak RSS of its
whole process tree (sampled every 50 ms):

  import spotify-clean   the four databases of `synth spotify-clean` (or only the main one, --databases main)
  import spotify         the same number of tracks as JSON lines (`synth catalog`: artists, tracks, features)
  index rebuild          the search index of the layout import
  index update           after importing 1 % more tracks (as JSON lines): the incremental update
  plan                   --policy anna (its bytes are the budget), then --policy optimal at that budget
  stats                  the counts (`stats --json`) and the charts (`stats --out DIR`)
  bounded                plan --policy optimal and stats --out again with `[plan] memory = "400MB"`: the
                         bounded solver, which is what runs at 256M under the default 2 GB (the 256M memory
                         of plan and stats is read off these rows, not scaled from the in-memory ones)
  search                 p50/p95/p99 of --queries queries (1-3 words of real titles, some with an artist word)

and, in the same run, the anchors:

  raw copy               sqlite3 CLI: ATTACH the layout, INSERT INTO ... SELECT every table, then the indexes the
                         catalog has: what SQLite itself does on this machine (WAL, synchronous=NORMAL)
  sqlite-utils           `zstd -dc FILE | sqlite-utils insert DB tracks - --nl --alter` over the same JSON lines
  plain FTS5             title, artist names, album title into an unicode61 FTS5 table, optimized

Sizes on disk: catalog and index bytes per track. The goals of the issue are checked and printed; the results go
to --out (JSON) and bench/results/scale.md (with the 256M extrapolation and its method).

    python bench/scale_bench.py --sizes 1000000,10000000,30000000 --work /data/scale
    python bench/scale_bench.py --sizes 20000 --work /tmp/scale-smoke --queries 200      # a check end to end

The work folder needs about 2.9 kB per track free at the largest size with all four databases (1.9 kB with
--databases main: the JSON lines phase); the script checks before each size and says what it needs. Inputs are
made once per size (kept between runs with --keep, reused when present).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import _rss_mb, _tree, machine  # noqa: E402

FONOTECA = [sys.executable, "-m", "fonoteca"]
VENV = Path(sys.executable).parent
REFERENCE_TRACKS = 256_000_000
GOALS = {
    "layout_rate": 300_000,
    "layout_vs_copy": 2.0,
    "jsonl_rate": 100_000,
    "index_rate": 100_000,
    "index_size_vs_fts": 1.5,
    "flat": 0.20,
    "rss_mb": 2000,
}
# bytes a track takes on disk, per input and product (measured on synthetic data, generous)
DISK_PER_TRACK = {
    "layout": 1050,
    "layout_main": 360,
    "jsonl": 200,
    "jsonl_catalog": 1300,
    "catalog": 1300,
    "catalog_main": 450,
    "index": 160,
    "copy": 1300,
    "copy_main": 500,
    "temp": 400,
}
QUERY_SEED = 18


# --- running and measuring -------------------------------------------------------------------------------------
def timed(
    cmd: list[str] | str, log: Path, shell: bool = False, env: dict[str, str] | None = None, stdout: Path | None = None
) -> dict[str, Any]:
    """Run to completion (stderr, and stdout unless `stdout` names a file for it, to `log`); wall seconds and
    the peak summed RSS of the process tree in MB."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out, open(stdout or os.devnull, "wb") as result:
        started = time.perf_counter()
        child = subprocess.Popen(
            cmd, stdout=result if stdout else out, stderr=out, shell=shell, env=dict(os.environ, **(env or {}))
        )
        peak = 0.0
        while child.poll() is None:
            peak = max(peak, _rss_mb(_tree(child.pid)))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    if child.returncode != 0:
        tail = log.read_bytes()[-3000:].decode("utf-8", "replace")
        raise SystemExit(
            f"{cmd if isinstance(cmd, str) else ' '.join(map(str, cmd))} failed ({child.returncode}):\n{tail}"
        )
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(peak, 1)}


def fonoteca(archive: Path | None, *args: str, log: Path, stdout: Path | None = None) -> dict[str, Any]:
    return timed([*FONOTECA, *(["-A", str(archive)] if archive else []), *map(str, args)], log, stdout=stdout)


def rate(tracks: int, run: dict[str, Any]) -> dict[str, Any]:
    return dict(run, tracks_per_second=round(tracks / run["seconds"]) if run["seconds"] else None)


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def archive(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([*FONOTECA, "init", str(root)], check=True, capture_output=True)
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as handle:
        # imports are timed without the index (built and timed on its own); the plan picks its own solver
        handle.write("\n[search]\nupdate_on_import = false\n")
    return root


# --- the anchors ---------------------------------------------------------------------------------------------------
ANCHOR_INDEXES = {  # the indexes the catalog has, on the layout's columns
    "artists": ("id UNIQUE", "popularity"),
    "artist_genres": ("artist_rowid", "genre"),
    "artist_images": ("artist_rowid",),
    "artist_albums": ("album_rowid", "artist_rowid"),
    "albums": ("id UNIQUE", "external_id_upc", "popularity"),
    "album_images": ("album_rowid",),
    "tracks": (
        "id UNIQUE",
        "external_id_isrc",
        "popularity",
        "album_rowid, disc_number, track_number",
        "name COLLATE NOCASE",
    ),
    "track_artists": ("track_rowid", "artist_rowid"),
    "track_audio_features": ("track_id UNIQUE",),
    "playlists": ("id UNIQUE",),
    "playlist_images": ("playlist_rowid",),
    "playlist_tracks": ("track_rowid",),
    "track_files": ("track_id UNIQUE",),
}


# run by the in-memory solver up to ~11M tracks under the default [plan] memory, by the bounded one at 256M
IN_MEMORY_AT_SMALL_SIZES = ("plan_anna", "plan_optimal", "stats_charts")
BOUNDED_MEMORY = "400MB"  # small enough that every size runs the bounded solver, as 256M would under the default


@contextlib.contextmanager
def bounded_memory(root: Path) -> Iterator[None]:
    """The archive's config with `[plan] memory` set to BOUNDED_MEMORY, restored afterwards."""
    config = root / "fonoteca.toml"
    before = config.read_text()
    config.write_text(before + f'\n[plan]\nmemory = "{BOUNDED_MEMORY}"\n')
    try:
        yield
    finally:
        config.write_text(before)


def raw_copy_script(folder: Path, target: Path, databases: tuple[str, ...]) -> str:
    from fonoteca.catalog import layout

    lines = [
        "PRAGMA journal_mode=WAL;",
        "PRAGMA synchronous=NORMAL;",
        "PRAGMA cache_size=-262144;",
        "PRAGMA temp_store=FILE;",
        "PRAGMA threads=2;",
    ]
    for n, database in enumerate(databases):
        lines.append(f"ATTACH '{folder / layout.FILE_NAMES[database]}' AS src{n};")
    for n, database in enumerate(databases):
        for table in layout.DATABASE_TABLES[database]:
            for statement in layout.TABLES[table].ddl():
                if " INDEX " not in statement:
                    lines.append(statement.replace(f"CREATE TABLE {table}", f"CREATE TABLE main.{table}", 1) + ";")
            lines.append(f"INSERT INTO main.{table} SELECT * FROM src{n}.{table};")
    for database in databases:
        for table in layout.DATABASE_TABLES[database]:
            for i, columns in enumerate(ANCHOR_INDEXES.get(table, ())):
                unique = columns.endswith(" UNIQUE")
                columns = columns.removesuffix(" UNIQUE")
                lines.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX main.{table}_{i} ON {table} ({columns});")
    del target
    return "\n".join(lines) + "\n"


def fts_anchor(catalog: Path, work: Path) -> dict[str, Any]:
    import search_bench

    conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    path, figures = search_bench.build_anchor(conn, work)
    conn.close()
    return dict(figures, path=str(path))


# --- search latency ------------------------------------------------------------------------------------------------
def search_worker(root: Path, count: int, out: Path) -> None:
    """Run in its own process (its RSS is measured): queries from the catalog, a warm-up, then one timed run."""
    import search_bench

    from fonoteca.archive import open_archive
    from fonoteca.search.engine import Searcher

    archive_ = open_archive(root)
    conn = sqlite3.connect(f"file:{archive_.catalog_path}?mode=ro", uri=True)
    queries = search_bench.make_queries(conn, count, QUERY_SEED)
    conn.close()
    latencies = []
    with Searcher(archive_) as searcher:
        for query in queries[: min(100, len(queries))]:
            searcher.search(query, limit=20)
        for query in queries:
            started = time.perf_counter()
            searcher.search(query, limit=20)
            latencies.append((time.perf_counter() - started) * 1000)
    ordered = sorted(latencies)
    pick = lambda share: ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]  # noqa: E731
    out.write_text(
        json.dumps(
            {
                "queries": len(latencies),
                "p50_ms": round(pick(0.5), 3),
                "p95_ms": round(pick(0.95), 3),
                "p99_ms": round(pick(0.99), 3),
            }
        )
    )


def index_update_worker(root: Path) -> None:
    from fonoteca.archive import open_archive
    from fonoteca.search import index

    archive_ = open_archive(root)
    archive_.config.setdefault("search", {})["update_on_import"] = True
    stats = index.update_after_import(archive_)
    print(json.dumps(stats.as_dict()))


# --- one size ------------------------------------------------------------------------------------------------------
def optimal_plan(root: Path, tracks: int, budget: int, work: Path, logs: Path, name: str) -> dict[str, Any]:
    """`plan --policy optimal` within `budget`: its rate, the budget and the solver the plan reports."""
    report = work / f"{name}.json"
    run = fonoteca(
        root,
        *("plan", "--policy", "optimal", "--budget", str(budget), "--json"),
        log=logs / f"plan-{name}.log",
        stdout=report,
    )
    return dict(rate(tracks, run), budget=budget, solver=json.loads(report.read_text()).get("solver"))


def disk_needed(tracks: int, main_only: bool) -> int:
    """The peak: the layout phase (inputs, then the raw copy or the catalog with its index and sort files) or
    the JSON lines phase (input, catalog, sort files), whichever is larger; nothing else is kept meanwhile."""
    per = DISK_PER_TRACK
    suffix = "_main" if main_only else ""
    layout_phase = per["layout" + suffix] + max(
        per["copy" + suffix], per["catalog" + suffix] + per["index"] + per["temp"]
    )
    jsonl_phase = per["jsonl"] + per["jsonl_catalog"] + per["temp"]
    return tracks * max(layout_phase, jsonl_phase)


def index_terms(root: Path) -> int:
    """Word terms in the archive's search index (the vocabulary that typo and prefix expansion look in)."""
    from fonoteca.search.index import open_index

    conn, state = open_index(root / "index")
    conn.close()
    return int(state.meta["terms"])


def vocabulary(tracks: int, words: str) -> int:
    """The --words of the synth commands at this size (0: the built-in word list)."""
    return round(40 * tracks**0.6) if words == "heaps" else int(words)


def run_size(tracks: int, args: argparse.Namespace) -> dict[str, Any]:
    from fonoteca.catalog import layout

    words = vocabulary(tracks, args.words)
    work = args.work / (f"n{tracks}" if not words else f"n{tracks}-w{words}")
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    databases = (layout.MAIN,) if args.databases == "main" else layout.LOAD_ORDER
    need, free = disk_needed(tracks, args.databases == "main"), shutil.disk_usage(work).free
    print(
        f"\n== {tracks:,} tracks: needs about {need / 1e9:,.1f} GB free in {work} ({free / 1e9:,.1f} GB free)",
        flush=True,
    )
    if need > free and not args.force:
        return {"tracks": tracks, "skipped": f"needs about {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free"}
    out: dict[str, Any] = {
        "tracks": tracks,
        "databases": list(databases),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_at_start": os.getloadavg()[0],
        "words": words,
    }
    layout_dir = work / "layout"
    if not (layout_dir / "done").exists():
        shutil.rmtree(layout_dir, ignore_errors=True)
        out["synth_layout"] = fonoteca(
            None,
            "synth",
            "spotify-clean",
            "--tracks",
            str(tracks),
            "--out",
            layout_dir,
            "--seed",
            "18",
            "--databases",
            ",".join(databases),
            "--words",
            str(words),
            log=logs / "synth-layout.log",
        )
        (layout_dir / "done").write_text("")
    out["layout_bytes"] = size_of(layout_dir)
    step = lambda name: print(f"   {name} ...", flush=True)  # noqa: E731

    step("anchor: raw copy")
    copy = work / "raw-copy.sqlite3"
    for stale in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
        stale.unlink(missing_ok=True)
    script = work / "raw-copy.sql"
    script.write_text(raw_copy_script(layout_dir, copy, databases))
    out["raw_copy"] = rate(tracks, timed(f"sqlite3 '{copy}' < '{script}'", logs / "raw-copy.log", shell=True))
    out["raw_copy"]["bytes"] = size_of(copy)
    for stale in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
        stale.unlink(missing_ok=True)

    step("import spotify-clean")
    a = archive(work / "layout-archive")
    out["import_spotify_clean"] = rate(
        tracks, fonoteca(a, "import", "spotify-clean", layout_dir, "--json", log=logs / "import-spotify-clean.log")
    )
    out["catalog_bytes_per_track"] = round(size_of(a / "catalog.sqlite3") / tracks, 1)
    step("index rebuild")
    out["index_rebuild"] = rate(tracks, fonoteca(a, "index", "rebuild", log=logs / "index-rebuild.log"))
    out["index_bytes_per_track"] = round(size_of(a / "index") / tracks, 1)
    out["index_terms"] = index_terms(a)
    step("anchor: plain FTS5")
    fts = work / "fts-anchor"
    fts.mkdir(exist_ok=True)
    run = timed(
        [sys.executable, __file__, "--fts-anchor-worker", str(a / "catalog.sqlite3"), str(fts)], logs / "fts-anchor.log"
    )
    out["fts_anchor"] = rate(tracks, run)
    out["fts_anchor"]["bytes_per_track"] = round(size_of(fts) / tracks, 1)
    shutil.rmtree(fts, ignore_errors=True)

    step("plan")
    anna = fonoteca(a, "plan", "--policy", "anna", "--json", log=logs / "plan-anna.log", stdout=work / "anna.json")
    summary = json.loads((work / "anna.json").read_text())
    out["plan_anna"] = rate(tracks, anna)
    out["plan_anna"]["solver"] = summary.get("solver")
    budget = max(1, summary["bytes"])
    out["plan_optimal"] = optimal_plan(a, tracks, budget, work, logs, "optimal")
    step("stats")
    out["stats_counts"] = fonoteca(a, "stats", "--json", log=logs / "stats.log")
    charts = work / "charts"
    out["stats_charts"] = rate(tracks, fonoteca(a, "stats", "--out", charts, log=logs / "stats-charts.log"))
    shutil.rmtree(charts, ignore_errors=True)
    step(f"plan and stats in bounded memory ([plan] memory = {BOUNDED_MEMORY})")
    with bounded_memory(a):
        # below ~1M tracks the in-memory model fits even this budget: the row says which solver ran
        out["plan_optimal_bounded"] = optimal_plan(a, tracks, budget, work, logs, "bounded")
        out["stats_charts_bounded"] = rate(
            tracks, fonoteca(a, "stats", "--out", charts, log=logs / "stats-charts-bounded.log")
        )
    shutil.rmtree(charts, ignore_errors=True)
    step("search")
    latency_file = work / "latency.json"
    out["search"] = timed(
        [sys.executable, __file__, "--search-worker", str(a), str(args.queries), str(latency_file)], logs / "search.log"
    )
    out["search"].update(json.loads(latency_file.read_text()))

    step("index update")
    extra = work / "extra.jsonl.zst"
    added = max(1000, tracks // 100)
    if not extra.exists():
        fonoteca(
            None,
            "synth",
            "catalog",
            "--tracks",
            str(added),
            "--out",
            extra,
            "--seed",
            "19",
            "--kinds",
            "artist,track",
            "--words",
            str(words),
            log=logs / "synth-extra.log",
        )
    fonoteca(a, "import", "spotify", extra, log=logs / "import-extra.log")
    update = timed([sys.executable, __file__, "--index-update-worker", str(a)], logs / "index-update.log")
    out["index_update"] = rate(added, update)
    out["index_update"]["tracks"] = added
    if not args.keep:  # the JSON lines phase needs the room
        shutil.rmtree(layout_dir, ignore_errors=True)
        shutil.rmtree(a, ignore_errors=True)
    if args.layout_only:
        out["load_at_end"] = os.getloadavg()[0]
        return out
    step("synth catalog (JSON lines)")
    jsonl = work / "synth.jsonl.zst"
    if not jsonl.exists():
        partial = work / "partial.jsonl.zst"
        out["synth_jsonl"] = fonoteca(
            None,
            "synth",
            "catalog",
            "--tracks",
            str(tracks),
            "--out",
            partial,
            "--seed",
            "18",
            "--words",
            str(words),
            log=logs / "synth-jsonl.log",
        )
        partial.rename(jsonl)
    step("import spotify (JSON lines)")
    b = archive(work / "jsonl-archive")
    out["import_spotify"] = rate(
        tracks, fonoteca(b, "import", "spotify", jsonl, "--json", log=logs / "import-spotify.log")
    )
    out["jsonl_catalog_bytes_per_track"] = round(size_of(b / "catalog.sqlite3") / tracks, 1)
    shutil.rmtree(b, ignore_errors=True)
    if tracks <= args.jsonl_anchor_max:
        step("anchor: sqlite-utils")
        db = work / "sqlite-utils.db"
        db.unlink(missing_ok=True)
        out["sqlite_utils"] = rate(
            tracks,
            timed(
                f"zstd -dc '{jsonl}' | '{VENV / 'sqlite-utils'}' insert '{db}' tracks - --nl --alter",
                logs / "sqlite-utils.log",
                shell=True,
            ),
        )
        db.unlink(missing_ok=True)
    else:
        out["sqlite_utils"] = {
            "skipped": f"above --jsonl-anchor-max ({args.jsonl_anchor_max:,}): its database "
            f"holds the JSON text, about {tracks * 3.6e3 / 1e9:,.0f} GB"
        }
    out["load_at_end"] = os.getloadavg()[0]
    if not args.keep:
        jsonl.unlink(missing_ok=True)
        extra.unlink(missing_ok=True)
    return out


# --- report --------------------------------------------------------------------------------------------------------
COMMANDS = (
    ("import_spotify_clean", "import spotify-clean"),
    ("raw_copy", "anchor: raw SQLite copy"),
    ("import_spotify", "import spotify (JSON lines)"),
    ("sqlite_utils", "anchor: sqlite-utils insert --nl"),
    ("index_rebuild", "index rebuild"),
    ("fts_anchor", "anchor: plain FTS5 build"),
    ("index_update", "index update (1 % new tracks)"),
    ("plan_anna", "plan --policy anna"),
    ("plan_optimal", "plan --policy optimal"),
    ("stats_counts", "stats --json"),
    ("stats_charts", "stats --out"),
    ("plan_optimal_bounded", f"plan --policy optimal, bounded ({BOUNDED_MEMORY})"),
    ("stats_charts_bounded", f"stats --out, bounded ({BOUNDED_MEMORY})"),
    ("search", "search (per query)"),
)


def report(results: list[dict[str, Any]], header: str) -> str:
    lines = ["# Scale (issue 18): the reference catalog's size on one machine", "", header, ""]
    for r in results:
        lines.append(f"## {r['tracks']:,} tracks")
        if "skipped" in r:
            lines += ["", f"Not run: {r['skipped']}.", ""]
            continue
        lines += [
            "",
            f"Load average {r.get('load_at_start', 0):.2f} at the start, {r.get('load_at_end', 0):.2f} at "
            f"the end; databases: {', '.join(r['databases'])}.",
            "",
            "| command | seconds | tracks/s | peak RSS MB | notes |",
            "|---|---:|---:|---:|---|",
        ]
        for key, label in COMMANDS:
            m = r.get(key)
            if not m:
                continue
            if "skipped" in m:
                lines.append(f"| {label} | | | | {m['skipped']} |")
                continue
            note = ""
            if key == "search":
                note = f"p50 {m['p50_ms']} ms, p95 {m['p95_ms']} ms, p99 {m['p99_ms']} ms over {m['queries']} queries"
            elif key == "fts_anchor":
                note = f"{m.get('bytes_per_track')} bytes/track"
            elif key in ("plan_optimal", "plan_optimal_bounded"):
                note = f"budget {m['budget']:,} bytes (anna's); solver: {m.get('solver', 'in memory')}"
            elif key == "plan_anna":
                note = f"solver: {m.get('solver')}"
            elif key == "index_update":
                note = f"{m['tracks']:,} tracks"
            per_second = f"{m['tracks_per_second']:,}" if m.get("tracks_per_second") else ""
            lines.append(f"| {label} | {m['seconds']:,.1f} | {per_second} | {m['peak_rss_mb']:,.0f} | {note} |")
        lines += [
            "",
            f"Catalog {r['catalog_bytes_per_track']} bytes/track (layout import), "
            f"{r.get('jsonl_catalog_bytes_per_track')} bytes/track (JSON lines import); index "
            f"{r['index_bytes_per_track']} bytes/track; inputs {r['layout_bytes'] / r['tracks']:.0f} "
            f"bytes/track (layout). Vocabulary: synth --words {r.get('words', 0):,} "
            f"({'the built-in word list' if not r.get('words') else 'Zipf'}), "
            f"{r.get('index_terms', 0):,} word terms in the index.",
            "",
        ]
        lines += goals(r) + [""]
    lines += extrapolation(results)
    return "\n".join(lines) + "\n"


def goals(r: dict[str, Any]) -> list[str]:
    out = []

    def check(name: str, ok: bool, text: str) -> None:
        out.append(f"- {name}: {text} -> **{'met' if ok else 'not met'}**")

    lay, copy = r["import_spotify_clean"], r["raw_copy"]
    check(
        "layout import >= 300k tracks/s",
        lay["tracks_per_second"] >= GOALS["layout_rate"],
        f"{lay['tracks_per_second']:,}/s",
    )
    ratio = lay["seconds"] / copy["seconds"]
    check("layout import within 2x of the raw copy", ratio <= GOALS["layout_vs_copy"], f"{ratio:.2f}x")
    if jl := r.get("import_spotify"):  # absent with --layout-only
        check(
            "JSON lines import >= 100k tracks/s",
            jl["tracks_per_second"] >= GOALS["jsonl_rate"],
            f"{jl['tracks_per_second']:,}/s",
        )
    ix, fts = r["index_rebuild"], r["fts_anchor"]
    check(
        "index build >= 100k tracks/s", ix["tracks_per_second"] >= GOALS["index_rate"], f"{ix['tracks_per_second']:,}/s"
    )
    check(
        "index update >= 100k tracks/s",
        r["index_update"]["tracks_per_second"] >= GOALS["index_rate"],
        f"{r['index_update']['tracks_per_second']:,}/s",
    )
    check(
        "index build faster than plain FTS5",
        ix["seconds"] < fts["seconds"],
        f"{ix['seconds']:.1f} s vs {fts['seconds']:.1f} s",
    )
    size = r["index_bytes_per_track"] / fts["bytes_per_track"]
    check("index at most 1.5x the plain FTS5 index", size <= GOALS["index_size_vs_fts"], f"{size:.2f}x")
    worst = max(
        (m["peak_rss_mb"], label)
        for key, label in COMMANDS
        if (m := r.get(key)) and "peak_rss_mb" in m and not key.startswith(("raw", "sqlite", "fts"))
    )
    check("peak RSS <= 2 GB for every command", worst[0] <= GOALS["rss_mb"], f"worst {worst[0]:,.0f} MB ({worst[1]})")
    return out


def extrapolation(results: list[dict[str, Any]]) -> list[str]:
    done = [r for r in results if "skipped" not in r]
    lines = ["## 256M tracks: extrapolated", ""]
    if not done:
        return lines + ["No size was run.", ""]
    first, last = done[0], done[-1]
    lines += [
        f"Method: for each command, the rate at the largest size run ({last['tracks']:,}); when the rate held "
        f"within 20 % from {first['tracks']:,} to it, the time at 256M is 256M / that rate; otherwise t = a * N^b "
        "is fitted through the two largest sizes and evaluated at 256M (flagged). Disk: bytes per track at the "
        "largest size times 256M. Memory: the peak RSS at the largest size when it stayed within 20 % across "
        "sizes, else scaled with the size (flagged: not bounded).",
        "",
        "| command | rate at smallest | rate at largest | change | 256M time | peak RSS at 256M |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in COMMANDS:
        if key in ("search", "stats_counts") or not all(key in r and "seconds" in r[key] for r in done):
            continue
        t1, tl = first[key], last[key]
        n1, nl = (
            first["tracks"] if key != "index_update" else t1.get("tracks", first["tracks"]),
            last["tracks"] if key != "index_update" else tl.get("tracks", last["tracks"]),
        )
        r1, rl = n1 / t1["seconds"], nl / tl["seconds"]
        change = rl / r1 - 1
        target = REFERENCE_TRACKS if key != "index_update" else REFERENCE_TRACKS // 100
        flag = ""
        if abs(change) <= GOALS["flat"] or len(done) < 2:
            seconds = target / rl
        else:
            prev = done[-2][key]
            np_ = done[-2]["tracks"] if key != "index_update" else prev.get("tracks")
            b = math.log(tl["seconds"] / prev["seconds"]) / math.log(nl / np_) if nl != np_ else 1.0
            seconds = tl["seconds"] * (target / nl) ** b
            flag = f" (fit, N^{b:.2f})"
        rss = [r[key]["peak_rss_mb"] for r in done]
        memory = tl["peak_rss_mb"] if max(rss) <= 1.2 * min(rss) else tl["peak_rss_mb"] * target / nl
        memory_note = "" if max(rss) <= 1.2 * min(rss) else " (scaled: not bounded)"
        if key in IN_MEMORY_AT_SMALL_SIZES and last.get("plan_optimal", {}).get("solver") != "bounded":
            memory_note += "; in memory here, bounded at 256M (see the bounded row)"
        lines.append(
            f"| {label} | {r1:,.0f}/s | {rl:,.0f}/s | {change:+.0%} | {seconds / 3600:,.1f} h{flag} | "
            f"{memory:,.0f} MB{memory_note} |"
        )
    per = last
    disk = (per["catalog_bytes_per_track"] + per["index_bytes_per_track"]) * REFERENCE_TRACKS
    lines += [
        "",
        f"Disk at 256M: catalog about {per['catalog_bytes_per_track'] * REFERENCE_TRACKS / 1e9:,.0f} GB and "
        f"index {per['index_bytes_per_track'] * REFERENCE_TRACKS / 1e9:,.0f} GB ({disk / 1e9:,.0f} GB "
        "together), plus the inputs (the reference release's databases: about 270 GB uncompressed) and "
        "temporary sort files of about the largest index being built.",
        "",
    ]
    return lines


# --- main ------------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000,30000000")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "fonoteca-scale")
    parser.add_argument("--databases", choices=("all", "main"), default="all")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--jsonl-anchor-max",
        type=int,
        default=10_000_000,
        help="largest size the sqlite-utils anchor runs at (its database holds ~3.6 kB a track)",
    )
    parser.add_argument(
        "--words",
        default="0",
        help="vocabulary of the synthetic titles and names: 0 the built-in word list (a few hundred index terms at "
        "any size), N words, or 'heaps': round(40 * tracks ** 0.6) words per size (Heaps' law; an assumption, "
        "see synth/words.py)",
    )
    parser.add_argument(
        "--layout-only", action="store_true", help="skip the JSON lines phase (synth catalog, import spotify)"
    )
    parser.add_argument("--keep", action="store_true", help="keep inputs and archives between runs")
    parser.add_argument("--force", action="store_true", help="run even when the free disk looks too small")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "scale.json")
    parser.add_argument("--markdown", type=Path, default=Path(__file__).resolve().parent / "results" / "scale.md")
    parser.add_argument("--search-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--fts-anchor-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--index-update-worker", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_worker:
        search_worker(Path(args.search_worker[0]), int(args.search_worker[1]), Path(args.search_worker[2]))
        return
    if args.fts_anchor_worker:
        print(json.dumps(fts_anchor(Path(args.fts_anchor_worker[0]), Path(args.fts_anchor_worker[1]))))
        return
    if args.index_update_worker:
        index_update_worker(Path(args.index_update_worker[0]))
        return
    for tool in ("sqlite3", "zstd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (the anchors run it)")
    args.work.mkdir(parents=True, exist_ok=True)
    header = f"Machine: {machine()}. Command: `python bench/scale_bench.py {shlex.join(sys.argv[1:])}`."
    print(header, flush=True)
    results = []
    for tracks in (int(s) for s in args.sizes.split(",")):
        results.append(run_size(tracks, args))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        args.markdown.write_text(report(results, header))
    print(report(results, header))


if __name__ == "__main__":
    main()
