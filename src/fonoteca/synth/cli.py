"""`fonoteca synth`: synthetic data for demos, tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import typer

from fonoteca.console import console, progress_bar
from fonoteca.errors import UsageError
from fonoteca.hookspecs import hookimpl

synth_app = typer.Typer(
    help="Generate realistic synthetic data (catalogs, audio) for demos, tests and benchmarks.", no_args_is_help=True
)

KINDS = {"track", "artist", "audio-features"}
WORDS_HELP = (
    "Vocabulary of titles and names: 0 (default) the small built-in word list; N a vocabulary of N words with Zipf "
    "frequencies, as a real catalog's search index meets (benchmarks)."
)


@synth_app.command("catalog")
def synth_catalog_command(
    tracks: int = typer.Option(..., "--tracks", min=1, help="Number of tracks."),
    out: Path = typer.Option(..., "--out", help="Output JSON lines file; .zst or .gz compresses."),
    kinds: str = typer.Option("artist,track,audio-features", help="Comma-separated: artist, track, audio-features."),
    seed: int = typer.Option(1, help="Random seed (same seed, same catalog)."),
    words: int = typer.Option(0, "--words", min=0, help=WORDS_HELP),
) -> None:
    """Write Spotify-shaped JSON lines: full artists, full tracks (nested album and artists), audio features."""
    import orjson

    from fonoteca.catalog.cli import _open_sink
    from fonoteca.synth.catalog import CatalogSynth

    chosen = {k.strip() for k in kinds.split(",") if k.strip()}
    if not chosen or not chosen <= KINDS:
        raise UsageError(f"--kinds takes a comma-separated subset of {', '.join(sorted(KINDS))}")
    synth = CatalogSynth(tracks, seed=seed, words=words)
    sink = _open_sink(out)
    written = 0
    with progress_bar("synth catalog", unit="objects") as report:
        buffer: list[bytes] = []
        for obj in synth.objects(chosen):
            buffer.append(orjson.dumps(obj))
            if len(buffer) >= 2000:
                sink.write(b"\n".join(buffer) + b"\n")
                written += len(buffer)
                report(len(buffer))
                buffer = []
        if buffer:
            sink.write(b"\n".join(buffer) + b"\n")
            written += len(buffer)
            report(len(buffer))
    sink.close()
    console.print(f"wrote {written:,} objects ({tracks:,} tracks) to {out}")


@synth_app.command("spotify-clean")
def synth_spotify_clean_command(
    tracks: int = typer.Option(..., "--tracks", min=1, help="Number of tracks."),
    out: Path = typer.Option(..., "--out", help="Folder for the databases (spotify_clean*.sqlite3)."),
    databases: str = typer.Option(
        "main,audio_features,track_files,playlists",
        "--databases",
        help="Comma-separated: main, audio_features, track_files, playlists.",
    ),
    seed: int = typer.Option(1, help="Random seed (same seed, same databases)."),
    words: int = typer.Option(0, "--words", min=0, help=WORDS_HELP),
) -> None:
    """Write synthetic databases in the reference release's SQLite layout, with the distributions of `synth
    catalog`: artists, albums, tracks and their links, audio features, playlists (episodes and local files
    included) and track_files with the statuses the published rule gives."""
    from fonoteca.catalog import layout
    from fonoteca.synth.spotify_clean import synthesize

    chosen = tuple(d.strip() for d in databases.split(",") if d.strip())
    if not chosen or not set(chosen) <= set(layout.LOAD_ORDER):
        raise UsageError(f"--databases takes a comma-separated subset of {', '.join(layout.LOAD_ORDER)}")
    with progress_bar("synth spotify-clean", unit="tracks", total=tracks) as report:
        paths = synthesize(
            out,
            tracks,
            seed,
            tuple(db for db in layout.LOAD_ORDER if db in chosen),
            progress=report,
            words=words,
        )
    for path in paths.values():
        typer.echo(str(path))
    console.print(f"wrote {len(paths)} database(s) of the reference layout ({tracks:,} tracks) to {out}")


@synth_app.command("audio")
def synth_audio_command(
    out: Path = typer.Option(..., "--out", help="Folder for the audio files, catalog.csv, catalog.toml and map.csv."),
    tracks: int = typer.Option(10, "--tracks", min=1, help="Number of tracks."),
    seconds: str = typer.Option("8", "--seconds", help="Length of each track in seconds, or a range MIN-MAX."),
    formats: str = typer.Option(
        "flac,ogg,opus,mp3,wav", "--formats", help="Comma-separated: flac, wav, ogg, opus, mp3 (used in turn)."
    ),
    seed: int = typer.Option(1, help="Random seed (same seed, same music)."),
    tags: bool = typer.Option(True, "--tags/--no-tags", help="Embed ISRC, title, artist and album tags."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes rendering in parallel."),
) -> None:
    """Render synthetic music (chords and drums) in several formats, with a catalog table that describes it:
    import it with `fonoteca import table OUT/catalog.csv --map OUT/catalog.toml`, ingest with --map OUT/map.csv."""
    from fonoteca.synth.audio import FORMATS, make_collection

    chosen = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    if not chosen or not set(chosen) <= set(FORMATS):
        raise UsageError(f"--formats takes a comma-separated subset of {', '.join(FORMATS)}")
    try:
        low, _, high = seconds.partition("-")
        length: float | tuple[float, float] = (float(low), float(high)) if high else float(low)
    except ValueError:
        raise UsageError(f"--seconds takes a number or MIN-MAX, not {seconds!r}") from None
    collection = make_collection(out, tracks, length, chosen, seed=seed, tags=tags, workers=workers)
    console.print(
        f"wrote {len(collection.tracks):,} tracks to {collection.root} (catalog "
        f"{collection.catalog_csv.name}, mapping {collection.mapping_toml.name}, map {collection.map_csv.name})"
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.add_typer(synth_app, name="synth")
