"""Hostile and damaged input: deep nesting, broken compression, impossible values. One bad line, field or byte
never costs the good records around it."""

from __future__ import annotations

import gzip
import os
import zlib

import orjson
import zstandard

from tests import spotify_samples as s
from tests.conftest import run_cli
from tests.helpers import export_objects, rejects, write_jsonl


def _track(i: int) -> dict:
    return s.full_track(("T" + str(i)).ljust(22, "x"), f"Track {i}", 1, isrc=f"USABC25{i:05d}", popularity=i % 100)


def _lines(n: int) -> bytes:
    return b"".join(orjson.dumps(_track(i)) + b"\n" for i in range(n))


def _import(archive, *paths, expect: int = 0) -> dict:
    result = run_cli("import", "spotify", *map(str, paths), "--json", archive=archive.root)
    assert result.exit_code == expect, result.stderr
    return orjson.loads(result.stdout) if result.stdout.strip() else {}


def test_deeply_nested_lines_are_rejected_and_every_file_is_imported(archive, tmp_path):
    deep_array = b'{"type": "track", "id": "' + s.HELLO.encode() + b'", "album": ' + b"[" * 1200 + b"]" * 1200 + b"}"
    deep_wrapper = b'{"tracks": ' * 1000 + b"{}" + b"}" * 1000
    # an unmodelled key nested 300 deep: readable, but more than orjson writes back (255)
    deep_extra = orjson.dumps(_track(7))[:-1] + b', "restrictions": ' + b"[" * 300 + b"]" * 300 + b"}"
    first = tmp_path / "a.jsonl"
    first.write_bytes(
        orjson.dumps(_track(1))
        + b"\n"
        + deep_array
        + b"\n"
        + deep_wrapper
        + b"\n"
        + deep_extra
        + b"\n"
        + orjson.dumps(_track(2))
        + b"\n"
    )
    second = write_jsonl(tmp_path / "b.jsonl", [_track(3)])
    summary = _import(archive, first, second)
    assert summary["units"] == 3 and summary["rejected"] == 3
    found = {r["line"]: r["reason"] for r in rejects(archive.root)}
    assert set(found) == {2, 3, 4}
    assert all("nested deeper than 64 levels" in reason for reason in found.values()), found
    assert set(export_objects(archive.root, "track")) == {_track(i)["id"] for i in (1, 2, 3)}


def test_zstd_frame_followed_by_garbage_keeps_every_line(archive, tmp_path):
    data = _lines(19_125)
    path = tmp_path / "frame-and-garbage.jsonl.zst"
    compressed = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(compressed + os.urandom(4096))
    summary = _import(archive, path)
    assert summary["units"] == 19_125 and summary["rejected"] == 1  # before the fix: 18,805 kept
    [reject] = rejects(archive.root)
    assert reject["line"] == 19_126
    assert f"at byte {len(compressed):,} of the compressed file" in reject["reason"]
    assert len(export_objects(archive.root, "track")) == 19_125


def test_gzip_cut_in_the_middle_keeps_every_complete_line(archive, tmp_path):
    data = _lines(20_000)
    compressed = gzip.compress(data)
    cut = compressed[: len(compressed) // 2]
    recoverable = zlib.decompressobj(wbits=31).decompress(cut)
    complete = recoverable.count(b"\n")
    assert 9_000 < complete < 11_000
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    summary = _import(archive, path)
    assert summary["units"] == complete and summary["rejected"] == 1  # before the fix: 9,405 of 10,007 kept
    [reject] = rejects(archive.root)
    assert reject["line"] == complete + 1
    assert "truncated" in reject["reason"] and f"at byte {len(cut):,}" in reject["reason"]
    exported = export_objects(archive.root, "track")
    assert len(exported) == complete
    assert all(exported[_track(i)["id"]] == _track(i) for i in (0, complete - 1))


def _decodable_lines(damaged: bytes) -> int:
    """Complete lines before a zstd fault, found the slow way: one byte at a time."""
    frame, out = zstandard.ZstdDecompressor().decompressobj(), []
    for i in range(len(damaged)):
        try:
            out.append(frame.decompress(damaged[i : i + 1]))
        except zstandard.ZstdError:
            break
    return b"".join(out).count(b"\n")


def test_corrupt_block_inside_a_zstd_frame_keeps_every_line_before_it(archive, tmp_path):
    data = _lines(6_000)
    damaged = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(data))
    middle = len(damaged) // 2
    damaged[middle : middle + 32] = bytes(b ^ 0x5A for b in damaged[middle : middle + 32])
    path = tmp_path / "damaged.jsonl.zst"
    path.write_bytes(bytes(damaged))
    expected = _decodable_lines(bytes(damaged))
    assert 1_000 < expected < 6_000
    summary = _import(archive, path)
    assert summary["units"] == expected  # before the fix: 2,351 of 2,572 kept
    [reject] = rejects(archive.root)
    assert "corrupt zstd data" in reject["reason"] and "at byte" in reject["reason"]
    exported = export_objects(archive.root, "track")
    assert all(obj == _track(int(tid[1:].rstrip("x"))) for tid, obj in exported.items())


def test_impossible_values_cost_only_their_field(archive, tmp_path):
    track = _track(1) | {"popularity": 1000}
    track["album"] = track["album"] | {"id": "2" * 22, "release_date": "2020-13-45"}
    artist = s.full_artist() | {"followers": {"href": None, "total": -5}}
    features = s.audio_features() | {"danceability": "high", "tempo": -3.0}
    long_url = "https://i.scdn.co/image/" + "a" * 70_000
    album = s.full_album()
    album["images"] = [{"height": 640, "url": long_url, "width": 640}] + album["images"][1:]
    # and what real API data holds must not be taken for impossible: year 0000, a leap day, popularity 0 and 100
    edge = _track(2) | {"popularity": 100}
    edge["album"] = edge["album"] | {"id": "3" * 22, "release_date": "0000", "release_date_precision": "year"}
    leap = _track(3) | {"popularity": 0}
    leap["album"] = leap["album"] | {"id": "1" * 22, "release_date": "2024-02-29"}
    path = write_jsonl(tmp_path / "impossible.jsonl", [track, artist, features, album, edge, leap])
    summary = _import(archive, path)
    assert summary["units"] == 6 and summary["rejected"] == 6
    found = [r for r in rejects(archive.root)]
    assert all(r["imported"] for r in found)
    reasons = " | ".join(r["reason"] for r in found)
    for expected in (
        "field 'popularity': 1000 is out of range 0..100",
        "field 'album.release_date': '2020-13-45'",
        "field 'artist.followers.total': -5",
        "field 'danceability': expected number, got string 'high'",
        "field 'tempo': -3.0 is out of range",
        "field 'album.images[0].url': 70024 characters",
    ):
        assert expected in reasons, (expected, reasons)
    shown = orjson.loads(run_cli("show", track["id"], "--json", archive=archive.root).stdout)[0]
    assert shown["popularity"] is None and shown["isrc"] == track["external_ids"]["isrc"]
    assert shown["album"]["release_date"] is None and shown["name"] == track["name"]
    exported = export_objects(archive.root, "artist")[s.ADELE]
    assert exported["followers"] is None and exported["genres"] == artist["genres"]
    exported_features = export_objects(archive.root, "audio-features")[s.HELLO]
    assert exported_features["danceability"] is None and exported_features["energy"] == features["energy"]
    assert export_objects(archive.root, "album")[s.ALBUM_25]["images"] == album["images"][1:]
    tracks = export_objects(archive.root, "track")
    assert tracks[edge["id"]] == edge and tracks[leap["id"]] == leap
