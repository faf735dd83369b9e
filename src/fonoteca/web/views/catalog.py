"""Catalog pages: home, search, track, album, artist, ISRC and UPC lookups, shuffle, audio."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy
from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse
from starlette.requests import Request

from fonoteca.catalog.ids import NAMESPACES
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.search.engine import parse_years
from fonoteca.web import media, queries, render, schemas
from fonoteca.web.media import locate
from fonoteca.web.views.common import (
    ERRORS,
    TEXT_ERRORS,
    BadRequest,
    Forbidden,
    NotFound,
    Popularity,
    Unavailable,
    get_and_head,
    is_api,
    optional,
    site,
    tombstone,
    twin,
)

router = APIRouter()

MAX_RESULTS = 1000  # how deep search paging goes (the search package's limit)
ENTITIES = 3  # artists and albums listed above the tracks
SUGGESTIONS = 8
Id = Annotated[str, Path(min_length=1, max_length=200, description="The source id (Spotify base62 id, MBID, ...).")]
if TYPE_CHECKING:  # what the views receive; FastAPI reads the annotated forms below (validation, documentation)
    Source = str | None
    Year = str | None
    Genre = str | None
    Explicit = Literal["any", "explicit", "clean"] | None
else:
    # The id namespaces of every importer, plugins' included (the views are imported once the plugins are loaded).
    Source = optional(Literal[tuple(sorted(NAMESPACES))], "Which source's id, when two sources share one.")
    Year = optional(
        str,
        "A year (1995) or a range (1990-1999).",
        max_length=11,
        pattern=r"^\s*[0-9]{1,4}(\s*-\s*[0-9]{1,4})?\s*$",
    )
    Genre = optional(str, "A genre of one of the artists.", max_length=100)
    Explicit = optional(Literal["any", "explicit", "clean"], "explicit: only explicit tracks; clean: none.")


def _track_item(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in ("disc_number", "track_number")}


@twin(
    router,
    "/",
    api_path="/api/home",
    template="home.html",
    model=schemas.HomePage,
    cache=render.CACHE_LIVE,
    summary="Collection summary: counts, most popular tracks, plan, releases",
)
def home(
    request: Request,
    playable: Annotated[bool, Query(description="Only tracks this copy can play (with their own file here).")] = False,
) -> dict:
    s = site(request)
    summary = s.summary()
    plan = s.store.cached("plan", lambda: queries.plan_summary(s.store.conn))
    from fonoteca.web.releases import summary as release_summary

    releases = release_summary(s.releases.torrents())
    counts = {k: v for k, v in summary.items() if k not in ("top_tracks", "genres_top")}
    top = summary["top_tracks"]
    if playable:
        found = s.playable.get(s)
        counts["playable"] = len(found)
        top = queries.track_items(s.store.conn, [rowid for rowid, _ in found[: queries.TOP_TRACKS]])
    return {
        "name": s.archive.name,
        "counts": counts,
        "top_tracks": [_track_item(t) for t in top],
        "playable": playable,
        "plan": plan,
        "releases": {"releases": len(s.releases.all()), **releases["totals"]},
        "search_index": s.store.has_index(),
        "statistics": s.charts.index() is not None,
    }


EXPLICIT_CHOICES = ("any", "explicit", "clean")


def _search_data(request: Request, query: str, filters: dict, page: int, size: int) -> dict:
    data: dict[str, Any] = {
        "query": query,
        "mode": None,
        "message": None,
        "error": False,
        "filters": filters,
        "page": page,
        "size": size,
        "count": 0,
        "complete": True,
        "did_you_mean": None,
        "did_you_mean_url": None,
        "artists": [],
        "albums": [],
        "results": [],
        "next": None,
        "previous": None,
    }
    if not is_api(request):
        data["genre_options"] = [g["name"] for g in site(request).summary()["genres_top"]]
    return data


def search_form(request: Request, message: str) -> dict:
    """The search page for parameters that did not pass: the form with what was typed, and what is wrong."""
    raw = request.query_params

    def typed(name: str, limit: int) -> str | None:
        value = raw.get(name, "")
        return value[:limit] if value.strip() else None

    explicit = raw.get("explicit")
    size = raw.get("size", "")
    filters = {
        "min_popularity": typed("min_popularity", 10),
        "year": typed("year", 20),
        "genre": typed("genre", 100),
        "explicit": explicit if explicit in ("explicit", "clean") else None,
    }
    data = _search_data(
        request, raw.get("q", "")[:200].strip(), filters, 1, int(size) if size in ("20", "50", "100") else 20
    )
    data.update(message=message, error=True)
    return data


def _years(year: str | None) -> str | None:
    if year is None:
        return None
    text = year.replace(" ", "")
    try:
        parse_years(text)
    except UsageError:
        raise BadRequest(
            f"year: expected a year (1995) or a range of at most 200 years (1990-1999) between 1 and 9999, not {year!r}"
        ) from None
    return text


@twin(
    router,
    "/search",
    template="search.html",
    model=schemas.SearchPage,
    cache=render.CACHE_SEARCH,
    summary="Search tracks by words of title, artists or album (or list a genre's or year's tracks without "
    "words); ids, ISRCs and UPCs are looked up",
    title=lambda d: f"{d['query']} - search" if d["query"] else "Search",
    form=search_form,
)
def search(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=200,
            description="Words, or an id / URL / isrc:CODE / upc:CODE. Empty "
            "with a genre or year: that filter's tracks, most "
            "popular first.",
        ),
    ] = "",
    min_popularity: Popularity = None,
    year: Year = None,
    genre: Genre = None,
    explicit: Explicit = None,
    page: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict:
    s = site(request)
    filters = {
        "min_popularity": min_popularity,
        "year": _years(year),
        "genre": genre,
        "explicit": explicit if explicit in ("explicit", "clean") else None,
    }
    data = _search_data(request, q.strip(), filters, page, size)
    if not data["query"] and not (genre or year):
        return data
    start = (page - 1) * size
    if start >= MAX_RESULTS:
        raise BadRequest(f"search pages go {MAX_RESULTS} results deep: page {page} of {size} starts past that")
    if not s.store.has_index():
        raise Unavailable("the search index is not built yet; the operator runs: fonoteca index rebuild")
    limit = min(MAX_RESULTS, start + size + 1)
    explicit_flag = {"explicit": True, "clean": False}.get(explicit or "")
    # artists and albums above the tracks when their own name matches (page 1; filters are about tracks)
    entities = ENTITIES if page == 1 and not any(filters.values()) else 0
    try:
        response = s.store.searcher().search(
            data["query"],
            limit=limit,
            min_popularity=min_popularity,
            year=filters["year"],
            genre=genre,
            explicit=explicit_flag,
            entities=entities,
        )
    except UsageError as exc:
        raise BadRequest(str(exc)) from None
    except FonotecaError as exc:  # e.g. a genre the catalog does not have
        data.update(mode="filter" if not data["query"] else "text", message=str(exc))
        return data
    results = [queries.search_hit(hit) for hit in response.results]
    # complete: False when the search package searched only the popular part of the catalog (it had matches)
    data.update(mode=response.mode, message=response.message, complete=bool(getattr(response, "complete", True)))
    path = "/api/search" if is_api(request) else "/search"
    params = {"q": data["query"], **{k: v for k, v in filters.items() if v is not None}, "size": size}
    if response.did_you_mean:
        data.update(
            did_you_mean=response.did_you_mean,
            did_you_mean_url=render.query_url("/search", {**params, "q": response.did_you_mean}),
        )
    data.update(
        artists=[queries.search_hit(a) for a in response.artists],
        albums=[queries.search_hit(a) for a in response.albums],
    )
    if response.mode == "lookup":
        data.update(results=results, count=len(results), page=1)
        return data
    data["results"] = results[start : start + size]
    data["count"] = len(data["results"])
    if len(results) > start + size:
        data["next"] = render.query_url(path, params, page=page + 1)
    if page > 1:
        data["previous"] = render.query_url(path, params, page=page - 1)
    return data


@router.get(
    "/api/suggest",
    tags=["pages"],
    response_model=schemas.Suggestions,
    responses=ERRORS,
    summary="Completions while typing: artists, albums and tracks matching the words so far (the last one "
    "as a prefix, with typos), and a correction when nothing matches",
)
def suggest(
    request: Request,
    q: Annotated[str, Query(max_length=200, description="What is typed in the search box so far.")] = "",
    limit: Annotated[int, Query(ge=1, le=20, description="How many suggestions at most.")] = SUGGESTIONS,
) -> object:
    s = site(request)
    text = " ".join(q.split())
    data: dict = {"query": text, "suggestions": [], "did_you_mean": None, "message": None}
    if not text:
        return render.json(request, data, cache=render.CACHE_SEARCH)
    if not s.store.has_index():
        raise Unavailable("the search index is not built yet; the operator runs: fonoteca index rebuild")
    try:
        response = s.store.searcher().search(text, limit=limit, entities=2)
    except UsageError as exc:  # only punctuation: nothing to complete, said in words
        data["message"] = str(exc)
        return render.json(request, data, cache=render.CACHE_SEARCH)
    items = [queries.search_hit(hit) for hit in (*response.artists, *response.albums, *response.results)]
    data["suggestions"] = [_suggestion(item) for item in items[:limit]]
    data["did_you_mean"] = response.did_you_mean
    data["message"] = response.message
    return render.json(request, data, cache=render.CACHE_SEARCH)


def _suggestion(item: dict) -> dict:
    """One line of the completion list: what it is, its name, a detail (artists, year) and where it leads."""
    names = ", ".join(a.get("name") or "" for a in item.get("artists") or [])
    year = item.get("year")
    detail = {
        "artist": "artist",
        "album": "album" + (f" by {names}" if names else "") + (f", {year}" if year else ""),
    }.get(item["kind"], names + (f" ({year})" if year else ""))
    return {"kind": item["kind"], "name": item.get("name") or item.get("id"), "detail": detail, "url": item.get("url")}


@twin(
    router,
    "/track/{track_id}",
    template="track.html",
    model=schemas.TrackPage,
    summary="A track: artists, album, ids, audio features, plan tier, where its file is, audio",
    title=lambda d: d["name"] or d["id"],
)
def track(request: Request, track_id: Id, source: Source = None) -> dict:
    s = site(request)
    conn = s.store.conn
    rowid = queries.resolve(conn, "track", track_id, source)
    if rowid is None:
        raise NotFound(f"no track {track_id!r} in the catalog")
    _refuse_withdrawn(s, conn, rowid)
    data = queries.track_page(conn, rowid)
    from fonoteca.publication import licence_row

    licence = licence_row(conn, rowid)
    published = s.publishes(licence["id"] if licence else None)
    from fonoteca.publication import policy_for_root

    data.update(
        licence=licence,
        published=published,
        unpublished_reason=None
        if published
        else policy_for_root(s.archive.root).reason(licence["id"] if licence else None),
    )
    audio, locations, row = _locate_published(s, conn, rowid, data["id"], published)
    data["audio"] = (
        None
        if audio is None
        else {
            "url": data["url"].replace("/track/", "/audio/", 1),
            "media_type": audio.media_type,
            "size": audio.size,
            "origin": audio.origin,
        }
    )
    data["locations"] = locations
    data["file"] = row
    file_ms = media.duration_ms(audio) if audio is not None else None
    if file_ms is None and row is not None and isinstance(row.get("duration_ms"), int):
        file_ms = row["duration_ms"]
    data["length"] = {
        "catalog_ms": data["duration_ms"],
        "file_ms": file_ms,
        "disagrees": media.lengths_disagree(data["duration_ms"], file_ms),
    }
    return data


def _refuse_withdrawn(s: Any, conn: sqlite3.Connection, rowid: int) -> None:
    """410 with the tombstone when the ledger withdraws the track."""
    w = s.withdrawn().get(rowid)
    if w is not None:
        name = conn.execute("SELECT name FROM tracks WHERE rowid = ?", (rowid,)).fetchone()
        raise tombstone(w, w.track, name[0] if name else None)


def _locate_published(s: Any, conn: sqlite3.Connection, rowid: int, track_id: str, published: bool) -> tuple:
    """locate(), with no playable audio when the track is not published or the file belongs to a withdrawn
    track (another track of the same recording)."""
    audio, locations, row = locate(conn, s.archive, s.releases, rowid, track_id)
    if audio is not None and not published:
        audio = None
    if audio is not None and row is not None and row.get("track_id") not in (None, track_id):
        owner = queries.resolve(conn, "track", row["track_id"])
        if owner is not None and owner in s.withdrawn():
            audio = None
    return audio, locations, row


@twin(
    router,
    "/album/{album_id}",
    template="album.html",
    model=schemas.AlbumPage,
    summary="An album with its tracks",
    title=lambda d: d["name"] or d["id"],
)
def album(request: Request, album_id: Id, source: Source = None) -> dict:
    conn = site(request).store.conn
    rowid = queries.resolve(conn, "album", album_id, source)
    if rowid is None:
        raise NotFound(f"no album {album_id!r} in the catalog")
    data = queries.album_page(conn, rowid)
    data["tracks"] = [
        _track_item(t) | {"disc_number": t["disc_number"], "track_number": t["track_number"]} for t in data["tracks"]
    ]
    return data


@twin(
    router,
    "/artist/{artist_id}",
    template="artist.html",
    model=schemas.ArtistPage,
    summary="An artist: genres, most popular tracks, discography (paged)",
    title=lambda d: d["name"] or d["id"],
)
def artist(
    request: Request, artist_id: Id, source: Source = None, page: Annotated[int, Query(ge=1, le=10000)] = 1
) -> dict:
    conn = site(request).store.conn
    rowid = queries.resolve(conn, "artist", artist_id, source)
    if rowid is None:
        raise NotFound(f"no artist {artist_id!r} in the catalog")
    data = queries.artist_page(conn, rowid, page=page)
    data["top_tracks"] = [_track_item(t) for t in data["top_tracks"]]
    path = ("/api" if is_api(request) else "") + data["url"]
    params = {"source": source}
    data["next"] = render.query_url(path, params, page=page + 1) if page < data["pages"] else None
    data["previous"] = render.query_url(path, params, page=page - 1) if page > 1 else None
    return data


@twin(
    router,
    "/isrc/{code}",
    template="isrc.html",
    model=schemas.IsrcPage,
    summary="Every track with this ISRC (the same recording), most popular first",
    title=lambda d: d["isrc"],
)
def isrc(request: Request, code: Annotated[str, Path(min_length=1, max_length=40)]) -> dict:
    data = queries.isrc_page(site(request).store.conn, code)
    data["tracks"] = [_track_item(t) for t in data["tracks"]]
    if not data["tracks"]:
        raise NotFound(f"no track with ISRC {data['isrc']!r} in the catalog")
    return data


@twin(
    router,
    "/upc/{code}",
    template="upc.html",
    model=schemas.UpcPage,
    summary="Albums with this UPC / EAN",
    title=lambda d: d["upc"],
)
def upc(request: Request, code: Annotated[str, Path(min_length=1, max_length=40)]) -> dict:
    data = queries.upc_page(site(request).store.conn, code)
    if not data["albums"]:
        raise NotFound(f"no album with UPC {data['upc']!r} in the catalog")
    return data


@twin(
    router,
    "/shuffle",
    template="shuffle.html",
    model=schemas.ShufflePage,
    cache=render.CACHE_NONE,
    summary="Tracks drawn uniformly at random (true shuffle)",
    title=lambda d: "Shuffle",
)
def shuffle(
    request: Request,
    min_popularity: Popularity = None,
    count: Annotated[int, Query(ge=1, le=100)] = 10,
    playable: Annotated[bool, Query(description="Only tracks this copy can play (with their own file here).")] = False,
) -> dict:
    s = site(request)
    wanted = min_popularity or 0
    if playable:
        found = [rowid for rowid, popularity in s.playable.get(s) if popularity >= wanted]
        picks: Any = (
            numpy.random.default_rng().choice(len(found), size=min(count, len(found)), replace=False) if found else []
        )
        tracks = queries.track_items(s.store.conn, [found[i] for i in picks])
        return {"min_popularity": wanted, "count": count, "playable": True, "tracks": [_track_item(t) for t in tracks]}
    if not s.store.has_index():
        raise Unavailable("the search index is not built yet; the operator runs: fonoteca index rebuild")
    try:
        tracks = s.store.searcher().shuffle(min_popularity=wanted, count=count)
    except UsageError as exc:
        raise BadRequest(str(exc)) from None
    except FonotecaError:
        tracks = []  # nothing that popular
    return {
        "min_popularity": wanted,
        "count": count,
        "playable": False,
        "tracks": [queries.search_hit(t) for t in tracks],
    }


@get_and_head(
    router,
    "/audio/{track_id}",
    tags=["media"],
    summary="A track's audio, streamed with HTTP range requests",
    response_class=FileResponse,
    responses={
        **TEXT_ERRORS,
        206: {"description": "Part of the file"},
        200: {"content": {"audio/*": {}}, "description": "The file"},
    },
)
def audio(request: Request, track_id: Id, source: Source = None) -> FileResponse:
    s = site(request)
    conn = s.store.conn
    rowid = queries.resolve(conn, "track", track_id, source)
    if rowid is None:
        raise NotFound(f"no track {track_id!r} in the catalog")
    _refuse_withdrawn(s, conn, rowid)
    from fonoteca.publication import licence_of, policy_for_root

    licence = licence_of(conn, rowid)
    if not s.publishes(licence):
        raise Forbidden(f"track {track_id!r} is not published: {policy_for_root(s.archive.root).reason(licence)}")
    real_id = conn.execute("SELECT id FROM tracks WHERE rowid = ?", (rowid,)).fetchone()[0]
    found, _, _ = _locate_published(s, conn, rowid, real_id, True)
    if found is None:
        raise NotFound(f"this copy of the archive holds no audio for track {track_id!r}")
    return FileResponse(found.path, media_type=found.media_type, headers={"cache-control": "public, max-age=86400"})
