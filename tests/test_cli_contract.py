"""What scripts rely on: exit codes, results on stdout and diagnostics on stderr, pipe-friendly tables, --json,
readable help, literal printing of hostile metadata, and a light start. Every command here runs through the real
entry point (`python -m fonoteca`, which is the installed script's `main()`), in a child process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from fonoteca import archive as archive_mod
from tests.conftest import run_cli
from tests.helpers import write_jsonl
from tests.spotify_samples import full_track


@pytest.fixture(scope="module")
def packed(packed_archive: Path) -> Path:
    return packed_archive


def _release_data(root: Path) -> Path:
    release = next(p for p in (root / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))
    return release / "data"


# ------------------------------------------------------------------------------------------------ exit codes


def test_usage_errors_exit_2(archive):
    assert run_cli("no-such-command").exit_code == 2
    assert run_cli("search", "--limit", "many", "love", archive=archive.root).exit_code == 2
    assert run_cli("plan", "--policy", "nonsense", archive=archive.root).exit_code == 2
    result = run_cli("plan", "--budget", "12 parsecs", archive=archive.root)
    assert result.exit_code == 2 and "size" in result.stderr


def test_failures_exit_1_and_say_why(tmp_path, archive):
    result = run_cli("stats", archive=tmp_path)
    assert result.exit_code == 1 and "not a Fonoteca archive" in result.stderr
    result = run_cli("show", "spotify:track:0000000000000000000000", archive=archive.root)
    assert result.exit_code == 1 and "nothing in the catalog" in result.stderr


def test_every_error_starts_with_the_same_word(tmp_path, archive):
    """Click's usage errors, Fonoteca's usage errors and its failures say "Error: " alike, so one grep finds them."""
    results = {
        "click usage": run_cli("search", "--limit", "many", "love", archive=archive.root),
        "fonoteca usage": run_cli("search", "", archive=archive.root),
        "failure": run_cli("show", "spotify:track:0000000000000000000000", archive=archive.root),
    }
    for kind, result in results.items():
        assert result.exit_code in (1, 2), kind
        lines = result.stderr.splitlines()
        assert (
            [line for line in lines if line.lower().startswith("error")]
            == [line for line in lines if line.startswith("Error: ")]
            != []
        ), (kind, result.stderr)


def test_a_message_to_a_pipe_is_never_wrapped(tmp_path):
    # scripts match messages with grep: a long path must not push the rest of the line onto the next one
    deep = tmp_path / ("a" * 70) / ("b" * 70)
    deep.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "fonoteca", "-A", str(deep), "stats"], capture_output=True, text=True)
    assert done.returncode == 1
    line = next(line for line in done.stderr.splitlines() if str(deep) in line)
    assert line.endswith("create one with: fonoteca init DIR") and "not a Fonoteca archive" in line, done.stderr


def test_import_strict_exits_1_on_a_reject_and_0_without_strict(tmp_path, archive):
    good = full_track()
    source = write_jsonl(tmp_path / "tracks.jsonl", [good, {"type": "track", "id": 12}])
    assert run_cli("import", "spotify", source, archive=archive.root).exit_code == 0
    strict = run_cli("import", "spotify", source, "--strict", archive=archive.root)
    assert strict.exit_code == 1, strict.stderr
    assert "rejected" in strict.stderr


def test_verify_exits_1_when_a_file_is_corrupt(packed, tmp_path):
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(packed), str(copy)], check=True)
    assert run_cli("verify", archive=copy).exit_code == 0
    victim = next(p for p in _release_data(copy).rglob("*") if p.is_file() and p.suffix != ".zst")
    victim.unlink()  # the payload is hard links into files/: replace the link, never write through it
    victim.write_bytes(b"\0" * 1000)
    result = run_cli("verify", archive=copy)
    assert result.exit_code == 1, result.stdout + result.stderr
    assert victim.name in result.stdout  # the problem is a result: on stdout
    assert run_cli("verify", "--json", archive=copy).exit_code == 1


def test_mirror_and_fetch_that_do_not_complete_exit_1(packed, tmp_path):
    # no peers, no trackers: nothing can be downloaded within the timeout
    result = run_cli("mirror", str(packed), "--into", tmp_path / "m", "--timeout", "2", "--stall", "2")
    assert result.exit_code == 1, result.stderr
    assert "INCOMPLETE" in result.stderr
    track = json.loads(run_cli("shuffle", "--json", archive=packed).stdout)[0]["id"]
    result = run_cli("fetch", track, "--into", tmp_path / "one", "--from", str(packed), "--timeout", "2")
    assert result.exit_code == 1, result.stderr
    assert "did not complete" in result.stderr and "failed" in result.stderr


def test_ingest_strict_exits_1_with_a_quarantined_or_unmatched_file(archive, tmp_path):
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"fLaC" + os.urandom(300))
    assert run_cli("ingest", bad, "--tier", "original", archive=archive.root).exit_code == 0
    strict = run_cli("ingest", bad, "--tier", "original", "--strict", archive=archive.root)
    assert strict.exit_code == 1, strict.stderr
    assert "broken.flac" in strict.stderr


# ------------------------------------------------------------------------------------------------ streams


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory, synth_small: Path) -> Path:
    root = archive_mod.init(tmp_path_factory.mktemp("cat") / "archive").root
    assert run_cli("import", "spotify", synth_small, archive=root).exit_code == 0
    return root


def test_results_go_to_stdout_as_tab_separated_rows(catalog):
    result = run_cli("search", "love", "--limit", "5", archive=catalog)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["#", "title", "artists", "album", "year", "pop", "id"]
    assert 1 <= len(lines) - 1 <= 5
    ids = [line.split("\t")[6] for line in lines[1:]]
    for track_id in ids:  # whole ids, never wrapped: each looks up
        shown = run_cli("show", track_id, "--json", archive=catalog)
        assert shown.exit_code == 0 and json.loads(shown.stdout)[0]["kind"] == "track"
    assert "love" not in result.stderr.lower().replace("search: love", "")


def test_json_everywhere_it_is_promised(catalog):
    for args in (
        ("search", "love"),
        ("shuffle",),
        ("stats",),
        ("index", "status"),
        ("torrents", "list"),
        ("plan", "--policy", "anna", "--dry-run"),
    ):
        result = run_cli(*args, "--json", archive=catalog)
        assert result.exit_code == 0, (args, result.stderr)
        json.loads(result.stdout)  # the whole of stdout is one JSON document


def test_stats_prints_people_numbers_not_raw_dicts(catalog):
    result = run_cli("stats", archive=catalog)
    assert result.exit_code == 0
    text = result.stdout
    assert "{" not in text and "by_source spotify\t" in text
    tracks = dict(line.split("\t", 1) for line in text.splitlines())["tracks"]
    assert tracks == f"{2000:,}"


def test_plan_echoes_the_budget_as_typed(catalog):
    result = run_cli("plan", "--budget", "1.5TiB", "--dry-run", archive=catalog)
    assert result.exit_code == 0, result.stderr
    assert "1.5TiB" in result.stdout + result.stderr and "1.65 TB" not in result.stdout + result.stderr


def test_policy_all_keeps_every_recording(catalog):
    result = run_cli("plan", "--policy", "all", "--dry-run", "--json", archive=catalog)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"] == summary["recordings"]
    assert summary["tiers"]["original"]["files"] == summary["recordings"] and summary["tiers"]["compact"]["files"] == 0


# ------------------------------------------------------------------------------------------------ hostile names


def test_metadata_is_printed_literally(tmp_path, archive):
    names = ["[/]", "[link=https://evil.example]click[/link]", "bell\x07 and \x1b[31mred\x1b[0m"]
    tracks = [
        full_track(id_=f"{n}Hostile".ljust(22, "x"), name=name, isrc=f"GBBKS150021{n}") for n, name in enumerate(names)
    ]
    source = write_jsonl(tmp_path / "hostile.jsonl", tracks)
    assert run_cli("import", "spotify", source, archive=archive.root).exit_code == 0
    for track in tracks:
        shown = run_cli("show", track["id"], archive=archive.root)
        assert shown.exit_code == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
        assert "\x1b" not in shown.stderr
    shown = dict(
        line.split("\t", 1) for line in run_cli("show", tracks[0]["id"], archive=archive.root).stdout.splitlines()
    )
    assert shown["name"] == "[/]"
    shown = dict(
        line.split("\t", 1) for line in run_cli("show", tracks[2]["id"], archive=archive.root).stdout.splitlines()
    )
    assert shown["name"] == "bell\\x07 and \\x1b[31mred\\x1b[0m"
    listed = run_cli("search", "click", archive=archive.root)
    assert listed.exit_code == 0 and "[link=https://evil.example]click[/link]" in listed.stdout


def test_literal_on_a_terminal_keeps_markup_as_text():
    """On a terminal (rich tables), a name with markup is drawn as its characters, not interpreted."""
    code = (
        "from rich.console import Console; import fonoteca.console as c; "
        "c._stdout = Console(file=open('/dev/stdout', 'w'), force_terminal=True, width=100, color_system=None); "
        "c.stdout_is_terminal = lambda: True; "
        "c.emit_table(('name',), [('[/]',), ('[link=https://e.example]x[/link]',), ('\\x1b[2J',)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "[/]" in out and "[link=https://e.example]x[/link]" in out and "\\x1b[2J" in out and "\x1b" not in out


# ------------------------------------------------------------------------------------------------ help and start-up


_WALK = (
    "import click, json, typer, fonoteca.commands as c\n"
    "def walk(cmd, path):\n"
    "    out = [path]\n"
    "    if isinstance(cmd, click.Group):\n"
    "        ctx = click.Context(cmd)\n"
    "        for name in cmd.list_commands(ctx):\n"
    "            out += walk(cmd.get_command(ctx, name), path + [name])\n"
    "    return out\n"
)


def _all_commands() -> list[list[str]]:
    code = _WALK + "print(json.dumps(walk(c.make_command(), [])))"
    return orjson.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)


def test_commands_converted_when_used_give_the_help_of_converting_all():
    """The root converts a sub-command from typer only when it is used; every command's help (and the root's
    listing, made without converting any) is the one converting the whole tree at once gives."""
    code = _WALK + (
        "import contextlib, io\n"
        "def eager():\n"
        "    app = c.make_app(); app.info.cls = typer.core.TyperGroup\n"
        "    cmd = typer.main.get_command(app); c._readable_metavars(cmd); return cmd\n"
        "def help_of(cmd, args):\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try: cmd.main(args=args + ['--help'], prog_name='fonoteca', standalone_mode=False)\n"
        "        except (SystemExit, click.exceptions.Exit): pass\n"
        "    return out.getvalue()\n"
        "root = c.make_command(); help_of(root, [])\n"
        "converted_for_help = sorted(root.commands)\n"
        "paths = walk(eager(), [])\n"
        "differ = [p for p in paths if help_of(c.make_command(), p) != help_of(eager(), p)]\n"
        "print(json.dumps({'paths': len(paths), 'differ': differ, 'converted_for_help': converted_for_help}))"
    )
    out = orjson.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout)
    assert out["paths"] > 30 and out["differ"] == []
    assert out["converted_for_help"] == []


def test_help_shows_readable_metavars_and_the_exit_codes():
    commands = _all_commands()
    assert len(commands) > 30
    for path in commands:
        result = run_cli(*path, "--help")
        assert result.exit_code == 0, path
        for raw in ("<list[", "<bool>", "<str>", "<int>", "<float>", "<path>"):
            assert raw not in result.stdout, (path, raw, result.stdout)
        assert not re.search(r"\{[a-zA-Z_]+\}", result.stdout.splitlines()[0]), result.stdout  # typer's {arg}
    assert "Exit codes: 0" in run_cli("--help").stdout


def test_cli_module_imports_no_heavy_dependency():
    code = (
        "import sys, fonoteca.cli, fonoteca.commands as c; c.make_command(); "
        "print(' '.join(m for m in ('fastapi', 'numpy', 'scipy', 'av', 'libtorrent', 'dask', 'distributed', "
        "'matplotlib', 'uvicorn', 'mutagen') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_version_answers_without_typer():
    code = (
        "import sys; sys.argv = ['fonoteca', '--version']\nfrom fonoteca.cli import main\ntry:\n    main()\n"
        "except SystemExit as e:\n    print('typer' in sys.modules, e.code)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "False 0"
