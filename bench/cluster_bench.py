"""Cluster benchmark: `fonoteca ingest` through a Dask cluster (`fonoteca cluster local --workers W`) against the
local process pool (`--workers W`), on the same files and the same cores. Runs are interleaved (ABBA order)
because the machine is shared and noisy; the figures quoted are medians of the whole-command wall times.

The cluster is started before each Dask run and stopped after it (its start is not timed: an operator's cluster
is already running), so no idle cluster competes with the local runs for the cores. Everything runs in this
script's session: Linux's autogroup scheduler gives each session its own CPU share, and a cluster started with
setsid would get a share of its own on a shared machine.

    .venv/bin/python bench/cluster_bench.py [--data /work/bench-data/ingest/flac] [--tracks 40] [--workers 2]
        [--reps 3] [--tier compact] [--modes local,dask] [--out bench/results/cluster-TIER.md]

The first TRACKS FLAC files of DATA (sorted) are hard-linked into DATA/../cluster/subset-TRACKS; every run gets a
fresh archive (init and catalog import are not timed). Each run's stored files are compared by sha256 with the
first local run's: the benchmark fails if the cluster stored anything different.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FONOTECA, machine, run_sampled, tree_cpu  # noqa: E402

MODES = {
    "local": "local process pool (`--workers W`)",
    "dask": "Dask cluster, storage shared (`--scheduler ADDR`)",
    "dask-none": "Dask cluster, storage none (`--scheduler ADDR --storage none`: inputs and files sent over TCP)",
}


def subset(data: Path, n: int) -> Path:
    files = sorted(p for p in data.iterdir() if p.suffix == ".flac")[:n]
    if len(files) < n:
        raise SystemExit(f"{data} has {len(files)} FLAC files, fewer than {n}")
    out = data.parent.parent / "cluster" / f"subset-{n}"
    out.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = out / f.name
        if not target.exists():
            try:
                os.link(f, target)
            except OSError:
                target.symlink_to(f)
    return out


def start_cluster(workers: int, check: bool = True) -> tuple[subprocess.Popen, str]:
    # Same session as this script (and as the local runs): with the kernel's autogroup scheduling (on here), a
    # cluster started in a new session (setsid) would get a CPU share of its own on a shared machine and look faster.
    child = subprocess.Popen(
        FONOTECA + ["cluster", "local", "--workers", str(workers), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        process_group=0,
    )
    address = child.stdout.readline().strip()
    if not address.startswith("tcp://"):
        raise SystemExit("the cluster did not start")
    if check:
        checked = subprocess.run(
            FONOTECA + ["cluster", "check", "--scheduler", address, "--json"], capture_output=True, text=True
        )
        if checked.returncode != 0:
            raise SystemExit(checked.stderr)
    return child, address


def stop_cluster(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def run_once(mode: str, src: Path, catalog: Path, work: Path, tier: str, workers: int) -> dict:
    archive = work / f"archive-{mode}"
    shutil.rmtree(archive, ignore_errors=True)
    subprocess.run(FONOTECA + ["init", str(archive)], check=True, capture_output=True)
    subprocess.run(
        FONOTECA
        + ["-A", str(archive), "import", "table", str(catalog / "catalog.csv"), "--map", str(catalog / "catalog.toml")],
        check=True,
        capture_output=True,
    )
    cluster = None
    if mode == "local":
        extra = ["--workers", str(workers)]
    else:
        cluster, address = start_cluster(workers, check=False)
        extra = ["--scheduler", address] + (["--storage", "none"] if mode == "dask-none" else [])
    try:
        load = os.getloadavg()[0]
        cpu_before = tree_cpu(cluster.pid) if cluster else 0.0
        code, stdout, stderr, wall, cpu = run_sampled(
            FONOTECA + ["-A", str(archive), "ingest", str(src), "--tier", tier, "--json", *extra], work
        )
        cluster_cpu = tree_cpu(cluster.pid) - cpu_before if cluster else None
    finally:
        if cluster:
            stop_cluster(cluster)
    if code != 0:
        raise SystemExit(f"{mode}: {stderr[-2000:]}")
    summary = json.loads(stdout)
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    stored = dict(conn.execute("SELECT path, sha256 FROM files"))
    conn.close()
    shutil.rmtree(archive, ignore_errors=True)
    return {
        "mode": mode,
        "wall": wall,
        "seconds": summary["seconds"],
        "stored": summary["stored_total"],
        "audio": summary["audio_seconds"],
        "coordinator": summary["coordinator_seconds"],
        "coordinator_cpu": summary["coordinator_cpu_seconds"],
        "load": load,
        "cluster_cpu": cluster_cpu,
        "cpu": cpu + (cluster_cpu or 0.0),
        "files": stored,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/work/bench-data/ingest/flac"))
    parser.add_argument("--tracks", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tier", default="compact", choices=("compact", "original"))
    parser.add_argument("--modes", default="local,dask")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds to measure the idle cluster's CPU use")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= set(MODES) or "local" not in modes:
        raise SystemExit(f"--modes: a list of {', '.join(MODES)}, with local")
    out = args.out or Path(__file__).resolve().parent / "results" / f"cluster-{args.tier}.md"
    src = subset(args.data, args.tracks)
    work = args.data.parent.parent / "cluster" / "work"
    work.mkdir(parents=True, exist_ok=True)
    size = sum(p.stat().st_size for p in src.iterdir())
    at_start = machine()
    print(f"{args.tracks} files, {size / 1e9:.2f} GB, tier {args.tier}, {args.workers} workers; {at_start}", flush=True)
    started_cluster = time.perf_counter()
    cluster, address = start_cluster(args.workers)
    startup = time.perf_counter() - started_cluster
    try:
        idle_before = tree_cpu(cluster.pid)
        time.sleep(args.idle)
        idle = (tree_cpu(cluster.pid) - idle_before) / args.idle
    finally:
        stop_cluster(cluster)
    runs: list[dict] = []
    reference: dict | None = None
    for rep in range(args.reps):
        order = modes if rep % 2 == 0 else list(reversed(modes))
        for mode in order:
            r = run_once(mode, src, args.data, work, args.tier, args.workers)
            r["rep"] = rep + 1
            if r["stored"] != args.tracks:
                raise SystemExit(f"{mode}: stored {r['stored']} of {args.tracks}")
            if reference is None and mode == "local":
                reference = r["files"]
            runs.append(r)
            print(
                f"rep {rep + 1} {mode:9s} wall {r['wall']:7.1f} s  ingest {r['seconds']:7.1f} s  "
                f"coordinator {r['coordinator']:5.2f} s  cpu {r['cpu']:7.1f} s (cluster {r['cluster_cpu'] or 0:.1f})"
                f"  load {r['load']:.1f}",
                flush=True,
            )
    for r in runs:
        if r["files"] != reference:
            raise SystemExit(f"rep {r['rep']} {r['mode']}: stored files differ from the local run's")
    audio = runs[0]["audio"]
    med = {m: statistics.median(r["wall"] for r in runs if r["mode"] == m) for m in modes}
    cpu = {m: statistics.median(r["cpu"] for r in runs if r["mode"] == m) for m in modes}
    by_rep = {(r["rep"], r["mode"]): r for r in runs}
    paired = {
        m: statistics.median(by_rep[(k, m)]["wall"] / by_rep[(k, "local")]["wall"] for k in range(1, args.reps + 1))
        for m in modes
    }
    lines = [
        f"# Cluster benchmark: ingest --tier {args.tier}, local pool vs Dask",
        "",
        f"Command: `.venv/bin/python bench/cluster_bench.py --tracks {args.tracks} --workers {args.workers} "
        f"--reps {args.reps} --tier {args.tier} --modes {args.modes}` ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"Machine: {at_start}; shared with other engineers' processes (the load average at the start of each run "
        "is in the table): expect noise.",
        "",
        f"Input: the first {args.tracks} files of {args.data} (synthesised FLAC, 44.1 kHz 16-bit stereo, 3-4 min), "
        f"{size / 1e9:.2f} GB, {audio / 3600:.2f} h of audio. Each run: a fresh archive, the whole `fonoteca ingest` "
        "command timed (process start, catalog matching, the tasks, temporary files, fsync, catalog commits). "
        f"The Dask cluster (`fonoteca cluster local --workers {args.workers}`: scheduler + {args.workers} nanny + "
        f"{args.workers} worker processes, 1 thread each, task modules preloaded) is started before each Dask run "
        f"and stopped after it (start not timed, about {startup:.0f} s here: an operator's cluster is already up), "
        f"so no idle cluster competes with the local runs, and in the same session as the local runs (the kernel's "
        f"autogroup scheduler shares CPU between sessions); idle, it uses {idle * 100:.1f}% of one core "
        "(heartbeats). CPU s: all CPU seconds the run used: the ingest command's process tree (sampled every "
        "0.1 s) plus, for Dask runs, the scheduler, nannies and workers (cluster CPU s). On a machine this loaded, "
        "wall times swing with other people's work; the CPU a run needs is steadier.",
        "",
        "Every run stored the same files (same paths, same sha256) as the first local run.",
        "",
        "| rep | mode | wall s | files/s | realtime | coordinator s (CPU s) | CPU s | cluster CPU s | load avg |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        ccpu = "-" if r["cluster_cpu"] is None else f"{r['cluster_cpu']:.1f}"
        lines.append(
            f"| {r['rep']} | {r['mode']} | {r['wall']:.1f} | {args.tracks / r['wall']:.3f} | {audio / r['wall']:.0f}x "
            f"| {r['coordinator']:.2f} ({r['coordinator_cpu']:.2f}) | {r['cpu']:.1f} | {ccpu} | {r['load']:.1f} |"
        )
    lines += [
        "",
        "| mode | median wall s | files/s | realtime | wall vs local (medians) | wall vs local (median of "
        "same-rep ratios) | median CPU s | CPU vs local |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in modes:
        lines.append(
            f"| {MODES[m]} | {med[m]:.1f} | {args.tracks / med[m]:.3f} | {audio / med[m]:.0f}x | "
            f"{(med[m] / med['local'] - 1) * 100:+.1f}% | {(paired[m] - 1) * 100:+.1f}% | {cpu[m]:.1f} | "
            f"{(cpu[m] / cpu['local'] - 1) * 100:+.1f}% |"
        )
    lines.append("")
    if "dask" in med:
        overhead = med["dask"] / med["local"] - 1
        lines.append(
            f"- Dask throughput overhead (median wall, storage shared) vs the local pool: "
            f"{overhead * 100:+.1f}% (median of same-rep ratios {(paired['dask'] - 1) * 100:+.1f}%); "
            f"goal <= +10%: {'met' if overhead <= 0.10 else 'NOT met'} by the medians of this run"
        )
        lines.append(f"- CPU seconds per run, Dask vs local: {(cpu['dask'] / cpu['local'] - 1) * 100:+.1f}%")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
