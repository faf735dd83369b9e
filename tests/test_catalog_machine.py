"""Failures of the machine during an import: a full disk, a read-only file system, too many open files. Each is a
clear error naming what failed and where (no traceback, exit 1), and running the import again when the machine is
fine ends with the catalog a clean run gives."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.catalog import spotify, spotify_fast
from fonoteca.catalog.importer import Codec, import_json_files
from fonoteca.errors import FonotecaError
from tests.conftest import run_cli
from tests.helpers import catalog_dump


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("machine") / "catalog.jsonl.zst"
    assert run_cli("synth", "catalog", "--tracks", "20000", "--out", str(out), "--seed", "5").exit_code == 0
    return out


@pytest.fixture(scope="module")
def clean(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    archive = archive_mod.init(tmp_path_factory.mktemp("clean") / "archive")
    assert run_cli("import", "spotify", str(source), archive=archive.root).exit_code == 0
    return catalog_dump(archive.catalog_path)


def _mount(folder: Path, options: str) -> bool:
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode
        == 0
    )


def _remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True, capture_output=True)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs (a catalog of the source needs about 10 MiB); skipped where mounting is not allowed."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0 or not _mount(folder, "size=4m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_disk_full_is_a_clear_error_and_the_next_run_finishes(source, clean, small_fs):
    archive = archive_mod.init(small_fs / "archive")
    result = run_cli("import", "spotify", str(source), archive=archive.root)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert str(archive.catalog_path) in " ".join(result.stderr.split()).replace(" /", "/")
    assert "full" in result.stderr and "running the same import again finishes it" in " ".join(result.stderr.split())
    _remount(small_fs, "size=64m")
    assert run_cli("import", "spotify", str(source), archive=archive.root).exit_code == 0
    assert catalog_dump(archive.catalog_path) == clean


def test_read_only_file_system_is_a_clear_error_and_the_next_run_finishes(source, clean, small_fs):
    _remount(small_fs, "size=64m")
    archive = archive_mod.init(small_fs / "archive")
    _remount(small_fs, "ro")
    result = run_cli("import", "spotify", str(source), archive=archive.root)
    assert result.exit_code == 1
    # refused before anything is written, naming the archive, the command and why
    assert "Traceback" not in result.stderr and str(archive.root) in result.stderr
    assert "read-only file system: import spotify writes to the archive" in " ".join(result.stderr.split())
    _remount(small_fs, "rw")
    assert run_cli("import", "spotify", str(source), archive=archive.root).exit_code == 0
    assert catalog_dump(archive.catalog_path) == clean


def _next_fd() -> int:
    """The descriptor number the next open() gets (the lowest free one)."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    return fd


def test_too_many_open_files_is_a_clear_error_and_the_next_run_finishes(source, clean, tmp_path):
    archive = archive_mod.init(tmp_path / "archive")
    codec = Codec(spotify.units, spotify.encode, spotify_fast.reset, spotify_fast.encode_line)
    conn = archive.connect()
    limit = _next_fd()  # with the catalog open, the import's next file (its input) would get this number
    conn.close()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        with pytest.raises(FonotecaError) as failure:
            import_json_files(archive, [source], "spotify", codec)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    message = str(failure.value)
    # what failed and where: here the catalog's own files take the last descriptors
    assert message.startswith("import stopped: Too many open files (EMFILE): /"), message
    assert "running the same import again finishes it" in message
    import_json_files(archive, [source], "spotify", codec)
    assert catalog_dump(archive.catalog_path) == clean
