"""`fonoteca features` and `fonoteca genre-map`."""

from __future__ import annotations

from pathlib import Path

import typer

from fonoteca.commands import open_archive
from fonoteca.console import console, emit_line, lit, print_json, progress_bar
from fonoteca.hookspecs import hookimpl


def features_command(
    ctx: typer.Context,
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=0, help="Local worker processes (default: every core; 1: this process)."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Run the analysis on a Dask cluster (default: cluster.scheduler in fonoteca.toml).",
    ),
    force: bool = typer.Option(False, "--force", help="Analyse every file again, even when up to date."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Compute audio features (tempo, loudness, dynamic range, brightness, flatness, onset rate, rhythmic
    regularity, harmonic/percussive balance, key and mode) from every ingested track's stored file, in
    parallel; stored in the catalog's track_features table. Imported features are kept as they are."""
    from fonoteca.features.compute import compute_features

    archive = open_archive(ctx)
    with progress_bar("features", unit="files") as report:
        summary = compute_features(archive, workers=workers, scheduler=scheduler, force=force, progress=report)
    if as_json:
        print_json(summary.as_dict())
        return
    console.print(
        f"features: {summary.computed:,} computed, {summary.failed:,} failed, {summary.already:,} "
        f"already up to date, of {summary.tracks:,} tracks with files; "
        f"{summary.audio_seconds / 60:.1f} min of audio in {summary.seconds:.1f} s "
        f"({summary.realtime:.0f}x realtime, {summary.executor or 'nothing to do'})"
    )
    for error in summary.errors[:10]:
        console.print(f"  failed: track {lit(error['track'])}: {lit(error['error'])}")


def genre_map_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="FILE.html (standalone page), FILE.png or FILE.svg."),
    base_url: str | None = typer.Option(
        None, "--base-url", metavar="URL", help="Link each genre to URL/genres/NAME (the archive's website)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Also print the map's data as JSON."),
) -> None:
    """Draw the genre map: every genre placed by how its tracks sound (computed features where present,
    imported ones otherwise). Up: mechanical/electric, down: organic/acoustic; left: dense/atmospheric,
    right: spiky/bouncy; colour: loudness (red), tonality (green), dynamics (blue)."""
    from fonoteca.features.genremap import genre_map, write_genre_map

    archive = open_archive(ctx)
    data = genre_map(archive)
    path = write_genre_map(archive, out, base_url=base_url.rstrip("/") if base_url else None, data=data)
    if as_json:
        print_json(data)
    else:
        console.print(
            f"genre map: {data['count']:,} genres ({data['tracks']['computed']:,} tracks with computed "
            f"features, {data['tracks']['imported']:,} imported)"
        )
        emit_line(path)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("features")(features_command)
    app.command("genre-map")(genre_map_command)
