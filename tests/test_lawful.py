"""The licence gate: `[release] licences` decides what pack publishes and what the site streams; the rest stays
in the archive, catalogued and verifiable. Licence and attribution on track pages, in JSON twins, in the manifest
and as tags of the stored files. Real pipeline (table import, ingest, pack), real HTTP (uvicorn on loopback)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from fonoteca import archive as archive_mod
from fonoteca.pack.manifest import read_manifest
from fonoteca.synth import audio as synth
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> synth.Collection:
    return synth.make_collection(tmp_path_factory.mktemp("music"), 4, (1.5, 2.0), ("flac", "mp3"), seed=17)


@pytest.fixture
def archive(collection: synth.Collection, tmp_path: Path) -> tuple[Path, list[str]]:
    """Four CC0 tracks (the synthesised collection's table states it); one then stated all rights reserved by the
    operator, one with its licence record gone (unknown). Ingested, not packed."""
    root = archive_mod.init(tmp_path / "archive", name="Licence gate").root
    assert (
        run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=root).exit_code
        == 0
    )
    assert (
        run_cli("ingest", *[str(t.path) for t in collection.tracks], "--tier", "original", archive=root).exit_code == 0
    )
    ids = [t.id for t in collection.tracks]
    r = run_cli("licence", "set", f"spotify:track:{ids[0]}", "--licence", "All rights reserved", archive=root)
    assert r.exit_code == 0, r.stderr
    conn = sqlite3.connect(root / "catalog.sqlite3")
    conn.execute("DELETE FROM track_licences WHERE track = (SELECT rowid FROM tracks WHERE id = ?)", (ids[1],))
    conn.commit()
    conn.close()
    return root, ids


def _site(root: Path):
    from fonoteca.web import ServerThread, Settings, create_app

    return ServerThread(create_app(Settings(archive=root, rate_limit=0)))


def test_pack_publishes_only_the_licences_release_allows(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    r = run_cli("pack", "--name", "r1", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["files"] == 2
    assert summary["withheld"] == {"licence LicenseRef-All-Rights-Reserved": 1, "licence unknown": 1}
    lines = read_manifest(root / "releases" / "r1" / "manifest.jsonl.zst")
    assert sorted(x.id for x in lines) == sorted(ids[2:])
    assert {x.licence for x in lines} == {"CC0-1.0"} and all(x.attribution is None for x in lines)
    # the withheld files stay in the archive, stored and verifiable
    stored = sqlite3.connect(root / "catalog.sqlite3").execute("SELECT count(*) FROM files").fetchone()[0]
    assert stored == 4
    # the operator opts in to tracks with no licence on record: the next pack publishes that one, never the other
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write('\n[release]\nlicences = ["redistributable", "unknown"]\n')
    summary = json.loads(run_cli("pack", "--name", "r2", "--json", archive=root).stdout)
    assert summary["files"] == 1 and summary["withheld"] == {"licence LicenseRef-All-Rights-Reserved": 1}
    assert [x.id for x in read_manifest(root / "releases" / "r2" / "manifest.jsonl.zst")] == [ids[1]]
    assert json.loads(run_cli("pack", "--json", archive=root).stdout)["release"] is None


def test_a_manifest_written_before_licence_columns_still_reads(tmp_path: Path) -> None:
    import orjson
    import zstandard

    old = {
        "id": "x",
        "ns": "table",
        "isrc": None,
        "torrent": "t",
        "btih": "0" * 40,
        "path": "ab/x.flac",
        "file_index": 0,
        "offset": 0,
        "size": 3,
        "sha256": "a" * 64,
        "pieces_root": None,
        "tier": "original",
        "popularity": 1,
        "band": "pop_1-9",
        "title": "X",
        "artists": "Y",
    }
    path = tmp_path / "manifest.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(orjson.dumps(old) + b"\n"))
    (line,) = read_manifest(path)
    assert line.licence is None and line.attribution is None and line.title == "X"


def test_the_site_streams_only_published_tracks(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    with _site(root) as site:
        reserved = httpx.get(f"{site.url}/api/track/{ids[0]}").json()
        assert (
            reserved["licence"]["id"] == "LicenseRef-All-Rights-Reserved"
            and reserved["licence"]["source"] == "operator"
        )
        assert not reserved["published"] and "All rights reserved" in reserved["unpublished_reason"]
        assert reserved["audio"] is None
        stream = httpx.get(f"{site.url}/audio/{ids[0]}")
        assert stream.status_code == 403 and "not published" in stream.text
        page = httpx.get(f"{site.url}/track/{ids[0]}").text
        assert 'id="not-published"' in page and "All rights reserved" in page
        unknown = httpx.get(f"{site.url}/api/track/{ids[1]}").json()
        assert unknown["licence"] is None and not unknown["published"]
        assert httpx.get(f"{site.url}/audio/{ids[1]}").status_code == 403
        free = httpx.get(f"{site.url}/api/track/{ids[2]}").json()
        assert free["published"] and free["licence"]["id"] == "CC0-1.0" and free["audio"] is not None
        assert httpx.get(f"{site.url}/audio/{ids[2]}").status_code == 200
        html = httpx.get(f"{site.url}/track/{ids[2]}").text
        assert 'rel="license"' in html and "creativecommons.org/publicdomain/zero/1.0/" in html


def test_attribution_shown_and_tagged(archive: tuple[Path, list[str]], collection: synth.Collection) -> None:
    root, ids = archive
    credit = "“Song” by Synth, licensed under CC BY 4.0"
    r = run_cli(
        "licence",
        "set",
        f"spotify:track:{ids[3]}",
        "--licence",
        "https://creativecommons.org/licenses/by/4.0/",
        "--attribution",
        credit,
        archive=root,
    )
    assert r.exit_code == 0, r.stderr
    with _site(root) as site:
        data = httpx.get(f"{site.url}/api/track/{ids[3]}").json()
        assert data["licence"]["attribution"] == credit and data["licence"]["name"] == "CC BY 4.0"
        assert 'id="attribution"' in httpx.get(f"{site.url}/track/{ids[3]}").text
    # a file stored afterwards carries it as Picard's LICENSE and COPYRIGHT tags
    fresh = archive_mod.init(root.parent / "fresh", name="Fresh").root
    assert (
        run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=fresh).exit_code
        == 0
    )
    assert (
        run_cli(
            "licence",
            "set",
            f"spotify:track:{ids[3]}",
            "--licence",
            "CC-BY-4.0",
            "--attribution",
            credit,
            archive=fresh,
        ).exit_code
        == 0
    )
    track = next(t for t in collection.tracks if t.id == ids[3])
    assert run_cli("ingest", str(track.path), "--tier", "original", archive=fresh).exit_code == 0
    from fonoteca.audio.tags import read_tags

    path, licence = sqlite3.connect(fresh / "catalog.sqlite3").execute("SELECT path, licence FROM files").fetchone()
    tags = read_tags(fresh / path)
    assert tags["LICENSE"] == ["https://creativecommons.org/licenses/by/4.0/"] and tags["COPYRIGHT"] == [credit]
    assert licence == "https://creativecommons.org/licenses/by/4.0/"


def test_licence_set_refuses_what_it_cannot_read(archive: tuple[Path, list[str]]) -> None:
    root, ids = archive
    r = run_cli("licence", "set", f"spotify:track:{ids[2]}", "--licence", "whatever I like", archive=root)
    assert r.exit_code == 2 and "--licence" in r.stderr
    r = run_cli("licence", "set", "spotify:track:0000000000000000000000", "--licence", "CC0", archive=root)
    assert r.exit_code == 1 and "no track in the catalog" in r.stderr
