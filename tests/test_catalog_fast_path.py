"""The fast import path and the general path produce the same records for the lines the fast path accepts,
and the fast path hands every other line to the general path."""

from __future__ import annotations

import io

import orjson
import zstandard

from fonoteca.catalog import spotify, spotify_fast
from tests import spotify_samples as s


def _general(line: bytes) -> list:
    out: list = []
    for _, unit in spotify.units(orjson.loads(line)):
        spotify.encode(unit, out)
    return out


def _fast(line: bytes) -> list | None:
    out: list = []
    return out if spotify_fast.encode_line(line, out) else None


def test_fast_path_matches_general_path_on_a_synthetic_catalog(synth_small):
    with io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(synth_small, "rb"))) as stream:
        lines = [line for line in stream][:3000]
    accepted = 0
    for line in lines:
        spotify_fast.reset()
        fast = _fast(line)
        spotify_fast.reset()
        general = _general(line)
        if fast is not None:
            accepted += 1
            assert fast == general
    assert accepted > 2000  # tracks and audio features go the fast way; full artists the general way


def test_lines_the_fast_path_refuses():
    unknown_key = s.full_track() | {"is_playable": True}
    wrong_type = s.full_track() | {"popularity": "82"}
    not_a_track = s.full_artist()
    bad_id = s.full_track() | {"id": "short"}
    for obj in (unknown_key, wrong_type, not_a_track, bad_id):
        spotify_fast.reset()
        assert _fast(orjson.dumps(obj)) is None
    spotify_fast.reset()
    assert _fast(b'{"type": "track", "id": ') is None


def test_memoised_nested_objects_are_emitted_once_per_file():
    first = orjson.dumps(s.full_track())
    second = orjson.dumps(s.full_track("3bNv3VuUOKgrf5hu3YcuRo", "Hello (Live)", 1))
    spotify_fast.reset()
    one, two = _fast(first), _fast(second)
    assert {type(r).__name__ for r in one} == {"TrackRec", "AlbumRec", "ArtistRec"}
    assert {type(r).__name__ for r in two} == {"TrackRec"}  # album and artist already emitted
    spotify_fast.reset()
    assert {type(r).__name__ for r in _fast(second)} == {"TrackRec", "AlbumRec", "ArtistRec"}
