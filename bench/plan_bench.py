"""Benchmark of `fonoteca plan` (issue 4): time and peak memory on a large synthetic catalog, anna vs optimal.

Goals: a 10M-track catalog planned in < 60 s with < 2 GB peak RSS; `optimal` at the bytes `anna` uses covers at
least the listens `anna` covers.

    .venv/bin/python bench/plan_bench.py --archive /work/bench-data/plan10m [--repeat 3]
    .venv/bin/python bench/plan_bench.py --tracks 200000 --workdir /tmp/planbench   # builds its own catalog

The plan command writes the plan table, so point --archive at a copy of a catalog, not at one in use.
Each run is a fresh `fonoteca plan` process; its wall time and peak RSS (ru_maxrss from wait4, exact, the
whole process) are recorded; medians are quoted. The machine may be shared: note the load next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FONOTECA = [sys.executable, "-m", "fonoteca"]
GOAL_SECONDS = 60.0
GOAL_MB = 2000.0


def run(archive: Path, *args: str) -> tuple[float, float, float, dict]:
    """One `fonoteca plan ... --json` process: (seconds, peak RSS in MB, CPU seconds, summary)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen([*FONOTECA, "-A", str(archive), "plan", *args, "--json"], stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # reaped here, so its rusage is its own
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"plan {' '.join(args)} failed ({child.returncode}): {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, json.loads(out.read())


def measured(archive: Path, repeat: int, *args: str) -> dict:
    runs = [run(archive, *args) for _ in range(repeat)]
    return {
        "seconds": [r[0] for r in runs],
        "peak_mb": [r[1] for r in runs],
        "cpu_s": [r[2] for r in runs],
        "median_s": statistics.median(r[0] for r in runs),
        "median_mb": statistics.median(r[1] for r in runs),
        "median_cpu_s": statistics.median(r[2] for r in runs),
        "summary": runs[-1][3],
        "load_after": os.getloadavg()[0],
    }


def build(tracks: int, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    source, archive = workdir / f"synth{tracks}.jsonl.zst", workdir / f"plan{tracks}"
    if not source.exists():
        subprocess.run(
            [*FONOTECA, "synth", "catalog", "--tracks", str(tracks), "--out", str(source), "--seed", "10"], check=True
        )
    if not (archive / "catalog.sqlite3").exists():
        subprocess.run([*FONOTECA, "init", str(archive)], check=True)
        subprocess.run([*FONOTECA, "-A", str(archive), "import", "spotify", str(source)], check=True)
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, help="archive to plan (a copy: the plan table is rewritten)")
    parser.add_argument("--tracks", type=int, help="build a synthetic catalog of this many tracks instead")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fonoteca-planbench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON as well")
    args = parser.parse_args()
    if (args.archive is None) == (args.tracks is None):
        parser.error("give --archive or --tracks")
    archive = args.archive if args.archive else build(args.tracks, args.workdir)

    anna = measured(archive, args.repeat, "--policy", "anna")
    budget = anna["summary"]["bytes"]
    best = measured(archive, args.repeat, "--policy", "optimal", "--budget", str(budget))
    a, o = anna["summary"], best["summary"]
    load = os.getloadavg()
    print(
        f"catalog: {archive} ({a['tracks']:,} tracks, {a['recordings']:,} recordings); "
        f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
    )
    print(
        f"{'policy':<8} {'median s':>9} {'runs s':>18} {'CPU s':>6} {'peak MB':>8} {'load':>5} {'files':>10} "
        f"{'bytes':>17} {'listens':>9} {'weighted':>9}"
    )
    for name, m in (("anna", anna), ("optimal", best)):
        s = m["summary"]
        runs = " ".join(f"{x:.1f}" for x in m["seconds"])
        print(
            f"{name:<8} {m['median_s']:>9.1f} {runs:>18} {m['median_cpu_s']:>6.1f} {max(m['peak_mb']):>8.0f} "
            f"{m['load_after']:>5.1f} {s['files']:>10,} {s['bytes']:>17,} {s['listens_covered']:>9.4%} "
            f"{s['quality_weighted']:>9.4%}"
        )
    print(
        "(CPU s: user + system of the plan process, the figure a quiet machine's wall time approaches; "
        "load: 1-minute load average after the runs)"
    )
    print(
        f"optimal at anna's bytes: listens covered {o['listens_covered']:.4%} vs {a['listens_covered']:.4%} "
        f"(ratio {o['listens_covered'] / a['listens_covered']:.4f}); quality-weighted {o['quality_weighted']:.4%} vs "
        f"{a['quality_weighted']:.4%}; LP bound {o['bound']['lp_share']:.4%} (greedy gap {o['bound']['gap']:.2e})"
    )
    worst_s = max(anna["median_s"], best["median_s"])
    worst_mb = max(max(anna["peak_mb"]), max(best["peak_mb"]))
    print(
        f"goal < {GOAL_SECONDS:.0f} s: median {worst_s:.1f} s, ratio {worst_s / GOAL_SECONDS:.2f} -> "
        f"{'met' if worst_s < GOAL_SECONDS else 'NOT met'}"
    )
    print(
        f"goal < {GOAL_MB:.0f} MB: worst peak {worst_mb:.0f} MB, ratio {worst_mb / GOAL_MB:.2f} -> "
        f"{'met' if worst_mb < GOAL_MB else 'NOT met'}"
    )
    print(
        "goal optimal >= anna at equal bytes: "
        f"{'met' if o['listens_covered'] >= a['listens_covered'] and o['bytes'] <= budget else 'NOT met'}"
    )
    if args.json:
        print(json.dumps({"anna": anna, "optimal": best}, indent=2))


if __name__ == "__main__":
    main()
