"""Shared data for the web tests: one archive made by the real pipeline (a synthetic catalog and hostile records
imported, the search index, statistics, two real audio files ingested and packed into a real release of hybrid
torrents), and beside it a second site whose torrent list is the one a big, long-running release publishes
(scraped seeder counts of every health, obsolete and embargoed entries, a hostile entry from a list another site
wrote): figures no loopback test can produce, so that list is written here.

Built once per test session (the builder caches by process) and served by a real uvicorn on loopback."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.pack.manifest import MANIFEST_NAME, ManifestLine, read_manifest
from tests import spotify_samples as sp
from tests.conftest import run_cli
from tests.helpers import write_jsonl

RELEASE = "testcoll-r1"  # the real release `fonoteca pack --name` made
LISTED = "bigcoll-r7"  # the release of the written list
AUDIO_SECONDS = 4.0

# Names meant to break out of HTML, attributes, URLs and templates; each must show as plain text.
XSS_SCRIPT = "<script>window.__pwned='script'</script>Hostile"
XSS_ATTR = '"><img src=x onerror="window.__pwned=\'img\'">Quote'
XSS_SINGLE = "' onmouseover='window.__pwned=1' x='"
XSS_TITLE = "</title><script>window.__pwned='title'</script>"
CONTROL = "Ctrl\x00Nul\x1b[31mEsc\x07Bell\u202eRTL\x7fDel"
TEMPLATE = "{{ 7*7 }}{% raw %}"
HOSTILE_TRACK = "HostileTrack0000000001"
HOSTILE_ARTIST = "HostileArtist000000001"
HOSTILE_ALBUM = "HostileAlbum0000000001"


@dataclass
class WebArchive:
    root: Path
    archive_track: str  # stored in files/ and released
    release_track: str  # released, its stored copy lost: played from the release payload (as on a mirror)
    plain_track: str  # catalogued only (its files rows are hostile: they point outside files/)
    torrent: str = ""  # the real data torrent that holds both files
    hostile_track: str = HOSTILE_TRACK
    hostile_artist: str = HOSTILE_ARTIST
    hostile_album: str = HOSTILE_ALBUM

    def line(self, track: str) -> ManifestLine:
        """The real release's manifest line of a track."""
        return next(x for x in read_manifest(self.root / "releases" / RELEASE / MANIFEST_NAME) if x.id == track)

    def payload(self, track: str) -> Path:
        return self.root / "releases" / RELEASE / "data" / self.torrent / self.line(track).path


def wav_bytes(seconds: float = AUDIO_SECONDS, rate: int = 8000, freq: float = 440.0) -> bytes:
    """A real audio file: a sine tone, 16-bit mono PCM WAV."""
    import numpy as np

    samples = (12000 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples)
    return out.getvalue()


def hostile_objects() -> list[dict[str, Any]]:
    artist = sp.full_artist(HOSTILE_ARTIST, XSS_SCRIPT, genres=[XSS_ATTR, "</text><script>x</script>-->"])
    track = sp.full_track(HOSTILE_TRACK, XSS_TITLE + " " + XSS_ATTR, isrc="QZHOS2600001", popularity=90)
    track["album"]["id"] = HOSTILE_ALBUM
    track["album"]["name"] = XSS_SINGLE + " " + CONTROL + " " + TEMPLATE
    for obj in (track["album"], track):
        obj["href"] = sp.API + ("albums/" if obj is track["album"] else "tracks/") + obj["id"]
        obj["uri"] = ("spotify:album:" if obj is track["album"] else "spotify:track:") + obj["id"]
        obj["external_urls"] = {"spotify": sp.OPEN + ("album/" if obj is track["album"] else "track/") + obj["id"]}
    hostile_simple = sp.simple_artist(HOSTILE_ARTIST, XSS_SCRIPT)
    track["artists"] = [hostile_simple]
    track["album"]["artists"] = [hostile_simple]
    # and a full album with a UPC (the synthetic tracks carry simplified albums, without one)
    return [artist, track, sp.full_artist(), sp.full_album()]


