"""Torrent pages: every release's torrents with seeding health, and the "what should I seed with N TB" list."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse, PlainTextResponse, Response
from starlette.requests import Request

from fonoteca.errors import UsageError
from fonoteca.units import parse_size
from fonoteca.web import releases as rel
from fonoteca.web import render, schemas
from fonoteca.web.views.common import (
    TEXT_ERRORS,
    BadRequest,
    NotFound,
    get_and_head,
    is_api,
    optional,
    site,
    twin,
)

router = APIRouter()

MAX_BUDGET = 10**18  # an exabyte: far beyond any collection, and within JSON's 64-bit integers
Seed = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**31 - 1,
        description="Fix the random part of the score: the same "
        "seed gives the same list (`fonoteca torrents pick --seed`).",
    ),
]


MaxTB = Annotated[
    float | None,
    Query(gt=0, le=1e6, description="Space to give in terabytes (the reference site's parameter; 2.5 = 2.5 TB)."),
]
Format = Annotated[
    Literal["json", "url", "magnet"] | None,
    Query(description="The reference site's formats: json (the list), url or magnet (one a line); default: the page."),
]
Budget = Annotated[
    str,
    Query(
        min_length=1,
        max_length=32,
        description="Space to give: a number of terabytes (2.5) or a size with unit (500GB, 3TiB).",
    ),
]
if TYPE_CHECKING:  # what the views receive; FastAPI reads the annotated forms below (validation, documentation)
    Band = str | None
    Health = Literal["none", "low", "medium", "good", "unknown"] | None
else:
    Band = optional(str, "Only this band (or 'metadata').", max_length=100)
    Health = optional(Literal["none", "low", "medium", "good", "unknown"], "Only torrents with this seeding health.")


def _budget(text: str) -> int:
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            size = parse_size(value)
        except UsageError as exc:
            raise BadRequest(str(exc)) from None
    else:
        if not math.isfinite(number) or number <= 0:
            raise BadRequest("the budget must be a positive number of terabytes")
        size = int(min(number * 1e12, MAX_BUDGET + 1))
    if size <= 0 or size > MAX_BUDGET:
        raise BadRequest("the budget must be more than 0 bytes and at most 1 EB (1,000,000 TB)")
    return size


@twin(
    router,
    "/torrents",
    template="torrents.html",
    model=schemas.TorrentsPage,
    cache=render.CACHE_LIVE,
    summary="Every torrent of every release: bands, sizes, files, seeding health, magnet links",
    title=lambda d: "Torrents",
    tags=["torrents"],
)
def torrents(
    request: Request,
    band: Band = None,
    health: Health = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    size: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict:
    s = site(request)
    releases = s.releases.all()
    everything = s.releases.torrents()
    summary = rel.summary(everything)
    chosen = [
        t
        for t in everything
        if (band is None or band == ("metadata" if t["is_metadata"] else (t["band"] or t["group_name"] or "other")))
        and (health is None or t["health"] == health)
    ]
    start = (page - 1) * size
    path = "/api/torrents" if is_api(request) else "/torrents"
    params = {"band": band, "health": health, "size": size}
    return {
        "releases": [
            {
                "name": r.name,
                "torrents": len(r.torrents),
                "error": r.error,
                "data_size": sum(t["data_size"] or 0 for t in r.torrents),
            }
            for r in releases
        ],
        "bands": summary["bands"],
        "totals": summary["totals"],
        "torrents": chosen[start : start + size],
        "page": page,
        "size": size,
        "count": len(chosen),
        "filters": {"band": band, "health": health},
        "next": render.query_url(path, params, page=page + 1) if start + size < len(chosen) else None,
        "previous": render.query_url(path, params, page=page - 1) if page > 1 else None,
    }


@twin(
    router,
    "/torrents/generate",
    template="generate.html",
    model=schemas.GeneratePage | list[schemas.Torrent],
    cache=render.CACHE_LIVE,
    responses={
        200: {
            "content": {"text/plain": {}},
            "description": "The page's data; with format=json the chosen "
            "torrents as a list; with url or magnet one a line",
        }
    },
    summary="The torrents to seed with a given amount of space: fewest seeders first",
    title=lambda d: f"Seeding list for {d['budget_text']}",
    tags=["torrents"],
)
def generate(
    request: Request,
    budget: Budget | None = None,
    include_metadata: Annotated[bool, Query(description="Include the metadata torrents (first).")] = True,
    seed: Seed = None,
    max_tb: MaxTB = None,
    format: Format = None,
) -> Any:
    """The reference site's interface too: `max_tb` (terabytes) and `format` json (the list), url or magnet (one a
    line); `budget` (a size with unit) keeps working."""
    size = _space(budget, max_tb)
    result = rel.generate(
        site(request).releases.torrents(),
        size,
        include_metadata=include_metadata,
        popularity_weight=_weight(request),
        seed=seed,
    )
    if format is not None:
        return _formatted(request, result, format)
    result["budget_text"] = render.fmt_size(size)
    # the form shows what was typed, so a resubmit asks the same
    result["budget_input"] = budget.strip() if budget is not None else (f"{max_tb:g}" if max_tb is not None else "1")
    result["include_metadata"] = include_metadata
    result["query"] = render.query_url(
        "", {"budget": result["budget_input"], "include_metadata": "true" if include_metadata else "false"}
    )
    return result


@get_and_head(
    router,
    "/torrents/generate.txt",
    tags=["torrents"],
    response_class=PlainTextResponse,
    summary="The seeding list as plain text: one magnet link, torrent URL or info-hash a line",
    responses={**TEXT_ERRORS, 200: {"content": {"text/plain": {}}, "description": "One entry a line"}},
)
def generate_text(
    request: Request,
    budget: Budget | None = None,
    kind: Annotated[Literal["magnets", "urls", "btih"], Query()] = "magnets",
    include_metadata: bool = True,
    seed: Seed = None,
    max_tb: MaxTB = None,
) -> PlainTextResponse:
    """One entry a line. Torrent URLs of files this site serves are absolute: they start with [web] base_url, or
    with the request's Host when that is trusted; a site that does not know its own address lists the torrents'
    published URLs instead. Without base_url the answer varies with Host, and says so (Vary: Host)."""
    result = rel.generate(
        site(request).releases.torrents(),
        _space(budget, max_tb),
        include_metadata=include_metadata,
        popularity_weight=_weight(request),
        seed=seed,
    )
    return _lines(request, result, kind)


def _lines(request: Request, result: dict[str, Any], kind: str) -> PlainTextResponse:
    base, varies = site(request).absolute_base(request) if kind == "urls" else (None, False)
    lines = []
    for t in result["torrents"]:
        if kind == "magnets":
            value = t["magnet_link"]
        elif kind == "btih":
            value = t["btih"]
        else:
            local = t["local_url"]
            value = base + local if local and base else _absolute(t["url"])
        if value and render.safe_url(value) is not None or (kind == "btih" and value and value.isalnum()):
            lines.append(value)
    headers = {"cache-control": render.CACHE_LIVE}
    if varies:
        headers["vary"] = "Host"
    return PlainTextResponse("".join(line + "\n" for line in lines), headers=headers)


def _formatted(request: Request, result: dict[str, Any], format: str) -> Response:
    """The reference site's formats: json (the chosen torrents as a list), url or magnet (one a line)."""
    if format == "json":
        return render.json(request, result["torrents"], cache=render.CACHE_LIVE)
    return _lines(request, result, "urls" if format == "url" else "magnets")


