"""Worker processes end with the command they work for: ingest, pack and the index build are each killed with
SIGKILL while their workers run, and within seconds none of those workers is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.synth import audio as synth
from tests.conftest import run_cli


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                kids.setdefault(int(fields[1]), []).append(int(entry))
    return kids


def _descendants(pid: int) -> set[int]:
    kids, out, todo = _children(), set(), [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_while_workers_run(args: list[str], archive: Path, workers: int, timeout: float = 120) -> list[int]:
    """Start `fonoteca ARGS`, wait until it has `workers` worker processes below it, SIGKILL it; return the
    workers still alive 10 s later."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(archive), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= _descendants(proc.pid)
            if len(seen) >= workers:
                break
            time.sleep(0.02)
        assert proc.poll() is None, f"{args} finished before {workers} workers were seen ({len(seen)})"
        seen |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    end = time.monotonic() + 10
    while time.monotonic() < end and any(_alive(p) for p in seen):
        time.sleep(0.1)
    left = [p for p in seen if _alive(p)]
    for p in left:  # do not leave them behind for the rest of the suite
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> synth.Collection:
    return synth.make_collection(tmp_path_factory.mktemp("long"), 8, (40.0, 50.0), ("flac",), seed=8, workers=2)


def test_ingest_workers_end_with_a_killed_ingest(music, tmp_path):
    root = archive_mod.init(tmp_path / "a").root
    assert run_cli("import", "table", music.catalog_csv, "--map", music.mapping_toml, archive=root).exit_code == 0
    left = _kill_while_workers_run(
        ["ingest", *[str(t.path) for t in music.tracks], "--tier", "compact", "--workers", "2"], root, workers=3
    )  # the forkserver and two workers
    assert left == []


def test_pack_workers_end_with_a_killed_pack(music, tmp_path):
    root = archive_mod.init(tmp_path / "a").root
    assert run_cli("import", "table", music.catalog_csv, "--map", music.mapping_toml, archive=root).exit_code == 0
    assert run_cli("ingest", *[str(t.path) for t in music.tracks], "--tier", "original", archive=root).exit_code == 0
    left = _kill_while_workers_run(["pack", "--workers", "2"], root, workers=2)
    assert left == []


def test_index_workers_end_with_a_killed_build(synth_small, tmp_path):
    root = archive_mod.init(tmp_path / "a").root
    assert run_cli("import", "spotify", synth_small, archive=root).exit_code == 0
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[search]\nparallel_min_tracks = 0\n")  # worker processes even for a small catalog
    left = _kill_while_workers_run(["index", "rebuild"], root, workers=2)
    assert left == []
