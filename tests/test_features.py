"""Audio features and the genre map: synthesised genres with known differences (tempo, brightness,
percussiveness, tonal vs noisy) land where they should; features survive re-encoding to Opus 75k; imported
(Spotify) features mix in; `fonoteca features` and `fonoteca genre-map` end to end."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.features.extract import features_of
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

SECONDS = 8.0
# name: (style, expected tempo or None when the pattern is syncopated)
GENRES = {
    "quiet folk": synth.Style(tempo=72, brightness=0.1, density=0.2, noise=0.0, root=50),  # slow dark sparse tonal
    "shoegaze": synth.Style(tempo=76, brightness=0.9, density=0.25, noise=0.7, root=52),  # slow bright noisy
    "breakbeat": synth.Style(tempo=140, brightness=0.15, density=0.95, noise=0.0, root=48),  # fast busy dark tonal
    "industrial": synth.Style(tempo=150, brightness=0.95, density=0.95, noise=0.7, root=53),  # fast busy bright noisy
}
IMPORTED_GENRE = "field recordings"  # only Spotify-style imported features, no audio


@dataclass
class GenreArchive:
    root: Path
    tracks: dict[str, list[str]]  # genre -> track ids
    example: dict[str, str]  # genre -> its most popular track with a file


def _insert(conn: sqlite3.Connection, table: str, **values) -> int:
    cols = ", ".join(values)
    cur = conn.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(values))})", list(values.values()))
    return cur.lastrowid


def build_genre_archive(base: Path, per_genre: int = 2) -> GenreArchive:
    """An archive whose catalog has one artist per genre, `per_genre` tracks each with a stored FLAC file of that
    genre's sound, plus a genre known only from imported audio features."""
    from tests.test_web_fixtures import add_file_row

    archive = archive_mod.init(base / "archive", name="Genre test archive")
    root = archive.root
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:  # its tracks have no licence on record
        f.write('\n[release]\nlicences = ["redistributable", "unknown"]\n')
    conn = archive.connect()
    conn.execute("BEGIN")
    tracks: dict[str, list[str]] = {}
    example: dict[str, str] = {}
    for g_index, (name, style) in enumerate([*GENRES.items(), (IMPORTED_GENRE, None)]):
        genre = _insert(conn, "genres", name=name)
        artist_id = f"artist{g_index:02d}aaaaaaaaaaaaaaa"[:22]
        artist = _insert(
            conn, "artists", ns=0, id=artist_id, name=f"Band of {name}", popularity=50 + g_index, level=2, fetched_at=0
        )
        _insert(conn, "artist_genres", artist=artist, position=0, genre=genre)
        for i in range(per_genre):
            track_id = f"track{g_index:02d}{i:02d}bbbbbbbbbbbbbbbbbbb"[:22]
            popularity = 80 - 10 * i
            track = _insert(
                conn,
                "tracks",
                ns=0,
                id=track_id,
                name=f"{name} song {i + 1}",
                popularity=popularity,
                duration_ms=int(SECONDS * 1000),
                level=2,
                fetched_at=0,
            )
            _insert(conn, "track_artists", track=track, position=0, artist=artist)
            tracks.setdefault(name, []).append(track_id)
            if style is None:
                _insert(
                    conn,
                    "audio_features",
                    track=track,
                    danceability=0.15,
                    energy=0.1,
                    key=2,
                    loudness=-24.0,
                    mode=1,
                    speechiness=0.05,
                    acousticness=0.97,
                    instrumentalness=0.9,
                    liveness=0.3,
                    valence=0.2,
                    tempo=70.0,
                    time_signature=4,
                    duration_ms=int(SECONDS * 1000),
                    origin="spotify",
                    fetched_at=0,
                )
                continue
            rel = f"files/original/{track_id[:2]}/{track_id}.flac"
            synth.write(root / rel, synth.render(SECONDS, seed=100 * g_index + i, style=style))
            add_file_row(conn, track, rel, (root / rel).read_bytes())
            if i == 0:
                example[name] = track_id
    conn.execute("COMMIT")
    conn.close()
    return GenreArchive(root, tracks, example)


