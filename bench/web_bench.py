"""Web benchmark: the search API of `fonoteca serve` against Datasette serving the same catalog with an FTS table.

    python bench/web_bench.py --catalog ARCHIVE_DIR --work BENCH_DIR [--duration 30] [--connections 50]

Both servers run on loopback on this machine, one after the other, with the same catalog, the same queries and
the same load generator (wrk, 50 connections = 50 concurrent clients in a closed loop, each sending its next
request when the previous answer arrives; a Lua script cycles every connection through the query list from its
own offset). Every server gets a warm-up run (not counted) and a measured run.

- fonoteca   `fonoteca serve` (uvicorn, the default single process with 4 reader threads; "-2w": --workers 2),
             GET /api/search?q=...&size=20: text search over title/artists/album with popularity-blended
             ranking, results with their artists and album, JSON. The rate limiter stays on, with a limit no
             benchmark reaches (every wrk connection comes from 127.0.0.1). Without "-cached" the response cache
             is off (--cache-entries 0): every request runs the search. "-cached": the default response cache
             (2,048 entries per process) under a query stream where some queries repeat: requests drawn from a
             pool of --pool distinct queries with Zipf-distributed frequencies (exponent --zipf, 1.0 by default,
             the usual fit of search query logs); the hit rate is reported.
- datasette  `datasette serve -i catalog.db` (immutable mode, its fastest; default settings otherwise) on a
             copy of the catalog with one added table: track_search (track id, title, artist names, album,
             release date, popularity, explicit; one row per track) with an FTS5 index over title, artists
             and album (sqlite-utils enable-fts) and an index on popularity. Query: the table's JSON API,
             /catalog/track_search.json?_search=...&_sort_desc=popularity&_size=20 (matches, most popular first:
             the nearest Datasette gets to Fonoteca's ranking without custom SQL, as a user would call it), and
             "datasette-fast": ?_search=...&_size=20&_nocount=1&_nofacet=1&_nosuggest=1 (no order, no count: the
             cheapest request Datasette answers, whose results are the first matches in rowid order, not the
             popular ones). The ratio is taken against the faster of the two.
Queries (uncached runs and Datasette): --queries distinct queries, every connection cycling through all of
them, so no two requests of a connection in a row are the same. Words: 1-3 consecutive words of real titles (half
of the tracks drawn uniformly, half weighted by popularity), a quarter with a word of the artist's name, as typed;
the same list, in the same order, for every server.
Reported: requests/s, latency p50/p90/p99/max (wrk's, microsecond resolution), errors (socket errors and
non-2xx answers), and the server's CPU seconds per 1,000 requests (from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

PYTHON = sys.executable
BIN = Path(sys.executable).parent

WRK_SCRIPT = r"""
local paths = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  offset = (id or 1) * 7919
  n = 0
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(offset + n * 31) % #paths + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


# --- data ------------------------------------------------------------------------------------------------------------
def make_queries(catalog: sqlite3.Connection, count: int, seed: int) -> list[str]:
    """Words of real titles, as people type them (the recipe of bench/search_bench.py)."""
    rng = random.Random(seed)
    max_rowid = catalog.execute("SELECT max(rowid) FROM tracks").fetchone()[0]
    popular = [
        r
        for (r,) in catalog.execute(
            "SELECT rowid FROM tracks WHERE level > 0 AND popularity > 0 ORDER BY random() LIMIT ?", (count * 20,)
        )
    ]
    weights = (
        {
            r: p
            for r, p in catalog.execute(
                f"SELECT rowid, popularity FROM tracks WHERE rowid IN ({','.join(map(str, popular))})"
            )
        }
        if popular
        else {}
    )
    queries: list[str] = []
    while len(queries) < count:
        if popular and rng.random() < 0.5:
            rowid = rng.choices(popular, weights=[weights.get(r, 0) + 1 for r in popular])[0]
        else:
            rowid = rng.randint(1, max_rowid)
        row = catalog.execute(
            "SELECT t.name, (SELECT ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist "
            "WHERE l.track = t.rowid ORDER BY l.position LIMIT 1) FROM tracks t WHERE t.rowid = ? AND t.level > 0",
            (rowid,),
        ).fetchone()
        if row is None or not row[0]:
            continue
        words = [w for w in row[0].split() if any(ch.isalnum() for ch in w)]
        if not words:
            continue
        size = min(len(words), rng.choices((1, 2, 3), weights=(4, 4, 2))[0])
        start = rng.randint(0, len(words) - size)
        query = words[start : start + size]
        if row[1] and rng.random() < 0.25:
            query.append(rng.choice(row[1].split()))
        queries.append(" ".join(query))
    return queries


