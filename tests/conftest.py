"""Shared fixtures: fresh archives, the CLI run in-process, synthetic catalogs."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fonoteca import archive as archive_mod
from fonoteca.cli import app

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus" / "audio-mutagen"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, archive: Path | None = None) -> Result:
    """Run `fonoteca ARGS` in-process (exit codes and output as a user sees them)."""
    runner = CliRunner()
    full = (["-A", str(archive)] if archive is not None else []) + [str(a) for a in args]
    result = runner.invoke(app, full, catch_exceptions=True)
    code, stderr = result.exit_code, result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        from fonoteca.errors import FonotecaError, UsageError

        if isinstance(result.exception, FonotecaError):  # what main() prints and returns
            code = 2 if isinstance(result.exception, UsageError) else 1
            stderr += f"error: {result.exception}\n"
        else:
            raise result.exception
    return Result(code, result.stdout, stderr)


def run_subprocess(*args: str, archive: Path | None = None, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `fonoteca` entry point in a child process."""
    full = [sys.executable, "-m", "fonoteca"] + (["-A", str(archive)] if archive is not None else []) + [str(a) for a in args]
    env = dict(os.environ, COLUMNS="120")
    return subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


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
