"""Archive creation, schema versioning, references and the command line's contracts."""

from __future__ import annotations

import sqlite3
import tomllib

import pytest

from fonoteca import archive as archive_mod
from fonoteca.catalog import db
from fonoteca.catalog.ids import is_valid_gtin, normalize_isrc, parse_reference
from tests.conftest import run_cli, run_subprocess


def test_init_creates_config_catalog_in_wal_and_folders(tmp_path):
    result = run_cli("init", str(tmp_path / "a"), "--name", 'My "odd" archive')
    assert result.exit_code == 0
    root = tmp_path / "a"
    config = tomllib.loads((root / "fonoteca.toml").read_text())
    assert config["archive"]["name"] == 'My "odd" archive'
    conn = sqlite3.connect(root / "catalog.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.SCHEMA_VERSION
    for sub in archive_mod.SUBDIRS:
        assert (root / sub).is_dir()
    assert run_cli("init", str(root)).exit_code == 0  # idempotent


def test_newer_schema_is_refused(tmp_path):
    archive = archive_mod.init(tmp_path / "a")
    conn = sqlite3.connect(archive.catalog_path)
    conn.execute(f"PRAGMA user_version={db.SCHEMA_VERSION + 1}")
    conn.close()
    result = run_cli("stats", archive=archive.root)
    assert result.exit_code == 1 and "newer" in result.stderr


@pytest.mark.parametrize(
    "text,kind,value",
    [
        ("spotify:track:0ENSn4fwAbCGeFGVUbXEU3", "track", "0ENSn4fwAbCGeFGVUbXEU3"),
        ("https://open.spotify.com/intl-de/album/7uwTHXmFa1Ebi5flqBosig?si=x", "album", "7uwTHXmFa1Ebi5flqBosig"),
        ("isrc:gb-bks-15-00214", "isrc", "GBBKS1500214"),
        ("GBBKS1500214", "isrc", "GBBKS1500214"),
        ("upc:634904074005", "upc", "634904074005"),
        ("634904074005", "upc", "634904074005"),
        ("CC2C9C3C-B7BC-4B8B-84D8-4FBD8779E493", "any", "cc2c9c3c-b7bc-4b8b-84d8-4fbd8779e493"),
    ],
)
def test_references(text, kind, value):
    ref = parse_reference(text)
    assert (ref.kind, ref.value) == (kind, value)


def test_identifier_checks():
    assert normalize_isrc("us-rc1-76-07839") == "USRC17607839"
    assert normalize_isrc("USRC1760783") is None
    assert is_valid_gtin("634904074005") and not is_valid_gtin("634904074006")
    assert is_valid_gtin("4006381333931") and not is_valid_gtin("40063813339a1")


def test_real_entry_point_help_and_usage_errors(tmp_path):
    help_text = run_subprocess("--help")
    assert help_text.returncode == 0 and "import" in help_text.stdout and "DRM" in help_text.stdout
    assert run_subprocess("import", "spotify", "--help").returncode == 0
    assert run_subprocess("no-such-command").returncode == 2
    assert run_subprocess("stats", archive=tmp_path).returncode == 1
    assert "not a Fonoteca archive" in run_subprocess("stats", archive=tmp_path).stderr


def test_show_unknown_reference(archive):
    result = run_cli("show", "isrc:USRC17607839", archive=archive.root)
    assert result.exit_code == 1 and "nothing in the catalog" in result.stderr


def test_concurrent_opens_of_an_old_catalog_migrate_once(tmp_path):
    """Three processes open a catalog at schema version 1 at once: all succeed, each migration runs once."""
    import subprocess
    import sys

    old = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(old)
    for statement in db.split_sql(db.migrations()[0][1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    code = (
        "import sys; from pathlib import Path; from fonoteca.catalog import db; "
        "print(db.migrate(db.connect(Path(sys.argv[1]))))"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(old)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {str(db.SCHEMA_VERSION)}
