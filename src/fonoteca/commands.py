"""The typer app: the root options, every stage's sub-commands, and help that people can read.

Stage modules register their commands when the app is built; each imports its heavy dependencies (PyAV, numpy,
libtorrent, FastAPI, ...) inside the command that needs them, so `--help` and light commands start fast.
"""

from __future__ import annotations

import inspect
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
        cls=LazyRoot,
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
    """The click command behind the app, with readable metavars everywhere. Its sub-commands are converted from
    typer to click only when one is used (see LazyRoot)."""
    app = make_app()
    commands, groups = app.registered_commands, app.registered_groups
    app.registered_commands, app.registered_groups = [], []
    try:
        root = typer.main.get_command(app)  # the root's own options only: a LazyRoot (make_app's cls)
    finally:
        app.registered_commands, app.registered_groups = commands, groups
    assert isinstance(root, LazyRoot)
    root.defer(app)
    _readable_metavars(root)
    return root


class LazyRoot(typer.core.TyperGroup):
    """The root command, whose sub-commands typer turns into click commands one at a time, when they are used.

    Converting all of them (reading some fifty signatures and evaluating their annotations) was most of the time
    of every start, and `fonoteca X` needs only X; `fonoteca --help` lists every command from its registration
    (name, help, hidden) without converting any."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, Any] = {}  # name -> typer CommandInfo or TyperInfo, in typer's order

    def defer(self, app: typer.Typer) -> None:
        """Take the app's sub-commands as registered, to convert when used."""
        for info in app.registered_commands:
            callback = info.callback
            assert callback is not None  # typer registers a command by decorating its function
            self.pending[info.name or typer.main.get_command_name(callback.__name__)] = info
        for group in app.registered_groups:
            name = typer.main.solve_typer_info_defaults(group).name
            if name:
                self.pending[name] = group
                continue
            # typer merges the commands of a group added without a name into its parent: so does this, at once
            merged = self._convert(group)
            assert isinstance(merged, click.Group)
            for sub_name, sub in merged.commands.items():
                self.commands[sub_name] = self.pending[sub_name] = sub

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.pending) or super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.pending:
            self.commands[cmd_name] = self._convert(self.pending[cmd_name])
        return self.commands.get(cmd_name)

    def _convert(self, info: Any) -> click.Command:
        shared: dict[str, Any] = {"pretty_exceptions_short": True, "rich_markup_mode": None}
        if isinstance(info, typer.models.TyperInfo):
            command: click.Command = typer.main.get_group_from_info(info, **shared)
        else:
            command = typer.main.get_command_from_info(info, **shared)
        _readable_metavars(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing of the sub-commands, from what each registered (no conversion)."""
        if not self.pending:
            return super().format_commands(ctx, formatter)
        rows = [(name, summary) for name, summary, hidden in map(self._summary, self.pending) if not hidden]
        if rows:
            limit = formatter.width - 6 - max(len(name) for name, _ in rows)
            with formatter.section("Commands"):
                formatter.write_dl(
                    [(name, click.utils.make_default_short_help(text, limit) if text else "") for name, text in rows]
                )

    def _summary(self, name: str) -> tuple[str, str, bool]:
        """(name, the text its short help is made from, hidden) as typer would give the converted command."""
        info = self.pending[name]
        if isinstance(info, click.Command):  # converted already (a command of a group added without a name)
            return name, info.short_help or info.help or "", info.hidden
        if isinstance(info, typer.models.TyperInfo):
            solved = typer.main.solve_typer_info_defaults(info)
            return name, solved.short_help or solved.help or "", bool(solved.hidden)
        text = info.short_help or (
            inspect.cleandoc(info.help) if info.help is not None else inspect.getdoc(info.callback)
        )
        return name, text or "", bool(info.hidden)


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
