"""Table importer: Kaggle-style CSV/TSV/pipe tables through a column mapping."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import run_cli
from tests.helpers import rejects

TRACK_MAP = """
kind = "track"
namespace = "spotify"
[columns]
id = "id"
name = "name"
artist_names = "artists"
artist_ids = "id_artists"
release_date = "release_date"
popularity = "popularity"
duration_ms = "duration_ms"
explicit = "explicit"
danceability = "danceability"
energy = "energy"
"""

ROWS = [
    [
        "id",
        "name",
        "popularity",
        "duration_ms",
        "explicit",
        "artists",
        "id_artists",
        "release_date",
        "danceability",
        "energy",
    ],
    [
        "35iwgR4jXetI318WEWsa1Q",
        "Carve",
        "6.0",
        "126903",
        "0",
        "['Uli']",
        "['45tIt06XoI0Iio4LBEVpls']",
        "1922",
        "0.645",
        "0.445",
    ],
    [
        "021ht4sdgPcrDgSk7JTbKY",
        "Capítulo 2.16 - Banquero Anarquista",
        "0",
        "98200",
        "False",
        "['Fernando Pessoa']",
        "['14jtPCOoNZwquk5wd9DxrY']",
        "1922-06",
        "0.695",
        "0.263",
    ],
    [
        "07A5yehtSnoedViJAZkNnc",
        "Vivo para Quererte - Remasterizado",
        "59.0",
        "181640.0",
        "True",
        "['Ignacio Corsini', 'Orquesta']",
        "['5LiOoJbxVSAMkBS2fUm3X2', '3BiJGZsyX9sJchTqcSA7Su']",
        "1922-03-21",
        "0.434",
        "0.177",
    ],
    [
        "0dx8t4pe5mtfwMw5kGvpdj",
        "Bad popularity",
        "high",
        "1000",
        "0",
        "['X']",
        "['5LiOoJbxVSAMkBS2fUm3X2']",
        "1922",
        "",
        "",
    ],
    [
        "0ePJMBEUtVjgQ3KMPsoQSb",
        "Bad date",
        "1",
        "1000",
        "0",
        "['X']",
        "['5LiOoJbxVSAMkBS2fUm3X2']",
        "22/03/1922",
        "",
        "",
    ],
    ["", "No id", "1", "1000", "0", "['X']", "['5LiOoJbxVSAMkBS2fUm3X2']", "1922", "", ""],
]


def _write(path, rows, delimiter):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)


@pytest.mark.parametrize("delimiter", [",", "\t", "|"])
def test_track_table_with_lists_dates_and_float_integers(archive, tmp_path, delimiter):
    table = tmp_path / "tracks.csv"
    _write(table, ROWS, delimiter)
    (tmp_path / "map.toml").write_text(TRACK_MAP)
    result = run_cli("import", "table", str(table), "--map", str(tmp_path / "map.toml"), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    # a bad cell costs its field, a row without an id the row
    assert summary["units"] == 5 and summary["rejected"] == 3 and summary["files"][0]["fields_rejected"] == 2
    reasons = {r["line"]: r["reason"] for r in rejects(archive.root)}
    assert "not a number" in reasons[5] and "'popularity'" in reasons[5]
    assert "not a date" in reasons[6] and "without an id" in reasons[7]
    bad_date = orjson.loads(run_cli("show", "0ePJMBEUtVjgQ3KMPsoQSb", "--json", archive=archive.root).stdout)[0]
    assert bad_date["name"] == "Bad date" and bad_date["popularity"] == 1 and bad_date["album"] is None
    vivo = orjson.loads(run_cli("show", "07A5yehtSnoedViJAZkNnc", "--json", archive=archive.root).stdout)[0]
    assert vivo["popularity"] == 59 and vivo["duration_ms"] == 181640 and vivo["explicit"] is True
    assert [a["name"] for a in vivo["artists"]] == ["Ignacio Corsini", "Orquesta"]
    assert vivo["album"]["name"] is None and vivo["album"]["release_date"] == "1922-03-21"  # generated album
    carve = orjson.loads(run_cli("show", "35iwgR4jXetI318WEWsa1Q", "--json", archive=archive.root).stdout)[0]
    assert carve["popularity"] == 6 and carve["explicit"] is False


def test_artist_table_with_unbracketed_lists(archive, tmp_path):
    table = tmp_path / "artists.tsv"
    table.write_text(
        "artist\tfollowers\tgenres\tpopularity\nSome Band\t1200.0\trock, indie pop\t40\n", encoding="utf-8"
    )
    (tmp_path / "map.toml").write_text(
        'kind = "artist"\n[columns]\nname = "artist"\nfollowers = "followers"\n'
        'genres = "genres"\npopularity = "popularity"\n'
    )
    result = run_cli("import", "table", str(table), "--map", str(tmp_path / "map.toml"), archive=archive.root)
    assert result.exit_code == 0, result.stderr
    counts = orjson.loads(run_cli("stats", "--json", archive=archive.root).stdout)
    assert counts["artists"] == 1 and counts["genres"] == 2


def test_table_rows_never_overwrite_json_objects(archive, tmp_path):
    from tests import spotify_samples as s
    from tests.helpers import export_objects, write_json

    write_json(tmp_path / "t.json", s.full_track())
    assert run_cli("import", "spotify", str(tmp_path / "t.json"), archive=archive.root).exit_code == 0
    table = tmp_path / "t.csv"
    _write(table, [["id", "name", "popularity"], [s.HELLO, "Hello (table)", "1"]], ",")
    (tmp_path / "map.toml").write_text(
        'kind = "track"\nnamespace = "spotify"\n[columns]\nid = "id"\nname = "name"\npopularity = "popularity"\n'
    )
    assert (
        run_cli(
            "import",
            "table",
            str(table),
            "--map",
            str(tmp_path / "map.toml"),
            "--fetched-at",
            "2030-01-01",
            archive=archive.root,
        ).exit_code
        == 0
    )
    assert export_objects(archive.root, "track")[s.HELLO] == s.full_track()


def test_bad_mappings_are_clear_errors(archive, tmp_path):
    table = tmp_path / "t.csv"
    _write(table, [["a", "b"], ["1", "2"]], ",")
    cases = {
        "kind = 'song'\n[columns]\nname='a'\n": "kind must be",
        "[columns]\ntitle = 'a'\n": "unknown field",
        "[columns]\nname = 'missing'\n": "no such column",
        "kind = \n": "invalid TOML",
    }
    for text, message in cases.items():
        (tmp_path / "map.toml").write_text(text)
        result = run_cli("import", "table", str(table), "--map", str(tmp_path / "map.toml"), archive=archive.root)
        assert result.exit_code == 1, text
        assert message in result.stderr, (text, result.stderr)


def test_rows_with_too_few_or_too_many_fields_are_rejected(archive, tmp_path):
    table = tmp_path / "t.csv"
    table.write_text(
        "id,name,popularity\n"
        "35iwgR4jXetI318WEWsa1Q,Carve,6\n"
        "35iwgR4jXetI318WEWsa1Q,Carve (short)\n"  # the last field is missing
        "021ht4sdgPcrDgSk7JTbKY,Pessoa, the poet,40\n"  # an unquoted comma: one field too many
        "07A5yehtSnoedViJAZkNnc,Vivo,59\n",
        encoding="utf-8",
    )
    (tmp_path / "map.toml").write_text(
        'kind = "track"\nnamespace = "spotify"\n[columns]\nid = "id"\nname = "name"\npopularity = "popularity"\n'
    )
    result = run_cli("import", "table", str(table), "--map", str(tmp_path / "map.toml"), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["units"] == 2
    reasons = {r["line"]: r["reason"] for r in rejects(archive.root)}
    assert reasons == {3: "2 fields, but the header has 3", 4: "4 fields, but the header has 3"}
    carve = orjson.loads(run_cli("show", "35iwgR4jXetI318WEWsa1Q", "--json", archive=archive.root).stdout)[0]
    assert carve["name"] == "Carve" and carve["popularity"] == 6
    assert run_cli("show", "021ht4sdgPcrDgSk7JTbKY", archive=archive.root).exit_code == 1


def test_table_import_updates_the_search_index(archive, tmp_path):
    from tests import spotify_samples as s
    from tests.helpers import write_json

    write_json(tmp_path / "t.json", s.full_track())
    assert run_cli("import", "spotify", str(tmp_path / "t.json"), archive=archive.root).exit_code == 0
    table = tmp_path / "tracks.csv"
    _write(table, ROWS[:4], ",")
    (tmp_path / "map.toml").write_text(TRACK_MAP)
    assert (
        run_cli("import", "table", str(table), "--map", str(tmp_path / "map.toml"), archive=archive.root).exit_code == 0
    )
    status = orjson.loads(run_cli("index", "status", "--json", archive=archive.root).stdout)
    assert status["imports_not_indexed"] == 0 and status["tracks"] == 4
    found = orjson.loads(run_cli("search", "banquero anarquista", "--json", archive=archive.root).stdout)
    assert [t["id"] for t in found["results"]] == ["021ht4sdgPcrDgSk7JTbKY"]
    by_year = orjson.loads(run_cli("search", "carve", "--year", "1922", "--json", archive=archive.root).stdout)
    assert [t["id"] for t in by_year["results"]] == ["35iwgR4jXetI318WEWsa1Q"]  # the generated album's date


def test_mapping_errors_name_the_mapping_and_the_table(archive, tmp_path):
    table = tmp_path / "t.csv"
    _write(table, [["a", "b"], ["1", "2"]], ",")
    mapping = tmp_path / "map.toml"
    mapping.write_text("[columns]\nname = 'title'\n")
    result = run_cli("import", "table", str(table), "--map", str(mapping), archive=archive.root)
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"{mapping}: names column 'title' for 'name', but {table} has no such column (columns: a, b)" in message


def test_impossible_cells_cost_only_their_field(archive, tmp_path):
    table = tmp_path / "t.csv"
    _write(
        table,
        [
            ["id", "name", "popularity", "duration_ms", "release_date", "danceability", "isrc"],
            ["35iwgR4jXetI318WEWsa1Q", "Carve", "1000", "-5", "2020-13-45", "7", "GB-BKS-15-00214"],
            ["021ht4sdgPcrDgSk7JTbKY", "Pessoa", "40", "1000", "2020-02-30", "0.5", "NOT-AN-ISRC"],
        ],
        ",",
    )
    (tmp_path / "map.toml").write_text(
        'kind = "track"\nnamespace = "spotify"\n[columns]\nid = "id"\nname = "name"\n'
        'popularity = "popularity"\nduration_ms = "duration_ms"\n'
        'release_date = "release_date"\ndanceability = "danceability"\nisrc = "isrc"\n'
    )
    result = run_cli("import", "table", str(table), "--map", str(tmp_path / "map.toml"), "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["units"] == 2 and summary["rejected"] == 6 == summary["files"][0]["fields_rejected"]
    reasons = " | ".join(r["reason"] for r in rejects(archive.root))
    for expected in (
        "field 'popularity': column 'popularity': '1000' is out of range 0..100",
        "field 'duration_ms': column 'duration_ms': '-5' is out of range >= 0",
        "field 'release_date': column 'release_date': '2020-13-45' is not a real date",
        "field 'danceability': column 'danceability': 7 is out of range 0..1",
        "'2020-02-30' is not a real date",
        "invalid ISRC 'NOT-AN-ISRC'",
    ):
        assert expected in reasons, (expected, reasons)
    carve = orjson.loads(run_cli("show", "35iwgR4jXetI318WEWsa1Q", "--json", archive=archive.root).stdout)[0]
    assert (carve["name"], carve["popularity"], carve["duration_ms"], carve["isrc"]) == (
        "Carve",
        None,
        None,
        "GBBKS1500214",
    )
