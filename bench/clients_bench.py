"""Transfers with the clients volunteers run, on loopback, the same release in one run (medians of --repeat):

- `fonoteca seed` -> qBittorrent, against qBittorrent -> qBittorrent (goal: >= 1.0x);
- qBittorrent -> `fonoteca mirror`, against qBittorrent -> qBittorrent (goal: >= 1.0x);
- `fonoteca torrents scrape` of --scrape torrents against opentracker, over HTTP and over UDP: wall time.

    .venv/bin/python bench/clients_bench.py --tracks 60 --seconds 30 --repeat 3 --scrape 1000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import FONOTECA, machine  # noqa: E402

from tests.clients import QBittorrent, Tracker  # noqa: E402


def build_release(work: Path, tracks: int, seconds: float) -> Path:
    from fonoteca import archive as archive_mod
    from fonoteca.synth import audio as synth

    coll = synth.make_collection(
        work / "music", tracks, (seconds, seconds * 1.2), ("flac",), seed=3, workers=os.cpu_count() or 1
    )
    root = archive_mod.init(work / "archive").root
    for args in (
        ["import", "table", str(coll.catalog_csv), "--map", str(coll.mapping_toml)],
        ["ingest", str(coll.root), "--map", str(coll.map_csv), "--tier", "original"],
        ["pack"],
    ):
        subprocess.run(FONOTECA + ["-A", str(root), *args], check=True, capture_output=True)
    return root


def release_of(root: Path) -> Path:
    return next(p for p in (root / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def payload_bytes(release: Path) -> int:
    return sum(p.stat().st_size for p in (release / "data").rglob("*") if p.is_file())


def udp_receive_drops() -> int:
    """Datagrams the kernel dropped since boot because a UDP socket's receive buffer was full (uTP's losses)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    return int(dict(zip(lines[0][1:], lines[1][1:], strict=True))["RcvbufErrors"])


def udp_socket_drops(port: int) -> int:
    """Datagrams dropped so far on the UDP sockets bound to `port` (the last column of /proc/net/udp): which side of
    a uTP transfer lost them."""
    total = 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                total += int(fields[-1])
    return total


def udp_receive_buffer_default() -> int:
    """net.core.rmem_default: the receive buffer of a UDP socket whose program does not size it (qBittorrent 4.5
    has no setting for it; neither does libtorrent's default of 0)."""
    return int(Path("/proc/sys/net/core/rmem_default").read_text())


def qb_download(work: Path, release: Path, peer: str) -> tuple[float, int]:
    """Seconds for a fresh qBittorrent to download every torrent of the release from `peer`, and the datagrams its
    UDP socket dropped."""
    qb = QBittorrent(work / f"qb-{time.monotonic_ns()}").start()
    target = work / f"dl-{time.monotonic_ns()}"
    try:
        started = time.perf_counter()
        for t in sorted((release / "torrents").glob("*.torrent")):
            qb.add(t, target)
        qb.wait_all(len(list((release / "torrents").glob("*.torrent"))), seeding=False, peer=peer, timeout=1800)
        return time.perf_counter() - started, udp_socket_drops(qb.peer_port)
    finally:
        qb.stop()
        shutil.rmtree(target, ignore_errors=True)


def qb_seeder(work: Path, release: Path) -> QBittorrent:
    data = work / f"seed-{time.monotonic_ns()}"
    shutil.copytree(release / "data", data)
    qb = QBittorrent(work / f"qbs-{time.monotonic_ns()}").start()
    for t in sorted((release / "torrents").glob("*.torrent")):
        qb.add(t, data)
    qb.wait_all(len(list((release / "torrents").glob("*.torrent"))), seeding=True, timeout=1800)
    return qb