@pytest.fixture(scope="module")
def genre_archive(tmp_path_factory) -> GenreArchive:
    built = build_genre_archive(tmp_path_factory.mktemp("genres"))
    result = run_cli("features", "--workers", "2", "--json", archive=built.root)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["computed"] == 2 * len(GENRES) and summary["failed"] == 0, summary
    return built


def _features(root: Path) -> dict[str, dict[str, float]]:
    """genre -> mean of each computed feature over its tracks."""
    conn = sqlite3.connect(root / "catalog.sqlite3")
    conn.row_factory = sqlite3.Row
    out: dict[str, dict[str, list[float]]] = {}
    for row in conn.execute(
        "SELECT g.name AS genre, f.* FROM track_features f JOIN track_artists ta ON ta.track = f.track "
        "JOIN artist_genres ag ON ag.artist = ta.artist JOIN genres g ON g.rowid = ag.genre"
    ):
        for key in row.keys():
            if key not in ("genre", "sha256", "computed_at", "error") and row[key] is not None:
                out.setdefault(row["genre"], {}).setdefault(key, []).append(row[key])
    conn.close()
    return {g: {k: sum(v) / len(v) for k, v in d.items()} for g, d in out.items()}


def test_features_follow_the_synthesised_differences(genre_archive):
    f = _features(genre_archive.root)
    assert set(f) == set(GENRES)
    # tempo: the straight (unsyncopated) patterns within 3 %
    for name in ("quiet folk", "shoegaze"):
        assert abs(f[name]["tempo"] - GENRES[name].tempo) / GENRES[name].tempo < 0.03, (name, f[name]["tempo"])
    # brightness, noisiness, onset density, percussiveness
    assert f["shoegaze"]["centroid_hz"] > 1.3 * f["quiet folk"]["centroid_hz"]
    assert f["industrial"]["centroid_hz"] > 1.3 * f["breakbeat"]["centroid_hz"]
    assert f["shoegaze"]["flatness"] > 2 * f["quiet folk"]["flatness"]
    assert f["industrial"]["flatness"] > 2 * f["breakbeat"]["flatness"]
    assert f["breakbeat"]["onset_rate"] > 1.5 * f["quiet folk"]["onset_rate"]
    assert f["breakbeat"]["harmonic_ratio"] < f["quiet folk"]["harmonic_ratio"]
    for values in f.values():
        assert -40 < values["loudness_lufs"] < -5 and values["dynamic_range_db"] >= 0
        assert 0 <= values["regularity"] <= 1 and 0 <= values["key"] <= 11


def test_genres_land_in_the_expected_relative_positions(genre_archive):
    from fonoteca.features import genre_map

    data = genre_map(archive_mod.open_archive(genre_archive.root))
    by = {g["name"]: g for g in data["genres"]}
    assert set(by) == set(GENRES) | {IMPORTED_GENRE}
    folk, gaze, breaks, ind = by["quiet folk"], by["shoegaze"], by["breakbeat"], by["industrial"]
    # up = mechanical/electric: bright noisy genres above the tonal dark ones
    assert gaze["y"] > folk["y"] and ind["y"] > breaks["y"] and ind["y"] > folk["y"]
    # right = spiky/bouncy: fast busy percussive genres right of the slow sparse ones
    assert breaks["x"] > folk["x"] and ind["x"] > gaze["x"] and ind["x"] > folk["x"]
    # the imported acoustic, slow genre sits low and left, like the computed organic one
    imported = by[IMPORTED_GENRE]
    assert imported["computed"] == 0 and imported["imported"] == 2 and folk["computed"] == 2
    assert imported["y"] < ind["y"] and imported["x"] < ind["x"]
    assert data["tracks"] == {"computed": 8, "imported": 2}
    # labels do not overlap after the readability adjustment, and the screen order follows the axes
    assert data["overlaps"] == 0
    assert ind["top"] < folk["top"] and ind["left"] > folk["left"]
    for g in data["genres"]:
        assert g["color"].startswith("#") and len(g["color"]) == 7


