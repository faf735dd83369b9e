"""The BitTorrent clients volunteers already run, both directions, on 127.0.0.1: qBittorrent (libtorrent 2,
v2-aware, driven through its Web API) and Transmission 3.00 (Debian 12's, v1 only, driven through its RPC) each
download a release from `fonoteca seed` and check out against the manifest, and `fonoteca mirror` completes a
release each of them seeds. Transmission 3.00 cannot read BEP 52 hybrid torrents at all (the last test shows
why): it takes every torrent's v1-only twin, which `pack` writes beside the hybrid and `fonoteca seed` seeds from
the same files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.durable import sha256_of
from fonoteca.mirror import Seeder, seed_items, verify_root
from fonoteca.mirror.verify import Target, verify
from fonoteca.pack.manifest import read_manifest
from fonoteca.synth import audio as synth
from tests.clients import (
    OPENTRACKER,
    QBITTORRENT,
    TRANSMISSION,
    TRANSMISSION_SHOW,
    QBittorrent,
    Tracker,
    Transmission,
    write_pad_files,
)
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory):
    """A packed release whose torrents announce to an opentracker on 127.0.0.1, and that tracker running (every
    torrent's hybrid info-hashes and its v1-only twin's on its whitelist)."""
    if OPENTRACKER is None:
        pytest.skip("Debian's opentracker is not installed")
    tracker = Tracker(tmp_path_factory.mktemp("tracker"))
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 5, (2.0, 3.0), ("flac", "mp3"), seed=29)
    root = archive_mod.init(tmp_path_factory.mktemp("a") / "archive").root
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[pack]\ntrackers = ["{tracker.announce}"]\n')
    for args in (
        ("import", "table", coll.catalog_csv, "--map", coll.mapping_toml),
        ("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original"),
        ("pack",),
    ):
        assert run_cli(*args, archive=root).exit_code == 0
    records = json.loads((root / "releases" / "torrents.json").read_text())
    tracker.start(
        [r["btih"] for r in records] + [r["btmh"][:40] for r in records] + [r["v1_only"]["btih"] for r in records]
    )
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
        result = run_cli(
            "mirror",
            str(tracked),
            "--into",
            tmp_path / "m",
            "--peer",
            f"127.0.0.1:{qb.peer_port}",
            "--timeout",
            "120",
            "--json",
        )
    finally:
        qb.stop()
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["downloaded"] > 0
    assert verify_root(tmp_path / "m").ok


def _twins(release: Path) -> list[Path]:
    return sorted((release / "torrents-v1").glob("*.v1.torrent"))


@pytest.mark.skipif(TRANSMISSION is None, reason="transmission-daemon is not installed")
def test_transmission_downloads_a_release_from_fonoteca(tracked, tmp_path):
    """Transmission takes the v1-only twins; `fonoteca seed` seeds them from the hybrids' own files (and connects
    to Transmission, which will not dial a loopback peer a tracker names). Transmission 3 writes the pad files as
    files of zeros: verify counts them as what they are, not as extra files."""
    release = _release(tracked)
    twins = _twins(release)
    assert len(twins) == len(list((release / "torrents").glob("*.torrent"))) > 1
    tx = Transmission(tmp_path / "tx").start()
    try:
        for twin in twins:
            tx.add(twin, tmp_path / "downloads")
        # only the twins dial Transmission. Seeding the hybrids too, their dials (hashes Transmission does not have,
        # redialled every second) made Transmission drop the twins' dials from the same address right after the
        # first handshake message (seen in libtorrent's peer log), and the download took 40-110 s instead of ~14
        v1_only = [item for item in seed_items(tracked) if not item[0].info_hashes().has_v2()]
        with Seeder(v1_only, listen="127.0.0.1:0", peers=[("127.0.0.1", tx.peer_port)]) as seeder:
            assert seeder.wait_ready(60)
            # a generous bound, not a speed test
            tx.wait_all(len(twins), seeding=False, timeout=300)
            assert seeder.stats()["uploaded"] > 0
    finally:
        tx.stop()
    assert _check_against_manifest(tmp_path / "downloads", release) > 0
    assert list((tmp_path / "downloads").glob("*/.pad/*")), "Transmission 3 writes BEP 47 pad files"
    import libtorrent as lt

    lines = {(x.torrent, x.file_index): x for x in read_manifest(release / "manifest.jsonl.zst")}
    targets = [
        Target(
            release.name, ti, tmp_path / "downloads", manifest={i: x for (t, i), x in lines.items() if t == ti.name()}
        )
        for ti in (lt.torrent_info(str(t)) for t in twins)
    ]
    report = verify(targets)
    assert report.ok and report.files > 0, [p.as_dict() for p in report.problems]


@pytest.mark.skipif(TRANSMISSION is None, reason="transmission-daemon is not installed")
def test_fonoteca_mirrors_a_release_seeded_by_transmission(tracked, tmp_path):
    """Transmission seeds the twins from a copy of the payload (with the pad files it keeps), `fonoteca mirror
    --v1` joins those swarms, and the mirror verifies, hybrids and twins installed as in the archive."""
    release = _release(tracked)
    twins = _twins(release)
    payload = _seeded_copy(release, tmp_path / "txseed")
    assert sum(write_pad_files(payload, twin) for twin in twins) > 0
    tx = Transmission(tmp_path / "tx").start()
    try:
        for twin in twins:
            tx.add(twin, payload)
        tx.wait_all(len(twins), seeding=True)
        result = run_cli(
            "mirror",
            str(tracked),
            "--into",
            tmp_path / "m",
            "--v1",
            "--peer",
            f"127.0.0.1:{tx.peer_port}",
            "--timeout",
            "120",
            "--json",
        )
        uploaded = sum(t["uploadedEver"] for t in tx.torrents())
    finally:
        tx.stop()
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["downloaded"] > 0 and uploaded > 0
    state = json.loads((tmp_path / "m" / "mirror.json").read_text())
    assert {t["via"] for t in state["torrents"].values()} == {"v1"}
    assert len(list((tmp_path / "m" / "releases" / release.name / "torrents-v1").glob("*.v1.torrent"))) == len(twins)
    assert verify_root(tmp_path / "m").ok
    assert run_cli("verify", str(tmp_path / "m")).exit_code == 0


@pytest.mark.skipif(TRANSMISSION_SHOW is None, reason="Transmission is not installed")
def test_transmission_3_reads_the_twins_but_no_hybrid(tracked, tmp_path):
    """Why the twins exist: Debian 12's Transmission 3.00 refuses every BEP 52 hybrid torrent (libtorrent's own as
    well as Fonoteca's), because of the v2 `file tree` in the info dictionary, and reads the v1-only twin that
    pack writes beside each. Transmission 4 reads hybrids: then the hybrids' half of this test fails."""
    import libtorrent as lt

    show = TRANSMISSION_SHOW
    assert show is not None
    release = _release(tracked)
    ours = next((release / "torrents").glob("*.torrent"))
    twin = release / "torrents-v1" / f"{ours.stem}.v1.torrent"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.bin").write_bytes(bytes(range(256)) * 2000)
    fs = lt.file_storage()
    lt.add_files(fs, str(tmp_path / "d"))
    ct = lt.create_torrent(fs, 16384)
    lt.set_piece_hashes(ct, str(tmp_path))
    theirs = tmp_path / "libtorrent-hybrid.torrent"
    theirs.write_bytes(lt.bencode(ct.generate()))
    reads = {p.name: subprocess.run([show, str(p)], capture_output=True).returncode == 0 for p in (ours, theirs, twin)}
    assert reads == {ours.name: False, theirs.name: False, twin.name: True}, reads
    shown = subprocess.run([show, str(twin)], capture_output=True, text=True).stdout
    assert lt.torrent_info(str(twin)).info_hashes().v1.to_bytes().hex() in shown.lower()
