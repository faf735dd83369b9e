"""Shared fixtures: fresh archives, the real CLI entry point in a child process, synthetic catalogs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "audio-mutagen"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    archive: Path | None = None,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 600,
    cwd: Path | None = None,
) -> Result:
    """Run `fonoteca ARGS` exactly as a user does: `python -m fonoteca` (the installed script's `main()`) in a
    child process, with stdout and stderr captured apart and the real exit code."""
    proc = run_subprocess(*args, archive=archive, env=env, input=input, timeout=timeout, cwd=cwd)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_subprocess(
    *args: str, archive: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run the real `fonoteca` entry point in a child process."""
    full = (
        [sys.executable, "-m", "fonoteca"]
        + (["-A", str(archive)] if archive is not None else [])
        + [str(a) for a in args]
    )
    child_env = dict(os.environ, COLUMNS="160")
    child_env.pop("FONOTECA_ARCHIVE", None)
    child_env.update(env or {})
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=child_env, **kwargs)


@pytest.fixture
def archive(tmp_path: Path) -> archive_mod.Archive:
    """A new, empty archive."""
    return archive_mod.init(tmp_path / "archive", name="Test archive")


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic catalog of 2,000 tracks (artists, tracks, audio features) as JSONL.zst."""
    out = tmp_path_factory.mktemp("synth") / "catalog.jsonl.zst"
    result = run_cli("synth", "catalog", "--tracks", "2000", "--out", str(out), "--seed", "3")
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def packed_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive with one release made by the real pipeline: four synthesised tracks imported as a table,
    ingested (original tier) and packed. Shared: tests that change it work on a copy."""
    from fonoteca.synth import audio as synth

    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 4, (1.5, 2.0), ("flac", "mp3"), seed=5)
    root = archive_mod.init(tmp_path_factory.mktemp("packed") / "archive", name="Packed").root
    for args in (
        ("import", "table", coll.catalog_csv, "--map", coll.mapping_toml),
        ("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original"),
        ("pack",),
    ):
        result = run_cli(*args, archive=root)
        assert result.exit_code == 0, result.stderr
    return root


# The names of failed tests, repeated as the run's very last line: a CI record that keeps only the tail of the
# output (after pytest's untruncated assertion diffs under CI=true) still says which test failed.
_FAILED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _FAILED.append(f"{report.nodeid} ({report.when})")


def pytest_unconfigure(config: pytest.Config) -> None:
    out = sys.__stdout__
    if _FAILED and out is not None:
        out.write("failed tests: " + ", ".join(_FAILED) + "\n")
        out.flush()
