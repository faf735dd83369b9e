"""/api: the list of JSON endpoints (from the OpenAPI spec), and a health check."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.requests import Request

from fonoteca.web import render

router = APIRouter()


@router.get("/api", include_in_schema=False, response_class=HTMLResponse)
def api_index(request: Request) -> object:
    spec = request.app.openapi()
    endpoints = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            if method != "get":
                continue
            params = [
                {
                    "name": p.get("name"),
                    "in": p.get("in"),
                    "required": p.get("required", False),
                    "description": p.get("description") or "",
                }
                for p in op.get("parameters", [])
            ]
            endpoints.append(
                {
                    "path": path,
                    "summary": op.get("summary") or "",
                    "params": params,
                    "tag": (op.get("tags") or ["other"])[0],
                }
            )
    return render.html(request, "api.html", {"endpoints": endpoints}, api="/api/openapi.json", title="JSON API")


@router.get("/api/health", tags=["meta"], summary="Liveness: the server answers and can read the catalog")
def health(request: Request) -> object:
    site = request.app.state.site
    site.store.conn.execute("SELECT 1").fetchone()
    cache = request.app.state.middleware.get("response_cache")
    return render.json(
        request,
        {
            "status": "ok",
            "archive": site.archive.name,
            "search_index": site.store.has_index(),
            "response_cache": cache.stats() if cache is not None else None,
        },
        cache=render.CACHE_NONE,
    )


@router.get("/openapi.json", include_in_schema=False)
def openapi_elsewhere() -> object:
    """The spec lives at /api/openapi.json; tools that look for it at the root are sent there."""
    from fastapi.responses import RedirectResponse

    return RedirectResponse("/api/openapi.json", status_code=308, headers={"cache-control": "public, max-age=86400"})


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> object:
    """Browsers ask for it on pages without a link to an icon (plain-text answers)."""
    from fastapi.responses import FileResponse

    return FileResponse(
        render.STATIC / "icon.svg", media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"}
    )


@router.get("/robots.txt", include_in_schema=False)
def robots() -> object:
    """Crawlers may read the pages; the audio, the API and the generated lists are not for indexing."""
    from fastapi.responses import PlainTextResponse

    return PlainTextResponse(
        "User-agent: *\nDisallow: /audio/\nDisallow: /api/\nDisallow: /torrents/generate\n",
        headers={"cache-control": "public, max-age=86400"},
    )
