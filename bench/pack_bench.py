"""Benchmark: BitTorrent v1+v2 hybrid torrent creation (fonoteca.pack.hybrid) against its anchors, same files,
same run, page cache warm:

  limit       hashlib SHA-1 + SHA-256 over the same bytes on every core (2 threads, 4 MiB reads): the ceiling
  limit-1     the same on one thread
  hybrid      fonoteca.pack.hybrid.build: v1 pieces + v2 merkle trees, bencoded (what `fonoteca pack` runs)
  hybrid+sha  the same with each file's whole-file SHA-256 checked too (`fonoteca pack` default, verify = true)
  hybrid-threads  hybrid on threads instead of processes (hashlib releases the GIL, but not for free)
  hybrid-1    hybrid on one core (the calling thread): what the engine costs without parallelism
  libtorrent  libtorrent 2.1 create_torrent + set_piece_hashes, hybrid (the info-hashes must be equal to ours)
  mktorrent   Debian's mktorrent 1.1, v1 only, one thread per core

Each measurement runs in its own process (peak memory sampled: PSS of its process tree); rounds are interleaved so
that load from other processes hits every contender alike; best and median of the rounds are reported, with CPU
seconds.

  .venv/bin/python bench/pack_bench.py --data /work/bench-data/pack --rounds 5
  .venv/bin/python bench/pack_bench.py --data /work/bench-data/pack --many 100000   # memory, 100,000 files

Data (made once, deterministic): DATA/music: >= 2.2 GB of 3-12 MB files in 256 folders (random bytes: the hash
speed does not depend on content); DATA/many-N: N files of 1-24 KiB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._common import REPO  # noqa: E402

KINDS = ("limit", "limit-1", "hybrid", "hybrid+sha", "hybrid-threads", "hybrid-1", "libtorrent", "mktorrent")


# ------------------------------------------------------------------------------------------------ data


def make_music(folder: Path, total: int, seed: int = 7) -> None:
    import numpy as np

    if (folder / ".done").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    size_sum, i = 0, 0
    while size_sum < total:
        size = int(rng.integers(3_000_000, 12_000_000))
        sub = folder / f"{i % 256:02x}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"track{i:05d}.flac").write_bytes(rng.bytes(size))
        size_sum += size
        i += 1
    (folder / ".done").write_text(f"{i} files, {size_sum} bytes\n")


def make_many(folder: Path, count: int, seed: int = 11) -> None:
    import numpy as np

    if (folder / ".done").exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1024, 24 * 1024, count)
    blob = rng.bytes(int(sizes.max()))
    for i, size in enumerate(sizes.tolist()):
        sub = folder / f"{i % 256:02x}"
        if i < 256:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.opus").write_bytes(
            blob[i % 997 : i % 997 + size] if i % 997 + size <= len(blob) else blob[:size]
        )
    (folder / ".done").write_text(f"{count} files, {int(sizes.sum())} bytes\n")


def entries_of(folder: Path):
    from fonoteca.pack import hybrid

    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(sub.iterdir()):
            out.append(hybrid.Entry((sub.name, f.name), str(f), f.stat().st_size))
    return out


def warm(folder: Path) -> None:
    buf = bytearray(1 << 22)
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sub.iterdir():
            with open(f, "rb", buffering=0) as h:
                while h.readinto(buf):
                    pass


# ------------------------------------------------------------------------------------------------ child runs


def child(kind: str, folder: Path, piece: int, out: Path) -> None:
    """One measurement in this process; prints JSON: seconds (timed section only), cpu seconds, info-hash."""
    from fonoteca.pack import hybrid

    entries = entries_of(folder)
    total = sum(e.size for e in entries)
    result: dict = {"kind": kind, "bytes": total, "files": len(entries), "piece": piece}
    cpu0, t0 = time.process_time(), time.perf_counter()
    if kind in ("limit", "limit-1"):

        def work(part):
            buf = bytearray(1 << 22)
            mv = memoryview(buf)
            for e in part:
                a, b = hashlib.sha1(), hashlib.sha256()
                with open(e.source, "rb", buffering=0) as f:
                    while n := f.readinto(buf):
                        a.update(mv[:n])
                        b.update(mv[:n])

        workers = 1 if kind == "limit-1" else os.cpu_count() or 1
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, [entries[i::workers] for i in range(workers)]))
    elif kind in ("hybrid", "hybrid+sha", "hybrid-threads", "hybrid-1"):
        if kind == "hybrid+sha":
            entries = [hybrid.Entry(e.path, e.source, e.size, digest=True) for e in entries]
        workers = 1 if kind == "hybrid-1" else None
        with hybrid.Hasher(workers, mode="thread" if kind == "hybrid-threads" else "process") as hasher:
            t = hybrid.build(folder.name, entries, piece, hasher=hasher)
            result["worker_cpu"] = sum(_proc_cpu(pid) for pid in hasher.pids)
            result["mode"] = hasher.mode
        out.write_bytes(t.metainfo)
        result["btih"], result["btmh"] = t.info_hash_v1, t.info_hash_v2
        result["torrent_bytes"] = len(t.metainfo)
    elif kind == "libtorrent":
        import warnings

        import libtorrent as lt

        fs = lt.file_storage()
        for e in hybrid.order(entries):
            fs.add_file("/".join((folder.name, *e.path)), e.size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ct = lt.create_torrent(fs, piece)
        lt.set_piece_hashes(ct, str(folder.parent))
        data = lt.bencode(ct.generate())
        out.write_bytes(data)
        info = lt.torrent_info(data, {"max_decode_tokens": 100_000_000, "max_buffer_size": 1 << 30}).info_hashes()
        result["btih"], result["btmh"] = str(info.v1), info.v2.to_bytes().hex()
    elif kind == "mktorrent":
        out.unlink(missing_ok=True)
        subprocess.run(
            [
                "mktorrent",
                "-l",
                str(piece.bit_length() - 1),
                "-t",
                str(os.cpu_count() or 1),
                "-d",
                "-a",
                "http://127.0.0.1:1/announce",
                "-o",
                str(out),
                folder.name,
            ],
            cwd=folder.parent,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0 + result.get("worker_cpu", 0.0)
    if kind == "mktorrent":
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
    result.update(seconds=seconds, cpu=cpu)
    print(json.dumps(result))


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pss_mb(pids: list[int]) -> float:
    """Proportional set size of processes: pages shared by forked workers counted once in all."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total / 1e6