def torrents_listing() -> list[dict[str, Any]]:
    """A hand-written torrents.json: a metadata torrent and five data torrents in three bands, with every
    seeding health, one obsolete and one embargoed, and one hostile entry. listens_covered is an estimated
    count of listens, as `fonoteca pack` writes it."""

    def entry(name: str, band: str, size: int, seeders: int | None, **extra: Any) -> dict[str, Any]:
        btih = hashlib.sha1(name.encode()).hexdigest()
        return {
            "url": f"https://example.org/releases/{LISTED}/torrents/{name}.torrent",
            "group_name": band,
            "display_name": name,
            "btih": btih,
            "magnet_link": f"magnet:?xt=urn:btih:{btih}&dn={name}",
            "torrent_size": 20_000,
            "num_files": 100,
            "data_size": size,
            "added_to_torrents_list_at": "2026-01-15T10:00:00Z",
            "is_metadata": False,
            "obsolete": False,
            "embargo": False,
            "seeders": seeders,
            "leechers": 2,
            "completed": 40,
            "stats_scraped_at": "2026-11-20T00:00:00Z",
            "band": band,
            "tracks": 100,
            "listens_covered": size / 1e6,
            **extra,
        }

    return [
        entry(f"{LISTED}-metadata", "metadata", 200_000_000, 30, is_metadata=True, tracks=0, listens_covered=0.0),
        entry(f"{LISTED}-pop_50-100-0001", "pop_50-100", 600_000_000_000, 12),
        entry(f"{LISTED}-pop_50-100-0002", "pop_50-100", 500_000_000_000, 2),
        entry(f"{LISTED}-pop_20-49-0001", "pop_20-49", 900_000_000_000, 0),
        entry(f"{LISTED}-pop_20-49-0002", "pop_20-49", 400_000_000_000, 6),
        entry(f"{LISTED}-pop_0-0001", "pop_0", 300_000_000_000, None),
        entry(f"{LISTED}-pop_0-0000-old", "pop_0", 100_000_000_000, 0, obsolete=True),
        entry(f"{LISTED}-pop_0-0003-embargo", "pop_0", 100_000_000_000, 0, embargo=True),
        entry(
            f"{LISTED}-hostile",
            "pop_0",
            1_000_000,
            1,
            display_name=XSS_SCRIPT,
            url="javascript:window.__pwned='url'",
            magnet_link="javascript:window.__pwned='magnet'",
        ),
    ]


def add_file_row(conn: sqlite3.Connection, track: int, path: str, data: bytes, tier: int = 2) -> None:
    """A files row as ingest writes one (ingest owns the table). Columns this test does not know get a plausible
    value when they are NOT NULL."""
    known = {
        "track": track,
        "tier": tier,
        "path": path,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "source_size": len(data),
        "source_path": "/in/" + path,
        "container": "wav",
        "codec": "pcm_s16le",
        "duration_ms": int(AUDIO_SECONDS * 1000),
        "matched_by": "map",
        "ingested_at": "2026-11-25T00:00:00+00:00",
        "bit_rate": 128000,
        "sample_rate": 8000,
        "channels": 1,
    }
    values = {}
    for _, name, kind, notnull, default, pk in conn.execute("PRAGMA table_info(files)"):
        if name in known:
            values[name] = known[name]
        elif notnull and default is None and not pk:
            values[name] = 0 if "INT" in (kind or "").upper() or "REAL" in (kind or "").upper() else ""
    cols = ", ".join(values)
    conn.execute(f"INSERT INTO files ({cols}) VALUES ({', '.join('?' * len(values))})", list(values.values()))


