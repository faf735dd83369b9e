"""The BitTorrent clients volunteers already run, both directions, on 127.0.0.1: qBittorrent (libtorrent 2,
v2-aware, driven through its Web API) downloads a release from `fonoteca seed` and checks out against the
manifest, and `fonoteca mirror` completes a release qBittorrent seeds. Transmission 3.00 (Debian 12's) cannot
read hybrid torrents at all: the last test shows exactly why."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.mirror import Seeder, seed_items, verify_root
from fonoteca.pack.manifest import read_manifest
from fonoteca.synth import audio as synth
from tests.clients import OPENTRACKER, QBITTORRENT, TRANSMISSION_SHOW, QBittorrent, Tracker, sha256_of
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory):
    """A packed release whose torrents announce to an opentracker on 127.0.0.1 (Transmission finds peers only
    through trackers), and that tracker running."""
    if OPENTRACKER is None:
        pytest.skip("Debian's opentracker is not installed")
    tracker = Tracker(tmp_path_factory.mktemp("tracker"))
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 5, (2.0, 3.0), ("flac", "mp3"), seed=29)
    root = archive_mod.init(tmp_path_factory.mktemp("a") / "archive").root
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[pack]\ntrackers = ["{tracker.announce}"]\n')
    for args in (("import", "table", coll.catalog_csv, "--map", coll.mapping_toml),
                 ("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original"), ("pack",)):
        assert run_cli(*args, archive=root).exit_code == 0
    records = json.loads((root / "releases" / "torrents.json").read_text())
    tracker.start([r["btih"] for r in records] + [r["btmh"][:40] for r in records])
    try:
        yield root
    finally:
        tracker.stop()


def _release(root: Path) -> Path:
    return next(p for p in (root / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def _check_against_manifest(data: Path, release: Path) -> int:
    """Every file the manifest lists, found under `data` with its sha256; how many."""
    lines = read_manifest(release / "manifest.jsonl.zst")
    for line in lines:
        assert sha256_of(data / line.torrent / line.path) == line.sha256, line.path
    return len(lines)


def _seeded_copy(release: Path, into: Path) -> Path:
    """A copy of the release's payload for another client to seed."""
    shutil.copytree(release / "data", into)
    return into


@pytest.mark.skipif(QBITTORRENT is None, reason="qbittorrent-nox is not installed")
def test_qbittorrent_downloads_a_release_from_fonoteca(tracked, tmp_path):
    release = _release(tracked)
    torrents = sorted((release / "torrents").glob("*.torrent"))
    qb = QBittorrent(tmp_path / "qb").start()
    try:
        with Seeder(seed_items(tracked), listen="127.0.0.1:0") as seeder:
            assert seeder.wait_ready(60)
            for t in torrents:
                qb.add(t, tmp_path / "downloads")
            qb.wait_all(len(torrents), seeding=False, peer=f"127.0.0.1:{seeder.port}")
            assert seeder.stats()["uploaded"] > 0
    finally:
        qb.stop()
    assert _check_against_manifest(tmp_path / "downloads", release) > 0


@pytest.mark.skipif(QBITTORRENT is None, reason="qbittorrent-nox is not installed")
def test_fonoteca_mirrors_a_release_seeded_by_qbittorrent(tracked, tmp_path):
    release = _release(tracked)
    torrents = sorted((release / "torrents").glob("*.torrent"))
    payload = _seeded_copy(release, tmp_path / "qbseed")
    qb = QBittorrent(tmp_path / "qb").start()
    try:
        for t in torrents:
            qb.add(t, payload)
        qb.wait_all(len(torrents), seeding=True)
        result = run_cli("mirror", str(tracked), "--into", tmp_path / "m", "--peer", f"127.0.0.1:{qb.peer_port}",
                         "--timeout", "120", "--json")
    finally:
        qb.stop()
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["downloaded"] > 0
    assert verify_root(tmp_path / "m").ok


@pytest.mark.skipif(TRANSMISSION_SHOW is None, reason="Transmission is not installed")
def test_transmission_3_cannot_read_hybrid_torrents(tracked, tmp_path):
    """Why Transmission is not one of the clients above: Debian 12's Transmission 3.00 refuses every BEP 52
    hybrid torrent (libtorrent's own as well as Fonoteca's), because of the v2 `file tree` in the info dictionary;
    the same torrent without it loads. Transmission 4 reads hybrids. This test fails once the installed
    Transmission reads them: then the two directions can be tested like qBittorrent's."""
    import libtorrent as lt

    from fonoteca.pack import bencode

    show = TRANSMISSION_SHOW
    assert show is not None
    ours = next((_release(tracked) / "torrents").glob("*.torrent"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.bin").write_bytes(bytes(range(256)) * 2000)
    fs = lt.file_storage()
    lt.add_files(fs, str(tmp_path / "d"))
    ct = lt.create_torrent(fs, 16384)
    lt.set_piece_hashes(ct, str(tmp_path))
    theirs = tmp_path / "libtorrent-hybrid.torrent"
    theirs.write_bytes(lt.bencode(ct.generate()))
    meta = bencode.decode(ours.read_bytes())
    v1 = {k: v for k, v in meta.items() if k != b"piece layers"}
    v1[b"info"] = {k: v for k, v in meta[b"info"].items() if k not in (b"file tree", b"meta version")}
    stripped = tmp_path / "v1-only.torrent"
    stripped.write_bytes(bencode.encode(v1))
    reads = {p.name: subprocess.run([show, str(p)], capture_output=True).returncode == 0
             for p in (ours, theirs, stripped)}
    assert reads == {ours.name: False, theirs.name: False, stripped.name: True}, reads
