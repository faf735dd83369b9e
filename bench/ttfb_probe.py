"""A small probe of the time to first byte of a track the mirror does not hold yet (Subsonic `stream` with
`[subsonic] fetch_missing = true`) against a held one: the setup of bench/subsonic_bench.py time_to_first_byte()
(a source archive packed 2 files a torrent, seeded from this process; a half mirror served by a real
`fonoteca serve` child with the seeder as its peer), at a size that runs in a few seconds.

    python bench/ttfb_probe.py --work /tmp/ttfb-probe [--audio 40]

Prints the median first byte of 20 held streams, of the first stream of each torrent not held (the case the goal
is about) and of the later streams of those torrents (none when each torrent holds one track), and the ratio
first-of-torrent / held.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from subsonic_bench import add_audio, first_byte, run, serve, stop  # noqa: E402


def build_source(work: Path, audio: int) -> Path:
    source = work / f"source-{audio}"
    if not (source / "releases").is_dir() or not any((source / "releases").iterdir()):
        shutil.rmtree(source, ignore_errors=True)
        run("init", str(source))
        add_audio(source, work / f"music-{audio}", audio, 4.0, 13)
        with open(source / "fonoteca.toml", "a", encoding="utf-8") as f:
            f.write("\n[pack]\ntarget_size = 1\nmax_files = 2\n")
        run("pack", archive=source)
    return source


def probe(work: Path, audio: int) -> dict[str, float]:
    from fonoteca.mirror import Seeder, mirror, seed_items
    from fonoteca.pack.manifest import read_manifest

    source = build_source(work, audio)
    release = next(p for p in (source / "releases").iterdir() if p.is_dir())
    into = work / "half-mirror"
    shutil.rmtree(into, ignore_errors=True)
    with Seeder(seed_items(source), listen="127.0.0.1:0") as seeder:
        if not seeder.wait_ready(120):
            raise SystemExit(f"the seeder is not ready: {seeder.errors}")
        records = json.loads((source / "releases" / "torrents.json").read_text())
        budget = sum(r["data_size"] for r in records) // 2
        result = mirror(str(release), into, budget=budget, peers=[("127.0.0.1", seeder.port)], timeout=600, stall=120)
        if not result.complete:
            raise SystemExit(f"the half mirror did not complete: {result.outcome.errors}")
        with open(into / "fonoteca.toml", "a", encoding="utf-8") as f:
            f.write(
                f'\n[subsonic]\nfetch_missing = true\npeers = ["127.0.0.1:{seeder.port}"]\n'
                'listen = "127.0.0.1:0"\nrate_limit = 0\n'
            )
        key = run("users", "add", "probe", "--key", archive=into).strip()
        held_torrents = set(json.loads((into / "mirror.json").read_text())["torrents"])
        lines = read_manifest(release / "manifest.jsonl.zst")
        conn = sqlite3.connect(into / "catalog.sqlite3")
        rowid = {tid: r for r, tid in conn.execute("SELECT rowid, id FROM tracks")}
        conn.close()
        held = [rowid[x.id] for x in lines if x.torrent in held_torrents]
        missing = [(rowid[x.id], x.torrent) for x in lines if x.torrent not in held_torrents]
        child, base = serve(into)
        auth = f"apiKey={urllib.parse.quote(key)}&v=1.16.1&c=probe"
        try:
            held_s = [first_byte(f"{base}/rest/stream?id={held[n % len(held)]}&{auth}") for n in range(20)]
            first_s: list[float] = []
            later_s: list[float] = []
            seen: set[str] = set()
            for song, torrent in missing:
                elapsed = first_byte(f"{base}/rest/stream?id={song}&{auth}")
                (later_s if torrent in seen else first_s).append(elapsed)
                seen.add(torrent)
        finally:
            stop(child)
    out = {
        "held_ms": statistics.median(held_s) * 1000,
        "first_of_torrent_ms": statistics.median(first_s) * 1000,
        "first_of_torrent_max_ms": max(first_s) * 1000,
        "first_streams": len(first_s),
        "later_ms": statistics.median(later_s) * 1000 if later_s else float("nan"),
    }
    out["ratio"] = out["first_of_torrent_ms"] / out["held_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--audio", type=int, default=40, help="files in the source (2 a torrent, half not held)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = probe(args.work.resolve(), args.audio)
    print(
        f"held {out['held_ms']:.1f} ms (median of 20); first stream of a torrent not held "
        f"{out['first_of_torrent_ms']:.1f} ms (median of {out['first_streams']}, max "
        f"{out['first_of_torrent_max_ms']:.0f}); later streams of those torrents {out['later_ms']:.1f} ms; "
        f"ratio {out['ratio']:.1f} x"
    )


if __name__ == "__main__":
    main()
