"""The website and JSON API over real HTTP (uvicorn on loopback): every page and its JSON twin, search filters
and paging, lookups, audio with range requests, torrents and the seeding list, caching, security headers,
bounded requests, no traversal, rate limits, empty states, `fonoteca serve` itself."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import libtorrent as lt
import orjson
import pytest

from tests.test_web_fixtures import (  # noqa: F401 (base_url, listed_url, web: pytest fixtures)
    LISTED,
    RELEASE,
    XSS_SCRIPT,
    WebArchive,
    base_url,
    listed_url,
    server_for,
    web,
)


@pytest.fixture(scope="module")
def client(base_url: str):  # noqa: F811
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def listed(listed_url: str):  # noqa: F811
    """The site whose release lists torrents of every seeding health (see tests.test_web_fixtures)."""
    with httpx.Client(base_url=listed_url, timeout=30) as c:
        yield c


def get_json(client: httpx.Client, url: str, status: int = 200) -> dict:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


# --- pages and their JSON twins ------------------------------------------------------------------------------------
def test_every_page_has_a_json_twin(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    hit = get_json(client, "/api/search?q=love")["results"][0]
    track = get_json(client, f"/api/track/{web.archive_track}")
    pages = [
        "/",
        "/search?q=love",
        f"/track/{web.archive_track}",
        track["album"]["url"],
        track["artists"][0]["url"],
        f"/isrc/{track['isrc']}",
        "/shuffle",
        "/torrents",
        "/torrents/generate?budget=2",
        "/stats",
    ]
    for page in pages:
        r = client.get(page)
        assert r.status_code == 200, page
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        twin = "/api/home" if page == "/" else "/api" + page
        assert f'<link rel="alternate" type="application/json" href="{twin.replace("&", "&amp;")}">' in r.text
        assert client.get(twin).status_code == 200, twin
    assert hit["url"].startswith("/track/") and hit["name"]


def test_home_summarises_the_collection(client: httpx.Client) -> None:
    home = get_json(client, "/api/home")
    assert home["counts"]["tracks"] == 2003  # 2,000 synthetic, one hostile, two in a full album
    assert home["search_index"] is True and home["statistics"] is True
    assert home["releases"]["torrents"] == 2 and home["releases"]["releases"] == 1  # metadata + one data torrent
    pops = [t["popularity"] for t in home["top_tracks"]]
    assert pops == sorted(pops, reverse=True) and len(pops) == 10
    html = client.get("/").text
    assert "2,003" in html and 'name="q"' in html


def test_search_results_open_their_track(client: httpx.Client) -> None:
    found = get_json(client, "/api/search?q=love&size=5")
    assert found["mode"] == "text" and found["count"] == 5
    for hit in found["results"]:
        words = " ".join([hit["name"], hit["album"]["name"] or "", *[a["name"] for a in hit["artists"]]]).lower()
        assert "love" in words
        page = get_json(client, "/api" + hit["url"])
        assert page["id"] == hit["id"] and page["name"] == hit["name"]
    html = client.get("/search?q=love&size=5").text
    for hit in found["results"]:
        assert f'href="{hit["url"]}"' in html


def test_search_paging(client: httpx.Client) -> None:
    first = get_json(client, "/api/search?q=love&size=3")
    assert first["next"] == "/api/search?q=love&size=3&page=2" and first["previous"] is None
    second = get_json(client, first["next"])
    assert second["previous"] and second["page"] == 2
    both = get_json(client, "/api/search?q=love&size=6")
    assert [h["id"] for h in first["results"] + second["results"]] == [h["id"] for h in both["results"]]
    html = client.get("/search?q=love&size=3").text
    assert 'rel="next" href="/search?q=love&amp;size=3&amp;page=2"' in html
    last = get_json(client, "/api/search?q=love&size=100&page=10")
    assert last["next"] is None  # 1,000 results deep at most
    assert client.get("/api/search?q=love&size=100&page=11").status_code == 400


def test_search_filters(client: httpx.Client) -> None:
    popular = get_json(client, "/api/search?q=love&min_popularity=30&size=100")["results"]
    assert popular and all(h["popularity"] >= 30 for h in popular)
    years = get_json(client, "/api/search?q=love&year=2000-2015&size=100")["results"]
    assert years and all(2000 <= h["year"] <= 2015 for h in years)
    clean = get_json(client, "/api/search?q=love&explicit=clean&size=100")["results"]
    assert clean and all(h["explicit"] is not True for h in clean)
    explicit = get_json(client, "/api/search?q=love&explicit=explicit&size=100")["results"]
    assert all(h["explicit"] is True for h in explicit)
    # a form sends empty fields: they mean "no filter"
    empty = get_json(client, "/api/search?q=love&min_popularity=&year=&genre=&explicit=&size=5")
    assert empty["count"] == 5 and all(v is None for v in empty["filters"].values())
    unknown = get_json(client, "/api/search?q=love&genre=no+such+genre+at+all")
    assert unknown["results"] == [] and "genre" in unknown["message"]


def test_search_by_genre(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    import sqlite3

    conn = sqlite3.connect(f"file:{web.root / 'catalog.sqlite3'}?mode=ro", uri=True)
    (genre,) = conn.execute(
        "SELECT g.name FROM genres g JOIN artist_genres ag ON ag.genre = g.rowid "
        "WHERE g.name NOT LIKE '%<%' GROUP BY g.rowid ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()
    conn.close()
    hits = get_json(client, f"/api/search?q=a&genre={genre}&size=20")
    if not hits["results"]:
        hits = get_json(client, f"/api/search?q=love&genre={genre}&size=20")
    for hit in hits["results"]:
        artists = [get_json(client, "/api" + a["url"]) for a in hit["artists"] if a["url"]]
        assert any(genre in a["genres"] for a in artists)


def test_bad_search_parameters_are_400_not_500(client: httpx.Client) -> None:
    for url in [
        "/api/search?q=" + "x" * 201,
        "/api/search?q=love&min_popularity=101",
        "/api/search?q=love&size=0",
        "/api/search?q=love&year=abc",
        "/api/search?q=love&explicit=maybe",
        "/api/search?q=%21%21%21",
        "/api/search?q=love&page=0",
        "/api/shuffle?count=101",
    ]:
        r = client.get(url)
        assert r.status_code == 400, (url, r.text)
        assert r.json()["error"]["status"] == 400 and r.json()["error"]["message"]
        assert r.headers["cache-control"] == "no-store"
    page = client.get("/search?q=love&min_popularity=abc")
    assert page.status_code == 400 and "min_popularity" in page.text and "<html" in page.text


def test_lookups(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    track = get_json(client, f"/api/track/{web.archive_track}")
    by_id = get_json(client, f"/api/search?q=spotify:track:{web.archive_track}")
    assert by_id["mode"] == "lookup" and by_id["results"][0]["id"] == web.archive_track
    isrc = get_json(client, f"/api/isrc/{track['isrc'].lower()}")
    assert web.archive_track in [t["id"] for t in isrc["tracks"]] and isrc["valid"]
    album = get_json(client, "/api" + track["album"]["url"])
    assert web.archive_track in [t["id"] for t in album["tracks"]]
    numbers = [(t["disc_number"], t["track_number"]) for t in album["tracks"]]
    assert numbers == sorted(numbers)
    artist = get_json(client, "/api" + track["artists"][0]["url"])
    assert artist["album_count"] >= 1 and artist["albums"] and artist["top_tracks"]
    assert client.get("/api/isrc/ZZ0000000000").status_code == 404
    assert client.get("/api/track/doesnotexist").status_code == 404
    assert "no track" in client.get("/track/doesnotexist").text


def test_upc_lookup(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    import sqlite3

    conn = sqlite3.connect(f"file:{web.root / 'catalog.sqlite3'}?mode=ro", uri=True)
    row = conn.execute("SELECT upc, id FROM albums WHERE upc IS NOT NULL LIMIT 1").fetchone()
    conn.close()
    if row is None:
        pytest.skip("the synthetic catalog has no UPC")
    upc = get_json(client, f"/api/upc/{row[0]}")
    assert row[1] in [a["id"] for a in upc["albums"]]
    assert client.get(f"/upc/{row[0]}").status_code == 200


def test_shuffle_is_uncached_and_random(client: httpx.Client) -> None:
    first = client.get("/api/shuffle?count=20")
    assert first.headers["cache-control"] == "no-store"
    second = get_json(client, "/api/shuffle?count=20")
    assert len(first.json()["tracks"]) == 20 and first.json()["tracks"] != second["tracks"]
    popular = get_json(client, "/api/shuffle?count=20&min_popularity=50")["tracks"]
    assert all(t["popularity"] >= 50 for t in popular)


# --- audio ---------------------------------------------------------------------------------------------------------
def test_track_page_says_where_its_file_is(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    track = get_json(client, f"/api/track/{web.archive_track}")
    stored = web.root / track["file"]["path"]
    assert track["audio"] == {
        "url": f"/audio/{web.archive_track}",
        "media_type": "audio/wav",
        "size": stored.stat().st_size,
        "origin": "archive",
    }
    assert track["file"]["path"].startswith("files/original/") and track["file"]["tier"] == "original"
    (location,) = track["locations"]
    line = web.line(web.archive_track)
    assert location["release"] == RELEASE and location["torrent"] == web.torrent == line.torrent
    assert location["sha256"] == line.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert location["magnet_link"].startswith(f"magnet:?xt=urn:btih:{line.btih}")
    assert location["seeders"] is None  # nobody scraped the new release: unknown, not 0
    assert location["torrent_url"] == f"/torrents/file/{RELEASE}/{web.torrent}.torrent"
    html = client.get(f"/track/{web.archive_track}").text
    assert f'src="/audio/{web.archive_track}"' in html and "magnet:?xt=urn:btih:" in html
    served = client.get(location["torrent_url"]).content
    assert served == (web.root / "releases" / RELEASE / "torrents" / f"{web.torrent}.torrent").read_bytes()
    assert lt.torrent_info(lt.bdecode(served)).name() == web.torrent


def test_audio_streams_with_range_requests(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    whole = client.get(f"/audio/{web.archive_track}")
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.content[:4] == b"RIFF" and whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/audio/{web.archive_track}", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    tail = client.get(f"/audio/{web.archive_track}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    beyond = client.get(f"/audio/{web.archive_track}", headers={"Range": f"bytes={len(whole.content) + 5}-"})
    assert beyond.status_code == 416
    assert client.head(f"/audio/{web.archive_track}").status_code == 200


def test_a_mirror_streams_from_the_release_payload(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    track = get_json(client, f"/api/track/{web.release_track}")
    assert track["audio"]["origin"] == "release" and track["file"]["present"] is False
    r = client.get(track["audio"]["url"])
    assert r.status_code == 200 and r.content == web.payload(web.release_track).read_bytes()


def test_no_traversal_through_file_routes(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    # the catalog and the manifest point this track at ../fonoteca.toml and /etc/passwd: never served
    track = get_json(client, f"/api/track/{web.plain_track}")
    assert track["audio"] is None
    assert client.get(f"/audio/{web.plain_track}").status_code == 404
    secret = (web.root / "fonoteca.toml").read_text()
    for url in [
        "/audio/..%2Ffonoteca.toml",
        "/audio/..%2F..%2Fetc%2Fpasswd",
        "/static/..%2Fapp.py",
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        f"/torrents/file/{RELEASE}/..%2Ftorrents.json",
        f"/torrents/file/{RELEASE}/..%2F..%2F..%2Ffonoteca.toml",
        "/torrents/file/..%2F..%2F/fonoteca.toml",
        "/stats/charts/..%2Fstats.json",
        "/stats/charts/..%2F..%2Ffonoteca.toml",
        "/stats/charts/stats.json",
        f"/torrents/file/{RELEASE}/torrents.json",
    ]:
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert "[archive]" not in r.text and "root:" not in r.text and secret not in r.text


def test_the_site_is_a_web_seed_of_its_releases(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    """BEP 19: GET {web seed}/{torrent name}/{path in the torrent}, with ranges; nothing outside the payload."""
    torrent = web.torrent
    inner = web.line(web.release_track).path
    folder = inner.rsplit("/", 1)[0]
    url = f"/releases/{RELEASE}/data/{torrent}/{inner}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == web.payload(web.release_track).read_bytes()
    assert hashlib.sha256(whole.content).hexdigest() == web.line(web.release_track).sha256
    part = client.get(url, headers={"Range": "bytes=16-31"})
    assert part.status_code == 206 and part.content == whole.content[16:32]
    tfile = client.get(f"/releases/{RELEASE}/torrents/{torrent}.torrent").content
    assert tfile == (web.root / "releases" / RELEASE / "torrents" / f"{torrent}.torrent").read_bytes()
    secret = (web.root / "fonoteca.toml").read_text()
    for bad in [
        f"/releases/{RELEASE}/data/{torrent}/{folder}/evil.wav",  # a symlink out of the payload
        f"/releases/{RELEASE}/data/evil-torrent/fonoteca.toml",  # a torrent folder linking out
        f"/releases/{RELEASE}/data/{torrent}/..%2F..%2Ftorrents.json",
        f"/releases/{RELEASE}/data/%2E%2E/torrents.json",
        f"/releases/{RELEASE}/data/{torrent}/{folder}%2F..%2F..%2F..%2F..%2Ffonoteca.toml",
        "/releases/..%2F..%2F/data/x/fonoteca.toml",
        f"/releases/{RELEASE}/data/{torrent}/",
        f"/releases/{RELEASE}/data/{torrent}/{folder}",
        f"/releases/{RELEASE}/torrents/..%2Ftorrents.json",
        "/releases/nope/data/x/y",
    ]:
        r = client.get(bad)
        assert r.status_code == 404, bad
        assert secret not in r.text and "[archive]" not in r.text


def test_the_real_release_is_listed_as_pack_wrote_it(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    written = orjson.loads((web.root / "releases" / RELEASE / "torrents.json").read_bytes())
    listing = get_json(client, "/torrents.json")
    assert [t["btih"] for t in listing] == [t["btih"] for t in written] and len(written) == 2
    data = get_json(client, "/api/torrents")
    assert data["count"] == 2 and {t["name"] + ".torrent" for t in data["torrents"]} == {
        t["display_name"] for t in written
    }
    assert all(t["health"] == "unknown" for t in data["torrents"])  # never scraped
    meta = next(t for t in data["torrents"] if t["is_metadata"])
    torrent = client.get(meta["local_url"]).content
    assert lt.torrent_info(lt.bdecode(torrent)).info_hashes().v1.to_bytes().hex() == meta["btih"]


def test_torrents_json_in_the_volunteers_format(listed: httpx.Client) -> None:
    listing = get_json(listed, "/torrents.json")
    assert len(listing) == 9 and {"btih", "magnet_link", "data_size", "seeders"} <= set(listing[0])
    assert listing[0]["display_name"] == f"{LISTED}-metadata"


# --- torrents -------------------------------------------------------------------------------------------------------
def test_torrents_list_with_bands_and_health(listed: httpx.Client) -> None:
    data = get_json(listed, "/api/torrents")
    assert data["count"] == 9 and len(data["torrents"]) == 9
    bands = {b["band"]: b for b in data["bands"]}
    assert set(bands) == {"metadata", "pop_50-100", "pop_20-49", "pop_0"}
    assert bands["pop_50-100"]["data_size"] == 1_100_000_000_000 and bands["pop_50-100"]["health"]["low"] == 1
    assert data["totals"]["torrents"] == 9
    health = {t["name"]: t["health"] for t in data["torrents"]}
    assert health[f"{LISTED}-pop_20-49-0001"] == "none" and health[f"{LISTED}-pop_50-100-0001"] == "good"
    assert health[f"{LISTED}-pop_0-0001"] == "unknown"
    hostile = next(t for t in data["torrents"] if t["display_name"] == XSS_SCRIPT)
    assert hostile["magnet_link"] is None  # not a magnet link: dropped
    only = get_json(listed, "/api/torrents?band=pop_20-49")
    assert only["count"] == 2 and {t["band"] for t in only["torrents"]} == {"pop_20-49"}
    none = get_json(listed, "/api/torrents?health=none")
    assert all(t["health"] == "none" for t in none["torrents"]) and none["count"] == 3
    paged = get_json(listed, "/api/torrents?size=4")
    assert len(paged["torrents"]) == 4 and paged["next"] == "/api/torrents?size=4&page=2"
    html = listed.get("/torrents").text
    assert "javascript:" not in html and html.count('class="magnet"') == 8


def test_seeding_list_generator(listed: httpx.Client) -> None:
    two = get_json(listed, "/api/torrents/generate?budget=2&seed=1")
    names = [t["name"] for t in two["torrents"]]
    assert names[0] == f"{LISTED}-metadata"  # metadata first
    assert f"{LISTED}-pop_0-0000-old" not in names and f"{LISTED}-pop_0-0003-embargo" not in names
    assert two["bytes"] <= 2e12 and two["budget"] == 2_000_000_000_000
    assert sum(t["data_size"] for t in two["torrents"]) == two["bytes"]
    everything = get_json(listed, "/api/torrents/generate?budget=1PB")
    names = [t["name"] for t in everything["torrents"]]
    # all but the obsolete, the embargoed and the one a scrape counted with no seeders at all (the reference rule)
    assert everything["count"] == 6 and f"{LISTED}-pop_20-49-0001" not in names
    # neediest first: 2 seeders (500 GB) before 12 seeders (600 GB), whatever the random part (at most 2)
    for seed in range(5):
        order = [t["name"] for t in get_json(listed, f"/api/torrents/generate?budget=1PB&seed={seed}")["torrents"]]
        assert order.index(f"{LISTED}-pop_50-100-0002") < order.index(f"{LISTED}-pop_50-100-0001"), seed
        assert order == [
            t["name"] for t in get_json(listed, f"/api/torrents/generate?budget=1PB&seed={seed}")["torrents"]
        ]
    small = get_json(listed, "/api/torrents/generate?budget=250GB&include_metadata=false")
    assert all(not t["is_metadata"] for t in small["torrents"]) and small["bytes"] <= 250e9
    text = listed.get("/torrents/generate.txt?budget=2&kind=magnets&seed=1")
    assert text.headers["content-type"].startswith("text/plain")
    lines = text.text.splitlines()
    assert lines and all(line.startswith("magnet:?xt=urn:btih:") for line in lines)
    assert len(lines) == len([t for t in two["torrents"] if t["magnet_link"]])
    hashes = listed.get("/torrents/generate.txt?budget=2&kind=btih&seed=1").text.split()
    assert hashes == [t["btih"] for t in two["torrents"]]
    urls = listed.get("/torrents/generate.txt?budget=2&kind=urls").text.split()
    assert all(u.startswith(("http://", "https://")) for u in urls) and "javascript" not in "".join(urls)
    for bad in ("-1", "abc", "0", "1e400", "5 parsecs"):
        assert listed.get(f"/api/torrents/generate?budget={bad}").status_code == 400, bad
    html = listed.get("/torrents/generate?budget=2&seed=1").text
    assert 'id="generated"' in html and html.count("<li>") >= len(two["torrents"])


# --- HTTP behaviour ---------------------------------------------------------------------------------------------------
def test_security_headers_everywhere(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    for url in [
        "/",
        "/api/home",
        "/static/site.css",
        "/nope",
        "/api/nope",
        "/api/search?q=love&size=0",
        f"/audio/{web.archive_track}",
        "/stats/charts/popularity.svg",
        "/api/openapi.json",
    ]:
        r = client.get(url)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, url
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "server" not in r.headers


def test_caching_headers_and_conditional_requests(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    r = client.get(f"/api/track/{web.archive_track}")
    assert r.headers["cache-control"] == "public, max-age=300" and r.headers["etag"]
    again = client.get(f"/api/track/{web.archive_track}", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    page = client.get("/search?q=love")
    assert page.headers["cache-control"].startswith("public") and page.headers["etag"] != r.headers["etag"]
    assert client.get("/search?q=love", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
    static = client.get(re.search(r'href="(/static/site\.css\?v=[0-9a-f]+)"', page.text).group(1))
    assert "immutable" in static.headers["cache-control"]
    assert client.get("/api/nope").headers["cache-control"] == "no-store"


def test_read_only_and_bounded(client: httpx.Client) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = client.request(method, "/api/search?q=love")
        assert r.status_code == 405 and "read-only" in r.text
    assert client.get("/search?q=" + "a" * 9000).status_code == 414
    assert client.get("/" + "a" * 5000).status_code == 414
    assert client.get("/api/search", headers={"X-Big": "x" * 20000}).status_code == 431
    for admin in ("/admin", "/docs", "/redoc", "/api/docs", "/-/", "/debug", "/api/admin", "/shutdown"):
        assert client.get(admin).status_code == 404, admin


def test_openapi_spec(client: httpx.Client) -> None:
    spec = get_json(client, "/api/openapi.json")
    paths = spec["paths"]
    for path in (
        "/api/home",
        "/api/search",
        "/api/track/{track_id}",
        "/api/album/{album_id}",
        "/api/artist/{artist_id}",
        "/api/isrc/{code}",
        "/api/upc/{code}",
        "/api/shuffle",
        "/api/torrents",
        "/api/torrents/generate",
        "/api/stats",
        "/audio/{track_id}",
    ):
        assert "get" in paths[path], path
    assert not any(p.startswith(("/track", "/search")) for p in paths)  # HTML pages are not API operations
    listed = client.get("/api").text
    assert "/api/search" in listed and "/api/openapi.json" in listed


def test_rate_limit_per_client(web: WebArchive) -> None:  # noqa: F811
    url = server_for(web, rate_limit=2.0, rate_burst=5)
    with httpx.Client(base_url=url) as c:
        codes = [c.get("/api/home").status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and 429 in codes[5:]
        limited = c.get("/api/home")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["status"] == 429
        assert c.get("/static/site.css").status_code == 200  # assets do not count
        time.sleep(1.1)
        assert c.get("/api/home").status_code == 200  # tokens come back


def test_statistics_page(client: httpx.Client) -> None:
    stats = get_json(client, "/api/stats")
    assert stats["available"] and len(stats["charts"]) >= 10
    names = {c["name"] for c in stats["charts"]}
    assert {"popularity", "coverage", "top_genres"} <= names
    chart = next(c for c in stats["charts"] if c["name"] == "popularity")
    assert chart["numbers"]["tracks"]["counts"] and set(chart["formats"]) == {"svg", "png"}
    svg = client.get(chart["images"]["svg"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    png = client.get(chart["images"]["png"])
    assert png.content[:4] == b"\x89PNG"
    html = client.get("/stats").text
    assert html.count('<figure class="chart"') == len(stats["charts"])


# --- empty archive, mirrors, the command ---------------------------------------------------------------------------
def test_empty_states(tmp_path: Path) -> None:
    from fonoteca import archive as archive_mod
    from fonoteca.web import ServerThread, Settings, create_app

    empty = archive_mod.init(tmp_path / "empty", name="Empty")
    with (
        ServerThread(create_app(Settings(archive=empty.root, rate_limit=0))) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        for url, text in [
            ("/", "not built yet"),
            ("/torrents", "No releases yet"),
            ("/stats", "No statistics yet"),
            ("/search", "Every word must match"),
        ]:
            r = c.get(url)
            assert r.status_code == 200 and text in r.text, url
        assert get_json(c, "/api/torrents")["torrents"] == []
        assert get_json(c, "/api/stats")["available"] is False
        assert c.get("/api/search?q=love").status_code == 503
        assert c.get("/api/shuffle").status_code == 503


def test_a_mirror_copy_serves_the_same_site(tmp_path: Path, web: WebArchive, client: httpx.Client) -> None:  # noqa: F811
    """A copy with the catalog, the stats and the releases (no files/ folder, no index) shows the same pages."""
    from fonoteca.web import ServerThread, Settings, create_app
    from fonoteca.web.server import ensure_index

    mirror = tmp_path / "mirror"
    shutil.copytree(web.root, mirror, symlinks=True, ignore=shutil.ignore_patterns("files", "index", "*-wal", "*-shm"))
    from fonoteca.archive import open_archive

    assert ensure_index(open_archive(mirror))
    with (
        ServerThread(create_app(Settings(archive=mirror, rate_limit=0))) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        for url in ["/api/search?q=love", f"/api/track/{web.release_track}", "/api/torrents", "/api/stats"]:
            assert get_json(c, url) == get_json(client, url), url
        track = get_json(c, f"/api/track/{web.archive_track}")
        assert track["audio"]["origin"] == "release" and track["file"]["present"] is False  # no files/ here
        assert c.get(f"/audio/{web.release_track}").status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fonoteca_serve_command(web: WebArchive) -> None:  # noqa: F811
    port = _free_port()
    env = dict(os.environ, COLUMNS="120")
    child = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(web.root), "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
            assert time.monotonic() < deadline, "fonoteca serve did not answer"
            time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/search?q=love").json()["count"] > 0
    finally:
        child.terminate()
        out = child.communicate(timeout=30)[0].decode()
    assert f"http://127.0.0.1:{port}/" in out and "Traceback" not in out
    bad = subprocess.run(
        [sys.executable, "-m", "fonoteca", "-A", str(web.root.parent / "nowhere"), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode == 1 and "not a Fonoteca archive" in bad.stdout + bad.stderr


def test_response_cache_keeps_what_the_site_declares_cacheable(client: httpx.Client, web: WebArchive) -> None:  # noqa: F811
    before = get_json(client, "/api/health")["response_cache"]
    first = client.get("/api/search?q=wild+fire&size=7")
    second = client.get("/api/search?q=wild+fire&size=7")
    after = get_json(client, "/api/health")["response_cache"]
    assert after["hits"] >= before["hits"] + 1 and first.content == second.content
    assert second.headers["etag"] == first.headers["etag"]
    assert "default-src 'none'" in second.headers["content-security-policy"]  # hits get the security headers too
    assert (
        client.get("/api/search?q=wild+fire&size=7", headers={"If-None-Match": first.headers["etag"]}).status_code
        == 304
    )
    # never kept: shuffle (no-store), errors, audio
    hits = get_json(client, "/api/health")["response_cache"]["hits"]
    client.get("/api/shuffle?count=3")
    client.get("/api/shuffle?count=3")
    client.get("/api/track/nothing-here")
    client.get("/api/track/nothing-here")
    client.get(f"/audio/{web.archive_track}")
    client.get(f"/audio/{web.archive_track}")
    assert get_json(client, "/api/health")["response_cache"]["hits"] == hits


def test_response_cache_forgets_when_the_catalog_changes(tmp_path: Path, web: WebArchive) -> None:  # noqa: F811
    import sqlite3

    from fonoteca.web import ServerThread, Settings, create_app

    root = tmp_path / "copy"
    shutil.copytree(web.root, root, symlinks=True, ignore=shutil.ignore_patterns("*-wal", "*-shm"))
    with (
        ServerThread(create_app(Settings(archive=root, rate_limit=0))) as server,
        httpx.Client(base_url=server.url) as c,
    ):
        assert get_json(c, f"/api/track/{web.plain_track}")["name"] != "Renamed"
        conn = sqlite3.connect(root / "catalog.sqlite3")
        conn.execute("UPDATE tracks SET name = 'Renamed' WHERE id = ?", (web.plain_track,))
        conn.commit()
        conn.close()
        deadline = time.monotonic() + 10
        while get_json(c, f"/api/track/{web.plain_track}")["name"] != "Renamed":
            assert time.monotonic() < deadline, "the cached page was kept after the catalog changed"
            time.sleep(0.5)


def test_rate_limiter_buckets() -> None:
    from fonoteca.web.security import RateLimiter, client_key

    limiter = RateLimiter(rate=2.0, burst=3, max_clients=2)
    assert [limiter.allow("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.allow("a", now=0.0) == pytest.approx(0.5)  # wait for half a second's worth of tokens
    assert limiter.allow("a", now=0.6) == 0.0
    assert limiter.allow("b", now=0.6) == 0.0 and limiter.allow("c", now=0.6) == 0.0
    assert len(limiter._buckets) == 2  # bounded memory: the oldest client is forgotten
    assert client_key("192.0.2.7") == "192.0.2.7"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::"
