"""The whole withdrawal cycle on a really packed archive: withdraw -> the site answers 410 with a tombstone (real
HTTP), the JSON twins, lists and search hide the track -> a mirror (real libtorrent on 127.0.0.1) skips its file
through file priorities, verify reports it withdrawn and repair does not fetch it, the mirror's own site shows the
tombstone -> pack makes a replacement torrent and marks the earlier one partially_broken, which never changes ->
`ledger verify` catches an edited line -> reinstate brings the track back and the replacement becomes obsolete."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest

from fonoteca import archive as archive_mod
from fonoteca.mirror import Seeder, mirror, repair, seed_items, verify_root
from fonoteca.pack.manifest import read_manifest
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 8, (1.5, 2.5), ("flac", "mp3"), seed=97)
    root = archive_mod.init(tmp_path_factory.mktemp("src") / "archive", name="Withdrawal test").root
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write('\n[pack]\nbands = ["0-100"]\ntarget_size = 10000000\nmax_files = 4\n\n[subsonic]\nanonymous = true\n')
    for args in (
        ("import", "table", coll.catalog_csv, "--map", coll.mapping_toml),
        ("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original"),
        ("pack", "--name", "r1"),
    ):
        r = run_cli(*args, archive=root)
        assert r.exit_code == 0, r.stderr
    return root


def _site(root: Path):
    from fonoteca.web import ServerThread, Settings, create_app

    return ServerThread(create_app(Settings(archive=root, rate_limit=0)))


def _listed(root: Path) -> dict[str, dict]:
    return {t["name"]: t for t in json.loads((root / "releases" / "torrents.json").read_text())}


def _victim(root: Path):
    """A track in a torrent that holds others too, and that torrent's manifest lines."""
    lines = read_manifest(root / "releases" / "r1" / "manifest.jsonl.zst")
    by_torrent: dict[str, list] = {}
    for line in lines:
        by_torrent.setdefault(line.torrent, []).append(line)
    torrent = max(by_torrent, key=lambda t: len(by_torrent[t]))
    assert len(by_torrent[torrent]) >= 2
    return by_torrent[torrent][0], by_torrent[torrent]