def measure(kind: str, folder: Path, piece: int, out: Path) -> dict:
    """Run one measurement in a child process; its peak memory (PSS of its process tree, sampled every 50 ms)."""
    from bench._common import _tree

    cmd = [sys.executable, __file__, "--child", kind, "--data", str(folder), "--piece", str(piece), "--out", str(out)]
    load = os.getloadavg()[0]
    child_out = tempfile.NamedTemporaryFile("w+", suffix=".json", delete=False)
    try:
        proc = subprocess.Popen(
            cmd + ["--result", child_out.name], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _pss_mb(_tree(proc.pid)))
            time.sleep(0.05)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} failed: {proc.stderr.read().decode()[-3000:]}")
        result = json.loads(Path(child_out.name).read_text())
    finally:
        os.unlink(child_out.name)
    result.update(peak_pss_mb=peak, load_before=load, load_after=os.getloadavg()[0])
    return result


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/work/bench-data/pack"))
    ap.add_argument("--size", type=float, default=2.2, help="GB of music-sized files (default 2.2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--many", type=int, default=0, help="instead: memory of one torrent of this many small files")
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--piece", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            child(args.child, args.data, args.piece, args.out)
        args.result.write_text(buf.getvalue())
        return

    from fonoteca.pack import hybrid

    if args.many:
        folder = args.data / f"many-{args.many}"
        started = time.perf_counter()
        make_many(folder, args.many)
        print(
            f"data: {folder} ({(folder / '.done').read_text().strip()}; made in {time.perf_counter() - started:.0f} s)"
        )
        kinds = [
            k
            for k in args.kinds.split(",")
            if k in ("hybrid", "hybrid+sha", "hybrid-threads", "hybrid-1", "libtorrent")
        ]
    else:
        folder = args.data / "music"
        make_music(folder, int(args.size * 1e9))
        print(f"data: {folder} ({(folder / '.done').read_text().strip()})")
        kinds = args.kinds.split(",")
    entries = entries_of(folder)
    total = sum(e.size for e in entries)
    piece = hybrid.piece_length_for(total, [e.size for e in entries])
    warm(folder)
    print(
        f"{len(entries):,} files, {total:,} bytes, piece {piece:,}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    work = Path(tempfile.mkdtemp(prefix="pack-bench-"))
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    try:
        for r in range(args.rounds):
            order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
            for kind in order:
                res = measure(kind, folder, piece, work / f"{kind}.torrent")
                results[kind].append(res)
                print(
                    f"round {r + 1} {kind:11s} {res['bytes'] / res['seconds'] / 1e6:8.0f} MB/s  "
                    f"{res['seconds']:6.2f} s  cpu {res['cpu']:6.2f} s  pss {res['peak_pss_mb']:6.0f} MB  "
                    f"load {res['load_before']:.1f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = [x for x in results.get("hybrid", []) if "btih" in x]
    theirs = [x for x in results.get("libtorrent", []) if "btih" in x]
    if ours and theirs:
        same = ours[0]["btih"] == theirs[0]["btih"] and ours[0]["btmh"] == theirs[0]["btmh"]
        print(f"info-hashes equal to libtorrent's: {same} (btih {ours[0]['btih']})")
        if not same:
            raise SystemExit("info-hash mismatch")
    summary = {}
    print()
    print("| contender | best MB/s | median MB/s | best s | median s | CPU s (median) | peak PSS MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, runs in results.items():
        secs = [x["seconds"] for x in runs]
        best, med = min(secs), statistics.median(secs)
        cpu = statistics.median(x["cpu"] for x in runs)
        rss = max(x["peak_pss_mb"] for x in runs)
        summary[kind] = {"best_s": best, "median_s": med, "cpu_s": cpu, "pss_mb": rss, "bytes": total, "runs": runs}
        print(
            f"| {kind} | {total / best / 1e6:,.0f} | {total / med / 1e6:,.0f} | {best:.2f} | {med:.2f} | "
            f"{cpu:.2f} | {rss:,.0f} |"
        )
    if "hybrid" in summary:
        h = summary["hybrid"]
        for other in ("limit", "libtorrent", "mktorrent"):
            if other in summary:
                o = summary[other]
                print(
                    f"hybrid vs {other}: best {o['best_s'] / h['best_s']:.2f}x, median "
                    f"{o['median_s'] / h['median_s']:.2f}x"
                    f", CPU {o['cpu_s'] / h['cpu_s']:.2f}x"
                )
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"files": len(entries), "bytes": total, "piece": piece, "results": summary}, indent=2)
        )


if __name__ == "__main__":
    main()
