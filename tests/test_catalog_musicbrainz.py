"""MusicBrainz importer: artists with genres, releases (barcode -> UPC) with media, recordings with ISRCs."""

from __future__ import annotations

import orjson

from tests.conftest import run_cli
from tests.helpers import rejects, write_json, write_jsonl

ARTIST = "cc2c9c3c-b7bc-4b8b-84d8-4fbd8779e493"
RELEASE = "f3f4a6e6-91a3-4f6c-9b5f-0c1d0c1c3c9a"
RECORDING_1 = "0fa3f9ce-6d7b-4e6a-9c9d-4b2f2b6b5d11"
RECORDING_2 = "1b2c3d4e-5f60-4a1b-8c9d-0e1f2a3b4c5d"


def credit(name: str = "Adele") -> list[dict]:
    return [
        {
            "name": name,
            "joinphrase": "",
            "artist": {"id": ARTIST, "name": name, "sort-name": "Adele", "disambiguation": "", "type": "Person"},
        }
    ]


def artist() -> dict:
    return {
        "id": ARTIST,
        "name": "Adele",
        "sort-name": "Adele",
        "type": "Person",
        "country": "GB",
        "disambiguation": "",
        "life-span": {"begin": "1988-05-05", "end": None, "ended": False},
        "genres": [
            {"id": "3e8c3c5a-0000-4000-8000-000000000001", "name": "soul", "count": 5, "disambiguation": ""},
            {"id": "3e8c3c5a-0000-4000-8000-000000000002", "name": "pop", "count": 3, "disambiguation": ""},
        ],
        "tags": [{"name": "british", "count": 2}],
    }


def release(barcode: str = "634904074005") -> dict:
    return {
        "id": RELEASE,
        "title": "25",
        "status": "Official",
        "date": "2015-11-20",
        "country": "XE",
        "barcode": barcode,
        "artist-credit": credit(),
        "release-group": {"id": "9b2b6c1e-0000-4000-8000-00000000000a", "primary-type": "Album", "title": "25"},
        "label-info": [{"catalog-number": "XLCD740", "label": {"id": "x", "name": "XL Recordings"}}],
        "media": [
            {
                "position": 1,
                "format": "CD",
                "track-count": 2,
                "tracks": [
                    {
                        "id": "aaaaaaaa-0000-4000-8000-000000000001",
                        "number": "1",
                        "position": 1,
                        "title": "Hello",
                        "length": 295493,
                        "recording": {
                            "id": RECORDING_1,
                            "title": "Hello",
                            "length": 295493,
                            "isrcs": ["GBBKS1500214"],
                            "artist-credit": credit(),
                        },
                    },
                    {
                        "id": "aaaaaaaa-0000-4000-8000-000000000002",
                        "number": "2",
                        "position": 2,
                        "title": "Send My Love",
                        "length": 223080,
                        "recording": {
                            "id": RECORDING_2,
                            "title": "Send My Love (To Your New Lover)",
                            "length": 223080,
                            "isrcs": ["GBBKS1500215", "USX9P1500123"],
                            "artist-credit": credit(),
                        },
                    },
                ],
            }
        ],
    }


def test_release_artist_and_recordings(archive, tmp_path):
    search = {"created": "2025-01-01T00:00:00.000Z", "count": 1, "offset": 0, "artists": [artist()]}
    write_json(tmp_path / "artists.json", search)
    write_jsonl(tmp_path / "dump.jsonl", [release()])
    result = run_cli(
        "import",
        "musicbrainz",
        str(tmp_path / "artists.json"),
        str(tmp_path / "dump.jsonl"),
        "--json",
        archive=archive.root,
    )
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["rejected"] == 0
    album = orjson.loads(run_cli("show", "upc:634904074005", "--json", archive=archive.root).stdout)[0]
    assert album["name"] == "25" and album["label"] == "XL Recordings" and album["album_type"] == "album"
    assert [t["name"] for t in album["tracks"]] == ["Hello", "Send My Love (To Your New Lover)"]
    shown = orjson.loads(run_cli("show", RELEASE, "--json", archive=archive.root).stdout)
    assert shown[0]["id"] == RELEASE and shown[0]["source"] == "musicbrainz"
    by_second_isrc = orjson.loads(run_cli("show", "isrc:USX9P1500123", "--json", archive=archive.root).stdout)
    assert [t["id"] for t in by_second_isrc] == [RECORDING_2]
    track = orjson.loads(run_cli("show", RECORDING_1, "--json", archive=archive.root).stdout)[0]
    assert track["isrc"] == "GBBKS1500214" and track["duration_ms"] == 295493 and track["track_number"] == 1
    assert track["artists"] == [{"id": ARTIST, "name": "Adele"}]
    person = orjson.loads(run_cli("show", ARTIST, "--json", archive=archive.root).stdout)[0]
    assert person["genres"] == ["soul", "pop"]


