"""Benchmark: `fonoteca mirror` download throughput and `fonoteca verify` throughput over loopback, against anchors
in the same run:

  download   `fonoteca mirror RELEASE --into M --peer 127.0.0.1:P` (a libtorrent session, a child process),
             against aria2c (Debian) downloading the same torrents from the same seeder (an `fonoteca seed`
             child process; aria2c finds it through a one-line HTTP tracker this script runs, as aria2c cannot be
             told a peer directly). Wall clock of the whole command, start-up included; throughput = payload bytes
             over that time.
  verify     fonoteca.mirror.verify_root on the finished mirror (every v1 piece SHA-1 and every manifest SHA-256),
             against hashlib SHA-1 + SHA-256 over the same files on every core (4 MiB reads): the hashing limit.
             Page cache warm for both (one untimed pass first).

The release (made once, deterministic, under DATA/archive/releases/bench-0001/): TORRENTS bulk torrents of 3-12 MB
random-content files laid out as `fonoteca pack` lays them out (data/TORRENT/FF/ID.bin, hybrid v1+v2 torrents made by
fonoteca.pack.hybrid, manifest.jsonl.zst with sha256, torrents.json); the content is random bytes because neither
transfer nor hashing speed depends on it.

  .venv/bin/python bench/mirror_bench.py --data /work/bench-data/mirror --size 2GB --rounds 2
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import REPO, machine  # noqa: E402

RELEASE = "bench-0001"
FONOTECA = [sys.executable, "-m", "fonoteca"]


def parse_size(text: str) -> int:
    from fonoteca.units import parse_size as p

    return p(text)


def make_release(data: Path, size: int, torrents: int) -> Path:
    """The archive root (made once; reused when its marker says the same size)."""
    import orjson
    import zstandard

    from fonoteca.pack import hybrid, listing

    root = data / "archive"
    marker = root / "bench.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"size": size, "torrents": torrents}:
        return root
    shutil.rmtree(root, ignore_errors=True)
    rel = root / "releases" / RELEASE
    (rel / "torrents").mkdir(parents=True)
    rng = random.Random(7)
    per = size // torrents
    manifest, records = [], []
    for t in range(torrents):
        name = f"bench__pop_0-100__{t + 1:04d}"
        entries, made, n = [], 0, 0
        while made < per:
            n += 1
            fsize = min(rng.randint(3_000_000, 12_000_000), per - made) if per - made > 1_000_000 else per - made
            tid = f"t{t:02d}{n:05d}"
            ff = hashlib.sha1(f"bench:{tid}".encode()).hexdigest()[:2]
            path = rel / "data" / name / ff / f"{tid}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                left = fsize
                while left:
                    chunk = os.urandom(min(left, 4 << 20))
                    f.write(chunk)
                    left -= len(chunk)
            entries.append(hybrid.Entry((ff, f"{tid}.bin"), str(path), fsize, digest=True))
            made += fsize
        piece = hybrid.piece_length_for(made, [e.size for e in entries])
        ordered = hybrid.order(entries)
        hashes = hybrid.hash_files(ordered, piece)
        torrent = hybrid.assemble(name, ordered, hashes, piece)
        (rel / "torrents" / f"{name}.torrent").write_bytes(torrent.metainfo)
        by_path = {"/".join(e.path): h for e, h in zip(ordered, hashes, strict=True)}
        for p in torrent.files:
            manifest.append(
                {
                    "id": p.path.rsplit("/", 1)[-1][:-4],
                    "ns": "bench",
                    "isrc": None,
                    "torrent": name,
                    "btih": torrent.info_hash_v1,
                    "path": p.path,
                    "file_index": p.index,
                    "offset": p.offset,
                    "size": p.size,
                    "sha256": by_path[p.path].sha256,
                    "pieces_root": None,
                    "tier": "original",
                    "popularity": 50,
                    "band": "pop_0-100",
                }
            )
        records.append(
            {
                "url": listing.torrent_path(RELEASE, name),
                "name": name,
                "release": RELEASE,
                "kind": "data",
                "btih": torrent.info_hash_v1,
                "btmh": torrent.info_hash_v2,
                "data_size": torrent.data_size,
                "num_files": len(torrent.files),
                "is_metadata": False,
                "obsolete": False,
                "embargo": False,
                "seeders": 0,
                "band": "pop_0-100",
                "tracks": len(entries),
                "listens_covered": 0.0,
                "pop_min": 0,
                "pop_max": 100,
                "added_to_torrents_list_at": "2026-01-01T00:00:00Z",
                "piece_length": piece,
            }
        )
    (rel / "manifest.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(m) + b"\n" for m in manifest))
    )
    (rel / "torrents.json").write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    (root / "releases" / "torrents.json").write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    marker.write_text(json.dumps({"size": size, "torrents": torrents}))
    return root


def make_anchor(data: Path, root: Path) -> Path:
    """aria2c computes a wrong info-hash for v1+v2 hybrid torrents (it re-encodes the info dictionary without the v2
    keys), so the anchor downloads v1-only torrents of the same files (libtorrent create_torrent, v1_only, same
    piece length), seeded by the same seeder process from the same data folder (a symlink)."""
    import libtorrent as lt

    anchor = data / "anchor"
    rel = anchor / "releases" / RELEASE
    shutil.rmtree(anchor, ignore_errors=True)
    (rel / "torrents").mkdir(parents=True)
    (rel / "data").symlink_to(root / "releases" / RELEASE / "data")
    for t in sorted((root / "releases" / RELEASE / "torrents").glob("*.torrent")):
        ti = lt.torrent_info(str(t))
        fs = lt.file_storage()
        lt.add_files(fs, str(root / "releases" / RELEASE / "data" / ti.name()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ct = lt.create_torrent(fs, ti.piece_length(), flags=lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, str(root / "releases" / RELEASE / "data"))
        (rel / "torrents" / t.name).write_bytes(lt.bencode(ct.generate()))
    return anchor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tracker(peer_port: int) -> tuple[http.server.HTTPServer, int]:
    """A one-answer HTTP tracker: every announce gets the seeder (compact peers)."""
    body = b"d8:intervali60e5:peers6:" + socket.inet_aton("127.0.0.1") + peer_port.to_bytes(2, "big") + b"e"

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def run_fonoteca(root: Path, out: Path, port: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    r = subprocess.run(
        [
            *FONOTECA,
            "mirror",
            str(root),
            "--into",
            str(out),
            "--peer",
            f"127.0.0.1:{port}",
            "--listen",
            "127.0.0.1:0",
            "--stall",
            "120",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"fonoteca mirror failed: {r.stderr[-2000:]}")
    return dt


def run_aria2(anchor: Path, out: Path, tracker_port: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    lst = out.parent / "aria2-input.txt"
    lst.write_text("".join(f"{p}\n" for p in sorted((anchor / "releases" / RELEASE / "torrents").glob("*.torrent"))))
    t0 = time.perf_counter()
    r = subprocess.run(
        [
            "aria2c",
            "-i",
            str(lst),
            "-j",
            "16",
            "-d",
            str(out),
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-time=0",
            "--file-allocation=none",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--bt-tracker",
            f"http://127.0.0.1:{tracker_port}/announce",
            "--bt-max-peers=0",
            "--disk-cache=64M",
            "--listen-port=" + str(free_port()),
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "--bt-stop-timeout=120",
        ],
        capture_output=True,
        text=True,
    )
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"aria2c failed ({r.returncode}): {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return dt


def hash_limit(files: list[Path], piece: int) -> tuple[float, int]:
    """SHA-1 per piece and SHA-256 per file over the files, on every core: seconds, bytes."""

    def one(p: Path) -> int:
        sha, n = hashlib.sha256(), 0
        buf = bytearray(piece)
        view = memoryview(buf)
        with open(p, "rb", buffering=0) as f:
            while True:
                k = f.readinto(view)
                if not k:
                    break
                sha.update(view[:k])
                hashlib.sha1(view[:k]).digest()
                n += k
        sha.hexdigest()
        return n

    t0 = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        total = sum(pool.map(one, sorted(files, key=lambda p: -p.stat().st_size)))
    return time.perf_counter() - t0, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/work/bench-data/mirror"))
    ap.add_argument("--size", default="2GB")
    ap.add_argument("--torrents", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, help="Write the figures as JSON here too.")
    args = ap.parse_args()
    size = parse_size(args.size)
    at_start = machine()
    args.data.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    root = make_release(args.data, size, args.torrents)
    print(f"release ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    payload = sum(p.stat().st_size for p in (root / "releases" / RELEASE / "data").rglob("*") if p.is_file())
    anchor = make_anchor(args.data, root)
    port = free_port()
    seeder = subprocess.Popen(
        [*FONOTECA, "seed", str(root), str(anchor), "--listen", f"127.0.0.1:{port}", "--trust", "--for", "7200"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    line = seeder.stderr.readline()
    if "seeding" not in line:
        raise SystemExit(f"seeder did not start: {line}")
    srv, tport = tracker(port)
    work = args.data / "work"
    results: dict[str, list[float]] = {"fonoteca": [], "aria2c": []}
    try:
        for r in range(args.rounds):
            for kind in ("fonoteca", "aria2c") if r % 2 == 0 else ("aria2c", "fonoteca"):
                dt = (
                    run_fonoteca(root, work / "mirror", port)
                    if kind == "fonoteca"
                    else run_aria2(anchor, work / "aria2", tport)
                )
                results[kind].append(dt)
                print(f"round {r + 1} {kind}: {dt:.2f} s, {payload / dt / 1e6:.1f} MB/s", file=sys.stderr)
        shutil.rmtree(work / "aria2", ignore_errors=True)
        from fonoteca.mirror import targets, verify_root

        mirror = work / "mirror"
        files = [p for p in (mirror / "releases" / RELEASE / "data").rglob("*") if p.is_file()]
        piece = max(t.ti.piece_length() for t in targets(mirror)[0])
        verify_root(mirror)  # page cache warm
        ver, lim = [], []
        for r in range(args.rounds):
            t1 = time.perf_counter()
            rep = verify_root(mirror)
            ver.append(time.perf_counter() - t1)
            assert rep.ok, rep.as_dict()
            dt, _ = hash_limit(files, piece)
            lim.append(dt)
            print(f"round {r + 1} verify {ver[-1]:.2f} s, hashlib {dt:.2f} s", file=sys.stderr)
    finally:
        seeder.terminate()
        seeder.wait(30)
        srv.shutdown()
    best = {k: min(v) for k, v in results.items()}
    figures = {
        "machine": at_start,
        "payload_bytes": payload,
        "torrents": args.torrents,
        "rounds": args.rounds,
        "download_s": results,
        "download_MBps_best": {k: round(payload / v / 1e6, 1) for k, v in best.items()},
        "download_ratio_best": round(best["aria2c"] / best["fonoteca"], 3),
        "download_ratio_median": round(
            statistics.median(results["aria2c"]) / statistics.median(results["fonoteca"]), 3
        ),
        "verify_s": ver,
        "hashlib_s": lim,
        "verify_MBps_best": round(payload / min(ver) / 1e6, 1),
        "hashlib_MBps_best": round(payload / min(lim) / 1e6, 1),
        "verify_share_of_limit_best": round(min(lim) / min(ver), 3),
        "verify_share_of_limit_median": round(statistics.median(lim) / statistics.median(ver), 3),
        "loadavg_end": os.getloadavg(),
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
