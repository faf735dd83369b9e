"""A mirror or archive on read-only media (a read-only bind mount: tests run as root, so file modes alone would not
stop a write): every reading command works on it as it is, the site serves it, writing commands refuse in words."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def read_only(packed_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """A copy of a packed archive (its search index built) seen through a read-only bind mount."""
    base = tmp_path_factory.mktemp("ro")
    source = base / "rw"
    shutil.copytree(packed_archive, source / "archive", symlinks=True)
    assert run_cli("index", "rebuild", archive=source / "archive").exit_code == 0
    for db in (source / "archive").rglob("*.sqlite3"):  # as a cleanly closed archive is: no -wal, no -shm
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    assert not list((source / "archive").rglob("*-shm")) and not list((source / "archive").rglob("*-wal"))
    view = base / "view"
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts are not allowed here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, capture_output=True)
        yield view / "archive"
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_the_mount_is_really_read_only(read_only):
    with pytest.raises(OSError):
        (read_only / "probe").write_text("x")


@pytest.mark.parametrize(
    "args",
    [
        ("stats", "--json"),
        ("search", "--json", "a"),
        ("shuffle", "--json"),
        ("torrents", "list", "--json"),
        ("index", "status", "--json"),
        ("verify", "--json"),
        ("coverage", "--json"),
        ("plan", "--policy", "anna", "--dry-run", "--json"),
    ],
)
def test_reading_commands_work(read_only, args):
    result = run_cli(*args, archive=read_only)
    assert result.exit_code == 0, (args, result.stderr)
    json.loads(result.stdout)
    assert "unable to open database file" not in result.stderr


def test_show_and_export_work(read_only):
    track = json.loads(run_cli("shuffle", "--json", archive=read_only).stdout)[0]["id"]
    shown = run_cli("show", track, "--json", archive=read_only)
    assert shown.exit_code == 0 and json.loads(shown.stdout)[0]["id"] in track


@pytest.mark.parametrize(
    "args",
    [("index", "rebuild"), ("pack",), ("plan", "--policy", "anna"), ("ingest", "/dev/null", "--tier", "original")],
)
def test_writing_commands_say_the_archive_is_read_only(read_only, args):
    result = run_cli(*args, archive=read_only)
    assert result.exit_code == 1, (args, result.stderr)
    assert "read-only file system" in result.stderr and "Traceback" not in result.stderr


def test_the_site_serves_a_read_only_archive(read_only):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(read_only), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                time.sleep(0.3)
        assert body is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=a", timeout=10) as r:
            assert r.status == 200 and isinstance(json.loads(r.read())["results"], list)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/torrents", timeout=10) as r:
            assert r.status == 200
    finally:
        server.terminate()
        server.wait(20)
