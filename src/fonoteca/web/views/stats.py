"""The statistics page: the charts `fonoteca stats --out DIR` drew, with their numbers as JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse
from starlette.requests import Request

from fonoteca.web import render, schemas
from fonoteca.web.charts import FORMATS
from fonoteca.web.views.common import TEXT_ERRORS, NotFound, get_and_head, is_api, site, twin

router = APIRouter()


@twin(
    router,
    "/stats",
    template="stats.html",
    model=schemas.StatsPage,
    cache=render.CACHE_LIVE,
    summary="Statistics of the collection: each chart's images and numbers",
    title=lambda d: "Statistics",
    tags=["statistics"],
)
def stats(request: Request) -> dict:
    charts = site(request).charts
    found = charts.charts()
    if not is_api(request):
        found = [{k: v for k, v in c.items() if k != "numbers"} for c in found]
    default = charts.directory == site(request).archive.root / "stats"
    # no server path in the page: it says what to run, not where the archive lives
    hint = "fonoteca stats --out ARCHIVE/stats" if default else "fonoteca stats --out DIR (the folder given to --stats)"
    return {"available": bool(found), "charts": found, "directory_hint": hint}


@get_and_head(
    router,
    "/stats/charts/{filename}",
    tags=["statistics"],
    response_class=FileResponse,
    summary="A chart image (NAME.svg or NAME.png)",
    responses={**TEXT_ERRORS, 200: {"content": {"image/svg+xml": {}, "image/png": {}}, "description": "The chart"}},
)
def chart_file(request: Request, filename: Annotated[str, Path(max_length=80)]) -> FileResponse:
    name, _, ext = filename.rpartition(".")
    path = site(request).charts.file(name, ext)
    if path is None:
        raise NotFound("no such chart")
    return FileResponse(path, media_type=FORMATS[ext], headers={"cache-control": "public, max-age=300"})
