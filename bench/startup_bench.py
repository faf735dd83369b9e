"""Start-up cost of the command line: wall time and peak memory of `fonoteca --version`, `--help`, every command's
`--help`, `show ID` and `search WORDS`, against a bare `python -c pass` and `datasette --version` (a Python CLI
of the same family) in the same run. Medians of --repeat runs, in alternating order.

    .venv/bin/python bench/startup_bench.py --repeat 15

Goal: `--version`, `--help` and `show` within 10x of `python -c pass`.

Fonoteca's modules are compiled to bytecode first (`compileall`), as installing the package from a wheel does and
as any run does once where Python may write `__pycache__`: with PYTHONDONTWRITEBYTECODE set and an editable
install, every run would otherwise compile the sources again (about 45 ms of a `--help` here), which no installed
copy pays; datasette, installed from a wheel, runs from bytecode too.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import FONOTECA, VENV_BIN, machine  # noqa: E402


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one run of `cmd`."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} exited with {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024


def _archive(scratch: Path) -> tuple[Path, str]:
    root = scratch / "archive"
    catalog = scratch / "c.jsonl.zst"
    for args in (
        ["init", str(root)],
        ["synth", "catalog", "--tracks", "5000", "--out", str(catalog)],
        ["-A", str(root), "import", "spotify", str(catalog)],
    ):
        subprocess.run(FONOTECA + args, check=True, capture_output=True)
    shown = subprocess.run(FONOTECA + ["-A", str(root), "shuffle", "--json"], check=True, capture_output=True)
    return root, json.loads(shown.stdout)[0]["id"]


def _compile_bytecode() -> None:
    """Bytecode for every module of the package, as a wheel install writes it."""
    import fonoteca

    package = Path(fonoteca.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = dict(os.environ, COLUMNS="100")
    try:
        _compile_bytecode()
        root, track = _archive(scratch)
        fonoteca = [str(VENV_BIN / "fonoteca")]
        cases: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "fonoteca --version": fonoteca + ["--version"],
            "fonoteca --help": fonoteca + ["--help"],
            "fonoteca import spotify --help": fonoteca + ["import", "spotify", "--help"],
            "fonoteca ingest --help": fonoteca + ["ingest", "--help"],
            "fonoteca serve --help": fonoteca + ["serve", "--help"],
            "fonoteca show ID": fonoteca + ["-A", str(root), "show", track],
            "fonoteca search WORDS": fonoteca + ["-A", str(root), "search", "love"],
        }
        datasette = shutil.which("datasette", path=str(VENV_BIN))
        if datasette:
            cases["datasette --version"] = [datasette, "--version"]
        times: dict[str, list[float]] = {k: [] for k in cases}
        memory: dict[str, float] = {k: 0.0 for k in cases}
        for n in range(args.repeat):
            order = list(cases) if n % 2 == 0 else list(reversed(cases))
            for name in order:
                seconds, rss = _run(cases[name], env)
                times[name].append(seconds)
                memory[name] = max(memory[name], rss)
        base = statistics.median(times["python -c pass"])
        print(f"machine: {machine()}; {args.repeat} runs each, medians")
        print("| command | wall ms (median) | x python -c pass | peak RSS MB |")
        print("|---|---:|---:|---:|")
        for name in cases:
            median = statistics.median(times[name])
            print(f"| `{name}` | {1000 * median:.1f} | {median / base:.1f}x | {memory[name]:.0f} |")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
