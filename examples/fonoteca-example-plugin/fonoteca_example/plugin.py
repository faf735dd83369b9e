"""The example plugin: an importer for a label's catalogue export, a per-genre quota policy, a command and a page.

The catalogue format (one JSON document, or one release per line):

    {"label": "Example Records",
     "releases": [{"id": "R1", "title": "First Light", "date": "2001-02-03",
                   "artist": {"id": "A1", "name": "The Examples", "genres": ["jazz"]},
                   "tracks": [{"id": "T1", "title": "Dawn", "isrc": "GBAAA0100001", "seconds": 215.5}]}]}
"""

# No `from __future__ import annotations` here: FastAPI reads the route functions' annotations, and `Request` is
# imported inside register_routes (the command line loads this module at every start and never needs FastAPI).
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer

from fonoteca.catalog.importers import Importer
from fonoteca.hookspecs import hookimpl

NAMESPACE, NUMBER = "labelx", 100


# --------------------------------------------------------------------------------------------- the importer


def units(value: Any) -> Iterator[tuple[str, Any]]:
    """A whole catalogue yields its releases; a line holding one release yields it."""
    if isinstance(value, dict) and isinstance(value.get("releases"), list):
        for i, release in enumerate(value["releases"]):
            yield f"releases[{i}]", release
    else:
        yield "", value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    from fonoteca.catalog.records import RecordError

    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"{where}: {key!r} must be a non-empty string")
    return value.strip()


def encode(release: Any, out: list) -> None:
    """One release: its artist, the album and every track, as catalog records (level 1: a table-like source)."""
    from fonoteca.catalog.ids import normalize_isrc
    from fonoteca.catalog.records import LEVEL_TABLE, AlbumRec, ArtistRec, FieldReject, RecordError, TrackRec

    ns = NUMBER
    if not isinstance(release, dict):
        raise RecordError("a release must be a JSON object")
    album_id = _text(release, "id", "release")
    artist = release.get("artist")
    if not isinstance(artist, dict):
        raise RecordError(f"release {album_id}: 'artist' must be an object")
    artist_id = _text(artist, "id", f"release {album_id} artist")
    genres = artist.get("genres") or []
    if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
        raise RecordError(f"release {album_id}: artist 'genres' must be a list of strings")
    out.append(
        ArtistRec(
            ns,
            artist_id,
            _text(artist, "name", f"artist {artist_id}"),
            None,
            None,
            LEVEL_TABLE,
            None,
            None,
            tuple(g.lower() for g in genres),
        )
    )
    date = release.get("date")
    out.append(
        AlbumRec(
            ns,
            album_id,
            _text(release, "title", f"release {album_id}"),
            "album",
            len(release.get("tracks") or []),
            date if isinstance(date, str) else None,
            "day" if isinstance(date, str) and len(date) == 10 else None,
            None,
            None,
            None,
            None,
            LEVEL_TABLE,
            None,
            None,
            artists=((artist_id, None),),
        )
    )
    tracks = release.get("tracks")
    if not isinstance(tracks, list) or not tracks:
        raise RecordError(f"release {album_id}: 'tracks' must be a non-empty list")
    for number, track in enumerate(tracks, 1):
        if not isinstance(track, dict):
            raise RecordError(f"release {album_id}: track {number} is not an object")
        track_id = _text(track, "id", f"release {album_id} track {number}")
        isrc = track.get("isrc")
        code = normalize_isrc(isrc) if isinstance(isrc, str) else None
        if isrc is not None and code is None:
            out.append(FieldReject(f"track {track_id}: isrc {isrc!r} is not a valid ISRC"))
        seconds = track.get("seconds")
        duration = int(round(seconds * 1000)) if isinstance(seconds, (int, float)) and seconds > 0 else None
        out.append(
            TrackRec(
                ns,
                track_id,
                _text(track, "title", f"track {track_id}"),
                album_id,
                1,
                number,
                duration,
                None,
                None,
                None,
                None,
                None,
                code,
                LEVEL_TABLE,
                None,
                None,
                None,
                artists=((artist_id, None),),
            )
        )