def build_datasette_db(catalog_db: Path, out: Path) -> None:
    """A copy of the catalog plus track_search with an FTS5 index: what a user would publish with Datasette."""
    import sqlite_utils

    marker = out.with_suffix(".done")
    if marker.exists() and out.exists():
        return
    tmp = out.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    print(f"building the Datasette database {out} (a copy of the catalog plus an FTS table) ...", flush=True)
    started = time.perf_counter()
    src = sqlite3.connect(f"file:{catalog_db}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    src.backup(dst)
    src.close()
    dst.executescript("""
        PRAGMA journal_mode=DELETE;
        CREATE TABLE track_search (
          rowid INTEGER PRIMARY KEY, track_id TEXT, title TEXT, artists TEXT, album TEXT, release_date TEXT,
          popularity INTEGER, explicit INTEGER);
        INSERT INTO track_search
          SELECT t.rowid, t.id, t.name,
                 (SELECT group_concat(ar.name, ', ') FROM track_artists l JOIN artists ar ON ar.rowid = l.artist
                  WHERE l.track = t.rowid),
                 a.name, a.release_date, t.popularity, t.explicit
          FROM tracks t LEFT JOIN albums a ON a.rowid = t.album WHERE t.level > 0 ORDER BY t.rowid;
        CREATE INDEX track_search_popularity ON track_search (popularity);
    """)
    dst.commit()
    dst.close()
    db = sqlite_utils.Database(tmp)
    db["track_search"].enable_fts(["title", "artists", "album"], fts_version="FTS5")
    db.vacuum()
    db.close()
    os.replace(tmp, out)
    marker.write_text("ok\n")
    print(f"  done in {time.perf_counter() - started:.0f} s, {out.stat().st_size / 1e6:,.0f} MB", flush=True)


# --- servers ---------------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, child: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"server exited with {child.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not come up")


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, paths_file: Path, script: Path, *, duration: int, connections: int, threads: int, timeout: int = 30
) -> dict:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        f"{timeout}s",
        "-s",
        str(script),
        url,
        "--",
        str(paths_file),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout}\n{out.stderr}")
    data = json.loads(line[len("WRKJSON ") :])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = data["connect"] + data["read"] + data["write"] + data["status"] + data["timeout"]
    return data


def measure(
    name: str,
    cmd: list[str],
    ready_path: str,
    port: int,
    paths: list[str],
    work: Path,
    args: argparse.Namespace,
    env: dict[str, str] | None = None,
    duration: int | None = None,
) -> dict[str, Any]:
    duration = duration or args.duration
    paths_file = work / f"paths-{name}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = work / "cycle.lua"
    script.write_text(WRK_SCRIPT)
    base = f"http://127.0.0.1:{port}"
    print(f"[{name}] starting: {' '.join(cmd)}", flush=True)
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        wait_ready(base + ready_path, child)
        # correctness probe: every server answers the first queries with results
        sample = [json.loads(urllib.request.urlopen(base + p, timeout=30).read()) for p in paths[:20]]
        print(f"[{name}] warm-up {args.warmup} s ...", flush=True)
        run_wrk(base, paths_file, script, duration=args.warmup, connections=args.connections, threads=args.threads)
        cpu_before = cpu_seconds(child.pid)
        print(f"[{name}] measuring {duration} s at {args.connections} connections ...", flush=True)
        health_before = _health(base) if name.startswith("fonoteca") else None
        result = run_wrk(
            base,
            paths_file,
            script,
            duration=duration,
            connections=args.connections,
            threads=args.threads,
            timeout=max(30, duration),
        )
        if health_before is not None:
            after = _health(base)
            hits = after["hits"] - health_before["hits"]
            misses = after["misses"] - health_before["misses"]
            result["cache_hit_rate"] = hits / (hits + misses) if hits + misses else None
        result["server_cpu_s"] = cpu_seconds(child.pid) - cpu_before
        result["load_average_after"] = round(os.getloadavg()[0], 2)
        result["cpu_ms_per_request"] = 1000 * result["server_cpu_s"] / max(1, result["requests"])
        result["sample"] = sample
        print(
            f"[{name}] {result['rps']:,.0f} req/s, p50 {result['p50'] / 1000:.1f} ms, p99 "
            f"{result['p99'] / 1000:.1f} ms, max {result['max'] / 1000:.0f} ms, errors {result['errors']}, "
            f"server CPU {result['cpu_ms_per_request']:.2f} ms/request, load {result['load_average_after']}",
            flush=True,
        )
        return result
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _health(base: str) -> dict[str, int]:
    """The response cache's counters (one process: exact; several: whichever answered)."""
    body = json.loads(urllib.request.urlopen(base + "/api/health", timeout=30).read())
    return body.get("response_cache") or {"hits": 0, "misses": 0}


