"""Benchmark of `fonoteca features`: feature extraction throughput in realtime factor per core, and scaling to
more workers.

Builds an archive of N synthetic tracks (44.1 kHz stereo FLAC, or Ogg Opus 75k as the compact tier stores), then:
1. per file, in this process: CPU time (process_time) of decode and of analysis -> realtime per core, which a
   shared machine's other load does not distort much;
2. `fonoteca features --force --json --workers W` for each W, wall clock -> realtime of the whole command
   (startup, catalog writes and pool start included) and realtime per worker.

    .venv/bin/python bench/features_bench.py [--tracks 12] [--seconds 120] [--format flac|opus] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FONOTECA, machine, median, timed  # noqa: E402


def _render(args: tuple[str, float, int, str]) -> str:
    from fonoteca.synth import audio as synth

    path, seconds, seed, fmt = args
    samples = synth.render(seconds, seed=seed)
    synth.write(Path(path), samples, bitrate=75000 if fmt == "opus" else None)
    return path


def build(root: Path, tracks: int, seconds: float, fmt: str) -> list[Path]:
    from fonoteca import archive as archive_mod

    archive = archive_mod.init(root, name="features bench")
    jobs = [(str(root / f"files/original/{i:02d}/t{i:05d}.{fmt}"), seconds, i, fmt) for i in range(tracks)]
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        paths = [Path(p) for p in pool.map(_render, jobs)]
    conn = archive.connect()
    conn.execute("BEGIN")
    genre = conn.execute("INSERT INTO genres (name) VALUES ('bench')").lastrowid
    artist = conn.execute(
        "INSERT INTO artists (ns, id, name, level, fetched_at) VALUES (0, 'benchartist', 'B', 2, 0)"
    ).lastrowid
    conn.execute("INSERT INTO artist_genres VALUES (?, 0, ?)", (artist, genre))
    for i, path in enumerate(paths):
        track = conn.execute(
            "INSERT INTO tracks (ns, id, name, level, fetched_at, popularity) VALUES (0, ?, ?, 2, 0, 50)",
            (f"t{i:05d}", f"track {i}"),
        ).lastrowid
        conn.execute("INSERT INTO track_artists VALUES (?, 0, ?, NULL)", (track, artist))
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        conn.execute(
            "INSERT INTO files (track, tier, path, size, sha256, source_sha256, source_size, source_path, container, "
            "codec, duration_ms, matched_by, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'map', ?)",
            (
                track,
                2 if fmt == "flac" else 1,
                str(path.relative_to(root)),
                len(data),
                sha,
                sha,
                len(data),
                str(path),
                fmt,
                fmt,
                int(seconds * 1000),
                datetime.now(UTC).isoformat(),
            ),
        )
    conn.execute("COMMIT")
    conn.close()
    return paths


def per_file_cpu(paths: list[Path]) -> dict[str, float]:
    from fonoteca.audio.decode import decode_mono
    from fonoteca.features.extract import RATE, analyse

    decode_s = analyse_s = audio_s = 0.0
    for path in paths:
        t0 = time.process_time()
        x = decode_mono(path, RATE)
        t1 = time.process_time()
        f = analyse(x)
        t2 = time.process_time()
        decode_s += t1 - t0
        analyse_s += t2 - t1
        audio_s += f.duration_s
    return {
        "audio_s": audio_s,
        "decode_cpu_s": decode_s,
        "analyse_cpu_s": analyse_s,
        "realtime_per_core_cpu": audio_s / (decode_s + analyse_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--format", choices=("flac", "opus"), default="flac")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--repeat", type=int, default=2, help="runs per worker count (the median is reported)")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()

    base = args.dir or Path(tempfile.mkdtemp(prefix="fonoteca-features-bench-"))
    root = base / "archive"
    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    paths = build(root, args.tracks, args.seconds, args.format)
    print(f"built {args.tracks} x {args.seconds:.0f} s {args.format} in {time.perf_counter() - t0:.1f} s at {root}")
    cpu = per_file_cpu(paths)
    print(
        f"per file, CPU time: decode {cpu['decode_cpu_s']:.2f} s + analyse {cpu['analyse_cpu_s']:.2f} s for "
        f"{cpu['audio_s']:.0f} s of audio -> {cpu['realtime_per_core_cpu']:.0f}x realtime per core"
    )
    results = {
        "machine": machine(),
        "format": args.format,
        "tracks": args.tracks,
        "seconds": args.seconds,
        "cpu": cpu,
        "runs": {},
    }
    for workers in [int(w) for w in args.workers.split(",")]:
        walls = []
        for _ in range(args.repeat):
            run = timed(FONOTECA + ["-A", str(root), "features", "--force", "--workers", str(workers), "--json"])
            walls.append(run.seconds)
        wall = median(walls)
        audio = args.tracks * args.seconds
        out = subprocess.run(FONOTECA + ["-A", str(root), "features", "--json"], capture_output=True, text=True)
        assert json.loads(out.stdout)["already"] == args.tracks
        results["runs"][workers] = {
            "wall_s": wall,
            "walls": walls,
            "realtime": audio / wall,
            "realtime_per_worker": audio / wall / workers,
            "peak_rss_mb": run.peak_rss_mb,
        }
        print(
            f"fonoteca features --workers {workers}: {wall:.2f} s (median of {walls and len(walls)}: "
            f"{', '.join(f'{w:.2f}' for w in walls)}) -> {audio / wall:.0f}x realtime, "
            f"{audio / wall / workers:.0f}x per worker, peak RSS {run.peak_rss_mb:.0f} MB"
        )
    if 1 in results["runs"] and 2 in results["runs"]:
        print(f"scaling 1 -> 2 workers: {results['runs'][1]['wall_s'] / results['runs'][2]['wall_s']:.2f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
