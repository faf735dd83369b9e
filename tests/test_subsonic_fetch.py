"""Playing what a mirror does not hold yet: a mirror holding half of a release, served with
`[subsonic] fetch_missing = true`, lists the released tracks it lacks and streams one fetched from a seeder on
loopback (real libtorrent sessions, a real `fonoteca serve` child process); the file is verified and kept."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import tomllib

import httpx
import pytest

from fonoteca import archive as archive_mod
from fonoteca.mirror import Seeder, mirror, seed_items, verify_root
from fonoteca.pack.manifest import read_manifest
from fonoteca.subsonic.config import subsonic_config
from fonoteca.subsonic.fetcher import Fetcher
from fonoteca.subsonic.library import Released
from fonoteca.synth import audio as synth
from tests.conftest import run_cli
from tests.test_subsonic_clients import Served

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def half_mirror(tmp_path_factory):
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 8, (1.5, 3.0), ("flac", "opus", "mp3"), seed=83)
    source = archive_mod.init(tmp_path_factory.mktemp("src") / "archive", name="Fetch test").root
    assert run_cli("import", "table", coll.catalog_csv, "--map", coll.mapping_toml, archive=source).exit_code == 0
    r = run_cli("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original", archive=source)
    assert r.exit_code == 0, r.stderr
    with open(source / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[pack]\ntarget_size = 300000\nmax_files = 2\n")
    assert run_cli("pack", archive=source).exit_code == 0
    release = next(p for p in (source / "releases").iterdir() if p.is_dir())
    with Seeder(seed_items(source), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(TIMEOUT), seeder.errors
        records = json.loads((source / "releases" / "torrents.json").read_text())
        budget = sum(r["data_size"] for r in records) // 2
        into = tmp_path_factory.mktemp("mirror") / "m"
        result = mirror(
            str(release), into, budget=budget, peers=[("127.0.0.1", seeder.port)], timeout=TIMEOUT, stall=60
        )
        assert result.complete, result.outcome.errors
        with open(into / "fonoteca.toml", "a", encoding="utf-8") as f:
            f.write(
                f'\n[subsonic]\nfetch_missing = true\npeers = ["127.0.0.1:{seeder.port}"]\n'
                f'listen = "127.0.0.1:0"\nfetch_timeout = 60\n'
            )
        r = run_cli("users", "add", "alice", "--key", archive=into)
        assert r.exit_code == 0, r.stderr
        lines = read_manifest(release / "manifest.jsonl.zst")
        held = {name for name in json.loads((into / "mirror.json").read_text())["torrents"]}
        missing = [x for x in lines if x.torrent not in held]
        assert missing and len(missing) < len(lines), "the mirror should hold part of the release"
        pristine = tmp_path_factory.mktemp("pristine") / "m"  # for a fetcher of the test's own, before any stream
        shutil.copytree(into, pristine)
        server = Served(into)
        try:
            yield {
                "source": source,
                "release": release.name,
                "into": into,
                "pristine": pristine,
                "peer": ("127.0.0.1", seeder.port),
                "url": server.url,
                "key": r.stdout.strip(),
                "missing": missing,
                "held": [x for x in lines if x.torrent in held],
            }
        finally:
            server.stop()


def _rest(m: dict, name: str, **params) -> httpx.Response:
    return httpx.get(f"{m['url']}/rest/{name}", params={"apiKey": m["key"], "f": "json", **params}, timeout=120)


def _song_id(m: dict, track_id: str) -> str:
    import sqlite3

    conn = sqlite3.connect(m["into"] / "catalog.sqlite3")
    try:
        return str(conn.execute("SELECT rowid FROM tracks WHERE id = ?", (track_id,)).fetchone()[0])
    finally:
        conn.close()


def _first_byte(m: dict, song: str, headers: dict | None = None) -> tuple[float, bytes, httpx.Response]:
    t0 = time.perf_counter()
    with httpx.stream(
        "GET", f"{m['url']}/rest/stream", params={"apiKey": m["key"], "id": song}, headers=headers, timeout=120
    ) as resp:
        chunks = resp.iter_bytes()
        first = next(chunks, b"")
        ttfb = time.perf_counter() - t0
        data = first + b"".join(chunks)
    return ttfb, data, resp


def test_a_track_the_mirror_does_not_hold_is_listed_and_streams_from_the_swarm(half_mirror):
    m = half_mirror
    line = m["missing"][0]
    target = m["into"] / "releases" / m["release"] / "data" / line.torrent / line.path
    assert not target.exists()
    song = _song_id(m, line.id)
    synced = _rest(m, "search3", query="", songCount=500).json()["subsonic-response"]["searchResult3"]["song"]
    assert song in [s["id"] for s in synced]  # listed although not held
    held_song = _song_id(m, m["held"][0].id)
    held_ttfb, held_data, _ = _first_byte(m, held_song)
    expected = (m["source"] / "releases" / m["release"] / "data" / line.torrent / line.path).read_bytes()
    ttfb, data, resp = _first_byte(m, song)
    assert resp.status_code == 200 and int(resp.headers["content-length"]) == line.size
    assert hashlib.sha256(data).hexdigest() == line.sha256 and data == expected
    print(f"time to first byte: held {held_ttfb * 1000:.1f} ms, fetched from the swarm {ttfb * 1000:.1f} ms")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # verified and recorded in the background once complete
        state = json.loads((m["into"] / "mirror.json").read_text())["torrents"].get(line.torrent)
        if state and line.file_index in (state.get("files") or []):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the fetched file was not recorded in mirror.json")
    assert target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == line.sha256
    report = verify_root(m["into"])
    assert report.ok, report.as_dict()
    # held now: played from the disk like any held file
    _, again, _ = _first_byte(m, song)
    assert again == expected


def test_a_range_of_a_track_not_held_yet_is_fetched_from_its_first_piece(half_mirror):
    m = half_mirror
    line = next(x for x in m["missing"][1:] if x.torrent != m["missing"][0].torrent or x.path != m["missing"][0].path)
    expected = (m["source"] / "releases" / m["release"] / "data" / line.torrent / line.path).read_bytes()
    start = line.size // 2
    _, data, resp = _first_byte(m, _song_id(m, line.id), headers={"range": f"bytes={start}-"})
    assert resp.status_code == 206 and resp.headers["content-range"] == f"bytes {start}-{line.size - 1}/{line.size}"
    assert data == expected[start:]
    beyond = httpx.get(
        f"{m['url']}/rest/stream",
        params={"apiKey": m["key"], "id": _song_id(m, line.id)},
        headers={"range": f"bytes={line.size + 10}-"},
        timeout=30,
    )
    assert beyond.status_code == 416


def test_opening_a_track_not_held_has_the_torrent_dialing_the_peer_before_it_returns(half_mirror):
    """libtorrent dials the peers a torrent knows once a second; open() gets the new torrent connecting to the
    named peer at once (so a player's first piece is asked for within milliseconds), and the piece arrives."""
    m = half_mirror
    root = m["pristine"]
    line = m["missing"][0]
    fetcher = Fetcher(root, subsonic_config(tomllib.loads((root / "fonoteca.toml").read_text(encoding="utf-8"))))
    try:
        remote = fetcher.open(Released(m["release"], line))
        dialed = {(peer.ip[0], peer.ip[1]) for peer in remote.handle.get_peer_info()}
        assert m["peer"] in dialed, f"open() returned with the torrent connected to {dialed}, not to {m['peer']}"
        deadline = time.monotonic() + TIMEOUT
        while (ready := fetcher.ready(remote, 0)) <= 0:
            assert time.monotonic() < deadline, "the first piece did not arrive"
            time.sleep(0.01)
        expected = (m["source"] / "releases" / m["release"] / "data" / line.torrent / line.path).read_bytes()
        with open(remote.path, "rb") as f:
            assert f.read(ready) == expected[:ready]
    finally:
        fetcher.close()
