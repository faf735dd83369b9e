"""The main job, at a small size and without serving: every stage runs and its output checks out."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import orjson
import pytest

from tests.conftest import run_subprocess


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple:
    """One run of the main job for both tests: (its folder, its --json stages)."""
    root = tmp_path_factory.mktemp("demo") / "demo"
    result = run_subprocess(
        "demo", "--dir", str(root), "--tracks", "1500", "--genres", "3", "--per-genre", "4", "--no-serve", "--json"
    )
    assert result.returncode == 0, result.stderr
    return root, orjson.loads(result.stdout)["stages"]


def test_demo_builds_an_archive_end_to_end(demo):
    root, stages = demo
    catalog = stages["catalog"]
    assert catalog["tracks"] == 1500 and catalog["rejected"] == 0
    assert 0 < catalog["distinct ISRCs"] < 1500  # compilations share recordings
    assert stages["audio"]["files"] == 12 and stages["audio"]["genres"] == 3
    plan = stages["plan"]
    assert plan["planned bytes"] <= plan["budget bytes"] and 0 < plan["listens covered"] <= 1
    ingest = stages["ingest"]
    stored = ingest["stored original"] + ingest["stored compact"]
    assert stored > 0 and ingest["quarantined"] == 0 and ingest["unmatched"] == 0
    archive = root / "archive"
    conn = sqlite3.connect(archive / "catalog.sqlite3")
    assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == stored
    # one stored track is "all rights reserved": kept out of the release; one released track is then withdrawn
    lawful = stages["licences"]
    assert lawful["all rights reserved"] == 1 and lawful["kept out of the release"]
    assert stages["pack"]["files"] == stored - 1 and stages["pack"]["not published"] == 1
    assert stages["pack"]["torrents"] >= 1
    withdrawn = stages["withdraw"]
    assert withdrawn["withdrawn"] and withdrawn["ledger verifies"] and withdrawn["release"] == "demo-2"
    assert withdrawn["replacement torrents"] == 1 and withdrawn["partially broken torrents"] == 1
    assert stages["verify"]["withdrawn files"] == 1
    import libtorrent as lt

    torrents = sorted((archive / "releases" / "demo-1" / "torrents").glob("*.torrent"))
    assert len(torrents) == stages["pack"]["torrents"] + 1  # plus the metadata torrent
    for path in torrents:
        assert lt.torrent_info(str(path)).num_files() >= 1
    assert stages["verify"]["ok"] and stages["verify"]["problems"] == 0
    mirrored = stages["mirror"]
    assert mirrored["complete"] and mirrored["verify ok"] and 0 < mirrored["coverage share_bytes"] <= 1
    assert (root / "mirror" / "releases").is_dir()
    assert stages["features"]["tracks"] == stored and stages["features"]["failed"] == 0
    assert (archive / "genre-map.html").stat().st_size > 0
    assert stages["stats"]["charts"] >= 10
    stats = orjson.loads(run_subprocess("stats", "--json", archive=archive).stdout)
    assert stats["tracks"] == 1500 and stats["audio_features"] == 1500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_archive_is_served(demo):
    """The site the demo ends with: the real `fonoteca serve` on the demo's archive answers a few requests."""
    archive = demo[0] / "archive"
    withdrawn = orjson.loads(run_subprocess("ledger", "list", "--json", archive=archive).stdout)
    assert len(withdrawn) == 1 and withdrawn[0]["category"] == "rights-holder"
    gone = withdrawn[0]["track"].split(":", 2)[2]
    catalog = sqlite3.connect(archive / "catalog.sqlite3")
    # a stored track that is published: licensed CC BY and not withdrawn
    title, track_id, stored = catalog.execute(
        "SELECT t.name, t.id, f.path FROM files f JOIN tracks t ON t.rowid = f.track "
        "JOIN track_licences l ON l.track = t.rowid WHERE t.id != ? AND l.licence LIKE 'CC-BY%' "
        "ORDER BY f.rowid LIMIT 1",
        (gone,),
    ).fetchone()
    torrents = catalog.execute("SELECT count(*) FROM torrents").fetchone()[0]
    catalog.close()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(archive), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        assert httpx.get(base + "/").status_code == 200
        found = httpx.get(base + "/api/search", params={"q": title}).json()
        assert track_id in [r["id"] for r in found["results"]]
        # the stored file plays, byte for byte
        assert httpx.get(base + f"/audio/{track_id}").content == (archive / stored).read_bytes()
        listed = httpx.get(base + "/api/torrents", params={"size": 1000}).json()
        assert listed["count"] == torrents > 0
        genres = httpx.get(base + "/api/genres").json()
        assert genres["count"] >= 2 and len(genres["genres"]) == genres["count"]
        tombstone = httpx.get(base + f"/track/{gone}")
        assert tombstone.status_code == 410 and "rights-holder" in tombstone.text
    finally:
        server.terminate()
        server.wait(timeout=20)