def test_features_again_is_a_no_op_and_force_recomputes(genre_archive):
    result = run_cli("features", "--workers", "1", "--json", archive=genre_archive.root)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["computed"] == 0 and summary["already"] == 2 * len(GENRES)


def test_genre_map_export_html_png_svg(genre_archive, tmp_path):
    for name in ("map.html", "map.png", "map.svg"):
        out = tmp_path / name
        result = run_cli(
            "genre-map", "--out", str(out), "--base-url", "https://example.org", archive=genre_archive.root
        )
        assert result.exit_code == 0, result.stderr
        assert out.stat().st_size > 1000
    page = (tmp_path / "map.html").read_text()
    assert "shoegaze" in page and 'href="https://example.org/genres/quiet%20folk"' in page
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = run_cli("genre-map", "--out", str(tmp_path / "map.txt"), archive=genre_archive.root)
    assert bad.exit_code == 2


# Tolerances for the same music as FLAC and as Ogg Opus 75 kb/s (what the compact tier stores).
REENCODE_TOLERANCE = {
    "tempo": 0.02,
    "loudness_lufs": 0.5,
    "dynamic_range_db": 1.0,
    "centroid_hz": 0.05,
    "flatness": 0.15,
    "onset_rate": 0.15,
    "regularity": 0.1,
    "harmonic_ratio": 0.05,
}
RELATIVE = {"tempo", "centroid_hz", "flatness", "onset_rate"}


@pytest.mark.parametrize("name", list(GENRES))
def test_features_are_stable_under_reencoding_to_opus_75k(tmp_path, name):
    samples = synth.render(SECONDS, seed=11, style=GENRES[name])
    original = features_of(synth.write(tmp_path / "a.flac", samples)).as_dict()
    opus = features_of(synth.write(tmp_path / "a.opus", samples, bitrate=75000)).as_dict()
    for key, tolerance in REENCODE_TOLERANCE.items():
        a, b = original[key], opus[key]
        diff = abs(a - b) / abs(a) if key in RELATIVE else abs(a - b)
        assert diff <= tolerance, (key, a, b)
    assert original["key"] == opus["key"] and original["mode"] == opus["mode"]


def test_empty_archive_and_silence(archive, tmp_path):
    result = run_cli("features", "--json", archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["tracks"] == 0
    from fonoteca.features import genre_map

    assert genre_map(archive)["genres"] == []
    import numpy as np

    silent = features_of(synth.write(tmp_path / "silence.flac", np.zeros((44100, 2), dtype=np.float32)))
    assert silent.loudness_lufs is None and silent.tempo is None and silent.duration_s == pytest.approx(1.0, abs=0.01)


def test_features_of_really_ingested_files_original_and_compact(tmp_path):
    """After a real `fonoteca ingest`: the original tier is analysed when there is one, else the compact Opus."""
    collection = synth.make_collection(tmp_path / "music", 2, 4.0, ("flac",), seed=5)
    for tier in ("original", "compact"):
        root = archive_mod.init(tmp_path / f"archive-{tier}").root
        assert (
            run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=root).exit_code
            == 0
        )
        result = run_cli("ingest", str(tmp_path / "music"), "--tier", tier, "--workers", "1", archive=root)
        assert result.exit_code == 0, result.stderr
        result = run_cli("features", "--workers", "1", "--json", archive=root)
        assert result.exit_code == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["computed"] == 2 and summary["failed"] == 0, summary
        conn = sqlite3.connect(root / "catalog.sqlite3")
        rows = conn.execute("SELECT tier, duration_s, tempo FROM track_features").fetchall()
        conn.close()
        assert {r[0] for r in rows} == {2 if tier == "original" else 1}
        assert all(abs(r[1] - 4.0) < 0.1 and r[2] for r in rows)
