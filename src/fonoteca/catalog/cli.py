"""Catalog commands: init, import, export, show, stats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fonoteca.catalog.importers import Importer
from fonoteca.commands import open_archive
from fonoteca.console import console, emit_pairs, human, lit, print_json, progress_bar
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.hookspecs import hookimpl

import_app = typer.Typer(
    help="Import metadata into the catalog (Spotify Web API JSON, MusicBrainz JSON, tables, tagged "
    "files, Internet Archive items, Jamendo, the Free Music Archive).",
    no_args_is_help=True,
)
export_app = typer.Typer(help="Export catalog objects in their source format.", no_args_is_help=True)


def _print_summary(summary: Any, as_json: bool) -> None:
    """The import summary: JSON on stdout with --json, else a few lines on stderr (an import's result is the
    catalog, not text)."""
    if as_json:
        print_json(summary.as_dict())
        return
    rate = summary.units / summary.seconds if summary.seconds else 0
    written = ", ".join(f"{k} {v:,}" for k, v in summary.written.items() if v)
    console.print(
        f"imported {summary.units:,} objects from {len(summary.files)} file(s) in {summary.seconds:.1f} s "
        f"({rate:,.0f}/s); " + (f"rows written: {written}" if written else "no rows changed (all already current)")
    )
    for f in summary.files:
        if f.rejected:
            reasons = "; ".join(f"{lit(k)} ({n:,})" for k, n in sorted(f.reasons.items(), key=lambda kv: -kv[1])[:5])
            console.print(
                f"[yellow]{lit(f.path)}: {f.rejected:,} rejected[/yellow] -> {lit(f.rejects_file)}: {reasons}"
            )


def _finish_import(summary: Any, strict: bool, as_json: bool) -> None:
    _print_summary(summary, as_json)
    if strict and summary.rejected:
        console.print(f"[red]--strict:[/red] {summary.rejected:,} records rejected")
        raise typer.Exit(1)


def _run_import(
    ctx: typer.Context, paths: list[Path], importer: Importer, fetched_at: str | None, strict: bool, as_json: bool
) -> None:
    from fonoteca.catalog.importer import expand_paths, import_json_files, parse_fetched_at

    assert importer.codec is not None
    fmt, codec = importer.name, importer.codec()
    archive = open_archive(ctx)
    archive.require_writable(f"import {fmt}")
    files = expand_paths(paths, importer.suffixes)
    if not files:
        raise FonotecaError("no input files found")
    with progress_bar(f"import {fmt}", unit="objects") as report:
        summary = import_json_files(
            archive,
            files,
            fmt,
            codec,
            fetched_at=parse_fetched_at(fetched_at),
            progress=report,
        )
    _after_import(archive, summary)
    _finish_import(summary, strict, as_json)


def _after_import(archive: Any, summary: Any) -> None:
    """Tell the later stages (through the after_import hook: the search stage updates its index)."""
    from fonoteca import plugins

    plugins.hook().after_import(archive=archive, summary=summary)


def import_json_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Files (plain, .gz or .zst) or folders of them."),
    fetched_at: str | None = typer.Option(
        None, help="When the data was fetched (ISO 8601); default: each file's mtime. Newer data wins."
    ),
    strict: bool = typer.Option(False, help="Exit 1 when any record was rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """`fonoteca import NAME PATH...` for every JSON-shaped importer (see fonoteca.catalog.importers): registered
    once per importer, under its name, which says which importer runs."""
    from fonoteca import plugins

    _run_import(ctx, paths, plugins.importers()[ctx.command.name or ""], fetched_at, strict, as_json)


@import_app.command("table")
def import_table_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV, TSV or pipe-delimited file (plain, .gz or .zst)."),
    mapping: Path = typer.Option(..., "--map", help="TOML file mapping the table's columns to catalog fields."),
    fetched_at: str | None = typer.Option(None, help="When the data was fetched (ISO 8601); default: file mtime."),
    strict: bool = typer.Option(False, help="Exit 1 when any row was rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import a track or artist table (Kaggle-style CSV) through a column mapping."""
    from fonoteca.catalog import table
    from fonoteca.catalog.importer import parse_fetched_at

    archive = open_archive(ctx)
    if not path.is_file():
        raise FonotecaError(f"{path}: no such file")
    with progress_bar("import table", unit="rows") as report:
        summary = table.import_table(
            archive, path, table.load_mapping(mapping), fetched_at=parse_fetched_at(fetched_at), progress=report
        )
    _after_import(archive, summary)
    _finish_import(summary, strict, as_json)


