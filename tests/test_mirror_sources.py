"""`fonoteca mirror SOURCE` from what volunteers actually have: a torrents.json downloaded alone (metainfo then comes
from the peers by magnet link), the generator's magnet lines, a single magnet link, and lists with bad entries.
A real libtorrent seeder on 127.0.0.1; the mirror through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fonoteca.mirror import Seeder, seed_items, verify_root
from tests.conftest import run_cli

TIMEOUT = "90"


@pytest.fixture(scope="module")
def seeder(packed_archive: Path):
    with Seeder(seed_items(packed_archive), listen="127.0.0.1:0") as s:
        assert s.wait_ready(60), s.errors
        yield s


def _mirror(source: str | Path, into: Path, seeder: Seeder, *extra: str):
    return run_cli(
        "mirror",
        str(source),
        "--into",
        into,
        "--peer",
        f"127.0.0.1:{seeder.port}",
        "--timeout",
        TIMEOUT,
        "--stall",
        "60",
        "--json",
        *extra,
    )


def _records(root: Path) -> list[dict]:
    return json.loads((root / "releases" / "torrents.json").read_text())


def test_a_torrents_json_downloaded_alone(packed_archive, seeder, tmp_path):
    alone = tmp_path / "downloads" / "torrents.json"
    alone.parent.mkdir()
    shutil.copy(packed_archive / "releases" / "torrents.json", alone)  # no .torrent file anywhere near it
    result = _mirror(alone, tmp_path / "m", seeder)
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["complete"] and set(report["torrents"]) == {r["name"] for r in _records(packed_archive)}
    assert verify_root(tmp_path / "m").ok
    assert (tmp_path / "m" / "catalog.sqlite3").is_file()  # the metadata torrent came too


def test_the_generators_magnet_lines(packed_archive, seeder, tmp_path):
    magnets = run_cli("torrents", "pick", "--budget", "1PB", "--magnets", "--seed", "1", archive=packed_archive)
    assert magnets.exit_code == 0
    lines = tmp_path / "magnets.txt"
    lines.write_text(magnets.stdout)
    result = _mirror(lines, tmp_path / "m", seeder)
    assert result.exit_code == 0, result.stdout + result.stderr
    names = {r["name"] for r in _records(packed_archive)}
    assert set(json.loads(result.stdout)["torrents"]) == names
    release = next(p.name for p in (packed_archive / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))
    assert {p.stem for p in (tmp_path / "m" / "releases" / release / "torrents").glob("*.torrent")} == names
    assert verify_root(tmp_path / "m").ok


def test_a_single_data_torrent_magnet(packed_archive, seeder, tmp_path):
    data = next(r for r in _records(packed_archive) if not r["is_metadata"])
    result = _mirror(data["magnet_link"], tmp_path / "m", seeder)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["torrents"] == [data["name"]]
    assert (tmp_path / "m" / "releases" / "magnets" / "torrents" / f"{data['name']}.torrent").is_file()
    assert verify_root(tmp_path / "m").ok


def test_bad_entries_are_named_and_the_rest_is_mirrored(packed_archive, seeder, tmp_path):
    records = _records(packed_archive)
    meta = next(r for r in records if r["is_metadata"])
    good = [r for r in records if not r["is_metadata"]]
    liar = dict(good[0], btih="0" * 40)  # its magnet fetches a torrent whose hash is not the listed one
    unknown = dict(
        good[1],
        name="nobody-has-this",
        btih="1" * 40,
        magnet_link="magnet:?xt=urn:btih:" + "1" * 40 + "&dn=nobody-has-this",
        url="",
    )
    twin = dict(good[-1])  # the same name twice: the second is refused
    broken = [meta, good[-1], liar, unknown, "not a torrent", {"name": "half"}, twin]
    listing = tmp_path / "dl" / "torrents.json"
    listing.parent.mkdir()
    listing.write_text(json.dumps(broken))
    result = run_cli(
        "mirror",
        str(listing),
        "--into",
        tmp_path / "m",
        "--peer",
        f"127.0.0.1:{seeder.port}",
        "--timeout",
        "15",
        "--stall",
        "15",
        "--json",
    )
    assert result.exit_code == 1  # not everything asked for could be mirrored
    report = json.loads(result.stdout)
    errors = "\n".join(report["errors"])
    assert "item 4" in errors and "not an object" in errors and "item 5" in errors
    assert "item 6" in errors and "listed already" in errors
    assert liar["name"] in errors and "info-hash" in errors
    assert "nobody-has-this" in errors and "metadata" in errors
    assert set(report["torrents"]) == {meta["name"], good[-1]["name"]}
    assert not list((tmp_path / "m").rglob("*nobody-has-this*"))


def test_a_torrents_json_url_served_by_the_site(packed_archive, seeder, tmp_path):
    """The volunteer's usual start: the list's URL on the archive's site; the .torrent files come from the site."""
    from fonoteca.web import ServerThread, Settings, create_app

    with ServerThread(create_app(Settings(archive=packed_archive, rate_limit=0))) as server:
        result = _mirror(f"{server.url}/torrents.json", tmp_path / "m", seeder)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert set(json.loads(result.stdout)["torrents"]) == {r["name"] for r in _records(packed_archive)}
    assert verify_root(tmp_path / "m").ok
