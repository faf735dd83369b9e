"""fonoteca seed / mirror / fetch / verify --repair / coverage with real libtorrent sessions on 127.0.0.1 (DHT, LSD,
UPnP, NAT-PMP off; peers connected directly), on a small packed archive of really ingested files. Every wait is
bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.errors import FonotecaError
from fonoteca.mirror import Seeder, coverage, fetch, mirror, ops, repair, seed_items, verify_root
from fonoteca.mirror import torrents as mt
from fonoteca.pack.manifest import read_manifest
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """A packed archive: 12 tracks (about 2 MB), several bulk torrents and the metadata torrent."""
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 12, (1.5, 3.0), ("flac", "opus", "mp3"), seed=71)
    root = archive_mod.init(tmp_path_factory.mktemp("src") / "archive", name="Mirror test").root
    r = run_cli("import", "table", coll.catalog_csv, "--map", coll.mapping_toml, archive=root)
    assert r.exit_code == 0, r.stderr
    r = run_cli("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[pack]\ntarget_size = 300000\nmax_files = 3\n")
    r = run_cli("pack", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    return root


@pytest.fixture(scope="module")
def seeder(packed):
    with Seeder(seed_items(packed), listen="127.0.0.1:0") as s:
        assert s.wait_ready(TIMEOUT), s.errors
        yield s


def _peer(s: Seeder) -> list[tuple[str, int]]:
    return [("127.0.0.1", s.port)]


def _release(root: Path) -> Path:
    return next(p for p in (root / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def test_full_mirror_is_archive_shaped_and_verifies(packed, seeder, tmp_path):
    into = tmp_path / "mirror"
    res = mirror(str(packed), into, peers=_peer(seeder), timeout=TIMEOUT, stall=60)
    assert res.complete, res.outcome.errors
    rel = _release(packed).name
    assert (into / "fonoteca.toml").is_file() and (into / "catalog.sqlite3").is_file()
    assert (into / "releases" / rel / "manifest.jsonl.zst").is_file()
    src_files = sorted(
        p.relative_to(packed / "releases" / rel / "data")
        for p in (packed / "releases" / rel / "data").rglob("*")
        if p.is_file()
    )
    got = sorted(
        p.relative_to(into / "releases" / rel / "data")
        for p in (into / "releases" / rel / "data").rglob("*")
        if p.is_file()
    )
    assert got == src_files
    for p in src_files:
        assert (into / "releases" / rel / "data" / p).read_bytes() == (
            packed / "releases" / rel / "data" / p
        ).read_bytes()
    report = verify_root(into)
    assert report.ok and report.files == len(src_files), report.as_dict()
    cov = coverage(into)
    assert cov["share_tracks_released"] == 1.0 and cov["share_bytes"] == 1.0 and cov["catalog_tracks"] == 12
    # the mirror is an archive: the catalog opens, the CLI verifies it
    archive_mod.open_archive(into).connect(readonly=True).close()
    r = run_cli("verify", "--json", archive=into)
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr
    # a second mirror from the first one (mirrors seed too)
    with Seeder(seed_items(into)) as s2:
        assert s2.wait_ready(TIMEOUT)
        res2 = mirror(
            str(packed),
            tmp_path / "m2",
            bands=[b for b in {x.get("band") for x in res.chosen} if b][:1],
            peers=_peer(s2),
            timeout=TIMEOUT,
            stall=60,
        )
        assert res2.complete and verify_root(tmp_path / "m2").ok


def test_budgeted_mirror_follows_pick(packed, seeder, tmp_path):
    records = json.loads((packed / "releases" / "torrents.json").read_text())
    budget = sum(r["data_size"] for r in records) // 2
    res = mirror(str(_release(packed)), tmp_path / "m", budget=budget, peers=_peer(seeder), timeout=TIMEOUT, stall=60)
    assert res.complete, res.outcome.errors
    assert res.chosen[0]["is_metadata"] and sum(r["data_size"] for r in res.chosen) <= budget
    assert len(res.chosen) < len(records)
    cov = coverage(tmp_path / "m")
    assert 0 < cov["share_bytes"] < 1 and cov["torrents"] == len(res.chosen) - 1
    assert verify_root(tmp_path / "m").ok


def test_fetch_downloads_one_file_only(packed, seeder, tmp_path):
    rel = _release(packed)
    lines = read_manifest(rel / "manifest.jsonl.zst")
    counts: dict[str, int] = {}
    for x in lines:
        counts[x.torrent] = counts.get(x.torrent, 0) + 1
    line = next(x for x in lines if counts[x.torrent] > 1)
    into = tmp_path / "f"
    res = fetch(line.id, into, source=str(packed), peers=_peer(seeder), timeout=TIMEOUT, stall=60)
    assert res.ok and res.sha256 == line.sha256, res.outcome.errors
    data = into / "releases" / rel.name / "data" / line.torrent
    others = [x for x in lines if x.torrent == line.torrent and x.id != line.id]
    assert not any((data / x.path).exists() for x in others)
    assert res.outcome.downloaded < line.size + 2 * 16384 * 16
    assert verify_root(into).ok
    # the file is named for people in the folder, and is the verified one
    assert line.title and line.artists and res.path.parent == into.resolve()
    assert res.path.name == f"{line.artists} - {line.title}.{line.path.rsplit('.', 1)[1]}"
    assert ops.sha256_of(res.path) == line.sha256
    if line.isrc:
        r = run_cli("fetch", f"isrc:{line.isrc}", "--into", str(into), "--peer", f"127.0.0.1:{seeder.port}", "--json")
        assert r.exit_code == 0, r.stderr


def test_interrupted_download_resumes_without_refetching(packed, tmp_path):
    into = tmp_path / "m"
    with Seeder(seed_items(packed), upload_rate=400_000) as slow:
        assert slow.wait_ready(TIMEOUT)
        first = mirror(str(packed), into, peers=_peer(slow), timeout=2.0, stall=60)
    assert not first.complete and first.outcome.interrupted
    got = first.outcome.downloaded
    total = sum(r["data_size"] for r in first.chosen)
    assert 0 < got < total
    assert list((into / ".mirror" / "resume").glob("*.resume"))
    with Seeder(seed_items(packed)) as fast:
        assert fast.wait_ready(TIMEOUT)
        second = mirror(str(packed), into, peers=_peer(fast), timeout=TIMEOUT, stall=60)
    assert second.complete, second.outcome.errors
    had = sum(j.had for j in second.outcome.jobs)
    slack = sum(2 * j.ti.piece_length() for j in second.outcome.jobs)  # partial pieces, end-game duplicates
    assert had > 0 and second.outcome.downloaded < total
    assert second.outcome.downloaded <= total - had + slack
    assert verify_root(into).ok


def test_verify_finds_flipped_bytes_exactly_and_repair_heals(packed, seeder, tmp_path):
    into = tmp_path / "m"
    assert mirror(str(packed), into, peers=_peer(seeder), timeout=TIMEOUT, stall=60).complete
    rel = _release(into)
    lines = read_manifest(rel / "manifest.jsonl.zst")
    victims = lines[:3]
    for x in victims[:2]:
        p = rel / "data" / x.torrent / x.path
        b = bytearray(p.read_bytes())
        b[len(b) // 2] ^= 0xFF
        p.write_bytes(bytes(b))
    (rel / "data" / victims[2].torrent / victims[2].path).unlink()
    (rel / "data" / victims[0].torrent / "stray.bin").write_bytes(b"x")
    report = verify_root(into)
    assert {(p.track, p.kind) for p in report.problems if p.kind != "extra"} == {
        (victims[0].ref, "corrupt"),
        (victims[1].ref, "corrupt"),
        (victims[2].ref, "missing"),
    }
    assert [p.path for p in report.of("extra")] == [f"{victims[0].torrent}/stray.bin"]
    for p in report.of("corrupt"):
        assert len(p.pieces) == 1 and "sha256" in p.reason
    r = run_cli("verify", "--json", archive=into)
    assert r.exit_code == 1 and len(json.loads(r.stdout)["corrupt"]) == 2
    fixed = repair(into, _peer(seeder), timeout=TIMEOUT, stall=60)
    assert not fixed.after.of("missing") and not fixed.after.of("corrupt"), fixed.after.as_dict()
    assert fixed.downloaded <= victims[2].size + 2 * 4 * 1024 * 1024
    for x in victims:
        assert ops.sha256_of(rel / "data" / x.torrent / x.path) == x.sha256


def test_hostile_inputs_are_refused(packed, tmp_path):
    bad = tmp_path / "torrents.json"
    bad.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(FonotecaError, match="not a JSON list"):
        mirror(str(bad), tmp_path / "m1")
    recs = json.loads((packed / "releases" / "torrents.json").read_text())
    recs[0]["data_size"] = "big"
    bad.write_text(json.dumps(recs))
    with pytest.raises(FonotecaError, match="wrong type"):
        mirror(str(bad), tmp_path / "m1")
    recs = json.loads((packed / "releases" / "torrents.json").read_text())
    recs[0]["release"] = "../../etc"
    bad.write_text(json.dumps(recs))
    with pytest.raises(FonotecaError, match="safe name"):
        mirror(str(bad), tmp_path / "m1")
    # a torrent whose file path climbs out of its folder
    import hashlib

    from fonoteca.pack import bencode

    info = {
        "name": b"evil",
        "piece length": 16384,
        "pieces": hashlib.sha1(b"x").digest(),
        "files": [{"length": 1, "path": [b"..", b"..", b"escape.txt"]}],
    }
    with pytest.raises(FonotecaError, match="refused"):
        mt.load_torrent(bencode.encode({"info": info}))
    info = {
        "name": b"evil",
        "piece length": 1 << 30,
        "pieces": hashlib.sha1(b"x").digest(),
        "files": [{"length": 1, "path": [b"a"]}],
    }
    with pytest.raises(FonotecaError, match="refused"):
        mt.load_torrent(bencode.encode({"info": info}))
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()
    r = run_cli("mirror", str(bad), "--into", str(tmp_path / "m2"))
    assert r.exit_code == 1 and "refused" in r.stderr


def test_cli_seed_mirror_verify_repair_coverage(packed, tmp_path):
    """The commands as a volunteer runs them: a `fonoteca seed` child process, `mirror`, `coverage`, `verify`
    exiting 1 on damage, `verify --repair` healing it."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "seed", str(packed), "--listen", f"127.0.0.1:{port}", "--for", "120"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "seeding" in proc.stderr.readline()
        into = tmp_path / "m"
        peer = f"127.0.0.1:{port}"
        r = run_cli(
            "mirror",
            str(packed / "releases" / "torrents.json"),
            "--into",
            str(into),
            "--peer",
            peer,
            "--timeout",
            str(TIMEOUT),
            "--stall",
            "60",
            "--json",
        )
        assert r.exit_code == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["complete"]
        r = run_cli("coverage", str(into), "--json")
        assert r.exit_code == 0 and json.loads(r.stdout)["share_bytes"] == 1.0
        rel = _release(into)
        line = read_manifest(rel / "manifest.jsonl.zst")[-1]
        p = rel / "data" / line.torrent / line.path
        b = bytearray(p.read_bytes())
        b[0] ^= 1
        p.write_bytes(bytes(b))
        r = run_cli("verify", str(into))
        assert r.exit_code == 1 and "corrupt" in r.stdout and line.id in r.stdout
        r = run_cli("verify", str(into), "--repair", "--peer", peer, "--timeout", str(TIMEOUT), "--json")
        assert r.exit_code == 0, r.stdout + r.stderr
        out = json.loads(r.stdout)
        assert out["ok"] and len(out["repair"]["before"]["corrupt"]) == 1
        assert ops.sha256_of(p) == line.sha256
    finally:
        proc.terminate()
        proc.wait(30)


def test_mirror_from_the_metadata_magnet(packed, seeder, tmp_path):
    """SOURCE as the metadata torrent's magnet link: its payload (catalog, manifests, torrents.json) and then the
    data torrents' metainfo come from the peer, nothing from the source folder."""
    records = json.loads((packed / "releases" / "torrents.json").read_text())
    meta = next(r for r in records if r["is_metadata"])
    into = tmp_path / "m"
    res = mirror(meta["magnet_link"], into, peers=_peer(seeder), timeout=TIMEOUT, stall=60)
    assert res.complete, res.outcome.errors
    assert {r["name"] for r in res.chosen} == {r["name"] for r in records}
    assert (into / "catalog.sqlite3").is_file() and verify_root(into).ok
    assert coverage(into)["share_bytes"] == 1.0
