"""fonoteca pack / torrents on archives with really ingested files: grouping and cutting, determinism, incremental
releases, every torrent accepted by libtorrent (a loopback-free recheck too) and by torf, manifests that match
the bytes (offsets, sha256, `sha256sum -c`), the metadata torrent, crash recovery, hostile ids and symlinks,
and the CLI contracts."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import libtorrent as lt
import pytest
import torf
import zstandard

from fonoteca import archive as archive_mod
from fonoteca.pack import PackSettings, bencode
from fonoteca.pack import pack as pack_archive
from fonoteca.pack import release as release_mod
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TORRENTS_JSON_FIELDS = {
    "url",
    "group_name",
    "display_name",
    "btih",
    "magnet_link",
    "torrent_size",
    "num_files",
    "data_size",
    "added_to_torrents_list_at",
    "is_metadata",
    "obsolete",
    "embargo",
    "seeders",
    "leechers",
    "completed",
    "stats_scraped_at",
    "band",
    "tracks",
    "listens_covered",
}
SMALL = {"target_size": 150_000, "max_files": 3}
FIRST = 16  # tracks ingested before the first pack in the incremental test


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> synth.Collection:
    return synth.make_collection(
        tmp_path_factory.mktemp("music"), 24, (0.8, 2.5), ("flac", "opus", "mp3", "ogg"), seed=61
    )


def _ingest(root: Path, *sources: Path) -> None:
    result = run_cli("ingest", *map(str, sources), "--tier", "original", "--json", archive=root)
    assert result.exit_code == 0, result.stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory, collection) -> Path:
    """An archive with the first FIRST tracks of the collection ingested (original tier), not packed yet."""
    root = archive_mod.init(tmp_path_factory.mktemp("tpl") / "archive", name="Pack test").root
    result = run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=root)
    assert result.exit_code == 0, result.stderr
    _ingest(root, *[t.path for t in collection.tracks[:FIRST]])
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write(
            "\n[pack]\ntarget_size = 150000\nmax_files = 3\n"
            'trackers = ["udp://127.0.0.1:6969/announce"]\n'
            'web_seeds = ["http://127.0.0.1:8000/releases/{release}/data/"]\n'
        )
    return root


@pytest.fixture
def arch(tmp_path, template) -> archive_mod.Archive:
    root = tmp_path / "archive"
    shutil.copytree(template, root)
    return archive_mod.open_archive(root)


def _rows(root: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _manifest(path: Path) -> list[dict]:
    data = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 30)
    return [json.loads(line) for line in data.splitlines()]


def _data_torrents(rel: Path) -> list[Path]:
    return sorted(p for p in (rel / "torrents").glob("*.torrent") if "__metadata__" not in p.name)


# ------------------------------------------------------------------------------------------------ tests


def test_pack_groups_by_band_sorts_and_cuts(arch):
    s = pack_archive(arch)
    assert s.release == "pack-test-0001" and s.files == FIRST
    rows = _rows(
        arch.root,
        "SELECT t.id, coalesce(t.popularity, 0), f.size, f.rowid FROM files f JOIN tracks t ON t.rowid = f.track",
    )
    by_file = {r[3]: r for r in rows}
    settings = PackSettings.from_config(arch.config)
    seen = []
    for band in settings.bands:
        torrents = _rows(
            arch.root, "SELECT rowid, seq, num_files, data_size FROM torrents WHERE band = ? ORDER BY seq", (band.name,)
        )
        assert [t[1] for t in torrents] == list(range(1, len(torrents) + 1))
        band_files = []
        for i, (tid, _, n, size) in enumerate(torrents):
            files = [
                by_file[f] for (f,) in _rows(arch.root, "SELECT file FROM torrent_files WHERE torrent = ?", (tid,))
            ]
            assert len(files) == n <= SMALL["max_files"]
            assert sum(f[2] for f in files) == size
            assert size <= SMALL["target_size"] or n == 1
            assert all(f[1] in band for f in files)
            ordered = sorted(files, key=lambda f: (-f[1], f[0]))
            if i + 1 < len(torrents):  # a torrent is cut only when the next file would not fit
                nxt = _rows(
                    arch.root,
                    "SELECT f.size FROM torrent_files tf JOIN files f ON f.rowid = tf.file "
                    "JOIN tracks t ON t.rowid = f.track WHERE tf.torrent = ? "
                    "ORDER BY coalesce(t.popularity, 0) DESC, t.id LIMIT 1",
                    (torrents[i + 1][0],),
                )
                assert n == SMALL["max_files"] or size + nxt[0][0] > SMALL["target_size"]
            band_files += ordered
        # the band, torrent after torrent, is in popularity-then-id order
        assert band_files == sorted(band_files, key=lambda f: (-f[1], f[0]))
        seen += band_files
    assert sorted(f[3] for f in seen) == sorted(by_file)  # every file exactly once
    assert s.bands and sum(b["files"] for b in s.bands.values()) == FIRST
    names = [t.name for t in s.torrents]
    assert all(n.startswith("pack-test__pop_") for n in names) and len(set(names)) == len(names)


def test_every_torrent_loads_in_libtorrent_and_torf_and_matches_the_manifest(arch, tmp_path):
    s = pack_archive(arch)
    rel = arch.root / "releases" / s.release
    manifest = _manifest(rel / "manifest.jsonl.zst")
    assert len(manifest) == FIRST and set(manifest[0]) == set(release_mod.MANIFEST_FIELDS)
    by_torrent: dict[str, list[dict]] = {}
    for line in manifest:
        by_torrent.setdefault(line["torrent"], []).append(line)
    db = {r[0]: r[1:] for r in _rows(arch.root, "SELECT name, btih, btmh, num_files, data_size FROM torrents")}
    paths = sorted((rel / "torrents").glob("*.torrent"))
    assert len(paths) == len(s.torrents) + 1
    for path in paths:
        name = path.name.removesuffix(".torrent")
        ti = lt.torrent_info(str(path))
        assert str(ti.info_hashes().v1) == db[name][0] and ti.info_hashes().v2.to_bytes().hex() == db[name][1]
        assert ti.name() == name and ti.piece_length() >= 16384
        t = torf.Torrent.read(str(path))  # an independent reader of the v1 part
        assert t.infohash == db[name][0] and t.name == name
        assert [str(u) for u in t.webseeds] == [f"http://127.0.0.1:8000/releases/{s.release}/data/"]
        assert t.trackers == [["udp://127.0.0.1:6969/announce"]]
        real = [f for f in t.files if "/.pad/" not in str(f)]
        assert len(real) == db[name][2] and sum(f.size for f in real) == db[name][3]
        meta = bencode.decode(path.read_bytes())
        assert meta[b"info"][b"meta version"] == 2 and b"creation date" not in meta
        if "__metadata__" in name:
            continue
        fs = ti.layout()
        for line in by_torrent[name]:
            i = line["file_index"]
            assert fs.file_path(i) == f"{name}/{line['path']}"
            assert fs.file_offset(i) == line["offset"] and fs.file_size(i) == line["size"]
            data = (rel / "data" / name / line["path"]).read_bytes()
            assert len(data) == line["size"] and hashlib.sha256(data).hexdigest() == line["sha256"]
        _check_v1_pieces(rel / "data" / name, meta, by_torrent[name])
    # a person's tools: sha256sum -c on the exported manifest
    out = subprocess.run(
        ["sha256sum", "--check", "--strict", "manifest-sha256.txt"], cwd=rel, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": OK") == FIRST + 3  # the data files, and the metadata torrent's three (a BagIt bag)
    # payload: hard links to files/, no copies
    for line in manifest:
        stored = _rows(
            arch.root, "SELECT f.path FROM files f JOIN tracks t ON t.rowid = f.track WHERE t.id = ?", (line["id"],)
        )[0][0]
        assert os.path.samefile(rel / "data" / line["torrent"] / line["path"], arch.root / stored)


def _check_v1_pieces(folder: Path, meta: dict, lines: list[dict]) -> None:
    """Rebuild the torrent's v1 byte stream from the manifest's offsets alone and check every SHA-1 piece."""
    info = meta[b"info"]
    piece = info[b"piece length"]
    total = sum(f[b"length"] for f in info[b"files"])
    stream = bytearray(total)
    for line in lines:
        stream[line["offset"] : line["offset"] + line["size"]] = (folder / line["path"]).read_bytes()
    pieces = info[b"pieces"]
    assert len(pieces) == 20 * (total // piece)
    for k in range(total // piece):
        assert hashlib.sha1(stream[k * piece : (k + 1) * piece]).digest() == pieces[20 * k : 20 * k + 20]


def _check_with_libtorrent(torrents: list[Path], save_path: Path) -> list:
    """Add torrents to a libtorrent session (loopback only, no DHT/LSD/UPnP/NAT-PMP, upload mode) over existing
    data: libtorrent hashes every piece (v1 and v2) before it seeds; returns the final statuses."""
    session = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "alert_mask": 0,
        }
    )
    handles = []
    for path in torrents:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(str(path))
        params.save_path = str(save_path)
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        params.flags |= lt.torrent_flags.upload_mode
        handles.append(session.add_torrent(params))
    deadline = time.time() + 60
    while time.time() < deadline and not all(
        h.status().state in (lt.torrent_status.seeding, lt.torrent_status.finished, lt.torrent_status.downloading)
        for h in handles
    ):
        time.sleep(0.05)
    return [h.status() for h in handles]


def test_libtorrent_checks_every_torrent_complete(arch, tmp_path):
    s = pack_archive(arch)
    rel = arch.root / "releases" / s.release
    torrents = sorted((rel / "torrents").glob("*.torrent"))
    for st in _check_with_libtorrent(torrents, rel / "data"):
        assert st.state == lt.torrent_status.seeding and st.progress == 1.0 and all(st.pieces), st.name
    # control: the same check over a copy with one flipped byte does not pass
    victim = _data_torrents(rel)[0]
    name = victim.name.removesuffix(".torrent")
    shutil.copytree(rel / "data" / name, tmp_path / "copy" / name)
    one = next(p for p in (tmp_path / "copy" / name).rglob("*") if p.is_file())
    data = bytearray(one.read_bytes())
    data[len(data) // 3] ^= 1
    one.write_bytes(bytes(data))
    (st,) = _check_with_libtorrent([victim], tmp_path / "copy")
    assert st.progress < 1.0 and not all(st.pieces)


def test_same_files_and_config_give_the_same_info_hashes(template, tmp_path):
    roots = []
    for n, workers in ((1, 1), (2, 2)):
        root = tmp_path / f"machine{n}" / "elsewhere"
        shutil.copytree(template, root)
        roots.append((root, pack_archive(archive_mod.open_archive(root), workers=workers)))
    (a_root, a), (b_root, b) = roots
    assert [(t.name, t.btih, t.btmh) for t in a.torrents] == [(t.name, t.btih, t.btmh) for t in b.torrents]
    for t in a.torrents:  # the .torrent files are byte-identical too
        assert (a_root / t.torrent_file).read_bytes() == (b_root / t.torrent_file).read_bytes()


def test_incremental_pack_adds_torrents_and_keeps_earlier_info_hashes(arch, collection):
    first = pack_archive(arch)
    rel1 = arch.root / "releases" / first.release
    before = {p.name: p.read_bytes() for p in (rel1 / "torrents").iterdir()}
    rows_before = _rows(arch.root, "SELECT rowid, name, btih, btmh, seq FROM torrents ORDER BY rowid")
    files_before = _rows(arch.root, "SELECT * FROM torrent_files ORDER BY torrent, idx")
    again = pack_archive(arch)
    assert again.release is None and not again.torrents  # nothing new: no release
    _ingest(arch.root, *[t.path for t in collection.tracks[FIRST:]])
    second = pack_archive(arch, name="second")
    new_files = len(collection.tracks) - FIRST
    assert second.release == "second" and second.files == new_files
    assert {p.name: p.read_bytes() for p in (rel1 / "torrents").iterdir()} == before
    assert (
        _rows(arch.root, "SELECT rowid, name, btih, btmh, seq FROM torrents ORDER BY rowid")[: len(rows_before)]
        == rows_before
    )
    assert (
        _rows(arch.root, "SELECT * FROM torrent_files WHERE torrent <= ? ORDER BY torrent, idx", (rows_before[-1][0],))
        == files_before
    )
    old = {r[2] for r in rows_before}
    assert not {t.btih for t in second.torrents} & old
    # sequence numbers continue per band
    for band in {t.band for t in second.torrents}:
        seqs = [r[0] for r in _rows(arch.root, "SELECT seq FROM torrents WHERE band = ? ORDER BY rowid", (band,))]
        assert seqs == list(range(1, len(seqs) + 1))
    # every stored file is in exactly one release
    assert (
        _rows(arch.root, "SELECT count(*), count(DISTINCT file) FROM torrent_files WHERE file IS NOT NULL")[0]
        == (len(collection.tracks),) * 2
    )
    # the second metadata torrent carries both manifests, the catalog and the full list
    meta = arch.root / "releases" / "second" / "data" / "pack-test__metadata__second"
    assert sorted(p.name for p in meta.iterdir()) == [
        "catalog.sqlite3.zst",
        "manifest-pack-test-0001.jsonl.zst",
        "manifest-second.jsonl.zst",
        "torrents.json",
    ]
    listed = json.loads((meta / "torrents.json").read_text())
    assert len(listed) == len(rows_before) + len(second.torrents)
    current = json.loads((arch.root / "releases" / "torrents.json").read_text())
    assert len(current) == len(listed) + 1
    own = json.loads((arch.root / "releases" / "second" / "torrents.json").read_text())
    assert {r["release"] for r in own} == {"second"} and len(own) == len(second.torrents) + 1


def test_metadata_torrent_rebuilds_the_catalog(arch, tmp_path):
    s = pack_archive(arch)
    meta = arch.root / "releases" / s.release / "data" / s.metadata.name
    db = tmp_path / "catalog.sqlite3"
    db.write_bytes(
        zstandard.ZstdDecompressor().decompress((meta / "catalog.sqlite3.zst").read_bytes(), max_output_size=1 << 30)
    )
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM tracks").fetchone()[0] == 24
        assert conn.execute("SELECT status FROM releases").fetchall() == [("done",)]
        assert conn.execute("SELECT count(*) FROM torrents WHERE kind = 'data'").fetchone()[0] == len(s.torrents)
        assert conn.execute("SELECT count(*) FROM torrent_files").fetchone()[0] == FIRST
        assert conn.execute("SELECT count(*) FROM files WHERE source_path != ''").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM ingest_sources").fetchone()[0] == 0
    finally:
        conn.close()
    assert str(tmp_path.parent) not in db.read_bytes().decode("latin-1")  # no local paths of the operator
    listed = json.loads((meta / "torrents.json").read_text())
    assert {r["btih"] for r in listed} == {t.btih for t in s.torrents}
    assert _manifest(meta / f"manifest-{s.release}.jsonl.zst") == _manifest(
        arch.root / "releases" / s.release / "manifest.jsonl.zst"
    )


def test_cli_pack_list_pick_mark(arch):
    out = run_cli("pack", "--name", "first", "--json", archive=arch.root)
    assert out.exit_code == 0, out.stderr
    s = json.loads(out.stdout)
    assert s["release"] == "first" and s["files"] == FIRST and s["metadata"]["kind"] == "metadata"
    assert sum(b["files"] for b in s["bands"].values()) == FIRST
    assert all(len(t["btih"]) == 40 and len(t["btmh"]) == 64 for t in s["torrents"])
    listed = json.loads(run_cli("torrents", "list", "--json", archive=arch.root).stdout)
    assert len(listed) == len(s["torrents"]) + 1
    for r in listed:
        assert TORRENTS_JSON_FIELDS <= set(r)
        assert r["magnet_link"].startswith(f"magnet:?xt=urn:btih:{r['btih']}&xt=urn:btmh:1220")
        assert r["url"] == f"releases/first/torrents/{r['display_name']}" and (arch.root / r["url"]).is_file()
        assert r["torrent_size"] == (arch.root / r["url"]).stat().st_size
        assert r["is_metadata"] == (r["group_name"] == "metadata")
        assert r["seeders"] == 0 and r["stats_scraped_at"] is None and r["obsolete"] is False
    on_disk = json.loads((arch.root / "releases" / "first" / "torrents.json").read_text())
    assert [r["btih"] for r in on_disk] == [r["btih"] for r in listed]
    # the seeding list for a small disk
    budget = sum(r["data_size"] for r in listed) // 2
    picked = json.loads(run_cli("torrents", "pick", "--budget", f"{budget}B", "--json", archive=arch.root).stdout)
    assert picked["picks"][0]["is_metadata"] and picked["bytes"] <= budget
    assert 1 < picked["torrents"] < len(listed)
    victim = picked["picks"][1]["name"]
    assert run_cli("torrents", "mark", victim, "--embargo", archive=arch.root).exit_code == 0
    picked2 = json.loads(run_cli("torrents", "pick", "--budget", f"{budget}B", "--json", archive=arch.root).stdout)
    assert victim not in [p["name"] for p in picked2["picks"]]
    flagged = [
        r for r in json.loads((arch.root / "releases" / "first" / "torrents.json").read_text()) if r["name"] == victim
    ]
    assert flagged[0]["embargo"] is True
    magnets = run_cli("torrents", "pick", "--budget", "1TB", "--magnets", archive=arch.root).stdout.splitlines()
    assert len(magnets) == len(listed) - 1 and all(m.startswith("magnet:?") for m in magnets)
    # errors a user makes
    assert run_cli("torrents", "pick", "--budget", "lots", archive=arch.root).exit_code == 2
    assert run_cli("pack", "--name", "../evil", archive=arch.root).exit_code == 2
    assert run_cli("torrents", "mark", "nope", "--obsolete", archive=arch.root).exit_code == 1
    assert run_cli("torrents", "list", "--release", "nope", archive=arch.root).exit_code == 1
    nothing = run_cli("pack", archive=arch.root)
    assert nothing.exit_code == 0 and "nothing to release" in nothing.stderr


def test_rotten_file_stops_the_pack_and_leaves_nothing(arch):
    rel, size = _rows(arch.root, "SELECT path, size FROM files ORDER BY rowid LIMIT 1")[0]
    target = arch.root / rel
    data = bytearray(target.read_bytes())
    data[size // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    result = run_cli("pack", archive=arch.root)
    assert result.exit_code == 1 and "does not match" in result.stderr
    assert _rows(arch.root, "SELECT count(*) FROM releases")[0][0] == 0
    assert [p.name for p in (arch.root / "releases").iterdir() if not p.name.startswith(".pack")] == []
    # the operator decides to publish the bytes as they are now
    assert run_cli("pack", "--no-verify", archive=arch.root).exit_code == 0


def test_a_crashed_pack_is_cleaned_up_and_redone_identically(arch, monkeypatch):
    reference = None
    real = release_mod._metadata_torrent

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(release_mod, "_metadata_torrent", boom)
    with pytest.raises(KeyboardInterrupt):
        pack_archive(arch)
    assert _rows(arch.root, "SELECT count(*) FROM releases")[0][0] == 0
    assert _rows(arch.root, "SELECT count(*) FROM torrents")[0][0] == 0
    assert not [p for p in (arch.root / "releases").iterdir() if p.is_dir()]
    monkeypatch.setattr(release_mod, "_metadata_torrent", real)
    # a kill -9 between the catalog rows and the rename leaves a 'building' release: the next pack removes it
    conn = sqlite3.connect(arch.root / "catalog.sqlite3")
    conn.execute(
        "INSERT INTO releases (name, created_at, status, settings, files, bytes, torrents) "
        "VALUES ('pack-test-0001', 'x', 'building', '{}', 0, 0, 0)"
    )
    conn.commit()
    conn.close()
    (arch.root / "releases" / ".pack-test-0001.building" / "data").mkdir(parents=True)
    s = pack_archive(arch)
    assert s.release == "pack-test-0001" and set(s.recovered) == {"pack-test-0001", ".pack-test-0001.building"}
    reference = [(t.name, t.btih) for t in s.torrents]
    assert reference and _rows(arch.root, "SELECT status FROM releases") == [("done",)]


# ------------------------------------------------------------------------------------------------ hostile catalog


def _fake_archive(root: Path, tracks: list[tuple[str, int, bytes, str]]) -> archive_mod.Archive:
    """An archive whose catalog says these files were ingested: (track id, popularity, bytes, stored path)."""
    arch = archive_mod.init(root, name="Hostile")
    with open(arch.root / "fonoteca.toml", "a", encoding="utf-8") as f:  # these tracks have no licence on record
        f.write('\n[release]\nlicences = ["redistributable", "unknown"]\n')
    arch = archive_mod.open_archive(arch.root)
    conn = arch.connect()
    try:
        for i, (tid, pop, data, rel) in enumerate(tracks, 1):
            conn.execute(
                "INSERT INTO tracks (rowid, ns, id, popularity, level, fetched_at) VALUES (?, 3, ?, ?, 1, 0)",
                (i, tid, pop),
            )
            if data is not None:
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            conn.execute(
                "INSERT INTO files (track, tier, path, size, sha256, source_sha256, source_size, "
                "source_path, container, codec, duration_ms, matched_by, ingested_at) VALUES "
                "(?, 2, ?, ?, ?, ?, ?, '/src', 'flac', 'flac', 1000, 'map', 'now')",
                (i, rel, len(data or b""), hashlib.sha256(data or b"").hexdigest(), f"{i}", 1),
            )
    finally:
        conn.close()
    return arch


def test_hostile_ids_and_symlinks_never_become_unsafe_paths(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"do not publish")
    hostile = [
        "../../etc/passwd",
        "/abs/path",
        "CON",
        "a\x00b",
        "\x1b]0;pwned\x07",
        "x" * 400,
        "dots...",
        "e\u0301t\u00e9",
        "\u202eflac.exe",
        "same",
        "SAME",
        "nul.flac",
    ]
    tracks = [
        (tid, 50, f"audio {i}".encode() * 50, f"files/original/{i:02x}/f{i}.flac") for i, tid in enumerate(hostile)
    ]
    tracks += [
        ("via-link", 50, None, "files/original/aa/link.flac"),
        ("via-dir-link", 50, None, "files/original/out/x.flac"),
        ("escape", 50, None, "files/../secret.txt"),
        ("missing", 50, None, "files/original/bb/missing.flac"),
    ]
    arch = _fake_archive(tmp_path / "archive", tracks)
    (arch.root / "files/original/aa").mkdir(parents=True)
    (arch.root / "files/original/aa/link.flac").symlink_to(outside)
    (arch.root / "files/original/out").symlink_to(tmp_path, target_is_directory=True)
    shutil.copy(outside, tmp_path / "x.flac")
    # a second file (other tier) of the same track: same folder, same name: told apart by a suffix
    second = arch.root / "files/compact/zz/same.flac"
    second.parent.mkdir(parents=True)
    second.write_bytes(b"compact bytes" * 40)
    conn = sqlite3.connect(arch.root / "catalog.sqlite3")
    conn.execute(
        "INSERT INTO files (track, tier, path, size, sha256, source_sha256, source_size, source_path, container, "
        "codec, duration_ms, matched_by, ingested_at) SELECT rowid, 1, 'files/compact/zz/same.flac', ?, ?, 'z', 1,"
        " '/src', 'ogg', 'opus', 1000, 'map', 'now' FROM tracks WHERE id = 'same'",
        (second.stat().st_size, hashlib.sha256(second.read_bytes()).hexdigest()),
    )
    conn.commit()
    conn.close()
    s = pack_archive(arch, settings=PackSettings(target_size=10**9, max_files=100))
    skipped = {x["track"]: x["reason"] for x in s.skipped}
    assert set(skipped) == {"via-link", "via-dir-link", "escape", "missing"}
    assert "symbolic link" in skipped["via-link"] and "outside" in skipped["via-dir-link"]
    assert s.files == len(hostile) + 1
    rel = Path(s.root)
    for line in _manifest(rel / "manifest.jsonl.zst"):
        folder, name = line["path"].split("/")
        assert len(folder) == 2 and name.endswith(".flac") and "\x00" not in name
        assert not name.startswith(".") and len(name.encode()) <= 130
        on_disk = rel / "data" / line["torrent"] / line["path"]
        assert on_disk.resolve().is_relative_to(rel.resolve()) or on_disk.resolve().is_relative_to(arch.root / "files")
    # case-insensitive duplicates are told apart (libtorrent would rename them on load otherwise)
    lines = _manifest(rel / "manifest.jsonl.zst")
    full = [(m["torrent"], m["path"].casefold()) for m in lines]
    assert len(full) == len(set(full))
    same = sorted(m["path"].split("/")[1] for m in lines if m["id"] == "same")
    assert same == ["same.flac", "same~2.flac"]
    for path in (rel / "torrents").glob("*.torrent"):
        ti = lt.torrent_info(str(path))
        fs = ti.layout()
        lines = [m for m in _manifest(rel / "manifest.jsonl.zst") if m["torrent"] == ti.name()]
        for m in lines:  # libtorrent keeps every name as written: nothing for it to sanitise or rename
            assert fs.file_path(m["file_index"]) == f"{ti.name()}/{m['path']}"
    assert b"do not publish" not in b"".join(p.read_bytes() for p in rel.rglob("*") if p.is_file())
    assert not (tmp_path / "etc").exists()


def test_releases_folder_symlinked_out_is_refused(tmp_path):
    arch = _fake_archive(tmp_path / "archive", [("a", 10, b"x" * 100, "files/original/00/a.flac")])
    shutil.rmtree(arch.root / "releases")
    (tmp_path / "elsewhere").mkdir()
    (arch.root / "releases").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = run_cli("pack", archive=arch.root)
    assert result.exit_code == 1 and "symbolic link" in result.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_torrent_files_stay_below_the_size_clients_accept(tmp_path):
    """libtorrent refuses .torrent files over 10 MB by default: cuts and piece sizes keep them under the limit."""
    tracks = [
        (f"t{i:04d}{'q' * 20}", 60, bytes([i % 251]) * (200_000 + i), f"files/original/{i % 256:02x}/t{i}.opus")
        for i in range(300)
    ]
    arch = _fake_archive(tmp_path / "archive", tracks)
    limit = 64 * 1024
    s = pack_archive(
        arch, settings=PackSettings(target_size=10**12, max_files=10**6, max_torrent_file_size=limit, verify=False)
    )
    assert s.files == 300 and len(s.torrents) > 1
    for t in s.torrents:
        data = (arch.root / t.torrent_file).read_bytes()
        assert len(data) <= limit
        lt.torrent_info(str(arch.root / t.torrent_file))
    pieces = {t.piece_length for t in s.torrents}
    assert max(pieces) > 16384  # pieces grew so that the hashes fit too
