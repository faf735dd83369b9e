"""The Subsonic / OpenSubsonic API with real clients: py-opensonic (libopensonic) and py-sonic (libsonic) against a
real `fonoteca serve` child process on 127.0.0.1, over a really ingested and packed archive. XML answers are
checked against the element and attribute names of the Subsonic 1.16.1 schema (tests/data)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from fonoteca import archive as archive_mod
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
XSD = Path(__file__).parent / "data" / "subsonic-rest-api-1.16.1.xsd"
NS = "{http://subsonic.org/restapi}"
XS = "{http://www.w3.org/2001/XMLSchema}"
# OpenSubsonic adds these to the envelope; the 1.16.1 schema predates them
OPEN_SUBSONIC_ENVELOPE = {"type", "serverVersion", "openSubsonic"}
PASSWORD = "open sesame é"
LYRICS = "first line of the song\nsecond line"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`fonoteca -A ROOT serve` in a child process, stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.pop("FONOTECA_ARCHIVE", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fonoteca", "-A", str(root), "serve", "--port", str(self.port), "--rate-limit", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("fonoteca serve stopped: " + self.proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(self.url + "/rest/getOpenSubsonicExtensions?f=json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("fonoteca serve did not answer in 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _solid_png(color: tuple[int, int, int], side: int = 300) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (side, side), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict:
    """An ingested, packed archive of 8 tracks (one album's cover embedded at ingest, one file with lyrics), with
    users alice (password + API key), bob (API key only), carol (password kept hashed only), dora (admin)."""
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 8, (1.5, 2.5), ("flac", "mp3", "opus"), seed=41)
    root = archive_mod.init(tmp_path_factory.mktemp("sub") / "archive", name="Subsonic test").root
    r = run_cli("import", "table", coll.catalog_csv, "--map", coll.mapping_toml, archive=root)
    assert r.exit_code == 0, r.stderr
    covered = coll.tracks[0]
    (root / "covers").mkdir(exist_ok=True)
    (root / "covers" / f"{covered.album_id}.png").write_bytes(_solid_png((200, 30, 30)))
    r = run_cli("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original", archive=root)
    assert r.exit_code == 0, r.stderr
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write(
            "\n[pack]\ntarget_size = 300000\nmax_files = 3\n"
            "\n[subsonic]\nanonymous = true\nrate_limit = 20\nrate_burst = 150\n"
        )
    r = run_cli("pack", archive=root)
    assert r.exit_code == 0, r.stderr
    keys = {}
    for name, args in (
        ("alice", ["--password"]),
        ("bob", []),
        ("carol", ["--password", "--hash-only"]),
        ("dora", ["--password", "--admin"]),
    ):
        r = run_cli("users", "add", name, *args, "--key", archive=root, input=PASSWORD + "\n")
        assert r.exit_code == 0, r.stderr
        keys[name] = r.stdout.strip()
    conn = sqlite3.connect(root / "catalog.sqlite3")
    files = {
        tid: root / path
        for tid, path in conn.execute("SELECT t.id, f.path FROM files f JOIN tracks t ON t.rowid = f.track")
    }
    rowids = {tid: rowid for rowid, tid in conn.execute("SELECT rowid, id FROM tracks")}
    conn.close()
    lyric_track = next(t for t in coll.tracks if files[t.id].suffix == ".flac" and t is not covered)
    from mutagen.flac import FLAC

    tagged = FLAC(files[lyric_track.id])
    tagged["LYRICS"] = LYRICS
    tagged.save()
    server = Served(root)
    try:
        yield {
            "root": root,
            "url": server.url,
            "port": server.port,
            "keys": keys,
            "coll": coll,
            "files": files,
            "rowids": rowids,
            "covered": covered,
            "lyric": lyric_track,
        }
    finally:
        server.stop()


def call(
    lib: dict, endpoint: str, /, user: str | None = "alice", method: str = "GET", headers: dict | None = None, **params
) -> httpx.Response:
    params.setdefault("v", "1.16.1")
    params.setdefault("c", "tests")
    if user is not None:
        params.setdefault("apiKey", lib["keys"][user])
    url = f"{lib['url']}/rest/{endpoint}"
    if method == "POST":
        return httpx.post(url, data=params, headers=headers, timeout=30)
    return httpx.get(url, params=params, headers=headers, timeout=30)


def body(resp: httpx.Response) -> dict:
    return resp.json()["subsonic-response"]


def token_params(user: str, password: str = PASSWORD) -> dict:
    salt = os.urandom(6).hex()
    return {"u": user, "s": salt, "t": hashlib.md5((password + salt).encode()).hexdigest()}


def opensonic(lib: dict):
    import libopensonic

    return libopensonic.Connection(
        "http://127.0.0.1", api_key=lib["keys"]["alice"], port=lib["port"], server_path="", app_name="tests"
    )


def pysonic(lib: dict, user: str = "alice"):
    import libsonic

    return libsonic.Connection("http://127.0.0.1", user, PASSWORD, port=lib["port"], serverPath="rest", appName="tests")


# --- the envelope ----------------------------------------------------------------------------------------------------
def test_every_answer_has_the_envelope_in_xml_json_and_jsonp(library):
    for name in ("ping", "ping.view"):
        for method in ("GET", "POST"):
            resp = call(library, name, f="json", method=method)
            assert resp.status_code == 200
            env = body(resp)
            assert env == {
                "status": "ok",
                "version": "1.16.1",
                "type": "fonoteca",
                "serverVersion": env["serverVersion"],
                "openSubsonic": True,
            }
            assert env["serverVersion"]
    root = ET.fromstring(call(library, "ping").content)
    assert root.tag == NS + "subsonic-response" and root.get("status") == "ok" and root.get("version") == "1.16.1"
    assert root.get("type") == "fonoteca" and root.get("openSubsonic") == "true"
    resp = call(library, "ping", f="jsonp", callback="cb_1")
    assert resp.text.startswith("cb_1({") and resp.text.endswith("});")
    assert resp.headers["content-type"].startswith("application/javascript")
    hostile = call(library, "ping", f="jsonp", callback="alert(1)//")
    assert not hostile.text.startswith("alert") and body(hostile)["status"] == "ok"  # JSON, not script


# --- real clients -----------------------------------------------------------------------------------------------------
def test_py_opensonic_browses_artists_and_albums_and_syncs_the_library_with_search3(library):
    conn = opensonic(library)
    try:
        assert conn.ping()
        indexes = conn.get_artists()
        artists = [a for index in indexes.index for a in index.artist]
        assert len(artists) == 8 and all(a.album_count >= 1 for a in artists)
        artist = conn.get_artist(artists[0].id)
        album = conn.get_album(artist.album[0].id)
        assert album.song and all(s.album_id == album.id for s in album.song)
        song = conn.get_song(album.song[0].id)
        assert song.title == album.song[0].title and song.size > 0 and song.suffix in ("flac", "mp3", "opus")
        synced, offset = [], 0
        while True:
            page = conn.search3("", artist_count=0, album_count=0, song_count=3, song_offset=offset)
            if not page.song:
                break
            synced += [s.id for s in page.song]
            offset += len(page.song)
        assert sorted(synced) == sorted(str(r) for r in library["rowids"].values()) and len(set(synced)) == 8
        title = library["coll"].tracks[2].title
        found = conn.search3(title, artist_count=5, album_count=5, song_count=5)
        assert found.song and found.song[0].title == title and found.album and found.artist
        albums = conn.get_album_list2("alphabeticalByName", size=500)
        assert [a.name for a in albums] == sorted((a.name for a in albums), key=str.casefold) and len(albums) >= 1
        assert conn.get_open_subsonic_extensions()
    finally:
        conn.cleanup()


def test_py_sonic_token_auth_streams_the_stored_bytes_and_a_range(library):
    conn = pysonic(library)
    assert conn.ping()
    song = conn.getRandomSongs(size=1)["randomSongs"]["song"][0]
    track_id = next(t for t, r in library["rowids"].items() if str(r) == song["id"])
    stored = library["files"][track_id].read_bytes()
    streamed = conn.stream(song["id"]).read()
    assert hashlib.sha256(streamed).hexdigest() == hashlib.sha256(stored).hexdigest()
    resp = httpx.get(
        f"{library['url']}/rest/stream.view",
        params={"id": song["id"], **token_params("alice")},
        headers={"range": "bytes=100-1099"},
    )
    assert resp.status_code == 206 and resp.content == stored[100:1100]
    assert resp.headers["content-range"] == f"bytes 100-1099/{len(stored)}"
    downloaded = conn.download(song["id"]).read()
    assert downloaded == stored


def test_cover_art_comes_from_the_embedded_picture_resized_and_cached(library):
    from PIL import Image

    covered = library["covered"]
    song_id = str(library["rowids"][covered.id])
    album_id = body(call(library, "getSong", id=song_id, f="json"))["song"]["albumId"]
    resp = call(library, "getCoverArt", id=album_id, size=64)
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(resp.content))
    assert image.size == (64, 64)
    red, green, blue = image.convert("RGB").getpixel((32, 32))
    assert red > 150 and green < 80 and blue < 80  # the embedded red cover, not a placeholder
    assert list((library["root"] / "cache" / "covers").rglob("*-64.jpg"))
    other = next(t for t in library["coll"].tracks if t.album_id != covered.album_id)
    placeholder = call(library, "getCoverArt", id=str(library["rowids"][other.id]), size=100)
    assert placeholder.status_code == 200 and Image.open(io.BytesIO(placeholder.content)).size == (100, 100)
    import libsonic

    data = (
        libsonic.Connection("http://127.0.0.1", "alice", PASSWORD, port=library["port"], serverPath="rest")
        .getCoverArt(album_id, size=32)
        .read()
    )
    assert Image.open(io.BytesIO(data)).size == (32, 32)


def test_star_scrobble_and_rating_are_read_back(library):
    conn = opensonic(library)
    try:
        song = conn.get_random_songs(size=1)[0]
        assert conn.star(sids=[song.id], album_ids=[song.album_id])
        starred = conn.get_starred2()
        assert [s.id for s in starred.song] == [song.id] and [a.id for a in starred.album] == [song.album_id]
        assert conn.scrobble(song.id, submission=True)
        assert conn.scrobble(song.id, submission=True)
        assert conn.get_song(song.id).play_count == 2
        recent = conn.get_album_list2("recent", size=10)
        assert [a.id for a in recent] == [song.album_id]
        assert conn.set_rating(song.id, 4)
        assert conn.get_song(song.id).user_rating == 4
        assert conn.unstar(sids=[song.id])
        assert [s.id for s in conn.get_starred2().song or []] == []
    finally:
        conn.cleanup()
    # another user sees none of it
    other = body(call(library, "getStarred2", user="dora", f="json"))["starred2"]
    assert other.get("album", []) == [] and other.get("song", []) == []


def test_playlists_are_created_edited_and_deleted(library):
    conn = pysonic(library)
    songs = [s["id"] for s in conn.getRandomSongs(size=4)["randomSongs"]["song"]]
    created = conn.createPlaylist(name="Road trip", songIds=songs[:2])["playlist"]
    assert created["name"] == "Road trip" and [e["id"] for e in created["entry"]] == songs[:2]
    conn.updatePlaylist(created["id"], name="Road trip 2", songIdsToAdd=songs[2:4], songIndexesToRemove=[0])
    got = conn.getPlaylist(created["id"])["playlist"]
    assert got["name"] == "Road trip 2" and [e["id"] for e in got["entry"]] == [songs[1], songs[2], songs[3]]
    listed = conn.getPlaylists()["playlists"]["playlist"]
    assert [p["id"] for p in listed if p["id"].startswith("pl-")] == [created["id"]]
    # someone else may not change it
    denied = body(call(library, "updatePlaylist", user="bob", f="json", playlistId=created["id"], name="x"))
    assert denied["error"]["code"] == 70  # a private playlist of another user is not there for bob
    conn.deletePlaylist(created["id"])
    assert body(call(library, "getPlaylist", f="json", id=created["id"]))["error"]["code"] == 70


def test_play_queue_is_saved_and_restored(library):
    songs = [s["id"] for s in body(call(library, "getRandomSongs", f="json", size=3))["randomSongs"]["song"]]
    form = urlencode(
        [("apiKey", library["keys"]["alice"]), ("f", "json"), ("current", songs[1]), ("position", "12345")]
        + [("id", s) for s in songs]
    )
    resp = httpx.post(
        f"{library['url']}/rest/savePlayQueue.view",
        content=form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert body(resp)["status"] == "ok"
    queue = body(call(library, "getPlayQueue", f="json"))["playQueue"]
    assert [e["id"] for e in queue["entry"]] == songs and str(queue["current"]) == songs[1]
    assert queue["position"] == 12345 and queue["username"] == "alice"


def test_stream_transcodes_with_pyav_when_asked(library):
    import mutagen

    flac = next(t for t in library["coll"].tracks if library["files"][t.id].suffix == ".flac")
    song_id = str(library["rowids"][flac.id])
    resp = call(library, "stream", id=song_id, format="mp3", maxBitRate=64)
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/mpeg"
    decoded = mutagen.File(io.BytesIO(resp.content))
    assert decoded.info.bitrate <= 70000 and abs(decoded.info.length - flac.seconds) < 0.3
    later = call(library, "stream", id=song_id, format="opus", timeOffset=1)
    assert later.status_code == 200 and later.content[:4] == b"OggS"
    length = mutagen.File(io.BytesIO(later.content)).info.length
    assert abs(length - (flac.seconds - 1)) < 0.3, length
    raw = call(library, "stream", id=song_id, format="raw")
    assert raw.content == library["files"][flac.id].read_bytes()


def test_lyrics_come_from_the_files_tags(library):
    song_id = str(library["rowids"][library["lyric"].id])
    found = body(call(library, "getLyricsBySongId", f="json", id=song_id))["lyricsList"]["structuredLyrics"]
    assert [line["value"] for line in found[0]["line"]] == LYRICS.splitlines() and found[0]["synced"] is False
    other = str(library["rowids"][library["covered"].id])
    assert body(call(library, "getLyricsBySongId", f="json", id=other))["lyricsList"].get("structuredLyrics") == []


# --- auth and bad input -----------------------------------------------------------------------------------------------
def code(resp: httpx.Response) -> int | None:
    assert resp.status_code in (200, 429, 501), resp.status_code
    assert "Traceback" not in resp.text
    return body(resp).get("error", {}).get("code")


def test_both_auth_schemes_and_every_auth_error(library):
    url = library["url"] + "/rest/getUser.view"
    ok = httpx.get(url, params={"f": "json", **token_params("alice")})
    assert body(ok)["user"]["username"] == "alice"
    assert body(httpx.get(url, params={"f": "json", "apiKey": library["keys"]["bob"]}))["user"]["username"] == "bob"
    legacy = httpx.get(url, params={"f": "json", "u": "alice", "p": "enc:" + PASSWORD.encode().hex()})
    assert body(legacy)["user"]["username"] == "alice"
    assert code(httpx.get(url, params={"f": "json", "u": "carol", "p": PASSWORD})) is None  # hashed: p works
    cases = {
        10: {"u": "alice", "t": "0" * 32},  # no salt
        40: {**token_params("alice", "wrong")},
        41: {**token_params("carol")},  # kept hashed only: no token auth
        42: {**token_params("bob")},  # bob has an API key only
        43: {"apiKey": library["keys"]["alice"], "u": "alice", "p": PASSWORD},
        44: {"apiKey": library["keys"]["alice"][:-2] + "xx"},
    }
    for expected, params in cases.items():
        assert code(httpx.get(url, params={"f": "json", **params})) == expected, expected
    assert code(httpx.get(url, params={"f": "json", "p": PASSWORD})) == 10  # p without u
    assert code(httpx.get(url, params={"f": "json", "u": "nobody", "p": "x"})) == 40
    assert code(httpx.get(url, params={"f": "json", "v": "0.9.0", **token_params("alice")})) == 20
    assert code(httpx.get(url, params={"f": "json", "v": "2.0.0", **token_params("alice")})) == 30
    assert code(call(library, "getUser", user="alice", f="json", username="dora")) == 50  # not an admin
    assert body(call(library, "getUser", user="dora", f="json", username="alice"))["user"]["username"] == "alice"


def test_anonymous_mode_reads_but_never_writes(library):
    anon = httpx.get(library["url"] + "/rest/getArtists.view", params={"f": "json"})
    assert len([a for i in body(anon)["artists"]["index"] for a in i["artist"]]) == 8
    song = body(httpx.get(library["url"] + "/rest/getRandomSongs", params={"f": "json", "size": 1}))
    song_id = song["randomSongs"]["song"][0]["id"]
    for name, params in (
        ("star", {"id": song_id}),
        ("scrobble", {"id": song_id}),
        ("createPlaylist", {"name": "x"}),
        ("savePlayQueue", {"id": song_id}),
    ):
        assert code(httpx.get(f"{library['url']}/rest/{name}", params={"f": "json", **params})) == 50, name


def test_bad_parameters_and_hostile_ids_get_documented_errors(library):
    for name, params, expected in (
        ("getAlbum", {}, 10),
        ("getAlbum", {"id": "al-999999999"}, 70),
        ("getAlbum", {"id": "../../etc/passwd"}, 70),
        ("getSong", {"id": "99999999999999999999999"}, 70),
        ("getSong", {"id": "al-1"}, 70),
        ("stream", {"id": "/etc/passwd"}, 70),
        ("getCoverArt", {"id": "..%2F..%2Fcatalog"}, 70),
        ("getAlbumList2", {"type": "nonsense"}, 10),
        ("getAlbumList2", {}, 10),
        ("getAlbumList2", {"type": "random", "size": "1" + "0" * 30}, 10),
        ("getAlbumList2", {"type": "random", "size": "ten"}, 10),
        ("getAlbumList2", {"type": "byYear"}, 10),
        ("setRating", {"id": "1", "rating": "9"}, 10),
        ("scrobble", {"id": "1", "time": "soon"}, 10),
        ("getArtist", {"id": "ar-" + "9" * 18}, 70),
        ("getMusicDirectory", {"id": "x" * 3000}, 70),
    ):
        assert code(call(library, name, f="json", **params)) == expected, (name, params)
    huge = body(call(library, "getAlbumList2", f="json", type="random", size=10**9))
    assert huge["status"] == "ok" and len(huge["albumList2"]["album"]) <= 500  # clamped, as documented
    song_id = body(call(library, "getRandomSongs", f="json", size=1))["randomSongs"]["song"][0]["id"]
    beyond = call(library, "stream", id=song_id, headers={"range": "bytes=999999999-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"].startswith("bytes */")
    unknown = call(library, "getVideos", f="json")
    assert unknown.status_code == 501 and body(unknown)["status"] == "failed"
    for hostile in ("\x00", "'; DROP TABLE tracks; --", "<script>", "🎵" * 300):
        resp = call(library, "search3", f="xml", query=hostile)
        assert resp.status_code == 200 and ET.fromstring(resp.content).get("status") == "ok"


def test_requests_are_rate_limited_per_user(library):
    seen = []
    with httpx.Client(timeout=10) as client:
        for _ in range(400):
            resp = client.get(library["url"] + "/rest/ping", params={"apiKey": library["keys"]["bob"], "f": "json"})
            seen.append(resp.status_code)
            if resp.status_code == 429:
                assert body(resp)["status"] == "failed" and resp.headers.get("retry-after")
                break
    assert 429 in seen and seen.count(200) >= 100
    # another user is not slowed down by bob
    assert code(call(library, "ping", user="dora", f="json")) is None


# --- XML against the schema -------------------------------------------------------------------------------------------
class Schema:
    """Element and attribute names of the 1.16.1 schema: what each type allows, and which attributes it needs."""

    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        self.types = {t.get("name"): t for t in root.findall(XS + "complexType")}
        self.root_type = root.find(XS + "element").get("type").split(":")[1]

    def _parts(self, name: str) -> tuple[dict[str, tuple[str, bool]], dict[str, str], bool]:
        node = self.types[name]
        attrs: dict[str, tuple[str, bool]] = {}
        children: dict[str, str] = {}
        mixed = node.get("mixed") == "true"
        extension = node.find(f"{XS}complexContent/{XS}extension")
        if extension is not None:
            base_attrs, base_children, base_mixed = self._parts(extension.get("base").split(":")[1])
            attrs.update(base_attrs)
            children.update(base_children)
            mixed = mixed or base_mixed
            node = extension
        for attr in node.iter(XS + "attribute"):
            attrs[attr.get("name")] = (attr.get("type"), attr.get("use") == "required")
        for element in node.iter(XS + "element"):
            children[element.get("name")] = element.get("type")
        return attrs, children, mixed

    def check(self, element: ET.Element, type_name: str | None = None, where: str = "") -> None:
        type_name = type_name or self.root_type
        where = f"{where}/{element.tag.removeprefix(NS)}"
        assert element.tag.startswith(NS), f"{where}: not in the Subsonic namespace"
        attrs, children, mixed = self._parts(type_name)
        allowed = set(attrs) | (OPEN_SUBSONIC_ENVELOPE if type_name == self.root_type else set())
        extra = set(element.attrib) - allowed
        assert not extra, f"{where} ({type_name}): attributes not in the schema: {sorted(extra)}"
        needed = {a for a, (_t, required) in attrs.items() if required} - set(element.attrib)
        assert not needed, f"{where} ({type_name}): required attributes missing: {sorted(needed)}"
        for a, (kind, _r) in attrs.items():
            value = element.get(a)
            if value is not None and kind in ("xs:int", "xs:long"):
                int(value)
            if value is not None and kind == "xs:boolean":
                assert value in ("true", "false"), f"{where}@{a}={value!r}"
        if not mixed and not children:
            assert not (element.text or "").strip(), f"{where}: text in an element that has none"
        for child in element:
            name = child.tag.removeprefix(NS)
            assert name in children, f"{where} ({type_name}): element <{name}> not in the schema"
            kind = children[name]
            if kind.startswith("sub:"):
                self.check(child, kind.split(":")[1], where)


def test_xml_answers_use_only_the_names_of_the_1_16_1_schema(library):
    schema = Schema(XSD)
    songs = body(call(library, "getRandomSongs", f="json", size=2))["randomSongs"]["song"]
    song = songs[0]
    call(library, "star", id=song["id"], albumId=song["albumId"], artistId=song["artistId"])
    call(library, "setRating", id=song["id"], rating=3)
    playlist = body(call(library, "createPlaylist", f="json", name="xml", songId=song["id"]))["playlist"]["id"]
    call(library, "savePlayQueue", id=[s["id"] for s in songs], current=song["id"])
    requests = [
        ("ping", {}),
        ("getLicense", {}),
        ("getMusicFolders", {}),
        ("getUser", {}),
        ("getArtists", {}),
        ("getIndexes", {}),
        ("getArtist", {"id": song["artistId"]}),
        ("getAlbum", {"id": song["albumId"]}),
        ("getSong", {"id": song["id"]}),
        ("getMusicDirectory", {"id": song["artistId"]}),
        ("getMusicDirectory", {"id": song["albumId"]}),
        ("getGenres", {}),
        ("getScanStatus", {}),
        ("getRandomSongs", {"size": 3}),
        ("getSongsByGenre", {"genre": "pop"}),
        ("search3", {"query": ""}),
        ("search3", {"query": song["title"]}),
        ("search2", {"query": song["title"]}),
        ("getStarred", {}),
        ("getStarred2", {}),
        ("getPlaylists", {}),
        ("getPlaylist", {"id": playlist}),
        ("getPlayQueue", {}),
        ("getAlbum", {"id": "al-0"}),
        ("getUser", {"apiKey": "bad.key"}),
    ]
    requests += [
        ("getAlbumList2", {"type": t, "fromYear": 1990, "toYear": 2030, "genre": "pop"})
        for t in (
            "random",
            "newest",
            "highest",
            "frequent",
            "recent",
            "alphabeticalByName",
            "alphabeticalByArtist",
            "starred",
            "byYear",
            "byGenre",
        )
    ]
    requests += [("getAlbumList", {"type": "newest"})]
    for name, params in requests:
        resp = call(library, name, **params)
        assert resp.headers["content-type"].startswith("application/xml"), name
        root = ET.fromstring(resp.content)
        schema.check(root)
        assert len(root) <= 1
    call(library, "deletePlaylist", id=playlist)


# --- users ----------------------------------------------------------------------------------------------------------
def test_users_command_keeps_no_secret_in_the_clear(tmp_path):
    root = archive_mod.init(tmp_path / "a", name="users").root
    r = run_cli("users", "add", "erin", "--password", "--key", archive=root, input="hunter2-secret\n")
    assert r.exit_code == 0, r.stderr
    key = r.stdout.strip()
    assert "." in key and len(key) > 40
    second = run_cli("users", "key", "erin", archive=root)
    assert second.exit_code == 0 and second.stdout.strip() != key
    listed = run_cli("users", "list", "--json", archive=root)
    assert listed.exit_code == 0
    import json

    assert json.loads(listed.stdout) == [
        {
            "name": "erin",
            "admin": False,
            "password": "encrypted",
            "api_keys": 2,
            "created_at": json.loads(listed.stdout)[0]["created_at"],
        }
    ]
    raw = b"".join(p.read_bytes() for p in root.glob("users.sqlite3*"))
    assert b"hunter2-secret" not in raw and key.split(".")[1].encode() not in raw
    assert stat.S_IMODE((root / "users.key").stat().st_mode) == 0o600
    assert run_cli("users", "add", "erin", archive=root).exit_code == 1  # already there: said plainly
    assert run_cli("users", "add", "bad name!", archive=root).exit_code == 2
    os.chmod(root / "users.key", 0o644)
    loose = run_cli("users", "add", "fred", "--password", archive=root, input="pw\n")
    assert loose.exit_code == 1 and "chmod 600" in loose.stderr
    os.chmod(root / "users.key", 0o600)
    assert run_cli("users", "remove", "erin", archive=root).exit_code == 0
    assert run_cli("users", "remove", "erin", archive=root).exit_code == 1