def test_withdraw_mirror_pack_verify_reinstate(packed: Path, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    shutil.copytree(packed, root, symlinks=True)
    victim, neighbours = _victim(root)
    ref = victim.ref
    original = root / "releases" / "r1" / "torrents" / f"{victim.torrent}.torrent"
    original_bytes = original.read_bytes()
    with _site(root) as site:
        assert httpx.get(f"{site.url}/track/{victim.id}").status_code == 200
        assert victim.title in _subsonic_songs(site.url, victim.title)

    r = run_cli("withdraw", ref, "--reason", "takedown request 42", "--category", "court-order", archive=root)
    assert r.exit_code == 0 and r.stdout.strip() == ref, r.stderr

    # the site: a tombstone naming the category and the date; the JSON twin, the audio, lists and search hide it
    with _site(root) as site:
        page = httpx.get(f"{site.url}/track/{victim.id}")
        assert page.status_code == 410 and "court-order" in page.text and "takedown request 42" in page.text
        day = json.loads((root / "withdrawals.jsonl").read_text().splitlines()[0])["at"][:10]
        assert day in page.text
        twin = httpx.get(f"{site.url}/api/track/{victim.id}")
        assert twin.status_code == 410 and twin.json()["error"]["tombstone"]["category"] == "court-order"
        assert httpx.get(f"{site.url}/audio/{victim.id}").status_code == 410
        found = httpx.get(f"{site.url}/api/search", params={"q": victim.title}).json()
        assert victim.id not in json.dumps(found["results"])
        album = _album_of(root, victim.id)
        listed = httpx.get(f"{site.url}/api/album/{album}").json()["tracks"]
        assert victim.id not in [t["id"] for t in listed]
        assert httpx.get(f"{site.url}/withdrawals.jsonl").text == (root / "withdrawals.jsonl").read_text()
        assert victim.title not in _subsonic_songs(site.url, victim.title)  # the Subsonic API hides it too
    # torrents.json says at once which torrent holds it; nothing replaces it yet
    marks = _listed(root)[victim.torrent]
    assert marks["partially_broken"] and marks["withdrawn_files"] == 1 and marks["replaced_by"] is None

    # a mirror honours the ledger: the file is never fetched, verify says withdrawn (not missing)
    into = tmp_path / "mirror"
    with Seeder(seed_items(root), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(TIMEOUT), seeder.errors
        peers = [("127.0.0.1", seeder.port)]
        res = mirror(str(root), into, peers=peers, timeout=TIMEOUT, stall=60)
        assert res.complete, res.outcome.errors
        assert (
            res.withdrawn_files == 1
            and (into / "withdrawals.jsonl").read_bytes() == (root / "withdrawals.jsonl").read_bytes()
        )
        data = into / "releases" / "r1" / "data" / victim.torrent
        assert not (data / victim.path).is_file()
        assert all((data / n.path).is_file() for n in neighbours if n is not victim)
        report = verify_root(into)
        assert report.ok and not report.of("missing"), report.as_dict()
        assert [p.track for p in report.withdrawn] == [ref] and "court-order" in report.withdrawn[0].reason
        cli = run_cli("verify", "--json", archive=into)
        assert cli.exit_code == 0 and json.loads(cli.stdout)["withdrawn"][0]["track"] == ref
        # repair fixes a damaged neighbour and still leaves the withdrawn file alone
        neighbour = next(n for n in neighbours if n is not victim)
        (data / neighbour.path).write_bytes(b"\0" * neighbour.size)
        fixed = repair(into, peers, timeout=TIMEOUT)
        assert fixed.after.ok and not (data / victim.path).is_file(), fixed.after.as_dict()
    # the mirror's own site shows the same tombstone
    with _site(into) as mirror_site:
        assert httpx.get(f"{mirror_site.url}/track/{victim.id}").status_code == 410

    # the next pack: a replacement torrent without the track; the earlier torrent is never changed
    r = run_cli("pack", "--name", "r2", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    (replacement,) = summary["replacements"]
    assert replacement["replaces"] == victim.torrent and replacement["left_out"] == 1
    assert original.read_bytes() == original_bytes
    listed = _listed(root)
    assert (
        listed[victim.torrent]["partially_broken"] and listed[victim.torrent]["replaced_by"] == replacement["torrent"]
    )
    new = listed[replacement["torrent"]]
    assert new["replaces"] == victim.torrent and not new["partially_broken"] and not new["obsolete"]
    assert new["num_files"] == len(neighbours) - 1
    lines = read_manifest(root / "releases" / "r2" / "manifest.jsonl.zst")
    assert {x.id for x in lines} == {n.id for n in neighbours} - {victim.id}
    assert all(x.licence == "CC0-1.0" for x in lines)  # the licence column of the manifest
    meta = next(p for p in (root / "releases" / "r2" / "data").iterdir() if "__metadata__" in p.name)
    assert (meta / "withdrawals.jsonl").read_bytes() == (root / "withdrawals.jsonl").read_bytes()
    torrents = json.loads(run_cli("torrents", "list", "--json", archive=root).stdout)
    assert {t["name"] for t in torrents if t["partially_broken"]} == {victim.torrent}
    # a second pack finds nothing new to replace
    again = json.loads(run_cli("pack", "--json", archive=root).stdout)
    assert again["release"] is None and again["replacements"] == []

    # an edited line is caught: by the chain (the next line holds its sha256), and, for the last line, by the copy
    # the metadata torrent of r2 published
    ledger_file = root / "withdrawals.jsonl"
    intact = ledger_file.read_bytes()
    ledger_file.write_bytes(intact.replace(b"request 42", b"request 43"))
    r = run_cli("ledger", "verify", "--json", archive=root)
    assert r.exit_code == 1 and json.loads(r.stdout)["problems"][0]["line"] == 1
    assert "published in release r2" in r.stdout
    ledger_file.write_bytes(intact)
    assert run_cli("withdraw", ref, "--reason", "second notice", archive=root).exit_code == 0
    grown = ledger_file.read_bytes()
    ledger_file.write_bytes(grown.replace(b"request 42", b"request 43"))
    r = run_cli("ledger", "verify", "--json", archive=root)
    assert r.exit_code == 1 and [p["line"] for p in json.loads(r.stdout)["problems"]][:1] == [1]
    ledger_file.write_bytes(grown)
    assert run_cli("ledger", "verify", archive=root).exit_code == 0

    # reinstate: served again; the earlier torrent is whole again and its replacement obsolete
    r = run_cli("reinstate", ref, "--reason", "order lifted", archive=root)
    assert r.exit_code == 0, r.stderr
    with _site(root) as site:
        assert httpx.get(f"{site.url}/track/{victim.id}").status_code == 200
        assert victim.title in _subsonic_songs(site.url, victim.title)
        assert httpx.get(f"{site.url}/audio/{victim.id}").status_code == 200
    listed = _listed(root)
    assert not listed[victim.torrent]["partially_broken"] and listed[replacement["torrent"]]["obsolete"]
    history = json.loads(run_cli("ledger", "list", "--all", "--json", archive=root).stdout)
    assert [e["action"] for e in history] == ["withdraw", "withdraw", "reinstate"]  # history is never rewritten


def _subsonic_songs(url: str, query: str) -> list[str]:
    """Titles of the songs the Subsonic API's search3 finds (an anonymous client)."""
    r = httpx.get(f"{url}/rest/search3", params={"query": query, "f": "json", "v": "1.16.1", "c": "tests"})
    assert r.status_code == 200, r.text
    found = r.json()["subsonic-response"]
    assert found["status"] == "ok", found
    return [song["title"] for song in found.get("searchResult3", {}).get("song", [])]


def _album_of(root: Path, track_id: str) -> str:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(
            "SELECT a.id FROM tracks t JOIN albums a ON a.rowid = t.album WHERE t.id = ?", (track_id,)
        ).fetchone()[0]
    finally:
        conn.close()
