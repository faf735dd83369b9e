"""Progress: the one callback every stage reports through, drawn on the bars of the command that runs it."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console
from rich.progress import Progress as RichProgress

from fonoteca import archive as archive_mod
from fonoteca.console import BarProgress
from tests.conftest import run_cli


def _bars() -> RichProgress:
    return RichProgress(console=Console(file=io.StringIO()), auto_refresh=False)


def _shown(bar: RichProgress) -> list[tuple[str, float, float | None, str]]:
    return [(t.description, t.completed, t.total, t.fields["unit"]) for t in bar.tasks]


def test_units_add_up_and_a_total_applies_to_the_bar_in_hand() -> None:
    bar = _bars()
    report = BarProgress(bar, "ingest", unit="files")
    report(total=5)
    report(2)
    report(1)
    assert _shown(bar) == [("ingest", 3, 5, "files")]


def test_a_step_without_a_total_goes_on_with_the_count_under_its_name() -> None:
    bar = _bars()
    report = BarProgress(bar, "import spotify-clean", unit="rows")
    report(100, stage="0:artist")
    report(50, stage="0:track")
    report(stage="index tracks_id")
    assert _shown(bar) == [("import spotify-clean: index tracks_id", 150, None, "rows")]


def test_each_later_step_with_a_total_of_its_own_gets_a_bar_of_its_own() -> None:
    bar = _bars()
    report = BarProgress(bar, "pack", unit="bytes", units={"metadata torrent": "steps"})
    report(stage="hash", total=1000)
    report(600)
    report(400)
    report(stage="metadata torrent", total=1)
    report(1)
    assert _shown(bar) == [("pack: hash", 1000, 1000, "bytes"), ("pack: metadata torrent", 1, 1, "steps")]


def test_an_import_shows_its_count_on_stderr_not_stdout(archive: archive_mod.Archive, tmp_path: Path) -> None:
    lines = tmp_path / "catalog.jsonl"
    assert run_cli("synth", "catalog", "--tracks", "50", "--out", str(lines), "--seed", "2").exit_code == 0
    objects = sum(1 for line in lines.read_text().splitlines() if line.strip())
    result = run_cli("import", "spotify", str(lines), archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert re.search(rf"import spotify\b.* {objects}/\?", result.stderr), result.stderr
    assert "import spotify" not in result.stdout


def test_an_import_in_steps_names_its_step_on_the_bar(archive: archive_mod.Archive, tmp_path: Path) -> None:
    folder = tmp_path / "layout"
    made = run_cli("synth", "spotify-clean", "--tracks", "40", "--out", str(folder), "--databases", "main")
    assert made.exit_code == 0, made.stderr
    result = run_cli("import", "spotify-clean", str(folder), archive=archive.root)
    assert result.exit_code == 0, result.stderr
    assert re.search(r"import spotify-clean: \S+", result.stderr), result.stderr