def fonoteca_mirror(work: Path, root: Path, peer: str) -> tuple[float, int]:
    into = work / f"m-{time.monotonic_ns()}"
    started = time.perf_counter()
    subprocess.run(
        FONOTECA + ["mirror", str(root), "--into", str(into), "--peer", peer, "--timeout", "1800"],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(into, ignore_errors=True)
    return seconds, 0  # the mirror dials TCP


def scrape_bench(work: Path, count: int) -> dict[str, float]:
    from fonoteca.mirror.scrape import scrape

    hashes = [os.urandom(20).hex() for _ in range(count)]
    tracker = Tracker(work / "tracker").start(hashes)
    try:
        for n, h in enumerate(hashes):  # every torrent gets one seeder
            query = urllib.parse.urlencode(
                {
                    "info_hash": bytes.fromhex(h),
                    "peer_id": os.urandom(20),
                    "port": 10000 + n % 50000,
                    "uploaded": 0,
                    "downloaded": 0,
                    "left": 0,
                    "event": "started",
                    "compact": 1,
                },
                quote_via=urllib.parse.quote,
            )
            urllib.request.urlopen(f"{tracker.announce}?{query}", timeout=10).read()
        out = {}
        for scheme in ("http", "udp"):
            url = tracker.announce if scheme == "http" else f"udp://127.0.0.1:{tracker.port}/announce"
            records = [
                {"btih": h, "magnet_link": f"magnet:?xt=urn:btih:{h}&tr={urllib.parse.quote(url, safe='')}"}
                for h in hashes
            ]
            started = time.perf_counter()
            result = scrape(records)
            out[scheme] = time.perf_counter() - started
            seeded = sum(1 for f in result.figures.values() if f.seeders >= 1)
            assert len(result.figures) == count and seeded == count, (
                scheme,
                len(result.figures),
                seeded,
                result.errors[:2],
            )
        return out
    finally:
        tracker.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tracks", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scrape", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="clients-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; UDP receive buffer default {udp_receive_buffer_default():,} bytes")
    root = build_release(work, args.tracks, args.seconds)
    release = release_of(root)
    size = payload_bytes(release)
    print(
        f"release {release.name}: {size / 1e6:.1f} MB in {len(list((release / 'torrents').glob('*.torrent')))} torrents"
    )
    runs: dict[str, list[float]] = {
        "fonoteca seed -> qBittorrent": [],
        "qBittorrent -> qBittorrent": [],
        "qBittorrent -> fonoteca mirror": [],
    }
    from fonoteca.mirror import Seeder, seed_items

    # datagrams the kernel dropped per transfer: all UDP sockets, the receiver's and the sender's
    drops: dict[str, dict[str, list[int]]] = {name: {"all": [], "receiver": [], "sender": []} for name in runs}

    def timed(name: str, transfer: Callable[[], tuple[float, int]], sender_port: int) -> None:
        before, sender_before = udp_receive_drops(), udp_socket_drops(sender_port)
        seconds, receiver = transfer()
        runs[name].append(seconds)
        counts = drops[name]
        counts["all"].append(udp_receive_drops() - before)
        counts["receiver"].append(receiver)
        counts["sender"].append(udp_socket_drops(sender_port) - sender_before)
        print(
            f"  {name}: {seconds:.2f} s, UDP datagrams dropped {counts['all'][-1]} "
            f"(receiver {receiver}, sender {counts['sender'][-1]})",
            flush=True,
        )

    for _ in range(args.repeat):
        with Seeder(seed_items(root), listen="127.0.0.1:0") as seeder:
            seeder.wait_ready(600)
            address = f"127.0.0.1:{seeder.port}"
            timed("fonoteca seed -> qBittorrent", lambda p=address: qb_download(work, release, p), seeder.port)
        qb = qb_seeder(work, release)
        try:
            peer = f"127.0.0.1:{qb.peer_port}"
            timed("qBittorrent -> qBittorrent", lambda p=peer: qb_download(work, release, p), qb.peer_port)
            timed("qBittorrent -> fonoteca mirror", lambda p=peer: fonoteca_mirror(work, root, p), qb.peer_port)
        finally:
            qb.stop()
    anchor = statistics.median(runs["qBittorrent -> qBittorrent"])
    print("| transfer | median s | MB/s | vs qBittorrent -> qBittorrent |")
    print("|---|---:|---:|---:|")
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {size / 1e6 / median:.1f} | {anchor / median:.2f}x |")
    if args.scrape:
        times = scrape_bench(work, args.scrape)
        print(
            f"scrape of {args.scrape:,} torrents against opentracker: HTTP {times['http']:.2f} s, "
            f"UDP {times['udp']:.2f} s"
        )
    print(
        json.dumps(
            {"runs": runs, "udp_receive_drops": drops, "bytes": size, "rmem_default": udp_receive_buffer_default()}
        )
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
