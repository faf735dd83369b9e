"""The reference rule from the layout itself: `plan --policy anna` gives back the published statuses and
secondary priorities, plans the files the release kept at their size, and ingest takes only the published file."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import orjson
import pytest

from fonoteca import archive as archive_mod
from fonoteca.catalog import layout
from fonoteca.plan import planner, policies
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The synthetic layout (5,000 tracks, every status), imported and planned with the reference rule."""
    folder = tmp_path_factory.mktemp("layout")
    assert run_cli("synth", "spotify-clean", "--tracks", "5000", "--out", str(folder), "--seed", "9").exit_code == 0
    root = archive_mod.init(tmp_path_factory.mktemp("archive") / "a").root
    assert run_cli("import", "spotify-clean", str(folder), archive=root).exit_code == 0
    result = run_cli("plan", "--policy", "anna", "--json", archive=root)
    assert result.exit_code == 0, result.stderr
    return root, orjson.loads(result.stdout)


def test_anna_reproduces_the_published_statuses(planned):
    root, summary = planned
    conn = sqlite3.connect(root / "catalog.sqlite3")
    published = dict(conn.execute("SELECT status, count(*) FROM track_files GROUP BY status"))
    assert set(published) == set(layout.STATUSES)
    assert summary["statuses"] == published
    wrong = conn.execute(
        "SELECT f.status, s.status, count(*) FROM plan_status s JOIN track_files f ON f.track = s.track "
        "WHERE f.status != s.status GROUP BY 1, 2"
    ).fetchall()
    assert wrong == []
    assert conn.execute("SELECT count(*) FROM plan_status").fetchone()[0] == 5000
    assert summary["files"] == published["success"]


def test_anna_computes_the_published_secondary_priority(planned):
    root, _ = planned
    archive = archive_mod.open_archive(root)
    conn = archive.connect(readonly=True)
    model = planner.build_model(conn, archive.config)
    tier, _ = planner.evaluate(model, "anna", None)
    published = dict(
        (t, (p, h)) for t, p, h in conn.execute("SELECT track, secondary_priority, isrc_has_download FROM track_files")
    )
    conn.close()
    expected = np.array([published[int(r)][0] for r in model.data.rowid])
    has = np.array([published[int(r)][1] for r in model.data.rowid], dtype=bool)
    assert has.any() and (has & (model.data.popularity > 0)).any()  # popular duplicates carry the -10 too
    assert np.array_equal(policies.isrc_has_download(model.data, tier), has)
    assert np.abs(policies.reference_priority(model.data, tier) - expected).max() < 1e-9


def test_the_plan_keeps_the_files_the_release_kept_at_their_size(planned):
    root, _ = planned
    conn = sqlite3.connect(root / "catalog.sqlite3")
    rows = conn.execute(
        "SELECT p.tier, p.bytes, f.reencoded_kbit_vbr, f.filesize_bytes FROM plan p "
        "JOIN track_files f ON f.track = p.track WHERE f.status = 'success'"
    ).fetchall()
    assert len(rows) > 1000
    for tier, size, kbit, filesize in rows:
        assert tier == (2 if kbit is None else 1) and size == filesize


def _file_layout(
    folder: Path, tracks: list[tuple[str, int, int]], digests: dict[str, tuple[str | None, str | None]]
) -> list[Path]:
    main = layout.create_database(str(folder / layout.FILE_NAMES[layout.MAIN]), layout.MAIN)
    main.execute("INSERT INTO artists VALUES (1, ?, 1700000000000, 'Artist', 1000, 60)", ("A" * 22,))
    main.execute(
        "INSERT INTO albums VALUES (1, ?, 1700000000000, 'Album', 'album', NULL, NULL, NULL, NULL, NULL, "
        "'L', 40, '2020', 'year', 2)",
        ("B" * 22,),
    )
    for rowid, (track_id, duration, popularity) in enumerate(tracks, 1):
        main.execute(
            "INSERT INTO tracks VALUES (?, ?, 1700000000000, ?, NULL, 1, ?, NULL, NULL, NULL, ?, NULL, 1, ?, 0)",
            (rowid, track_id, f"Song {rowid}", rowid, popularity, duration),
        )
        main.execute("INSERT INTO track_artists VALUES (?, 1)", (rowid,))
    main.close()
    files = layout.create_database(str(folder / layout.FILE_NAMES[layout.TRACK_FILES]), layout.TRACK_FILES)
    for track_id, (original, tagged) in digests.items():
        files.execute(
            "INSERT INTO track_files (track_id, status, sha256_original, sha256_with_embedded_meta, "
            "filesize_bytes, track_popularity) VALUES (?, 'success', ?, ?, 1000, 50)",
            (track_id, original, tagged),
        )
    files.close()
    return [folder / layout.FILE_NAMES[layout.MAIN], folder / layout.FILE_NAMES[layout.TRACK_FILES]]


def test_ingest_takes_only_the_file_the_release_published(tmp_path):
    music = tmp_path / "music"
    assert (
        run_cli(
            "synth", "audio", "--out", str(music), "--tracks", "3", "--seconds", "3", "--formats", "flac", "--no-tags"
        ).exit_code
        == 0
    )
    audio = sorted(music.glob("*.flac"))
    with open(music / "catalog.csv", newline="", encoding="utf-8") as handle:
        durations = [int(row["duration_ms"]) for row in csv.DictReader(handle)]
    ids = ["Q" + str(i).rjust(21, "x") for i in range(3)]
    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in audio]
    folder = tmp_path / "layout"
    folder.mkdir()
    inputs = _file_layout(
        folder,
        [(ids[i], durations[i], 50) for i in range(3)],
        {
            ids[0]: (digest[0], "f" * 64),  # the published original
            ids[1]: ("0" * 64, digest[1]),  # the published file with its tags
            ids[2]: ("1" * 64, "2" * 64),  # another file than the published one
        },
    )
    root = archive_mod.init(tmp_path / "archive").root
    assert run_cli("import", "spotify-clean", *map(str, inputs), archive=root).exit_code == 0
    assert run_cli("plan", "--policy", "anna", archive=root).exit_code == 0
    mapping = tmp_path / "map.csv"
    mapping.write_text("path,track_id\n" + "".join(f"{path},{ids[i]}\n" for i, path in enumerate(audio)))
    result = run_cli("ingest", str(music), "--map", str(mapping), "--json", archive=root)
    assert result.exit_code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["stored"]["original"] == 2 and summary["quarantined"] == {"sha256_mismatch": 1}
    conn = sqlite3.connect(root / "catalog.sqlite3")
    stored = dict(conn.execute("SELECT t.id, f.source_sha256 FROM files f JOIN tracks t ON t.rowid = f.track"))
    assert stored == {ids[0]: digest[0], ids[1]: digest[1]}
    assert conn.execute("SELECT count(*) FROM files WHERE tier != 2").fetchone()[0] == 0  # kept as the release did
    record = json.loads(next((root / "quarantine").glob("*.json")).read_text())
    assert record["reason"] == "sha256_mismatch" and record["sha256"] == digest[2]
    assert record["details"]["sha256_original"] == "1" * 64
    assert record["details"]["sha256_with_embedded_meta"] == "2" * 64
