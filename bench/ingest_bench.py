"""Ingest benchmark: files/s and realtime factor of `fonoteca ingest` for the compact tier (decode, validate,
fingerprint, loudness, Opus 75k encode, tag, hash, store) and the original tier, against the anchor
`ffmpeg -i IN -c:a libopus -b:a 75k OUT.ogg` (Debian's ffmpeg) one process at a time, then two at a time.

    .venv/bin/python bench/ingest_bench.py [--data /work/bench-data/ingest] [--tracks 200] [--out bench/results/ingest.md]

Synthesised tracks (FLAC, 44.1 kHz 16-bit stereo, 3-4 minutes) are rendered once into DATA/flac and reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FONOTECA, machine  # noqa: E402


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def anchor(files: list[Path], out: Path, parallel: int) -> float:
    out.mkdir(parents=True, exist_ok=True)
    cmds = [["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(f), "-c:a", "libopus", "-b:a", "75k",
             str(out / (f.stem + ".ogg"))] for f in files]
    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(run, cmds))
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds


def fonoteca_ingest(data: Path, work: Path, tier: str, workers: int) -> dict:
    archive = work / f"archive-{tier}-{workers}"
    shutil.rmtree(archive, ignore_errors=True)
    subprocess.run(FONOTECA + ["init", str(archive)], check=True, capture_output=True)
    subprocess.run(FONOTECA + ["-A", str(archive), "import", "table", str(data / "catalog.csv"), "--map",
                               str(data / "catalog.toml")], check=True, capture_output=True)
    started = time.perf_counter()
    done = subprocess.run(FONOTECA + ["-A", str(archive), "ingest", str(data), "--map", str(data / "map.csv"),
                                      "--tier", tier, "--workers", str(workers), "--json"],
                          check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    summary = json.loads(done.stdout)
    summary.pop("items", None)
    summary["wall"] = seconds
    shutil.rmtree(archive, ignore_errors=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/ingest"))
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ingest.md")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip: anchor1,anchor2,compact1,compact2,original1,original2")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    data = args.data / "flac"
    from fonoteca.synth.audio import make_collection

    collection = make_collection(data, args.tracks, (180.0, 240.0), ("flac",), seed=5, workers=2)
    files = [t.path for t in collection.tracks]
    audio = sum(t.seconds for t in collection.tracks)
    size = sum(f.stat().st_size for f in files)
    work = args.data / "work"
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, float]] = []
    results: dict[str, float] = {}
    print(f"{len(files)} files, {audio / 3600:.2f} h of audio, {size / 1e9:.2f} GB; {machine()}", flush=True)
    for name, parallel in (("anchor1", 1), ("anchor2", 2)):
        if name in skip:
            continue
        seconds = anchor(files, work / "anchor", parallel)
        results[name] = seconds
        rows.append((f"anchor: ffmpeg libopus 75k, {parallel} at a time", len(files) / seconds, audio / seconds))
        print(rows[-1], flush=True)
    for tier in ("compact", "original"):
        for workers in (1, 2):
            name = f"{tier}{workers}"
            if name in skip:
                continue
            s = fonoteca_ingest(data, work, tier, workers)
            assert s["stored_total"] == len(files), s
            results[name] = s["wall"]
            rows.append((f"fonoteca ingest --tier {tier} --workers {workers}", len(files) / s["wall"], audio / s["wall"]))
            print(rows[-1], flush=True)
    lines = [
        "# Ingest benchmark", "",
        f"Command: `.venv/bin/python bench/ingest_bench.py --tracks {args.tracks}` ({time.strftime('%Y-%m-%d')})", "",
        f"Machine: {machine()}. Shared with other processes: expect noise.", "",
        f"Input: {len(files)} synthesised tracks (chords + drums), FLAC 44.1 kHz 16-bit stereo, 3-4 min each, "
        f"{audio / 3600:.2f} h of audio, {size / 1e9:.2f} GB. Wall time of whole commands (ingest includes "
        "process start, catalog matching, temp files, fsync, catalog commits).", "",
        "| run | files/s | realtime factor |", "| --- | ---: | ---: |",
    ]
    lines += [f"| {name} | {fps:.3f} | {rt:.0f}x |" for name, fps, rt in rows]
    lines.append("")
    if "anchor1" in results and "compact1" in results:
        lines.append(f"- compact tier, 1 worker vs anchor 1 at a time: {results['anchor1'] / results['compact1']:.2f}x "
                     "the anchor's throughput (goal >= 0.9x)")
    if "compact1" in results and "compact2" in results:
        lines.append(f"- compact tier scaling 1 -> 2 workers: {results['compact1'] / results['compact2']:.2f}x (goal >= 1.8x)")
    if "anchor1" in results and "anchor2" in results:
        lines.append(f"- anchor scaling 1 -> 2 at a time: {results['anchor1'] / results['anchor2']:.2f}x")
    for w in (1, 2):
        if f"original{w}" in results:
            lines.append(f"- original tier, {w} worker(s): {audio / results[f'original{w}']:.0f}x realtime (goal >= 500x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
