"""Spotify importer: every object kind and container, exact round trip, fuller and newer objects win."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from tests import spotify_samples as s
from tests.conftest import run_cli
from tests.helpers import export_objects, rejects, write_json, write_jsonl


def _import(archive, *paths: Path, extra: tuple[str, ...] = ()) -> None:
    result = run_cli("import", "spotify", *map(str, paths), *extra, archive=archive.root)
    assert result.exit_code == 0, result.stderr


def test_full_track_round_trips_exactly(archive, tmp_path):
    track = s.full_track()
    _import(archive, write_json(tmp_path / "track.json", track))
    assert export_objects(archive.root, "track") == {s.HELLO: track}
    # the nested album and artist were stored as simplified objects and export as such
    assert export_objects(archive.root, "album")[s.ALBUM_25] == s.simple_album()
    assert export_objects(archive.root, "artist")[s.ADELE] == s.simple_artist(s.ADELE, "Adele")


def test_full_album_with_track_page_round_trips(archive, tmp_path):
    album = s.full_album()
    _import(archive, write_json(tmp_path / "album.json", album))
    assert export_objects(archive.root, "album")[s.ALBUM_25] == album
    tracks = export_objects(archive.root, "track")
    assert tracks[s.WHEN] == album["tracks"]["items"][1]  # simplified track, null and non-null preview
    assert tracks[s.HELLO]["preview_url"] is None


def test_artist_features_and_empty_genres(archive, tmp_path):
    artists = [s.full_artist(), s.full_artist("0TnOYISbd1XYRBk9myaseg", "Pitbull", genres=[])]
    _import(
        archive,
        write_jsonl(tmp_path / "artists.jsonl", artists),
        write_json(tmp_path / "features.json", {"audio_features": [s.audio_features(), None]}),
    )
    exported = export_objects(archive.root, "artist")
    assert exported == {a["id"]: a for a in artists}
    features = export_objects(archive.root, "audio-features")
    assert features[s.HELLO] == s.audio_features()
    assert type(features[s.HELLO]["instrumentalness"]) is int  # JSON number types survive
    assert type(features[s.HELLO]["loudness"]) is float


def test_playlist_with_local_track_and_removed_item(archive, tmp_path):
    playlist = s.playlist()
    _import(archive, write_json(tmp_path / "playlist.json", playlist))
    assert export_objects(archive.root, "playlist")[s.PLAYLIST] == playlist
    # the catalogued track inside is a real track; the local file is not
    tracks = export_objects(archive.root, "track")
    assert set(tracks) == {s.HELLO}
    shown = run_cli("show", f"spotify:playlist:{s.PLAYLIST}", "--json", archive=archive.root)
    assert orjson.loads(shown.stdout)[0]["items"] == 3


def test_search_results_several_wrappers_and_pages(archive, tmp_path):
    _import(
        archive,
        write_json(tmp_path / "search.json", s.search_results()),
        write_json(tmp_path / "several.json", {"tracks": [s.full_track(), None]}),
        write_json(tmp_path / "page.json", s.album_tracks_page()),
    )
    tracks = export_objects(archive.root, "track")
    assert tracks[s.HELLO] == s.full_track()  # the full object beats the simplified one from the album page
    assert tracks[s.WHEN]["popularity"] == 75
    assert export_objects(archive.root, "artist")[s.ADELE] == s.full_artist()
    counts = orjson.loads(run_cli("stats", "--json", archive=archive.root).stdout)
    assert counts["tracks"] == 2 and counts["artists"] == 1 and counts["albums"] == 1


@pytest.mark.parametrize("compress", [None, "gz", "zst"])
def test_jsonl_plain_and_compressed(archive, tmp_path, compress):
    objects = [s.full_track(), s.full_artist(), s.audio_features()]
    name = "mixed.jsonl" + (f".{compress}" if compress else "")
    _import(archive, write_jsonl(tmp_path / name, objects, compress))
    assert export_objects(archive.root, "track")[s.HELLO] == s.full_track()
    assert export_objects(archive.root, "artist")[s.ADELE] == s.full_artist()


def test_unmodelled_and_underivable_fields_round_trip(archive, tmp_path):
    track = s.full_track()
    track["is_playable"] = True
    track["restrictions"] = {"reason": "market"}
    track["linked_from"] = {"id": "6kls8cSlUyHW2BUOkDJIZE", "type": "track"}
    track["href"] = "https://api.spotify.com/v1/tracks/" + s.HELLO + "?market=SE"
    track["album"]["is_playable"] = True
    track["artists"][0]["name_note"] = "x"
    track["external_ids"] = {"isrc": "gb-bks-15-00214", "ean": "0634904074005"}
    _import(archive, write_json(tmp_path / "t.json", track))
    assert export_objects(archive.root, "track")[s.HELLO] == track
    shown = orjson.loads(run_cli("show", "isrc:GBBKS1500214", "--json", archive=archive.root).stdout)
    assert [t["id"] for t in shown] == [s.HELLO]  # the lower-case hyphenated ISRC is found by its canonical form


def test_simplified_object_never_overwrites_full_one(archive, tmp_path):
    album = s.full_album()
    album_file = write_json(tmp_path / "album.json", album)
    os.utime(album_file, (1_600_000_000, 1_600_000_000))
    changed = s.full_track()
    changed["album"]["name"] = "25 (renamed in a simplified copy)"
    track_file = write_json(tmp_path / "track.json", changed)
    os.utime(track_file, (1_700_000_000, 1_700_000_000))  # newer, but simplified for the album
    _import(archive, album_file, track_file)
    assert export_objects(archive.root, "album")[s.ALBUM_25] == album


def test_newer_fetched_at_wins_and_older_is_ignored(archive, tmp_path):
    old, new = s.full_artist(), s.full_artist()
    new["popularity"] = 90
    new["genres"] = ["pop"]
    path_old = write_json(tmp_path / "old.json", old)
    path_new = write_json(tmp_path / "new.json", new)
    _import(archive, path_new, extra=("--fetched-at", "2025-06-01"))
    _import(archive, path_old, extra=("--fetched-at", "2024-01-01"))
    assert export_objects(archive.root, "artist")[s.ADELE] == new
    _import(archive, path_old, extra=("--fetched-at", "2026-01-01"))
    assert export_objects(archive.root, "artist")[s.ADELE] == old


def test_shared_isrc_lists_every_track(archive, tmp_path):
    first = s.full_track()
    second = s.full_track("3bNv3VuUOKgrf5hu3YcuRo", "Hello (Live)", 1, popularity=40)
    _import(archive, write_jsonl(tmp_path / "t.jsonl", [second, first]))
    shown = orjson.loads(run_cli("show", "isrc:GBBKS1500214", "--json", archive=archive.root).stdout)
    assert [t["id"] for t in shown] == [s.HELLO, "3bNv3VuUOKgrf5hu3YcuRo"]  # most popular first
    album = orjson.loads(run_cli("show", f"spotify:album:{s.ALBUM_25}", "--json", archive=archive.root).stdout)
    assert album[0]["name"] == "25"


def test_synthetic_catalog_round_trips(archive, synth_small):
    result = run_cli("import", "spotify", str(synth_small), "--json", archive=archive.root)
    assert result.exit_code == 0
    summary = orjson.loads(result.stdout)
    assert summary["rejected"] == 0 and summary["written"]["tracks"] == 2000
    import io

    import zstandard

    source = {}
    with io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(synth_small, "rb"))) as stream:
        for line in stream:
            obj = orjson.loads(line)
            source.setdefault(obj["type"], {})[obj["id"]] = obj
    assert export_objects(archive.root, "track") == source["track"]
    assert export_objects(archive.root, "artist") == source["artist"]
    assert export_objects(archive.root, "audio-features") == source["audio_features"]
    assert rejects(archive.root) == []


def test_export_unknown_id_is_an_error(archive):
    result = run_cli("export", "spotify", "--kind", "track", "--id", s.HELLO, archive=archive.root)
    assert result.exit_code == 1
    assert run_cli("export", "spotify", "--kind", "song", archive=archive.root).exit_code == 2
