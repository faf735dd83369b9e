"""Which object a row keeps when several describe one entity: fuller and newer win, a stub never replaces a row
that has fields, table rows of one entity merge, and table data never replaces API objects."""

from __future__ import annotations

import csv

import orjson

from tests import spotify_samples as s
from tests.conftest import run_cli
from tests.helpers import catalog_dump, export_objects, write_json, write_jsonl

ARTISTS = [
    ["id", "name", "popularity", "followers", "genres"],
    ["45tIt06XoI0Iio4LBEVpls", "Uli", "31", "1200", "['tango', 'vals']"],
    ["14jtPCOoNZwquk5wd9DxrY", "Fernando Pessoa", "12", "88", "['spoken word']"],
]
TRACKS = [
    ["id", "name", "popularity", "artists", "id_artists"],
    ["35iwgR4jXetI318WEWsa1Q", "Carve", "6", "['Uli']", "['45tIt06XoI0Iio4LBEVpls']"],
    ["021ht4sdgPcrDgSk7JTbKY", "Capítulo 2.16", "0", "['Fernando Pessoa']", "['14jtPCOoNZwquk5wd9DxrY']"],
]
ARTIST_MAP = (
    'kind = "artist"\nnamespace = "spotify"\n[columns]\nid = "id"\nname = "name"\npopularity = "popularity"\n'
    'followers = "followers"\ngenres = "genres"\n'
)
TRACK_MAP_IDS_ONLY = (
    'kind = "track"\nnamespace = "spotify"\n[columns]\nid = "id"\nname = "name"\nartist_ids = "id_artists"\n'
)
TRACK_MAP_NAMES = TRACK_MAP_IDS_ONLY + 'artist_names = "artists"\n'


def _table(tmp_path, name, rows, mapping, root, fetched_at):
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    (tmp_path / f"{name}.toml").write_text(mapping)
    result = run_cli(
        "import", "table", str(path), "--map", str(tmp_path / f"{name}.toml"), "--fetched-at", fetched_at, archive=root
    )
    assert result.exit_code == 0, result.stderr


def _artist(archive, id_):
    return orjson.loads(run_cli("show", f"spotify:artist:{id_}", "--json", archive=archive.root).stdout)[0]


def test_equal_level_and_date_the_fuller_object_wins(archive, tmp_path):
    """A search result's album without release date and track count must not shadow the fuller copy."""
    short = s.full_track()
    for key in ("release_date", "release_date_precision", "total_tracks"):
        del short["album"][key]
    full = s.full_track("3bNv3VuUOKgrf5hu3YcuRo", "Hello (Live)", 1)
    write_jsonl(tmp_path / "one.jsonl", [short, full])
    assert run_cli("import", "spotify", str(tmp_path / "one.jsonl"), archive=archive.root).exit_code == 0
    assert export_objects(archive.root, "album")[s.ALBUM_25] == s.simple_album()
    assert export_objects(archive.root, "track") == {s.HELLO: short, full["id"]: full}  # both still round-trip
    # the same across files of the same date, whichever comes first
    for first in ("short", "full"):
        other = tmp_path / first
        other.mkdir()
        write_json(other / "a.json", short if first == "short" else full)
        write_json(other / "b.json", full if first == "short" else short)
        target = tmp_path / f"archive-{first}"
        assert run_cli("init", str(target)).exit_code == 0
        assert (
            run_cli(
                "import",
                "spotify",
                str(other / "a.json"),
                str(other / "b.json"),
                "--fetched-at",
                "2025-01-01",
                archive=target,
            ).exit_code
            == 0
        )
        assert export_objects(target, "album")[s.ALBUM_25] == s.simple_album(), first


def test_a_later_track_table_keeps_what_the_artist_table_gave(archive, tmp_path):
    _table(tmp_path, "artists.csv", ARTISTS, ARTIST_MAP, archive.root, "2024-01-01")
    _table(tmp_path, "tracks.csv", TRACKS, TRACK_MAP_NAMES, archive.root, "2025-06-01")  # names the artists
    uli = _artist(archive, "45tIt06XoI0Iio4LBEVpls")
    assert (uli["name"], uli["popularity"], uli["followers"], uli["genres"]) == ("Uli", 31, 1200, ["tango", "vals"])
    assert uli["tracks"] == 1
    pessoa = _artist(archive, "14jtPCOoNZwquk5wd9DxrY")
    assert pessoa["genres"] == ["spoken word"] and pessoa["popularity"] == 12
    before = catalog_dump(archive.catalog_path)
    _table(tmp_path, "tracks.csv", TRACKS, TRACK_MAP_NAMES, archive.root, "2025-06-01")
    assert catalog_dump(archive.catalog_path) == before  # merging is idempotent
    # the other order gives the same artists
    other = tmp_path / "other"
    assert run_cli("init", str(other)).exit_code == 0
    _table(tmp_path, "tracks.csv", TRACKS, TRACK_MAP_NAMES, other, "2024-01-01")
    _table(tmp_path, "artists.csv", ARTISTS, ARTIST_MAP, other, "2025-01-01")
    shown = orjson.loads(run_cli("show", "spotify:artist:45tIt06XoI0Iio4LBEVpls", "--json", archive=other).stdout)[0]
    assert (shown["popularity"], shown["genres"], shown["tracks"]) == (31, ["tango", "vals"], 1)


def test_a_newer_id_only_stub_never_replaces_an_artist_with_fields(archive, tmp_path):
    _table(tmp_path, "artists.csv", ARTISTS, ARTIST_MAP, archive.root, "2024-01-01")
    write_json(tmp_path / "artist.json", s.full_artist())
    assert (
        run_cli(
            "import", "spotify", str(tmp_path / "artist.json"), "--fetched-at", "2024-01-01", archive=archive.root
        ).exit_code
        == 0
    )
    rows = TRACKS + [[s.HELLO, "Hello (table)", "1", "", f"['{s.ADELE}']"]]
    _table(tmp_path, "tracks.csv", rows, TRACK_MAP_IDS_ONLY, archive.root, "2030-01-01")  # artists by id only
    uli = _artist(archive, "45tIt06XoI0Iio4LBEVpls")
    assert (uli["name"], uli["popularity"], uli["followers"], uli["genres"]) == ("Uli", 31, 1200, ["tango", "vals"])
    assert uli["tracks"] == 1
    assert export_objects(archive.root, "artist")[s.ADELE] == s.full_artist()


def test_table_features_never_replace_api_features(archive, tmp_path):
    write_json(tmp_path / "features.json", s.audio_features())
    assert (
        run_cli(
            "import", "spotify", str(tmp_path / "features.json"), "--fetched-at", "2024-01-01", archive=archive.root
        ).exit_code
        == 0
    )
    rows = [["id", "name", "danceability"], [s.HELLO, "Hello", "0.9"]]
    mapping = (
        'kind = "track"\nnamespace = "spotify"\n[columns]\nid = "id"\nname = "name"\ndanceability = "danceability"\n'
    )
    _table(tmp_path, "f.csv", rows, mapping, archive.root, "2030-01-01")
    assert export_objects(archive.root, "audio-features")[s.HELLO] == s.audio_features()