def _run_collection(
    ctx: typer.Context,
    name: str,
    paths: list[Path],
    reader: Any,
    fetched_at: str | None,
    strict: bool,
    as_json: bool,
    *,
    source_path: Any = None,
) -> None:
    """A collection import (files, internet-archive, jamendo, fma): see fonoteca.catalog.provenance."""
    from fonoteca import plugins
    from fonoteca.catalog import provenance
    from fonoteca.catalog.ids import NAMESPACES
    from fonoteca.catalog.importer import parse_fetched_at

    importer = plugins.importers()[name]
    archive = open_archive(ctx)
    archive.require_writable(f"import {name}")
    with progress_bar(f"import {name}", unit="tracks") as report:
        summary = provenance.run_import(
            archive,
            paths,
            name,
            name,
            NAMESPACES[importer.namespace],
            reader,
            fetched_at=parse_fetched_at(fetched_at),
            source_path=source_path,
            progress=report,
        )
    _after_import(archive, summary)
    _finish_import(summary, strict, as_json)


FETCHED_HELP = "When the data was fetched (ISO 8601); default: each file's mtime. Newer data wins."
STRICT_HELP = "Exit 1 when anything was rejected."


@import_app.command("files")
def import_files_command(
    ctx: typer.Context,
    folders: list[Path] = typer.Argument(..., metavar="DIR...", help="Folders of tagged audio files."),
    fetched_at: str | None = typer.Option(None, help=FETCHED_HELP),
    strict: bool = typer.Option(False, help=STRICT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import a catalog from the tags of audio files (title, artists, album, track and disc numbers, date, ISRC,
    MusicBrainz ids, ReplayGain, LICENSE/COPYRIGHT), grouped into albums as Picard and beets would; `fonoteca
    ingest DIR` then matches the same files without a map."""
    from fonoteca.catalog import files

    for folder in folders:
        if not folder.is_dir():
            raise FonotecaError(f"{folder}: not a folder (give folders of audio files)")
        if not files.audio_files(folder):
            raise FonotecaError(f"{folder}: no audio files in it")
    _run_collection(
        ctx,
        "files",
        [f.resolve() for f in folders],
        files.read_folder,
        fetched_at,
        strict,
        as_json,
        source_path=_first_audio_file,
    )


def _first_audio_file(folder: Path) -> Path:
    """The file a folder import registers as its source: the folder's first audio file."""
    from fonoteca.catalog import files

    return files.audio_files(folder)[0]


@import_app.command("internet-archive")
def import_internet_archive_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ...,
        metavar="PATH...",
        help="archive.org/metadata/ID JSON files, ID_files.xml files, or item folders holding them.",
    ),
    fetched_at: str | None = typer.Option(None, help=FETCHED_HELP),
    strict: bool = typer.Option(False, help=STRICT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import Internet Archive items: each original audio file a track (title, creator, album, track, length)
    with the item's licence URL and collection; derivatives are kept as derivatives of their original. `fonoteca
    ingest ITEM_FOLDER` then matches the item's files by name and checks their md5/sha1/size."""
    from fonoteca.catalog import internet_archive

    _run_collection(
        ctx, "internet-archive", internet_archive.inputs(paths), internet_archive.read, fetched_at, strict, as_json
    )


@import_app.command("jamendo")
def import_jamendo_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ...,
        metavar="PATH...",
        help="Jamendo API v3 JSON responses or MTG-Jamendo TSV files (plain, .gz or .zst), or folders.",
    ),
    licence: str | None = typer.Option(
        None,
        "--licence",
        "--license",
        help="The licence of tracks the input states none for (the dataset's "
        "TSV): a Creative Commons URL or id. Default: none on record.",
    ),
    fetched_at: str | None = typer.Option(None, help=FETCHED_HELP),
    strict: bool = typer.Option(False, help=STRICT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import Jamendo tracks: API v3 JSON (results[] with license_ccurl, audiodownload_allowed, tags) and the
    MTG-Jamendo dataset's TSV layout (TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS, tags like genre---rock)."""
    from fonoteca.catalog import jamendo
    from fonoteca.catalog.importer import expand_paths
    from fonoteca.licences import normalise

    stated = None
    if licence is not None:
        stated = normalise(licence)
        if not stated.known:
            raise UsageError(f"--licence {licence!r}: not a licence Fonoteca recognises")
    found = expand_paths(paths, (".json", ".jsonl", ".tsv", ".json.gz", ".tsv.gz", ".json.zst", ".tsv.zst"))
    if not found:
        raise FonotecaError("no input files found")
    _run_collection(ctx, "jamendo", found, jamendo.Reader(stated), fetched_at, strict, as_json)


@import_app.command("fma")
def import_fma_command(
    ctx: typer.Context,
    tracks: Path = typer.Argument(..., metavar="tracks.csv", help="The FMA metadata's tracks.csv (plain, .gz, .zst)."),
    genres: Path | None = typer.Argument(
        None, metavar="[genres.csv]", help="Its genres.csv: genre names and their hierarchy."
    ),
    fetched_at: str | None = typer.Option(None, help=FETCHED_HELP),
    strict: bool = typer.Option(False, help=STRICT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import the Free Music Archive dataset: tracks.csv (two header rows: album/artist/set/track groups, then the
    fields; ('track', 'license'), genres by id) and genres.csv; audio paths NNN/NNNNNN.mp3."""
    from fonoteca.catalog import fma

    if not tracks.is_file():
        raise FonotecaError(f"{tracks}: no such file")
    names = fma.load_genres(genres) if genres is not None else {}
    _run_collection(ctx, "fma", [tracks], fma.Reader(names), fetched_at, strict, as_json)


@import_app.command("spotify-clean")
def import_spotify_clean_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(
        ...,
        help="Databases of the layout (spotify_clean.sqlite3, "
        "spotify_clean_audio_features.sqlite3, ..._playlists, "
        "..._track_files; plain or .zst), or folders of them.",
    ),
    fetched_at: str | None = typer.Option(
        None, help="When rows without a fetched_at were fetched (ISO 8601); default: the file's mtime."
    ),
    strict: bool = typer.Option(False, help="Exit 1 when any row was rejected."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import the reference release's SQLite databases (spotify_clean*.sqlite3, plain or .zst).

    Any subset of the four databases, in one run or several: artists, albums, tracks and their links, audio
    features, playlists with their entries (episodes and local files included) and track_files. Read with SQLite
    itself in chunks of rowids; into a catalog much smaller than the input, a bulk load (indexes built at the
    end). Bad rows go to rejects/ with database, table, rowid and reason; the rest is imported. A file that is not
    the layout is named with what it lacks (exit 1). Killed, the same command resumes."""
    from fonoteca.catalog import spotify_clean
    from fonoteca.catalog.importer import parse_fetched_at

    archive = open_archive(ctx)
    archive.require_writable("import spotify-clean")
    with progress_bar("import spotify-clean", unit="rows") as report:
        summary = spotify_clean.import_files(archive, paths, fetched_at=parse_fetched_at(fetched_at), progress=report)
    failed = summary.failed
    if summary.written:
        _after_import(archive, summary)
    if as_json:
        print_json(dict(summary.as_dict(), failed=failed))
    else:
        _print_summary(summary, False)
    for message in failed:
        console.print(f"[red]Error:[/red] {lit(message)}")
    if failed:
        raise typer.Exit(1)
    if strict and summary.rejected:
        console.print(f"[red]--strict:[/red] {summary.rejected:,} rows rejected")
        raise typer.Exit(1)


@export_app.command("spotify")
def export_spotify_command(
    ctx: typer.Context,
    kind: str = typer.Option(..., "--kind", help="track | album | artist | audio-features | playlist"),
    id_: str | None = typer.Option(None, "--id", help="Only this object (Spotify id)."),
    out: Path | None = typer.Option(None, "--out", help="Write JSON lines here (default: stdout); .zst/.gz compress."),
) -> None:
    """Rebuild the Spotify Web API JSON of imported objects, one per line, equal to what was imported."""
    import sys

    import orjson

    from fonoteca.catalog import export as export_mod

    if kind not in export_mod.KINDS:
        raise UsageError(f"--kind must be one of {', '.join(export_mod.KINDS)}")
    archive = open_archive(ctx)
    conn = archive.connect(readonly=True)
    exporter = export_mod.Exporter(conn)
    count = 0
    sink = _open_sink(out)
    try:
        for obj in exporter.rows(kind, id_):
            sink.write(orjson.dumps(obj) + b"\n")
            count += 1
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
        conn.close()
    if id_ is not None and count == 0:
        raise FonotecaError(f"no {kind} with id {id_} was imported from Spotify JSON")
    if out is not None:
        console.print(f"exported {count:,} {kind} objects to {out}")


@export_app.command("spotify-clean")
def export_spotify_clean_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Folder to write spotify_clean*.sqlite3 into."),
    databases: str = typer.Option(
        "main,audio_features,track_files,playlists",
        "--databases",
        help="Comma-separated: main, audio_features, track_files, playlists.",
    ),
) -> None:
    """Write the catalog in the reference release's SQLite layout (the four spotify_clean*.sqlite3 databases),
    so that tools made for that layout work on this archive. A catalog imported from the layout gives back the
    rows it was imported from."""
    from fonoteca.catalog import layout, spotify_clean_export

    chosen = tuple(d.strip() for d in databases.split(",") if d.strip())
    if not chosen or not set(chosen) <= set(layout.LOAD_ORDER):
        raise UsageError(f"--databases takes a comma-separated subset of {', '.join(layout.LOAD_ORDER)}")
    archive = open_archive(ctx)
    archive.connect(readonly=True).close()  # an older catalog is brought up to date first
    with progress_bar("export spotify-clean", unit="rows", transient=True) as report:
        written = spotify_clean_export.export(
            archive.catalog_path, out, tuple(db for db in layout.LOAD_ORDER if db in chosen), progress=report
        )
    for database in written:
        typer.echo(str(out / layout.FILE_NAMES[database]))
    rows = ", ".join(f"{table} {n:,}" for counts in written.values() for table, n in counts.items() if n)
    console.print(f"exported {len(written)} database(s) to {out}: {rows or 'no rows'}")


def _open_sink(out: Path | None) -> Any:
    if out is None:
        import sys

        return sys.stdout.buffer
    if out.name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(open(out, "wb"), closefd=True)
    if out.name.endswith(".gz"):
        import gzip

        return gzip.open(out, "wb")
    return open(out, "wb")


def init_command(
    directory: Path = typer.Argument(..., help="Directory to create (or upgrade)."),
    name: str | None = typer.Option(None, help="Human-readable name of the archive."),
) -> None:
    """Create an archive: fonoteca.toml, catalog.sqlite3 (WAL) and the stage folders."""
    from fonoteca import archive as archive_mod

    archive = archive_mod.init(directory, name=name)
    console.print(f"archive ready at {archive.root}")


def show_command(
    ctx: typer.Context,
    reference: str = typer.Argument(
        ...,
        help="An id (spotify:track:ID, URL, base62 id, MBID, NS:KIND:ID as "
        "printed by other commands) or isrc:CODE / upc:CODE.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a track, album, artist or playlist; isrc:CODE lists every track sharing that ISRC."""
    from fonoteca.catalog import query

    archive = open_archive(ctx)
    conn = archive.connect(readonly=True)
    try:
        found = query.lookup(conn, reference)
    finally:
        conn.close()
    if not found:
        if as_json:
            print_json([])
        raise FonotecaError(f"nothing in the catalog matches {reference!r}")
    if as_json:
        print_json(found)
        return
    for number, entry in enumerate(found):
        if number:
            typer.echo("")
        pairs = [("kind", entry["kind"]), ("id", entry.get("id"))]
        pairs += [(k, human(v)) for k, v in entry.items() if k not in ("kind", "id", "rowid")]
        emit_pairs(pairs, title=f"{entry['kind']} {entry.get('id')}")


def stats_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Also write charts here: PNG and SVG per chart plus its numbers as JSON "
        "(popularity, listens, durations, ISRCs, years, albums, keys, features, genres, coverage).",
    ),
) -> None:
    """Counts of what the catalog holds; with --out, the archivist's charts as well."""
    from fonoteca.catalog import db, query

    archive = open_archive(ctx)
    conn = db.for_scans(archive.connect(readonly=True))
    try:
        counts = query.counts(conn)
    finally:
        conn.close()
    if out is not None:
        from fonoteca import plugins

        if out.resolve().is_relative_to(archive.root):
            archive.require_writable("stats --out")
        with progress_bar("charts", unit="charts", transient=True) as report:
            index = plugins.hook().write_stats(archive=archive, out=out, counts=counts, progress=report)
        if index is None:
            raise FonotecaError("no plugin writes statistics charts (the plan stage is missing)")
        if as_json:
            print_json(index)
        else:
            console.print(f"wrote {len(index['charts'])} charts (PNG, SVG, JSON) and stats.json to {out}")
        return
    if as_json:
        print_json(counts)
        return
    emit_pairs(_flat_counts(counts), title=archive.name)


def _flat_counts(counts: dict[str, Any]) -> list[tuple[str, str]]:
    """Counts as key/value rows; a nested count (tracks by source) becomes one row per entry."""
    rows: list[tuple[str, str]] = []
    for key, value in counts.items():
        if isinstance(value, dict):
            rows.extend((f"{key} {sub}", human(n)) for sub, n in value.items())
        else:
            rows.append((key, human(value)))
    return rows


@hookimpl
def register_commands(app: typer.Typer) -> None:
    from fonoteca import plugins

    app.command("init")(init_command)
    app.command("show")(show_command)
    app.command("stats")(stats_command)
    registered = {info.name for info in import_app.registered_commands}  # make_app may run more than once
    for importer in plugins.importers().values():
        if importer.codec is not None and importer.name not in registered:
            import_app.command(importer.name, help=importer.help)(import_json_command)
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
