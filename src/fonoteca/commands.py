"""The typer app: the root options, every stage's sub-commands, and help that people can read.

Stage modules register their commands when the app is built; each imports its heavy dependencies (PyAV, numpy,
libtorrent, FastAPI, ...) inside the command that needs them, so `--help` and light commands start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import typer

from fonoteca import __version__
from fonoteca.cli import EXIT_CODES_HELP

ROOT_HELP = (
    "Build, publish, search and mirror a preservation archive of recorded music.\n\n"
    "Pipeline: import -> search -> plan -> ingest -> pack -> mirror/verify -> serve. Fonoteca works only on "
    "files and metadata you have the right to preserve; it never downloads from streaming services and never "
    "circumvents DRM.\n\n"
    "Results (tables, ids, JSON) go to stdout, tab-separated when stdout is not a terminal; progress and "
    "diagnostics go to stderr. Every query command takes --json."
)


def open_archive(ctx: typer.Context) -> Any:
    """The archive a command works on: `-A DIR`, else $FONOTECA_ARCHIVE, else the current directory."""
    from fonoteca.archive import open_archive as open_dir

    return open_dir(archive_option(ctx))


def archive_option(ctx: typer.Context) -> Path | None:
    """The `-A/--archive` value given to the root command (None when not given)."""
    obj = ctx.find_root().obj or {}
    return obj.get("archive")


def archive_root(ctx: typer.Context, path: Path | None) -> Path:
    """A folder argument of commands that take an archive or a mirror (verify, seed, coverage): the path when
    given, else the archive's root."""
    return path if path is not None else open_archive(ctx).root


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fonoteca {__version__}")
        raise typer.Exit()


def make_app() -> typer.Typer:
    """The whole command line as a typer app."""
    # click's plain help: typer's rich help costs about 100 ms per start (it imports rich's renderers), and its
    # plain mode still escapes brackets for rich unless told rich is absent.
    typer.core.HAS_RICH = False
    typer.main.HAS_RICH = False
    app = typer.Typer(
        name="fonoteca",
        help=ROOT_HELP,
        epilog=EXIT_CODES_HELP,
        no_args_is_help=True,
        add_completion=False,
        context_settings={"help_option_names": ["-h", "--help"]},
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )

    @app.callback()
    def _root(
        ctx: typer.Context,
        archive: Path | None = typer.Option(
            None,
            "-A",
            "--archive",
            envvar="FONOTECA_ARCHIVE",
            metavar="DIR",
            help="Archive directory (default: $FONOTECA_ARCHIVE, else the current directory).",
        ),
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    ) -> None:
        ctx.obj = {"archive": archive}

    _register_stages(app)
    return app


def _register_stages(app: typer.Typer) -> None:
    """Every plugin's commands: Fonoteca's own stages first (fonoteca.plugins.DEFAULT_PLUGINS), then those of
    installed plugins."""
    from fonoteca import plugins

    plugins.hook().register_commands(app=app)
    app.command("demo")(demo_command)


def demo_command(
    directory: Path | None = typer.Option(
        None,
        "--dir",
        help="Where to build the demo (default: a new temporary folder). Replaced if it holds an earlier demo.",
    ),
    tracks: int = typer.Option(20000, "--tracks", min=100, help="Size of the synthetic catalog."),
    seed: int = typer.Option(1, help="Random seed of the synthetic collection."),
    genres: int = typer.Option(12, help="Genres that get real (synthesised) audio."),
    per_genre: int = typer.Option(16, help="Tracks with audio per genre."),
    port: int = typer.Option(8000, help="Port for the website at the end."),
    serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the website when done."),
    as_json: bool = typer.Option(False, "--json", help="Print every stage's figures as JSON at the end."),
) -> None:
    """Build a small archive end to end from embedded synthetic data (no downloads, no setup) and serve it."""
    from fonoteca import demo as demo_mod
    from fonoteca.console import print_json

    ctx = demo_mod.run(directory, tracks, seed, port, serve, genres=genres, per_genre=per_genre)
    if as_json:
        print_json({"root": str(ctx.root), "stages": ctx.figures})
    if serve:
        demo_mod.serve(ctx)


def make_command() -> click.Command:
    """The click command behind the app, with readable metavars everywhere."""
    command = typer.main.get_command(make_app())
    _readable_metavars(command)
    return command


def _readable_metavars(command: click.Command) -> None:
    """Give every option without a metavar one a person reads (PATH, TEXT, N, SIZE...) and every argument its
    name in capitals, instead of typer's `{source}`/`<list[str]>`; flags show none."""
    for param in command.params:
        if isinstance(param, click.Argument):
            continue  # click shows NAME, [NAME] or NAME... by itself
        if param.metavar is None and isinstance(param, click.Option) and not (param.is_flag or param.count):
            param.metavar = _type_metavar(param.type)
    for sub in getattr(command, "commands", {}).values():
        _readable_metavars(sub)


def _type_metavar(kind: click.ParamType) -> str:
    if isinstance(kind, click.Choice):
        return "[" + "|".join(str(c) for c in kind.choices) + "]"
    if isinstance(kind, click.Path):
        return "DIR" if kind.dir_okay and not kind.file_okay else "PATH"
    if isinstance(kind, click.types.IntParamType):
        return "N"
    if isinstance(kind, click.types.FloatParamType):
        return "NUMBER"
    if isinstance(kind, click.DateTime):
        return "DATE"
    return "TEXT"
