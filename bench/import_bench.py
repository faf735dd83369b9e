"""Import benchmark: `fonoteca import spotify` vs `sqlite-utils insert DB tracks FILE --nl` on the same file.

Input: `fonoteca synth catalog --tracks N --kinds track` (full track objects with nested album and artists).
Fonoteca reads the .jsonl.zst; sqlite-utils gets the same lines decompressed (it cannot read zstd), so the
anchor is spared the decompression. Reports tracks/s (median of the repeats), the ratio, and the peak memory of
the whole process tree.

    python bench/import_bench.py --sizes 100000,1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import zstandard
from _common import FONOTECA, VENV_BIN, machine, median, timed


def synth(size: int, folder: Path) -> tuple[Path, Path]:
    zst = folder / f"tracks-{size}.jsonl.zst"
    plain = folder / f"tracks-{size}.jsonl"
    if not zst.exists():  # written under a temporary name, so an interrupted run leaves no partial input
        partial = folder / f"partial-{size}.jsonl.zst"
        timed(
            [
                *FONOTECA,
                "synth",
                "catalog",
                "--tracks",
                str(size),
                "--kinds",
                "track",
                "--seed",
                "42",
                "--out",
                str(partial),
            ]
        )
        partial.rename(zst)
    if not plain.exists():
        partial = folder / f"partial-{size}.jsonl"
        with open(zst, "rb") as src, open(partial, "wb") as dst:
            zstandard.ZstdDecompressor().copy_stream(src, dst)
        partial.rename(plain)
    return zst, plain


def run_fonoteca(zst: Path, work: Path) -> tuple[float, float]:
    archive = work / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    timed([*FONOTECA, "init", str(archive)])
    run = timed([*FONOTECA, "-A", str(archive), "import", "spotify", str(zst)])
    return run.seconds, run.peak_rss_mb


def run_anchor(plain: Path, work: Path) -> tuple[float, float]:
    db = work / "anchor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    run = timed([str(VENV_BIN / "sqlite-utils"), "insert", str(db), "tracks", str(plain), "--nl"])
    return run.seconds, run.peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "fonoteca-bench-import")
    parser.add_argument("--skip-anchor-above", type=int, default=10_000_000)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"{'tracks':>10} {'fonoteca t/s':>13} {'peak MB':>8} {'sqlite-utils t/s':>17} {'peak MB':>8} {'ratio':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        zst, plain = synth(size, args.data)
        ours, anchor, ours_mem, anchor_mem = [], [], [], []
        for _ in range(args.repeat):
            seconds, mem = run_fonoteca(zst, args.data)
            ours.append(size / seconds)
            ours_mem.append(mem)
            if size <= args.skip_anchor_above:
                seconds, mem = run_anchor(plain, args.data)
                anchor.append(size / seconds)
                anchor_mem.append(mem)
        ours_rate = median(ours)
        anchor_rate = median(anchor) if anchor else float("nan")
        print(
            f"{size:>10,} {ours_rate:>13,.0f} {max(ours_mem):>8,.0f} {anchor_rate:>17,.0f} "
            f"{max(anchor_mem) if anchor_mem else float('nan'):>8,.0f} {ours_rate / anchor_rate:>6.2f}",
            flush=True,
        )
        print(
            f"           runs fonoteca: {', '.join(f'{r:,.0f}' for r in ours)}; anchor: "
            f"{', '.join(f'{r:,.0f}' for r in anchor)}"
        )


if __name__ == "__main__":
    main()