def test_standalone_recording_links_its_releases(archive, tmp_path):
    recording = {
        "id": RECORDING_1,
        "title": "Hello",
        "length": 295493,
        "video": False,
        "isrcs": ["GBBKS1500214"],
        "artist-credit": credit(),
        "releases": [{"id": RELEASE, "title": "25", "status": "Official", "date": "2015", "barcode": None}],
    }
    write_json(tmp_path / "recording.json", recording)
    assert run_cli("import", "musicbrainz", str(tmp_path / "recording.json"), archive=archive.root).exit_code == 0
    track = orjson.loads(run_cli("show", RECORDING_1, "--json", archive=archive.root).stdout)[0]
    assert track["album"]["id"] == RELEASE and track["album"]["release_date"] == "2015"


def test_bad_musicbrainz_records_are_rejected(archive, tmp_path):
    bad_id = artist() | {"id": "not-a-uuid"}
    bad_isrc = release()
    bad_isrc["media"][0]["tracks"][0]["recording"]["isrcs"] = ["XX"]
    write_jsonl(tmp_path / "bad.jsonl", [release("634904074006"), bad_id, bad_isrc, {"foo": 1}, artist()])
    result = run_cli("import", "musicbrainz", str(tmp_path / "bad.jsonl"), "--json", archive=archive.root)
    assert result.exit_code == 0
    reasons = {r["line"]: r["reason"] for r in rejects(archive.root)}
    assert set(reasons) == {1, 2, 3, 4}
    assert "check digit" in reasons[1] and "UUID" in reasons[2] and "ISRC" in reasons[3]
    assert orjson.loads(run_cli("stats", "--json", archive=archive.root).stdout)["artists"] == 1


GROUP = "9b2b6c1e-0000-4000-8000-00000000000a"
TRACK_1 = "aaaaaaaa-0000-4000-8000-000000000001"


def test_release_group_is_not_taken_for_a_recording(archive, tmp_path):
    group = {
        "id": GROUP,
        "title": "25",
        "first-release-date": "2015-11-20",
        "primary-type": "Album",
        "primary-type-id": "f529b476-6e62-324f-b0aa-1f3e33d313fc",
        "secondary-types": [],
        "disambiguation": "",
        "artist-credit": credit(),
        "releases": [
            {"id": RELEASE, "title": "25", "status": "Official", "date": "2015-11-20", "barcode": "634904074005"}
        ],
    }
    write_json(tmp_path / "group.json", group)
    result = run_cli("import", "musicbrainz", str(tmp_path / "group.json"), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["rejected"] == 0
    counts = orjson.loads(run_cli("stats", "--json", archive=archive.root).stdout)
    assert counts["tracks"] == 0 and counts["albums"] == 1 and counts["artists"] == 1
    assert run_cli("show", GROUP, archive=archive.root).exit_code == 1  # nothing is stored under the group's id
    album = orjson.loads(run_cli("show", RELEASE, "--json", archive=archive.root).stdout)[0]
    assert album["album_type"] == "album" and album["upc"] == "634904074005"


def test_bare_track_object_imports_its_recording(archive, tmp_path):
    track = release()["media"][0]["tracks"][1]  # number, position, title, length and the nested recording
    write_json(tmp_path / "track.json", track)
    assert run_cli("import", "musicbrainz", str(tmp_path / "track.json"), archive=archive.root).exit_code == 0
    shown = orjson.loads(run_cli("show", RECORDING_2, "--json", archive=archive.root).stdout)[0]
    assert shown["kind"] == "track" and shown["isrc"] == "GBBKS1500215"
    assert shown["name"] == "Send My Love (To Your New Lover)" and shown["artists"][0]["id"] == ARTIST
    assert run_cli("show", track["id"], archive=archive.root).exit_code == 1  # not under the track's own id


def test_one_bad_isrc_or_barcode_costs_only_that_field(archive, tmp_path):
    bad = release("634904074006")  # wrong check digit
    bad["media"][0]["tracks"][1]["recording"]["isrcs"] = ["GBBKS1500215", "XX"]
    write_jsonl(tmp_path / "bad.jsonl", [bad])
    result = run_cli("import", "musicbrainz", str(tmp_path / "bad.jsonl"), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["files"][0]["fields_rejected"] == 2
    reasons = sorted(r["reason"] for r in rejects(archive.root))
    assert reasons[0].startswith(
        f"field 'barcode': invalid UPC/EAN '634904074006' (format or check digit) in release {RELEASE}"
    )
    assert reasons[1].startswith(
        f"field 'isrcs': invalid ISRC 'XX' in release {RELEASE}, medium 1, track 2, recording {RECORDING_2}"
    )
    album = orjson.loads(run_cli("show", RELEASE, "--json", archive=archive.root).stdout)[0]
    assert album["upc"] is None and [t["name"] for t in album["tracks"]] == [
        "Hello",
        "Send My Love (To Your New Lover)",
    ]
    kept = orjson.loads(run_cli("show", "isrc:GBBKS1500215", "--json", archive=archive.root).stdout)
    assert [t["id"] for t in kept] == [RECORDING_2]  # the valid ISRC beside the bad one is kept
