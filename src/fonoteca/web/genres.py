"""The genre map on the website: /genres (every genre placed by how it sounds) and /genres/{name}
(its artists, most popular tracks and an example to play), with JSON twins under /api."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path
from starlette.requests import Request

from fonoteca.web import queries, render
from fonoteca.web.schemas import Model, TrackItem
from fonoteca.web.views.common import NotFound, site, twin

router = APIRouter()
TOP_ARTISTS = 50
TOP_TRACKS = 20

GenreName = Annotated[str, Path(min_length=1, max_length=200, description="The genre's name, as artists carry it.")]


class GenreEntry(Model):
    name: str
    url: str
    tracks: int
    computed: int
    imported: int
    x: float
    y: float
    px: float
    py: float
    r: float
    labelled: bool
    left: float | None
    top: float | None
    label_width: float
    color: str
    dimensions: dict[str, float | None]
    features: dict[str, float]


class GenresPage(Model):
    available: bool
    reason: str | None
    message: str | None
    count: int
    labelled: int
    width: int
    height: int
    axes: dict[str, Any]
    tracks: dict[str, int]
    genres: list[GenreEntry]


class GenreArtist(Model):
    id: str
    name: str | None
    url: str | None
    popularity: int | None


class GenrePage(Model):
    name: str
    url: str
    artists: list[GenreArtist]
    top_tracks: list[TrackItem]
    example: dict[str, Any] | None
    map: GenreEntry | None


def _map(request: Request) -> dict[str, Any]:
    s = site(request)
    from fonoteca.features.genremap import genre_map_from_conn

    return s.store.cached("genre_map", lambda: genre_map_from_conn(s.store.conn))


@twin(
    router,
    "/genres",
    template="genres.html",
    model=GenresPage,
    cache=render.CACHE_LIVE,
    summary="The genre map: every genre placed by how its tracks sound",
    title=lambda d: "Genre map",
    tags=["genres"],
)
def genres(request: Request) -> dict:
    """Every genre with features, placed on two axes (x: dense/atmospheric to spiky/bouncy; y: organic/acoustic
    to mechanical/electric) as a dot (px, py, r) with a colour from further dimensions; the largest genres that
    fit have a label box (left, top, label_width) that overlaps no other label or dot, the rest none (labelled:
    false). When there is nothing to draw, reason and message say why (no_genres, no_features,
    no_genre_tracks)."""
    data = dict(_map(request))
    data.pop("overlaps", None)
    data["available"] = bool(data["genres"])
    return data


@twin(
    router,
    "/genres/{name:path}",
    template="genre.html",
    model=GenrePage,
    summary="A genre: its artists, most popular tracks, an example track to play, its place on the map",
    title=lambda d: d["name"],
    tags=["genres"],
)
def genre(request: Request, name: GenreName) -> dict:
    conn = site(request).store.conn
    row = conn.execute("SELECT rowid, name FROM genres WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no genre {name!r} in the catalog")
    genre_id, genre_name = row
    artists = [
        {
            "id": id_,
            "name": artist_name,
            "url": queries.url_for("artist", id_) if level > 0 else None,
            "popularity": popularity,
        }
        for id_, artist_name, popularity, level in conn.execute(
            "SELECT a.id, a.name, a.popularity, a.level FROM artist_genres ag JOIN artists a ON a.rowid = ag.artist "
            "WHERE ag.genre = ? ORDER BY a.popularity DESC, a.rowid LIMIT ?",
            (genre_id, TOP_ARTISTS),
        )
    ]
    tracks = [
        r[0]
        for r in conn.execute(
            "SELECT t.rowid FROM tracks t WHERE t.rowid IN (SELECT ta.track FROM artist_genres ag "
            "JOIN track_artists ta ON ta.artist = ag.artist WHERE ag.genre = ?) AND t.level > 0 "
            "ORDER BY t.popularity DESC, t.rowid LIMIT ?",
            (genre_id, TOP_TRACKS),
        )
    ]
    example = None
    from fonoteca.features.genremap import example_track

    found = example_track(conn, genre_id)
    if found is not None:
        items = queries.track_items(conn, [found])
        if items:
            item = items[0]
            example = {"track": item, "audio_url": "/audio/" + quote(item["id"], safe="")}
    entry = next((g for g in _map(request)["genres"] if g["name"] == genre_name), None)
    return {
        "name": genre_name,
        "url": "/genres/" + quote(genre_name, safe=""),
        "artists": artists,
        "top_tracks": queries.track_items(conn, tracks),
        "example": example,
        "map": entry,
    }
