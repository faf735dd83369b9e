"""Every id form a command prints is accepted back as input: NS:KIND:ID, NS:ID, KIND:ID, URLs, bare ids."""

from __future__ import annotations

import orjson
import pytest
import zstandard

from fonoteca.catalog.ids import NS_MUSICBRAINZ, NS_SPOTIFY, NS_TABLE, Reference, parse_reference
from tests import spotify_samples as s
from tests.conftest import run_cli
from tests.helpers import write_json

MBID = "cc2c9c3c-b7bc-4b8b-84d8-4fbd8779e493"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("table:track:as-002", Reference("track", "as-002", NS_TABLE)),
        ("table:as-002", Reference("any", "as-002", NS_TABLE)),
        ("table:track:a:b", Reference("track", "a:b", NS_TABLE)),
        (f"spotify:{s.HELLO}", Reference("any", s.HELLO, NS_SPOTIFY)),
        (f"spotify:track:{s.HELLO}", Reference("track", s.HELLO, NS_SPOTIFY)),
        (f"musicbrainz:{MBID.upper()}", Reference("any", MBID, NS_MUSICBRAINZ)),
        (f"musicbrainz:recording:{MBID}", Reference("track", MBID, NS_MUSICBRAINZ)),
        (f"musicbrainz:album:{MBID}", Reference("album", MBID, NS_MUSICBRAINZ)),
        (f"https://open.spotify.com/track/{s.HELLO}", Reference("track", s.HELLO, NS_SPOTIFY)),
        ("isrc:gb-bks-15-00214", Reference("isrc", "GBBKS1500214")),
        (f"track:{s.HELLO}", Reference("track", s.HELLO)),
        ("hello adele", Reference("any", "hello adele")),
    ],
)
def test_parse_reference(text, expected):
    assert parse_reference(text) == expected


def _table_track(archive, tmp_path) -> None:
    (tmp_path / "t.csv").write_text("id,name\nas-002,Field recording\n", encoding="utf-8")
    (tmp_path / "map.toml").write_text('kind = "track"\nnamespace = "table"\n[columns]\nid = "id"\nname = "name"\n')
    result = run_cli(
        "import", "table", str(tmp_path / "t.csv"), "--map", str(tmp_path / "map.toml"), archive=archive.root
    )
    assert result.exit_code == 0, result.stderr


def test_show_accepts_the_printed_forms(archive, tmp_path):
    _table_track(archive, tmp_path)
    write_json(tmp_path / "track.json", s.full_track())
    assert run_cli("import", "spotify", str(tmp_path / "track.json"), archive=archive.root).exit_code == 0
    for text in ("table:track:as-002", "table:as-002"):
        shown = run_cli("show", text, "--json", archive=archive.root)
        assert shown.exit_code == 0, (text, shown.stderr)
        assert [t["id"] for t in orjson.loads(shown.stdout)] == ["as-002"]
    for text in (f"spotify:{s.HELLO}", f"spotify:track:{s.HELLO}"):
        shown = run_cli("show", text, "--json", archive=archive.root)
        assert [t["id"] for t in orjson.loads(shown.stdout)] == [s.HELLO], text
    assert run_cli("show", "spotify:track:as-002", archive=archive.root).exit_code == 1  # the namespace counts
    exported = run_cli("export", "spotify", "--kind", "track", "--id", f"spotify:track:{s.HELLO}", archive=archive.root)
    assert orjson.loads(exported.stdout) == s.full_track()


def test_restore_finds_the_track_by_ns_id(archive, tmp_path):
    _table_track(archive, tmp_path)
    for text in ("table:as-002", "table:track:as-002"):
        result = run_cli("restore", text, "--out", str(tmp_path / "out.flac"), archive=archive.root)
        assert result.exit_code == 1
        assert "holds no file for this track" in result.stderr, (text, result.stderr)  # found, but never ingested


def test_fetch_finds_the_manifest_line_by_every_printed_form(tmp_path):
    from fonoteca.mirror.ops import find_track

    release = tmp_path / "releases" / "2026-11"
    release.mkdir(parents=True)
    common = {
        "torrent": "t",
        "btih": "0" * 40,
        "path": "x/y.flac",
        "file_index": 0,
        "offset": 0,
        "size": 1,
        "sha256": "0" * 64,
        "tier": "original",
        "popularity": 1,
        "band": "pop_1-9",
    }
    lines = [
        {"id": s.HELLO, "ns": "spotify", "isrc": "GBBKS1500214", **common},
        {"id": "as-002", "ns": "table", "isrc": None, **common},
    ]
    manifest = release / "manifest.jsonl.zst"
    manifest.write_bytes(zstandard.ZstdCompressor().compress(b"".join(orjson.dumps(x) + b"\n" for x in lines)))
    for text in (s.HELLO, f"spotify:{s.HELLO}", f"spotify:track:{s.HELLO}", "isrc:GBBKS1500214"):
        assert find_track([manifest], text)[1].id == s.HELLO, text
    for text in ("as-002", "table:as-002", "table:track:as-002"):
        assert find_track([manifest], text)[1].id == "as-002", text