def _space(budget: str | None, max_tb: float | None) -> int:
    """The space to fill: `max_tb` terabytes (the reference site's parameter), else `budget`, else 1 TB."""
    if max_tb is not None and budget is not None:
        raise BadRequest("give max_tb or budget, not both")
    if max_tb is not None:
        return _budget(repr(max_tb))
    return _budget(budget if budget is not None else "1")


def _weight(request: Request) -> float:
    """The archive's [pack] pick_popularity_weight: the site's list is `fonoteca torrents pick`'s."""
    from fonoteca.pack.settings import PackSettings

    return PackSettings.from_config(site(request).archive.config).pick_popularity_weight


def _absolute(url: str | None) -> str | None:
    found = render.safe_url(url)
    return found if found and found.lower().startswith(("http://", "https://")) else None


@get_and_head(
    router,
    "/releases/{release}/torrents/{filename}",
    tags=["torrents"],
    response_class=FileResponse,
    summary="A release's .torrent file (where torrents.json's relative url points)",
    responses={**TEXT_ERRORS, 200: {"content": {"application/x-bittorrent": {}}, "description": "The file"}},
)
@get_and_head(
    router,
    "/torrents/file/{release}/{filename}",
    tags=["torrents"],
    response_class=FileResponse,
    summary="A release's .torrent file",
    responses={**TEXT_ERRORS, 200: {"content": {"application/x-bittorrent": {}}, "description": "The file"}},
)
def torrent_file(
    request: Request, release: Annotated[str, Path(max_length=200)], filename: Annotated[str, Path(max_length=255)]
) -> FileResponse:
    path = site(request).releases.local_torrent(release, filename)
    if path is None:
        raise NotFound("no such torrent file")
    return FileResponse(
        path,
        media_type="application/x-bittorrent",
        filename=filename,
        headers={"cache-control": "public, max-age=86400"},
    )


@get_and_head(
    router,
    "/releases/{release}/data/{torrent}/{path:path}",
    tags=["torrents"],
    response_class=FileResponse,
    summary="A file of a release's payload, with range requests: this site as a BEP 19 web seed "
    '([pack] web_seeds = ["https://SITE/releases/{release}/data/"])',
    responses={
        **TEXT_ERRORS,
        206: {"description": "Part of the file"},
        200: {"content": {"application/octet-stream": {}}, "description": "The file"},
    },
)
def payload_file(
    request: Request,
    release: Annotated[str, Path(max_length=200)],
    torrent: Annotated[str, Path(max_length=255)],
    path: Annotated[str, Path(max_length=1024)],
) -> FileResponse:
    found = site(request).releases.payload(release, torrent, path)
    if found is None:
        raise NotFound("no such file in this release")
    return FileResponse(
        found, media_type="application/octet-stream", headers={"cache-control": "public, max-age=86400, immutable"}
    )


@get_and_head(
    router,
    "/torrents.json",
    tags=["torrents"],
    summary="Every torrent of every release, as the releases' "
    "torrents.json files list them (the format seeding tools read)",
    responses={
        200: {
            "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
            "description": "The list",
        }
    },
)
def torrents_json(request: Request) -> object:
    return render.json(request, site(request).releases.raw_listing(), cache=render.CACHE_LIVE)


@get_and_head(
    router,
    "/withdrawals.jsonl",
    tags=["torrents"],
    response_class=Response,
    summary="The withdrawals ledger: one JSON line per withdrawal or reinstatement, each with the SHA-256 "
    "of the line before it (check it with `fonoteca ledger verify`)",
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "The ledger"}},
)
def withdrawals_ledger(request: Request) -> Response:
    from fonoteca.ledger import ledger_path

    path = ledger_path(site(request).archive.root)
    try:
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    except OSError:
        data = b""
    return Response(data, media_type="application/x-ndjson", headers={"cache-control": "public, max-age=60"})
