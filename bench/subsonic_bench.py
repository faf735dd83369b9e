"""Subsonic API benchmark: search3, getAlbumList2 random and stream of a small file against the site's own
/api/search, in the same run of the same `fonoteca serve`; and the time to first byte of a track a mirror does
not hold yet (fetched from a seeder on loopback) against a held one.

    python bench/subsonic_bench.py --work BENCH_DIR [--tracks 1000000] [--duration 30] [--connections 50]

Part 1 (throughput). An archive of --tracks synthetic catalog tracks (`fonoteca synth catalog`, imported as
Spotify JSON, search index built by the import) plus --audio real synthesised files imported as a table and
ingested (tier original), served with `[subsonic] library = "catalog"` (every catalog track is listed, so search3
searches what /api/search searches), the response cache off (--cache-entries 0) and no rate limit. wrk with
--connections connections (50 concurrent clients in a closed loop) runs, one after the other against the same
server, each for a warm-up then --duration seconds:
  api-search   GET /api/search?q=Q&size=20                                         (the anchor)
  search3      GET /rest/search3?query=Q&songCount=20&albumCount=20&artistCount=20 (as clients ask), JSON
  search3-songs  the same with songCount=20 only (the same work as /api/search, plus the Subsonic objects)
  random       GET /rest/getAlbumList2?type=random&size=20
  stream       GET /rest/stream?id=ID over the held files (each about --seconds of audio)
Queries are the words of real titles as in bench/web_bench.py (the same list for api-search and search3). An
error is a socket error, a non-2xx answer, or a Subsonic answer with status "failed" (counted by the Lua script).
Goal: search3 requests/s and p99 within 10 % of api-search; 0 errors.

Part 2 (time to first byte). A small archive of the --audio files packed into torrents of 2 files, seeded from
this process (fonoteca.mirror.Seeder on 127.0.0.1); a mirror of half of it (`fonoteca mirror --budget`), served
with `[subsonic] fetch_missing = true` and the seeder as its peer. Time to first byte of every track the mirror
does not hold (each fetched once, the first request for it) against the median of 20 requests for held tracks.
Goal: at most 50 x.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402
from web_bench import cpu_seconds, free_port, make_queries, wait_ready  # noqa: E402

FONOTECA = [sys.executable, "-m", "fonoteca"]

WRK_SCRIPT = r"""
local paths = {}
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  thread:set("failed", 0)
  table.insert(threads, thread)
end
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  offset = (id or 1) * 7919
  n = 0
  failed = 0
