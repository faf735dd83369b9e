"""The site on a real archive and on a real mirror of it: files really ingested (`fonoteca ingest`), releases
really packed (`fonoteca pack`: torrents.json, manifests, .torrent files, payload folders), a mirror really
downloaded over BitTorrent on loopback (`fonoteca.mirror`), and `fonoteca serve`'s app on both. The mirror must
show the same site; its player streams from the release payload; both answer as web seeds. Bounded waits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fonoteca import archive as archive_mod
from fonoteca import mirror as mirror_mod
from fonoteca.synth import audio as synth
from fonoteca.web import ServerThread, Settings, create_app
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT = 90.0


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, list]:
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 6, (1.0, 2.0), ("flac", "opus", "mp3"), seed=83)
    root = archive_mod.init(tmp_path_factory.mktemp("src") / "archive", name="Web mirror test").root
    for args in (
        ("import", "table", coll.catalog_csv, "--map", coll.mapping_toml),
        ("index", "rebuild"),
        ("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original", "--json"),
    ):
        r = run_cli(*map(str, args), archive=root)
        assert r.exit_code == 0, r.stderr
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[pack]\ntarget_size = 200000\nmax_files = 2\n")
    r = run_cli("pack", "--json", archive=root)
    assert r.exit_code == 0, r.stderr
    return root, coll.tracks


@pytest.fixture(scope="module")
def mirrored(packed, tmp_path_factory) -> Path:
    root, _ = packed
    into = tmp_path_factory.mktemp("mirror") / "mirror"
    with mirror_mod.Seeder(mirror_mod.seed_items(root), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(TIMEOUT), seeder.errors
        result = mirror_mod.mirror(str(root), into, peers=[("127.0.0.1", seeder.port)], timeout=TIMEOUT, stall=60)
    assert result.complete, result.outcome.errors
    return into


@pytest.fixture(scope="module")
def sites(packed, mirrored):
    from fonoteca.web.server import ensure_index

    root, _ = packed
    assert not (mirrored / "index" / "CURRENT").exists()
    assert ensure_index(archive_mod.open_archive(mirrored))  # what `fonoteca serve` does first on a mirror
    with (
        ServerThread(create_app(Settings(archive=root, rate_limit=0))) as a,
        ServerThread(create_app(Settings(archive=mirrored, rate_limit=0))) as m,
        httpx.Client(base_url=a.url, timeout=30) as archive_site,
        httpx.Client(base_url=m.url, timeout=30) as mirror_site,
    ):
        yield archive_site, mirror_site


def _json(client: httpx.Client, url: str) -> dict:
    r = client.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return r.json()


def test_torrents_page_reads_what_pack_wrote(sites, packed) -> None:
    archive_site, _ = sites
    root, tracks = packed
    data = _json(archive_site, "/api/torrents")
    assert data["count"] >= 3 and any(t["is_metadata"] for t in data["torrents"])
    for t in data["torrents"]:
        assert t["magnet_link"].startswith("magnet:?xt=urn:btih:") and len(t["btih"]) == 40
        assert t["local_url"] and archive_site.get(t["local_url"]).content[:1] == b"d"  # a bencoded .torrent
        assert t["health"] == "unknown"  # nothing scraped yet: no seeder count to trust
    assert sum(t["num_files"] for t in data["torrents"] if not t["is_metadata"]) == len(tracks)
    picked = _json(archive_site, "/api/torrents/generate?budget=1TB")
    assert picked["torrents"][0]["is_metadata"] and picked["count"] == data["count"]
    assert archive_site.get("/torrents").status_code == 200


def test_every_track_shows_where_its_file_is(sites, packed) -> None:
    archive_site, _ = sites
    _, tracks = packed
    for t in tracks:
        page = _json(archive_site, f"/api/track/{t.id}")
        assert page["audio"]["origin"] == "archive" and page["file"]["tier"] == "original"
        (where,) = page["locations"]
        assert where["btih"] and where["magnet_link"] and where["sha256"] == page["file"]["sha256"]
        audio = archive_site.get(page["audio"]["url"], headers={"Range": "bytes=0-15"})
        assert audio.status_code == 206 and len(audio.content) == 16
        # the same bytes through the web seed route: {release}/data/{torrent}/{path}
        seed = archive_site.get(f"/releases/{where['release']}/data/{where['torrent']}/{where['path']}")
        assert seed.status_code == 200 and len(seed.content) == where["size"]


def test_the_mirror_shows_the_same_site(sites, packed) -> None:
    archive_site, mirror_site = sites
    _, tracks = packed
    for url in [
        "/api/torrents",
        "/torrents.json",
        "/api/search?q=" + tracks[0].title.split()[0],
        f"/api/album/{_json(archive_site, f'/api/track/{tracks[0].id}')['album']['id']}",
    ]:
        assert _json(mirror_site, url) == _json(archive_site, url), url
    for t in tracks:
        here, there = _json(archive_site, f"/api/track/{t.id}"), _json(mirror_site, f"/api/track/{t.id}")
        for key in ("name", "artists", "album", "isrc", "duration_ms", "locations"):
            assert here[key] == there[key], key
        # the mirror has no files/ folder: its player streams the release payload
        assert there["audio"]["origin"] == "release" and there["file"]["present"] is False
        assert here["file"]["present"] is True
        got = mirror_site.get(there["audio"]["url"])
        assert got.status_code == 200 and got.content == archive_site.get(here["audio"]["url"]).content
    html = mirror_site.get(f"/track/{tracks[0].id}").text
    assert 'id="player"' in html and "magnet:?xt=urn:btih:" in html