def write_audio(folder: Path, tracks: list[str]) -> Path:
    """Real audio files for `tracks` (4 s tones, each its own pitch) and the ingest map that names them."""
    folder.mkdir(parents=True)
    rows = ["path,track_id"]
    for i, track in enumerate(tracks):
        (folder / f"tone{i}.wav").write_bytes(wav_bytes(freq=330.0 + 110 * i))
        rows.append(f"tone{i}.wav,{track}")
    (folder / "map.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder / "map.csv"


def build(base: Path, synth: Path) -> WebArchive:
    archive = archive_mod.init(base / "archive", name="Fonoteca test archive")
    root = archive.root
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        # its tracks have no licence on record; the tones are 4 s long, the catalog says minutes (the site shows both)
        f.write('\n[release]\nlicences = ["redistributable", "unknown"]\n\n[ingest]\nduration_tolerance_s = 1000\n')
    hostile = write_jsonl(base / "hostile.jsonl", hostile_objects())
    for source in (synth, hostile):
        result = run_cli("import", "spotify", str(source), archive=root)
        assert result.exit_code == 0, result.stderr
    assert run_cli("index", "rebuild", archive=root).exit_code == 0
    from fonoteca.plan.stats import write_stats

    write_stats(archive, root / "stats")

    conn = sqlite3.connect(archive.catalog_path)
    top = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM tracks WHERE level > 0 AND id NOT LIKE 'Hostile%' ORDER BY popularity DESC, rowid LIMIT 3"
        )
    ]
    conn.close()
    archive_track, release_track, plain_track = top
    audio_map = write_audio(base / "incoming", [archive_track, release_track])
    for args in (
        ("ingest", str(audio_map.parent), "--map", str(audio_map), "--tier", "original", "--strict"),
        ("pack", "--name", RELEASE),
    ):
        result = run_cli(*args, archive=root)
        assert result.exit_code == 0, (args, result.stderr)

    conn = sqlite3.connect(archive.catalog_path)
    # traversal attempts in the files table must never be served
    evil = conn.execute("SELECT rowid FROM tracks WHERE id = ?", (plain_track,)).fetchone()[0]
    add_file_row(conn, evil, "files/../fonoteca.toml", b"x", tier=1)
    add_file_row(conn, evil, "/etc/passwd", b"y", tier=2)
    (stored,) = conn.execute(
        "SELECT f.path FROM files f JOIN tracks t ON t.rowid = f.track WHERE t.id = ?", (release_track,)
    ).fetchone()
    conn.commit()
    conn.close()
    # the stored copy of one track is lost (a failed disk): the release payload still holds it (pack links it)
    (root / stored).unlink()
    web = WebArchive(root, archive_track, release_track, plain_track)
    web.torrent = web.line(release_track).torrent
    assert web.line(archive_track).torrent == web.torrent and web.payload(release_track).is_file()
    # links that lead out of the payload must never be followed by the web seed route
    web.payload(release_track).parent.joinpath("evil.wav").symlink_to(root / "fonoteca.toml")
    (root / "releases" / RELEASE / "data" / "evil-torrent").symlink_to(root)
    return web


def build_listed(base: Path) -> Path:
    """An archive whose only release is the written list (no catalog, no payload, no .torrent files)."""
    archive = archive_mod.init(base / "listed", name="A big collection")
    folder = archive.root / "releases" / LISTED
    folder.mkdir(parents=True)
    (folder / "torrents.json").write_bytes(orjson.dumps(torrents_listing(), option=orjson.OPT_INDENT_2))
    return archive.root


_BUILT: dict[str, WebArchive] = {}
_BUILT_LISTED: dict[str, Path] = {}


def web_archive_for(tmp_path_factory: pytest.TempPathFactory, synth: Path) -> WebArchive:
    if "archive" not in _BUILT:
        _BUILT["archive"] = build(tmp_path_factory.mktemp("web"), synth)
    return _BUILT["archive"]


_SERVERS: dict[str, Any] = {}


def server_for(web: WebArchive, **settings: Any) -> str:
    """The URL of a server for the web archive (started once per settings; stopped at exit with the process)."""
    key = repr((str(web.root), sorted(settings.items())))
    if key not in _SERVERS:
        from fonoteca.web import ServerThread, Settings, create_app

        app = create_app(Settings(archive=web.root, **{"rate_limit": 0, **settings}))
        server = ServerThread(app).__enter__()
        _SERVERS[key] = server
    return _SERVERS[key].url


def stop_servers() -> None:
    for server in _SERVERS.values():
        server.__exit__(None, None, None)
    _SERVERS.clear()


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory, synth_small: Path) -> WebArchive:
    return web_archive_for(tmp_path_factory, synth_small)


@pytest.fixture(scope="session")
def base_url(web: WebArchive) -> Any:
    yield server_for(web)


@pytest.fixture(scope="session")
def listed_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The site of the archive with the written torrent list."""
    if "listed" not in _BUILT_LISTED:
        _BUILT_LISTED["listed"] = build_listed(tmp_path_factory.mktemp("listed"))
    yield server_for(WebArchive(_BUILT_LISTED["listed"], "", "", ""))
