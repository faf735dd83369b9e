"""`fonoteca search`, `fonoteca shuffle`, `fonoteca index rebuild|status`."""

from __future__ import annotations

from typing import Any

import typer

from fonoteca.commands import open_archive
from fonoteca.console import console, emit_pairs, emit_table, lit, print_json, progress_bar
from fonoteca.errors import UsageError
from fonoteca.hookspecs import hookimpl

index_app = typer.Typer(
    help="The search index (derived from the catalog, rebuildable at any time).", no_args_is_help=True
)


def _artists(entry: dict[str, Any]) -> str:
    return ", ".join(a.get("name") or a.get("id") or "" for a in entry.get("artists") or [])


def _print_tracks(results: list[dict[str, Any]], title: str) -> None:
    rows = []
    for number, hit in enumerate(results, 1):
        album = hit.get("album") or {}
        rows.append(
            (
                number,
                hit.get("name") or "",
                _artists(hit),
                album.get("name") or "",
                hit.get("year") or "",
                "" if hit.get("popularity") is None else hit["popularity"],
                hit.get("id") or "",
            )
        )
    emit_table(
        ("#", "title", "artists", "album", "year", "pop", "id"),
        rows,
        title=title,
        right=("#", "year", "pop"),
        wide=("title", "artists", "album"),
    )


def _print_lookup(results: list[dict[str, Any]]) -> None:
    rows = [(hit["kind"], hit.get("name") or "", _artists(hit), hit.get("id") or "") for hit in results]
    emit_table(("kind", "name", "artists", "id"), rows, title="lookup", wide=("name", "artists"))


def search_command(
    ctx: typer.Context,
    query: list[str] | None = typer.Argument(
        None,
        help="Words of a title, artist or album (any order, accents optional), or an id, "
        "spotify:track:ID, URL, isrc:CODE / bare ISRC, upc:CODE / bare UPC.",
    ),
    limit: int = typer.Option(20, "--limit", "-n", help="How many results (1-1000)."),
    min_popularity: int | None = typer.Option(
        None, "--min-popularity", help="Only tracks with popularity >= N (0-100)."
    ),
    year: str | None = typer.Option(None, "--year", help="Release year of the album: 1995 or a range 1990-1999."),
    genre: str | None = typer.Option(None, "--genre", help="A genre of one of the track's artists, e.g. 'k-pop'."),
    explicit: bool | None = typer.Option(None, "--explicit/--clean", help="Only explicit tracks / no explicit tracks."),
    exact: bool = typer.Option(
        False, "--exact", help="Every word exactly as typed: no typos, the last word not completed (for scripts)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Find tracks by a few words of their title, artists or album; the popular recording comes first.

    Every word must match (title, artist or album); accents and case do not matter; `AC/DC`, `$uicideboy$`,
    CJK and other scripts work. The last word also matches as a prefix, and words of 5+ letters match within
    1 typo, 9+ within 2 (exact matches first; [search] in fonoteca.toml, or --exact). Ids, ISRCs and UPCs
    are looked up directly.
    """
    from fonoteca.search.engine import Searcher

    text = " ".join(query or [])
    if not text.strip():
        raise UsageError("empty query: type a few words of a title or artist, or an id, ISRC or UPC")
    with Searcher(open_archive(ctx)) as searcher:
        response = searcher.search(
            text, limit=limit, min_popularity=min_popularity, year=year, genre=genre, explicit=explicit, exact=exact
        )
    if as_json:
        print_json(response.as_dict())
        return
    if not response.results:
        console.print(lit(response.message or "no results"))
        return
    if response.mode == "lookup":
        _print_lookup(response.results)
    else:
        _print_tracks(response.results, f"search: {text[:80]}")


def shuffle_command(
    ctx: typer.Context,
    min_popularity: int = typer.Option(0, "--min-popularity", min=0, max=100, help="Only tracks with popularity >= N."),
    count: int = typer.Option(1, "--count", "-k", min=1, max=1000, help="How many distinct tracks."),
    as_json: bool = typer.Option(False, "--json", help="Print the tracks as JSON."),
) -> None:
    """Tracks drawn uniformly at random from the whole catalog (true shuffle: every track equally likely)."""
    from fonoteca.search.engine import Searcher

    with Searcher(open_archive(ctx)) as searcher:
        tracks = searcher.shuffle(min_popularity=min_popularity, count=count)
    if as_json:
        print_json(tracks)
        return
    _print_tracks(tracks, "shuffle")


@index_app.command("rebuild")
def index_rebuild_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the build summary as JSON."),
) -> None:
    """Build the search index from the catalog into new files, then switch to them (searches keep working)."""
    from fonoteca.search import index

    archive = open_archive(ctx)
    with progress_bar("index rebuild", unit="rowids") as report:
        stats = index.rebuild(archive, progress=report)
    if as_json:
        print_json(stats.as_dict())
        return
    rate = stats.tracks / stats.seconds if stats.seconds else 0
    console.print(
        f"indexed {stats.tracks:,} tracks in {stats.seconds:.1f} s ({rate:,.0f}/s), {stats.bytes / 1e6:,.1f} MB"
    )


@index_app.command("status")
def index_status_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """What the search index holds and whether imports have happened since it was last updated."""
    from fonoteca.search import index

    info = index.status(open_archive(ctx))
    if as_json:
        print_json(info)
        return
    emit_pairs(info, title="search index")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("search")(search_command)
    app.command("shuffle")(shuffle_command)
    app.add_typer(index_app, name="index")


@hookimpl
def after_import(archive: Any, summary: Any) -> None:
    """The index follows the catalog: every import brings it up to date (rows written or replaced by the run)."""
    from fonoteca.search import index

    index.update_after_import(archive)
