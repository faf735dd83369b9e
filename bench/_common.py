"""Helpers for the benchmarks: running commands while sampling the peak memory of their whole process tree."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
FONOTECA = [sys.executable, "-m", "fonoteca"]


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float


def _tree(pid: int) -> list[int]:
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


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total / 1e6


def timed(cmd: list[str], **kwargs) -> Run:
    """Run a command to completion; wall time and the peak summed RSS of its process tree (sampled every 50 ms)."""
    started = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _rss_mb(_tree(child.pid)))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed: {child.stderr.read().decode()[-2000:]}")
    return Run(seconds, peak)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run_sampled(cmd: list[str], scratch: Path) -> tuple[int, str, str, float, float]:
    """Run a command; (exit code, stdout, stderr, wall seconds, CPU seconds of its whole process tree), the tree
    sampled every 0.1 s (a process's CPU in its last 0.1 s can be missed)."""
    import psutil

    out_path, err_path = scratch / "stdout", scratch / "stderr"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err)
        seen: dict[tuple[int, float], float] = {}
        root = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        seen[(p.pid, p.create_time())] = t.user + t.system
                except psutil.Error:
                    pass
            time.sleep(0.1)
        wall = time.perf_counter() - started
    return child.returncode, out_path.read_text(), err_path.read_text(), wall, sum(seen.values())


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpus} cores ({model}), load average at start {load:.2f}"