def zipf_stream(pool: list[str], length: int, exponent: float, seed: int) -> list[str]:
    """`length` queries drawn from `pool` with probability proportional to 1 / rank^exponent."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(pool) + 1) ** exponent
    picks = rng.choice(len(pool), size=length, p=weights / weights.sum())
    return [pool[i] for i in picks]


def results_count(name: str, body: Any) -> int:
    if name.startswith("fonoteca"):
        return len(body["results"])
    return len(body["rows"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True, help="Archive folder with catalog and search index.")
    parser.add_argument("--work", type=Path, required=True, help="Folder for the Datasette database and results.")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--servers",
        default="fonoteca,fonoteca-2w,fonoteca-cached,fonoteca-2w-cached,datasette-fast,datasette",
        help="Which to run, comma-separated.",
    )
    parser.add_argument("--pool", type=int, default=20000, help="Distinct queries of the -cached runs.")
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of the -cached runs' query stream.")
    parser.add_argument(
        "--slow-duration",
        type=int,
        default=60,
        help="Seconds for the sorted Datasette run (a few requests per second: longer, to count).",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    args.work.mkdir(parents=True, exist_ok=True)
    catalog_db = args.catalog / "catalog.sqlite3"
    conn = sqlite3.connect(f"file:{catalog_db}?mode=ro", uri=True)
    tracks = conn.execute("SELECT count(*) FROM tracks WHERE level > 0").fetchone()[0]
    queries = make_queries(conn, args.queries, args.seed)
    wanted = args.servers.split(",")
    stream: list[str] = []
    if any(n.endswith("-cached") for n in wanted):
        pool = make_queries(conn, args.pool, args.seed + 1)
        stream = zipf_stream(pool, 200_000, args.zipf, args.seed)
    conn.close()
    (args.work / "queries.txt").write_text("\n".join(queries) + "\n")
    datasette_db = args.work / "catalog.db"
    if any(s.startswith("datasette") for s in wanted):
        build_datasette_db(catalog_db, datasette_db)

    quote = urllib.parse.quote_plus
    env = dict(os.environ)
    results: dict[str, Any] = {}
    for name in wanted:
        port = free_port()
        duration = None
        if name.startswith("fonoteca"):
            workers = "2" if "-2w" in name else "1"
            cached = name.endswith("-cached")
            cmd = [
                PYTHON,
                "-m",
                "fonoteca",
                "-A",
                str(args.catalog),
                "serve",
                "--port",
                str(port),
                "--workers",
                workers,
                "--rate-limit",
                "1000000000",
                "--rate-burst",
                "1000000000",
                "--no-build-index",
                "--cache-entries",
                "2048" if cached else "0",
            ]
            paths = [f"/api/search?q={quote(q)}&size=20" for q in (stream if cached else queries)]
            ready = "/api/health"
        else:
            cmd = [str(BIN / "datasette"), "serve", "-i", str(datasette_db), "--port", str(port), "--host", "127.0.0.1"]
            if name.endswith("-fast"):
                paths = [
                    f"/catalog/track_search.json?_search={quote(q)}&_size=20&_nocount=1&_nofacet=1&_nosuggest=1"
                    for q in queries
                ]
            else:
                paths = [
                    f"/catalog/track_search.json?_search={quote(q)}&_sort_desc=popularity&_size=20" for q in queries
                ]
                duration = args.slow_duration
            ready = "/-/versions.json"
        result = measure(name, cmd, ready, port, paths, args.work, args, env, duration)
        result["nonempty_in_sample"] = sum(1 for body in result.pop("sample") if results_count(name, body) > 0)
        results[name] = result

    report = {
        "machine": machine(),
        "tracks": tracks,
        "queries": len(queries),
        "connections": args.connections,
        "duration_s": args.duration,
        "pool": args.pool,
        "zipf": args.zipf,
        "results": results,
    }
    (args.work / "web_bench.json").write_text(json.dumps(report, indent=2))
    print()
    print(
        f"{tracks:,} tracks, {len(queries):,} distinct queries, {args.connections} connections, "
        f"{args.duration} s per server; {machine()}"
    )
    print(
        "| server | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | cache hits | server CPU ms/request "
        "| load after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        hit = r.get("cache_hit_rate")
        print(
            f"| {name} | {r['rps']:,.1f} | {r['p50'] / 1000:.1f} | {r['p90'] / 1000:.1f} | {r['p99'] / 1000:.1f} | "
            f"{r['max'] / 1000:.0f} | {r['errors']} | {'-' if hit is None else f'{100 * hit:.0f}%'} | "
            f"{r['cpu_ms_per_request']:.2f} | {r['load_average_after']} |"
        )
    anchors = [r["rps"] for n, r in results.items() if n.startswith("datasette")]
    if anchors:
        best = max(anchors)
        for name in results:
            if name.startswith("fonoteca") and best > 0:
                print(f"{name} / fastest Datasette variant: {results[name]['rps'] / best:.1f}x requests/s")


if __name__ == "__main__":
    main()