def _codec() -> Any:
    from fonoteca.catalog.importer import Codec

    return Codec(units, encode)


@hookimpl
def register_importers() -> list[Importer]:
    return [
        Importer(
            "label-catalogue",
            NAMESPACE,
            NUMBER,
            "Import a label's catalogue export (JSON: releases with their artist and tracks).",
            _codec,
        )
    ]


# --------------------------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class GenreQuota:
    """Per genre (of the track's first artist), the `[example] per_genre` recordings with the most estimated
    listens are kept as originals; everything else is skipped. Tracks without a genre form one group."""

    name: str = "genre-quota"
    help: str = "the [example] per_genre most-listened recordings of every genre, as originals"
    needs_budget: bool = False

    def choose(self, model: Any, budget: int | None) -> tuple[Any, dict[str, Any] | None]:
        import numpy as np

        from fonoteca.tiers import Tier

        quota = int(model.config.get("example", {}).get("per_genre", 2))
        genre_of = _genres(model)
        reps = np.flatnonzero(model.cost.is_rep)
        groups: dict[str, list[int]] = {}
        for position in reps:
            groups.setdefault(genre_of.get(int(model.data.rowid[position]), ""), []).append(int(position))
        tier = np.zeros(len(model.data), dtype=np.int8)
        for members in groups.values():
            members.sort(key=lambda p: (-float(model.cost.group_listens[p]), int(model.data.rowid[p])))
            tier[members[:quota]] = Tier.ORIGINAL
        return tier, None


def _genres(model: Any) -> dict[int, str]:
    """track rowid -> the first genre of its first artist."""
    if model.catalog is None:
        return {}
    conn = model.catalog()
    try:
        return {
            track: genre
            for track, genre in conn.execute(
                "SELECT ta.track, min(g.name) FROM track_artists ta JOIN artist_genres ag ON ag.artist = ta.artist "
                "JOIN genres g ON g.rowid = ag.genre WHERE ta.position = 0 GROUP BY ta.track"
            )
        }
    finally:
        conn.close()


@hookimpl
def register_policies() -> list[Any]:
    return [GenreQuota()]


# --------------------------------------------------------------------------------------------- the command


def label_tracks_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the tracks as JSON."),
) -> None:
    """The tracks imported from the label's catalogue exports: id and title."""
    from fonoteca.commands import open_archive
    from fonoteca.console import emit_table, print_json

    conn = open_archive(ctx).connect(readonly=True)
    try:
        tracks = _label_tracks(conn)
    finally:
        conn.close()
    if as_json:
        print_json(tracks)
        return
    emit_table(("id", "title"), [(t["id"], t["title"]) for t in tracks], title="the label's tracks", wide=("title",))


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("label-tracks")(label_tracks_command)


def _label_tracks(conn: Any) -> list[dict[str, Any]]:
    """The namespace's tracks that hold more than an id (the command and the page list the same)."""
    from fonoteca.catalog.ids import NAMESPACES

    return [
        {"id": i, "title": t}
        for i, t in conn.execute(
            "SELECT id, name FROM tracks WHERE ns = ? AND level > 0 ORDER BY id LIMIT 500", (NAMESPACES[NAMESPACE],)
        )
    ]


# --------------------------------------------------------------------------------------------- the page


@hookimpl
def register_routes(app: Any) -> None:
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse

    def tracks(request: Request) -> list[dict[str, Any]]:
        return _label_tracks(request.app.state.site.store.conn)

    @app.get("/api/example/labelx")
    def labelx_json(request: Request) -> JSONResponse:
        return JSONResponse({"namespace": NAMESPACE, "tracks": tracks(request)})

    @app.get("/example/labelx", response_class=HTMLResponse)
    def labelx_page(request: Request) -> HTMLResponse:
        from html import escape

        items = "".join(f"<li>{escape(t['title'])} <code>{escape(t['id'])}</code></li>" for t in tracks(request))
        return HTMLResponse(f"<!doctype html><title>labelx</title><h1>The label's tracks</h1><ul>{items}</ul>")
