"""Ingest benchmark: files/s and realtime factor of `fonoteca ingest` for the compact tier (decode, validate,
fingerprint, loudness, Opus 75k encode, tag, hash, store) and the original tier, against the anchor
`ffmpeg -i IN -c:a libopus -b:a 75k OUT.ogg` (Debian's ffmpeg) one process at a time, then two at a time.

    .venv/bin/python bench/ingest_bench.py [--data /work/bench-data/ingest] [--tracks 200] [--reps 1] \\
        [--skip STEPS] [--out bench/results/ingest.md]

Synthesised tracks (FLAC, 44.1 kHz 16-bit stereo, 3-4 minutes) are rendered once into DATA/flac and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FONOTECA, machine, run_sampled  # noqa: E402


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far: the difference over a step is the CPU
    that step used, whatever else the shared machine was doing."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def anchor(files: list[Path], out: Path, parallel: int) -> tuple[float, float]:
    out.mkdir(parents=True, exist_ok=True)
    cmds = [
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(f),
            "-c:a",
            "libopus",
            "-b:a",
            "75k",
            str(out / (f.stem + ".ogg")),
        ]
        for f in files
    ]
    started, cpu = time.perf_counter(), children_cpu()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(run, cmds))
    seconds = time.perf_counter() - started
    cpu = children_cpu() - cpu
    shutil.rmtree(out)
    return seconds, cpu


def fonoteca_ingest(data: Path, work: Path, tier: str, workers: int) -> dict:
    archive = work / f"archive-{tier}-{workers}"
    shutil.rmtree(archive, ignore_errors=True)
    subprocess.run(FONOTECA + ["init", str(archive)], check=True, capture_output=True)
    subprocess.run(
        FONOTECA
        + ["-A", str(archive), "import", "table", str(data / "catalog.csv"), "--map", str(data / "catalog.toml")],
        check=True,
        capture_output=True,
    )
    # the pool's workers are not this script's children (a forkserver starts them), so the CPU of the whole
    # process tree is sampled rather than read from RUSAGE_CHILDREN
    code, stdout, stderr, seconds, cpu = run_sampled(
        FONOTECA
        + [
            "-A",
            str(archive),
            "ingest",
            str(data),
            "--map",
            str(data / "map.csv"),
            "--tier",
            tier,
            "--workers",
            str(workers),
            "--json",
        ],
        work,
    )
    if code != 0:
        raise SystemExit(f"ingest --tier {tier} --workers {workers} failed: {stderr[-2000:]}")
    summary = json.loads(stdout)
    summary.pop("items", None)
    summary["wall"], summary["cpu"] = seconds, cpu
    shutil.rmtree(archive, ignore_errors=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/ingest"))
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ingest.md")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of every step (medians are quoted)")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated steps to skip: anchor1,anchor2,compact1,compact2,original1,original2",
    )
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
    steps = [("anchor1", 1), ("anchor2", 2), ("compact1", 1), ("compact2", 2), ("original1", 1), ("original2", 2)]
    steps = [(name, n) for name, n in steps if name not in skip]
    walls: dict[str, list[float]] = {name: [] for name, _ in steps}
    cpus: dict[str, list[float]] = {name: [] for name, _ in steps}
    print(f"{len(files)} files, {audio / 3600:.2f} h of audio, {size / 1e9:.2f} GB; {machine()}", flush=True)
    for rep in range(args.reps):
        # later repetitions run the steps in reverse order, so a slow drift in the machine's load does not
        # always fall on the same step
        for name, n in steps if rep % 2 == 0 else steps[::-1]:
            if name.startswith("anchor"):
                wall, cpu = anchor(files, work / "anchor", n)
            else:
                summary = fonoteca_ingest(data, work, name.rstrip("12"), n)
                assert summary["stored_total"] == len(files), summary
                wall, cpu = summary["wall"], summary["cpu"]
            walls[name].append(wall)
            cpus[name].append(cpu)
            print(
                f"rep {rep + 1} {name}: {wall:.1f} s wall, {cpu:.1f} CPU s, {len(files) / wall:.3f} files/s, "
                f"{audio / wall:.0f}x realtime, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    wall = {name: statistics.median(v) for name, v in walls.items()}
    cpu = {name: statistics.median(v) for name, v in cpus.items()}
    label = {"anchor1": "anchor: ffmpeg libopus 75k, 1 at a time", "anchor2": "anchor: ffmpeg libopus 75k, 2 at a time"}
    for tier in ("compact", "original"):
        for n in (1, 2):
            label[f"{tier}{n}"] = f"fonoteca ingest --tier {tier} --workers {n}"
    lines = [
        "# Ingest benchmark",
        "",
        f"Command: `.venv/bin/python bench/ingest_bench.py --tracks {args.tracks} --reps {args.reps}` "
        f"({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"Machine: {machine()}. Shared with other processes: expect noise.",
        "",
        f"Input: {len(files)} synthesised tracks (chords + drums), FLAC 44.1 kHz 16-bit stereo, 3-4 min each, "
        f"{audio / 3600:.2f} h of audio, {size / 1e9:.2f} GB. Wall time of whole commands (ingest includes "
        "process start, catalog matching, temp files, fsync, catalog commits); CPU s: user + system seconds of "
        "every process the step ran. Medians of the repetitions.",
        "",
        "| run | median wall s | files/s | realtime factor | CPU s | realtime per CPU second | walls |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {label[name]} | {wall[name]:.1f} | {len(files) / wall[name]:.3f} | {audio / wall[name]:.0f}x | "
        f"{cpu[name]:.1f} | {audio / cpu[name]:.0f}x | {', '.join(f'{w:.1f}' for w in walls[name])} |"
        for name, _ in steps
    ]
    lines.append("")
    if "anchor1" in wall and "compact1" in wall:
        lines.append(
            f"- compact tier, 1 worker vs the anchor 1 at a time: {wall['anchor1'] / wall['compact1']:.2f}x "
            f"the anchor's throughput (goal >= 0.9x); in CPU seconds per file "
            f"{cpu['anchor1'] / cpu['compact1']:.2f}x"
        )
    if "compact1" in wall and "compact2" in wall:
        lines.append(
            f"- compact tier scaling 1 -> 2 workers: {wall['compact1'] / wall['compact2']:.2f}x (goal >= 1.8x)"
        )
    if "anchor1" in wall and "anchor2" in wall:
        lines.append(f"- anchor scaling 1 -> 2 at a time: {wall['anchor1'] / wall['anchor2']:.2f}x")
    if "compact2" in wall and "anchor2" in wall:
        lines.append(f"- compact tier, 2 workers vs the anchor 2 at a time: {wall['anchor2'] / wall['compact2']:.2f}x")
    for n in (1, 2):
        if f"original{n}" in wall:
            lines.append(f"- original tier, {n} worker(s): {audio / wall[f'original{n}']:.0f}x realtime (goal >= 500x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