end
function request()
  n = n + 1
  return wrk.format("GET", paths[(offset + n * 31) % #paths + 1])
end
function response(status, headers, body)
  if body and string.find(body, '"status":"failed"', 1, true) then failed = failed + 1 end
end
function done(summary, latency, requests)
  local e = summary.errors
  local f = 0
  for _, t in ipairs(threads) do f = f + (t:get("failed") or 0) end
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,' ..
    '"timeout":%d,"failed":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout, f,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def run(*args: str, archive: Path | None = None, stdin: str | None = None) -> str:
    cmd = FONOTECA + (["-A", str(archive)] if archive else []) + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return out.stdout


def wrk(
    base: str, paths: list[str], work: Path, name: str, *, duration: int, connections: int, threads: int
) -> dict[str, Any]:
    paths_file = work / f"paths-{name}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = work / "subsonic.lua"
    script.write_text(WRK_SCRIPT)
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        base,
        "--",
        str(paths_file),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed: {out.stdout}\n{out.stderr}")
    data = json.loads(line[len("WRKJSON ") :])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(data[k] for k in ("connect", "read", "write", "status", "timeout", "failed"))
    return data


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    child = subprocess.Popen(
        FONOTECA + ["-A", str(root), "serve", "--port", str(port), "--rate-limit", "0", "--cache-entries", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_ready(base + "/rest/getOpenSubsonicExtensions?f=json", child)
    return child, base


def stop(child: subprocess.Popen) -> None:
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=120) as resp:
        return json.loads(resp.read())


def first_byte(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        resp.read(1)
        elapsed = time.perf_counter() - t0
        while resp.read(1 << 16):
            pass
    return elapsed


def add_audio(root: Path, music: Path, count: int, seconds: float, seed: int) -> None:
    from fonoteca.synth import audio as synth

    coll = synth.make_collection(music, count, (seconds * 0.8, seconds * 1.2), ("flac", "mp3", "opus"), seed=seed)
    run("import", "table", str(coll.catalog_csv), "--map", str(coll.mapping_toml), archive=root)
    run("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original", archive=root)


def throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    root = work / "big"
    if not (root / "catalog.sqlite3").is_file():
        run("init", str(root))
        dump = work / "catalog.jsonl.zst"
        run("synth", "catalog", "--tracks", str(args.tracks), "--out", str(dump), "--seed", "7")
        run("import", "spotify", str(dump), archive=root)
        add_audio(root, work / "music", args.audio, args.seconds, 11)
        with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
            f.write('\n[subsonic]\nlibrary = "catalog"\nrate_limit = 0\n')
    key_file = work / "big.key"
    if not key_file.is_file():
        key_file.write_text(run("users", "add", "bench", "--key", archive=root).strip())
    key = key_file.read_text().strip()
    conn = sqlite3.connect(f"file:{root / 'catalog.sqlite3'}?mode=ro", uri=True)
    queries = make_queries(conn, args.queries, 7)
    held = [str(r) for (r,) in conn.execute("SELECT track FROM files ORDER BY rowid")]
    conn.close()
    auth = f"apiKey={urllib.parse.quote(key)}&f=json&v=1.16.1&c=bench"
    quoted = [urllib.parse.quote(q) for q in queries]
    runs = {
        "api-search": [f"/api/search?q={q}&size=20" for q in quoted],
        "search3": [f"/rest/search3?query={q}&songCount=20&albumCount=20&artistCount=20&{auth}" for q in quoted],
        "search3-songs": [f"/rest/search3?query={q}&songCount=20&albumCount=0&artistCount=0&{auth}" for q in quoted],
        "random": [f"/rest/getAlbumList2?type=random&size=20&{auth}"],
        "stream": [f"/rest/stream?id={i}&{auth}" for i in held],
    }
    child, base = serve(root)
    out: dict[str, Any] = {}
    try:
        for name in ("search3", "random", "stream"):  # correctness probe: Subsonic answers "ok"
            probe = urllib.request.urlopen(base + runs[name][0], timeout=120).read(4096)
            if b'"status":"failed"' in probe:
                raise SystemExit(f"{name}: the server answers an error: {probe[:300]!r}")
        get_json(base + runs["search3"][0])  # builds the library snapshot before anything is timed
        for name, paths in runs.items():
            print(
                f"[{name}] warm-up {args.warmup} s, then {args.duration} s at {args.connections} connections",
                flush=True,
            )
            wrk(base, paths, work, name, duration=args.warmup, connections=args.connections, threads=args.threads)
            cpu = cpu_seconds(child.pid)
            result = wrk(
                base, paths, work, name, duration=args.duration, connections=args.connections, threads=args.threads
            )
            result["cpu_ms_per_request"] = 1000 * (cpu_seconds(child.pid) - cpu) / max(1, result["requests"])
            out[name] = result
            print(
                f"[{name}] {result['rps']:,.0f} req/s, p50 {result['p50'] / 1000:.1f} ms, "
                f"p99 {result['p99'] / 1000:.1f} ms, errors {result['errors']}",
                flush=True,
            )
    finally:
        stop(child)
    anchor = out["api-search"]
    for name in ("search3", "search3-songs"):
        out[name]["rps_vs_api_search"] = out[name]["rps"] / anchor["rps"]
        out[name]["p99_vs_api_search"] = out[name]["p99"] / max(1, anchor["p99"])
    return out


def time_to_first_byte(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from fonoteca.mirror import Seeder, mirror, seed_items
    from fonoteca.pack.manifest import read_manifest

    source = work / "small"
    if not (source / "releases").is_dir() or not any((source / "releases").iterdir()):
        shutil.rmtree(source, ignore_errors=True)
        run("init", str(source))
        add_audio(source, work / "music-small", args.audio, args.seconds, 13)
        with open(source / "fonoteca.toml", "a", encoding="utf-8") as f:
            f.write("\n[pack]\ntarget_size = 1\nmax_files = 2\n")
        run("pack", archive=source)
    release = next(p for p in (source / "releases").iterdir() if p.is_dir())
    into = work / "half-mirror"
    shutil.rmtree(into, ignore_errors=True)
    with Seeder(seed_items(source), listen="127.0.0.1:0") as seeder:
        if not seeder.wait_ready(120):
            raise SystemExit(f"the seeder is not ready: {seeder.errors}")
        records = json.loads((source / "releases" / "torrents.json").read_text())
        budget = sum(r["data_size"] for r in records) // 2
        result = mirror(str(release), into, budget=budget, peers=[("127.0.0.1", seeder.port)], timeout=600, stall=120)
        if not result.complete:
            raise SystemExit(f"the half mirror did not complete: {result.outcome.errors}")
        with open(into / "fonoteca.toml", "a", encoding="utf-8") as f:
            f.write(
                f'\n[subsonic]\nfetch_missing = true\npeers = ["127.0.0.1:{seeder.port}"]\n'
                'listen = "127.0.0.1:0"\nrate_limit = 0\n'
            )
        key = run("users", "add", "bench", "--key", archive=into).strip()
        held_torrents = set(json.loads((into / "mirror.json").read_text())["torrents"])
        lines = read_manifest(release / "manifest.jsonl.zst")
        conn = sqlite3.connect(into / "catalog.sqlite3")
        rowid = {tid: r for r, tid in conn.execute("SELECT rowid, id FROM tracks")}
        conn.close()
        held = [rowid[x.id] for x in lines if x.torrent in held_torrents]
        missing = [(rowid[x.id], x.torrent) for x in lines if x.torrent not in held_torrents]
        child, base = serve(into)
        auth = f"apiKey={urllib.parse.quote(key)}&v=1.16.1&c=bench"
        try:
            held_s = [first_byte(f"{base}/rest/stream?id={held[n % len(held)]}&{auth}") for n in range(20)]
            first_s: list[float] = []  # the first stream of a torrent: it joins the fetching session then
            later_s: list[float] = []
            seen: set[str] = set()
            for song, torrent in missing:
                elapsed = first_byte(f"{base}/rest/stream?id={song}&{auth}")
                (later_s if torrent in seen else first_s).append(elapsed)
                seen.add(torrent)
        finally:
            stop(child)
    missing_s = first_s + later_s
    held_ms = statistics.median(held_s) * 1000
    missing_ms = statistics.median(missing_s) * 1000
    out = {
        "held_ms_median": held_ms,
        "not_held_ms_median": missing_ms,
        "not_held_ms_max": max(missing_s) * 1000,
        "not_held_tracks": len(missing),
        "first_of_torrent_ms_median": statistics.median(first_s) * 1000,
        "first_of_torrent_streams": len(first_s),
        "later_of_torrent_ms_median": statistics.median(later_s) * 1000 if later_s else None,
        "ratio": missing_ms / held_ms,
        "ratio_first_of_torrent": statistics.median(first_s) * 1000 / held_ms,
    }
    print(
        f"[ttfb] held {held_ms:.1f} ms (median of 20), not held yet {missing_ms:.1f} ms (median of "
        f"{len(missing)}, max {out['not_held_ms_max']:.0f} ms): {out['ratio']:.1f} x; first stream of a torrent "
        f"{out['first_of_torrent_ms_median']:.1f} ms (median of {len(first_s)}): {out['ratio_first_of_torrent']:.1f} x",
        flush=True,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="Folder for the archives and results (kept).")
    parser.add_argument("--tracks", type=int, default=1_000_000, help="Synthetic catalog tracks.")
    parser.add_argument("--audio", type=int, default=20, help="Real (synthesised) files ingested.")
    parser.add_argument("--seconds", type=float, default=4.0, help="Length of each file (small files: stream).")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", choices=("all", "throughput", "ttfb"), default="all", help="one part of the run")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    if args.only in ("all", "throughput"):
        results["throughput"] = throughput(args, work)
    if args.only in ("all", "ttfb"):
        results["time_to_first_byte"] = time_to_first_byte(args, work)
    (work / f"subsonic-{args.only}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
