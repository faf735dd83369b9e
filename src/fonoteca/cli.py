"""The `fonoteca` command: one typer app; each stage registers its own sub-commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from fonoteca import __version__
from fonoteca.console import console
from fonoteca.errors import FonotecaError, UsageError

app = typer.Typer(
    name="fonoteca",
    help="Build, publish, search and mirror a preservation archive of recorded music.\n\n"
    "Pipeline: import -> search -> plan -> ingest -> pack -> mirror/verify -> serve. "
    "Fonoteca works only on files and metadata you have the right to preserve; it never downloads from "
    "streaming services and never circumvents DRM.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fonoteca {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    archive: Optional[Path] = typer.Option(
        None, "-A", "--archive", envvar="FONOTECA_ARCHIVE",
        help="Archive directory (default: $FONOTECA_ARCHIVE, else the current directory).",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = {"archive": archive}


def _register_stages() -> None:
    from fonoteca.catalog import cli as catalog_cli
    from fonoteca.cluster import cli as cluster_cli
    from fonoteca.features import cli as features_cli
    from fonoteca.ingest import cli as ingest_cli
    from fonoteca.mirror import cli as mirror_cli
    from fonoteca.pack import cli as pack_cli
    from fonoteca.plan import cli as plan_cli
    from fonoteca.search import cli as search_cli
    from fonoteca.synth import cli as synth_cli
    from fonoteca.web import cli as web_cli

    catalog_cli.register(app)
    synth_cli.register(app)
    plan_cli.register(app)
    ingest_cli.register(app)
    pack_cli.register(app)
    search_cli.register(app)
    web_cli.register(app)
    cluster_cli.register(app)
    mirror_cli.register(app)
    features_cli.register(app)


_register_stages()


@app.command("demo")
def demo(
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where to build the demo (default: a new temporary folder). Replaced if it holds an earlier demo."),
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


def main() -> None:
    try:
        app(standalone_mode=False)
    except UsageError as exc:
        console.print(f"[red]error:[/red] {exc}", markup=True)
        sys.exit(2)
    except FonotecaError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors (typer vendors click) arrive here in non-standalone mode
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
