"""A torrent list is a claim, the metainfo is the fact: sizes are checked before any budget decision, and a
remote list can only point at http(s) URLs (never at this machine's files)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _data_records(items: list[dict]) -> list[dict]:
    return [r for r in items if not r["is_metadata"]]


def test_a_list_that_understates_a_torrent_is_refused_before_the_budget(packed_archive, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(packed_archive, source, symlinks=True)
    listing = source / "releases" / "torrents.json"
    items = json.loads(listing.read_text())
    liar = _data_records(items)[0]
    real = liar["data_size"]
    liar["data_size"] = 300  # "a 1 TiB torrent listed as 300 bytes"
    listing.write_text(json.dumps(items))
    # Trusted, the liar would "fit" a 1 kB disk; checked, it does not, and it is named with its real size.
    result = run_cli("mirror", str(source), "--into", tmp_path / "m", "--budget", "1kB", "--timeout", "5")
    assert result.exit_code == 1, result.stderr
    assert liar["name"] in result.stderr and f"{real:,} bytes" in result.stderr
    assert not list((tmp_path / "m").rglob(f"{liar['name']}.torrent"))


def test_the_real_sizes_pass(packed_archive, tmp_path):
    from fonoteca.mirror.sources import collect_metainfo, open_source

    src = open_source(str(packed_archive))
    checked, refused = collect_metainfo(src, src.records, None, tmp_path / "scratch")
    assert refused == [] and set(checked) == {r["name"] for r in src.records}


@pytest.fixture
def remote_list(tmp_path):
    """An HTTP server on 127.0.0.1 serving a hostile torrents.json."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_list_cannot_make_mirror_read_local_files(packed_archive, remote_list, tmp_path):
    folder, base = remote_list
    items = json.loads((packed_archive / "releases" / "torrents.json").read_text())
    secret = tmp_path / "secret.torrent"
    shutil.copy(next((packed_archive / "releases").glob("*/torrents/*.torrent")), secret)
    for n, rec in enumerate(items):
        rec["url"] = f"file://{secret}" if n % 2 == 0 else str(secret)
    (folder / "torrents.json").write_text(json.dumps(items))
    result = run_cli(
        "mirror", f"{base}/torrents.json", "--into", tmp_path / "m", "--budget", "1TB", "--timeout", "5", "--json"
    )
    assert result.exit_code == 1
    assert not list((tmp_path / "m").rglob("*.torrent"))  # nothing was read from this machine's files
    assert "not http(s)" in result.stdout + result.stderr


def _with_seeder(packed_archive: Path, *args: object) -> object:
    """run_cli("mirror", ...) with a seeder of the packed archive as the peer."""
    from fonoteca.mirror import Seeder, seed_items

    with Seeder(seed_items(packed_archive), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(60)
        return run_cli("mirror", *args, "--peer", f"127.0.0.1:{seeder.port}", "--timeout", "60", "--json")


def test_a_twin_that_disagrees_with_its_hybrid_is_refused(packed_archive, tmp_path):
    """The list says which v1-only twin each torrent has; the twin its hybrid gives is another: that entry is
    named and left out (with or without --v1), every other torrent is mirrored."""
    source = tmp_path / "source"
    shutil.copytree(packed_archive, source, symlinks=True)
    listing = source / "releases" / "torrents.json"
    items = json.loads(listing.read_text())
    liar = _data_records(items)[0]
    liar["v1_only"]["btih"] = "0" * 40
    listing.write_text(json.dumps(items))
    for extra in ((), ("--v1",)):
        into = tmp_path / f"m{len(extra)}"
        result = _with_seeder(packed_archive, str(source), "--into", into, *extra)
        assert result.exit_code == 1, result.stderr
        out = json.loads(result.stdout)
        assert any(liar["name"] in e and "v1-only twin" in e and "0" * 40 in e for e in out["errors"]), out["errors"]
        assert liar["name"] not in out["torrents"] and len(out["torrents"]) == len(items) - 1
        assert not list(into.rglob(f"{liar['name']}*.torrent"))


def test_v1_from_an_older_list_without_twins(packed_archive, tmp_path):
    """A list written before twins existed still reads and mirrors; with --v1 each entry is named: it has no
    twin to download through."""
    source = tmp_path / "source"
    shutil.copytree(packed_archive, source, symlinks=True)
    listing = source / "releases" / "torrents.json"
    items = json.loads(listing.read_text())
    for rec in items:
        del rec["v1_only"], rec["stats_source"]
    listing.write_text(json.dumps(items))
    plain = _with_seeder(packed_archive, str(source), "--into", tmp_path / "plain")
    assert plain.exit_code == 0, plain.stderr
    v1 = run_cli("mirror", str(source), "--into", tmp_path / "v1", "--v1", "--timeout", "5")
    assert v1.exit_code == 1
    said = " ".join(v1.stderr.split())
    assert "nothing to mirror" in said and "names no v1-only twin (a torrent packed before twins existed)" in said
    assert _data_records(items)[0]["name"] in said


def test_a_malformed_twin_entry_is_named(packed_archive, tmp_path):
    from fonoteca.errors import FonotecaError
    from fonoteca.pack.listing import check_list

    items = json.loads((packed_archive / "releases" / "torrents.json").read_text())
    items[0]["v1_only"] = {"url": 3, "btih": "x"}
    items[1]["v1_only"]["btih"] = items[1]["btih"]
    errors: list[str] = []
    good = check_list(items, "list.json", errors)
    assert len(good) == len(items) - 2
    assert "item 0" in errors[0] and "v1_only 'url' has the wrong type" in errors[0]
    assert "item 1" in errors[1] and "the hybrid's own" in errors[1]
    with pytest.raises(FonotecaError, match="v1_only"):
        check_list(items, "list.json")
