"""How long Fonoteca takes to check an untrusted .torrent (fonoteca.mirror.torrents.load_torrent: every path
component and symbolic link checked before libtorrent sees it) against the anchor: libtorrent parsing the same
bytes alone (lt.torrent_info). Hostile-shaped torrents of 200,000 files with long names, at several sizes: the
check must stay linear in the size (the same MB/s at every size).

    .venv/bin/python bench/torrent_check_bench.py --sizes 5,20,55 --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import libtorrent as lt  # noqa: E402

from fonoteca.mirror.torrents import load_torrent  # noqa: E402
from fonoteca.pack import bencode  # noqa: E402

PIECE = 1 << 20


def hostile(megabytes: float) -> bytes:
    """A valid v1 torrent of many small files with long names, about `megabytes` MB of metainfo."""
    name_len = 240  # names under the 255-byte limit; 55 MB stays under the 200,000 files a torrent may list
    per_file = name_len + 40
    files = max(1, int(megabytes * 1e6 / per_file))
    entries = [{"length": 4096, "path": [f"d{i % 100:02d}", f"f{i:07d}" + "x" * name_len]} for i in range(files)]
    total = 4096 * files
    pieces = b"\x11" * 20 * (-(-total // PIECE))
    return bencode.encode({"info": {"files": entries, "name": "hostile", "piece length": PIECE, "pieces": pieces}})


def cpu(fn, data: bytes) -> float:
    started = time.process_time()
    fn(data)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5,20,55", help="metainfo sizes in MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| metainfo MB | files | fonoteca check CPU s | MB/s | libtorrent parse CPU s | MB/s | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size in (float(s) for s in args.sizes.split(",")):
        data = hostile(size)
        ours = statistics.median(cpu(lambda d: load_torrent(d, "bench"), data) for _ in range(args.repeat))
        anchor = statistics.median(cpu(lt.torrent_info, data) for _ in range(args.repeat))
        mb = len(data) / 1e6
        files = lt.torrent_info(data).num_files()
        print(
            f"| {mb:.1f} | {files:,} | {ours:.2f} | {mb / ours:.1f} | {anchor:.2f} | {mb / anchor:.1f} | "
            f"{ours / anchor:.2f}x |"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
