"""Executors and `fonoteca cluster`: a real Dask scheduler with two worker processes on 127.0.0.1 (started with
`fonoteca cluster local --workers 2`); ingest through it and locally gives identical catalogs and files; a worker
killed in the middle of an ingest changes nothing in the result.

The collections are chosen so that no two tracks sound alike to Chromaprint (bit error rate above ingest's 0.25):
when two inputs claimed by different tracks do sound alike, the one whose result reaches the coordinator first is
stored and the other becomes its duplicate, which depends on completion order (in the local pool as well)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.cluster import (
    Crashed,
    DaskExecutor,
    ExecutorConfig,
    LocalExecutor,
    TaskFailed,
    normalise_address,
    probe,
)
from fonoteca.errors import UsageError
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# The test cluster's scheduler gives up on a task after its workers died twice with it (default: 4 times), to keep
# the crash tests short; one killed worker still only reschedules its tasks.
CLUSTER_ENV = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


@pytest.fixture(scope="module")
def cluster():
    """`fonoteca cluster local --workers 2 --port 0` in its own process group; yields the scheduler address."""
    env = dict(os.environ, **CLUSTER_ENV)
    child = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "cluster", "local", "--workers", "2", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        line = child.stdout.readline().strip()  # blocks until the scheduler and its workers are up
        assert line.startswith("tcp://127.0.0.1:"), (line, child.stderr.read() if child.poll() is not None else "")
        yield line
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(child.pid, signal.SIGKILL)  # whatever is left of the process group (workers, nannies)
        except ProcessLookupError:
            pass
        child.wait()


def _wait_for_workers(address: str, n: int, timeout: float = 90) -> None:
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(n, timeout=timeout)


def _dask(address: str, **kwargs) -> DaskExecutor:
    return DaskExecutor(ExecutorConfig(scheduler=address, wait_for_workers_s=60, **kwargs))


# ---- the executor interface -----------------------------------------------------------------------------------


def test_config_from_archive_and_overrides():
    cfg = ExecutorConfig.from_config(
        {"cluster": {"scheduler": "10.0.0.5:8786", "storage": "none", "retries": 4, "batch": 8}}, storage="sources"
    )
    assert cfg.scheduler == "tcp://10.0.0.5:8786" and cfg.storage == "sources" and cfg.retries == 4 and cfg.batch == 8
    assert ExecutorConfig.from_config({}).scheduler is None
    with pytest.raises(UsageError):
        ExecutorConfig.from_config({"cluster": {"storage": "nfs"}})
    with pytest.raises(UsageError):
        normalise_address("http://x/y")


def test_local_executor_results_errors_and_crashes():
    with LocalExecutor(2, retries=1) as ex:
        got = dict((t, r["value"]) for t, r in ex.map_unordered(probe, [0, 0.01, 0.02, 0.03, 0.04]))
        assert got == {0: 0, 0.01: 0.01, 0.02: 0.02, 0.03: 0.03, 0.04: 0.04}
        out = dict(ex.map_unordered(probe, [0.2, "crash", 0.01]))
        assert isinstance(out["crash"], Crashed) and out[0.2]["value"] == 0.2 and out[0.01]["value"] == 0.01
        with pytest.raises(TaskFailed, match="RuntimeError"):
            list(ex.map_unordered(probe, [0.01, "raise"]))


def test_dask_executor_results_errors_crashes_and_batches(cluster):
    with _dask(cluster, retries=1) as ex:
        assert ex.workers == 2
        results = list(ex.map_unordered(probe, list(range(6))))
        assert sorted(t for t, _ in results) == list(range(6))
        assert len({r["pid"] for _, r in results}) == 2  # both worker processes took tasks
        with pytest.raises(TaskFailed, match="RuntimeError"):
            list(ex.map_unordered(probe, [0, "raise"]))
    # batches of 3 tasks per Dask task; a batch whose task kills its workers is split, the culprit is Crashed
    with _dask(cluster, batch=3) as ex:
        out = dict(ex.map_unordered(probe, [0.01, "crash", 0.02, 0.03, 0.04]))
        assert isinstance(out["crash"], Crashed)
        # An innocent task retried alone on the worker the culprit is killing at that moment dies with it (the
        # test cluster allows one such death per task); it must be at most one, and it must succeed when re-run.
        innocents = [t for t in out if t != "crash" and isinstance(out[t], Crashed)]
        assert len(innocents) <= 1, out
        if innocents:
            _wait_for_workers(cluster, 2)
            out.update(dict(ex.map_unordered(probe, innocents)))
        assert {t: r["value"] for t, r in out.items() if t != "crash"} == {
            0.01: 0.01,
            0.02: 0.02,
            0.03: 0.03,
            0.04: 0.04,
        }


def test_cluster_check_and_clean_errors(cluster, tmp_path):
    _wait_for_workers(cluster, 2)  # a worker killed by an earlier test is restarted by its nanny
    result = run_cli("cluster", "check", "--scheduler", cluster, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["workers"]) == 2 and report["threads"] == 2 and not report["version_mismatch"]
    root = archive_mod.init(tmp_path / "archive").root
    with open(root / "fonoteca.toml", "a") as f:
        f.write("\n[cluster]\nconnect_timeout_s = 2\n")
    nothing = run_cli("ingest", str(tmp_path), "--tier", "original", "--scheduler", "tcp://127.0.0.1:9", archive=root)
    assert nothing.exit_code == 1 and "cannot reach the Dask scheduler" in nothing.stderr
    bad = run_cli("ingest", str(tmp_path), "--tier", "original", "--scheduler", "http://x", archive=root)
    assert bad.exit_code == 2
    bad = run_cli("ingest", str(tmp_path), "--tier", "original", "--storage", "nfs", archive=root)
    assert bad.exit_code == 2 and "storage" in bad.stderr


def test_worker_check_reports_what_a_worker_cannot_see(tmp_path):
    from fonoteca.ingest.executor import worker_check

    (tmp_path / ".visible").write_text("x")
    ok = worker_check(str(tmp_path), ".visible", str(tmp_path / ".visible"), "shared")
    assert ok["problems"] == [] and ok["code"]
    blind = worker_check(str(tmp_path / "elsewhere"), ".visible", str(tmp_path / "missing.flac"), "shared")
    assert len(blind["problems"]) == 2
    assert worker_check("/nowhere", ".visible", None, "none")["problems"] == []


# ---- ingest through the cluster -------------------------------------------------------------------------------


def _import(root: Path, collection: synth.Collection) -> None:
    result = run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=root)
    assert result.exit_code == 0, result.stderr


def _rows(root: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def _state(root: Path) -> dict:
    """Everything ingest decided, less what legitimately differs between runs (row ids, timestamps)."""
    files = _rows(
        root,
        "SELECT t.id, f.tier, f.path, f.size, f.sha256, f.source_sha256, f.source_size, "
        "f.source_path, f.source_container, f.source_codec, f.patch, f.container, f.codec, f.bit_rate, "
        "f.sample_rate, f.channels, f.duration_ms, f.loudness, f.replaygain_gain, f.replaygain_peak, "
        "f.matched_by, f.tags FROM files f JOIN tracks t ON t.rowid = f.track ORDER BY t.id",
    )
    sources = _rows(
        root, "SELECT path, size, mtime_ns, sha256, outcome, track, reason, detail FROM ingest_sources ORDER BY path"
    )
    on_disk = {}
    for p in sorted((root / "files").rglob("*")):
        if p.is_file() and p.name != ".ingest.lock":
            on_disk[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    quarantine = {}
    for p in sorted((root / "quarantine").iterdir()):
        if p.suffix == ".json":
            record = json.loads(p.read_text())
            record.pop("quarantined_at")
            quarantine[p.name] = record
        else:
            quarantine[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
    return {
        "files": files,
        "sources": sources,
        "on_disk": on_disk,
        "quarantine": quarantine,
        "fingerprints": _rows(root, "SELECT * FROM fingerprints ORDER BY sha256"),
        "keys": _rows(root, "SELECT * FROM fingerprint_keys ORDER BY key, sha256"),
        "sizes": _rows(root, "SELECT * FROM plan_sizes ORDER BY track, tier"),
        "pending": _rows(root, "SELECT * FROM ingest_pending"),
    }


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> synth.Collection:
    """Tagged tracks in four formats, plus an unknown recording, a copy of a track, an empty and a garbage file."""
    collection = synth.make_collection(
        tmp_path_factory.mktemp("music"), 12, 4.0, ("flac", "ogg", "mp3", "wav"), seed=41
    )
    root = collection.root
    synth.write(root / "zz_unknown.flac", synth.render(4.0, 999))
    synth.write(root / "zz_copy.opus", synth.render(4.0, collection.tracks[0].seed))
    (root / "zz_empty.mp3").write_bytes(b"")
    (root / "zz_garbage.flac").write_bytes(os.urandom(5000))
    return collection


def _loaded(path: Path, collection: synth.Collection) -> Path:
    root = archive_mod.init(path).root
    _import(root, collection)
    # a budget that keeps some tracks as originals, re-encodes some, skips the rest
    result = run_cli("plan", "--policy", "optimal", "--budget", "450kB", archive=root)
    assert result.exit_code == 0, result.stderr
    return root


def _ingest(root: Path, source: Path, *args: str) -> dict:
    result = run_cli("ingest", str(source), "--json", *args, archive=root)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_ingest_on_the_cluster_equals_local(cluster, music, tmp_path):
    local = _loaded(tmp_path / "local", music)
    s = _ingest(local, music.root, "--workers", "2")
    assert s["stored"]["original"] > 0 and s["stored"]["compact"] > 0 and s["skipped"]
    assert s["quarantined_total"] == 2 and s["unmatched"] >= 1
    expected = _state(local)
    for storage in ("shared", "none"):  # "sources" runs the code of "none" less sending the input
        root = _loaded(tmp_path / storage, music)
        d = _ingest(root, music.root, "--scheduler", cluster, "--storage", storage)
        assert d["executor"].startswith("Dask cluster at tcp://127.0.0.1:") and d["workers"] == 2
        assert {k: v for k, v in d.items() if k in ("stored", "quarantined", "skipped", "unmatched", "duplicates")} == {
            k: v for k, v in s.items() if k in ("stored", "quarantined", "skipped", "unmatched", "duplicates")
        }
        assert sorted(map(json.dumps, d["items"])) == sorted(map(json.dumps, s["items"]))
        assert _state(root) == expected, storage
        assert not any((root / "files" / ".tmp").iterdir())


def test_worker_killed_mid_ingest_changes_nothing(cluster, tmp_path):
    from distributed import Client

    # 4 s tracks: long enough to be fingerprinted, and (for this seed) no two of them sound alike to Chromaprint,
    # so no input's outcome depends on the order results arrive in (see the module docstring)
    music = synth.make_collection(tmp_path / "music", 20, 4.0, ("flac",), seed=52, workers=2)
    roots = {}
    for name in ("local", "killed"):
        roots[name] = archive_mod.init(tmp_path / name).root
        _import(roots[name], music)
    _ingest(roots["local"], music.root, "--tier", "compact", "--workers", "2")
    killed = roots["killed"]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fonoteca",
            "-A",
            str(killed),
            "ingest",
            str(music.root),
            "--tier",
            "compact",
            "--scheduler",
            cluster,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    victim = None
    with Client(cluster, set_as_default=False, timeout=30) as client:
        deadline = time.time() + 90
        while time.time() < deadline and child.poll() is None:
            try:
                stored = _rows(killed, "SELECT count(*) FROM files")[0][0]
            except sqlite3.Error:
                stored = 0
            busy = [w for w, keys in client.processing().items() if keys]
            if stored >= 2 and busy:
                pids = client.run(os.getpid, workers=[busy[0]])
                victim = (busy[0], pids[busy[0]], stored)
                os.kill(victim[1], signal.SIGKILL)
                break
            time.sleep(0.02)
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0, err
        assert victim is not None, "the ingest finished before a worker could be killed"
        assert victim[2] < 20  # killed in the middle
        assert victim[0] not in client.scheduler_info()["workers"]  # that worker is gone (its nanny starts another)
    summary = json.loads(out)
    assert summary["stored"]["compact"] == 20 and summary["quarantined_total"] == 0, [
        i for i in summary["items"] if i["outcome"] != "stored"
    ]
    assert _state(killed) == _state(roots["local"])
