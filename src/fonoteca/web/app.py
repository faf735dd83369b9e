"""The FastAPI application: the site's state, middleware, error pages and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from fonoteca import __version__
from fonoteca.archive import Archive, open_archive
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.web import render
from fonoteca.web.cache import ResponseCache
from fonoteca.web.charts import Charts
from fonoteca.web.config import check_base_url, check_hosts, is_loopback_host, normalize_host, web_config
from fonoteca.web.playable import Playable
from fonoteca.web.releases import Releases
from fonoteca.web.security import SECURITY_HEADERS, RateLimiter, SecurityMiddleware
from fonoteca.web.store import Store
from fonoteca.web.views.common import FORM_PAGES

log = logging.getLogger("fonoteca.web")


@dataclass
class Settings:
    """How one server process runs (`fonoteca serve` options)."""

    archive: Path
    stats_dir: Path | None = None  # default: ARCHIVE/stats
    rate_limit: float = 20.0  # requests per second per client address, on average (0: no limit)
    rate_burst: int = 200  # requests a client may send at once
    threads: int = 4  # worker threads for database reads (each has its own connections)
    cache_entries: int = 2048  # responses kept by the in-process response cache (0: none)
    base_url: str | None = None  # absolute URLs start with this (default: fonoteca.toml [web] base_url)
    allowed_hosts: tuple[str, ...] | None = None  # Host names served; others get 400 (default: [web] allowed_hosts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "archive": str(self.archive),
            "stats_dir": None if self.stats_dir is None else str(self.stats_dir),
            "rate_limit": self.rate_limit,
            "rate_burst": self.rate_burst,
            "threads": self.threads,
            "cache_entries": self.cache_entries,
            "base_url": self.base_url,
            "allowed_hosts": None if self.allowed_hosts is None else list(self.allowed_hosts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        hosts = data.get("allowed_hosts")
        return cls(
            archive=Path(data["archive"]),
            stats_dir=Path(data["stats_dir"]) if data.get("stats_dir") else None,
            rate_limit=float(data.get("rate_limit", 20.0)),
            rate_burst=int(data.get("rate_burst", 200)),
            threads=int(data.get("threads", 4)),
            cache_entries=int(data.get("cache_entries", 2048)),
            base_url=data.get("base_url"),
            allowed_hosts=None if hosts is None else tuple(hosts),
        )


@dataclass
class Site:
    archive: Archive
    settings: Settings
    store: Store = field(init=False)
    releases: Releases = field(init=False)
    charts: Charts = field(init=False)
    static_version: str = field(init=False)
    base_url: str | None = field(init=False)
    allowed_hosts: tuple[str, ...] | None = field(init=False)

    def __post_init__(self) -> None:
        configured = web_config(self.archive.config)
        self.base_url = (
            check_base_url(self.settings.base_url, "base_url") if self.settings.base_url else configured.base_url
        )
        self.allowed_hosts = (
            check_hosts(self.settings.allowed_hosts, "allowed_hosts")
            if self.settings.allowed_hosts is not None
            else configured.allowed_hosts
        )
        self.store = Store(self.archive)
        self.playable = Playable()
        self.releases = Releases(self.archive.root)
        self.charts = Charts(self.settings.stats_dir or self.archive.root / "stats")
        self.static_version = render.static_version()

    def info(self) -> dict[str, Any]:
        return {"name": self.archive.name, "version": __version__}

    def absolute_base(self, request: Request) -> tuple[str | None, bool]:
        """(what absolute URLs of this site start with, whether the answer depends on the request's Host).

        [web] base_url when set; else the Host the client named, only when it is trusted (one of allowed_hosts,
        or a loopback name when allowed_hosts is not set); else None: the site does not know its own address.
        Without base_url the answer depends on Host either way (trusted or not), so it must vary with it."""
        if self.base_url:
            return self.base_url, False
        host = request.headers.get("host", "")
        if not host or any(ch in host for ch in "/\\@?#") or any(ch.isspace() for ch in host):
            return None, True
        trusted = (
            normalize_host(host) in self.allowed_hosts if self.allowed_hosts is not None else is_loopback_host(host)
        )
        return (f"{request.scope.get('scheme', 'http')}://{host}" if trusted else None), True

    def summary(self) -> dict[str, Any]:
        """Counts, most popular tracks and genres: seconds of work on a big catalog, so computed at startup and
        again in the background after an import (pages show the previous figures meanwhile)."""
        from fonoteca.web import queries

        return self.store.cached("summary", lambda: queries.summary(self.store.conn), stale_ok=True)

    def withdrawn(self) -> dict[int, Any]:
        """tracks.rowid -> withdrawal, for every track the ledger withdraws now (per catalog and ledger state)."""
        from fonoteca.ledger import withdrawn_rowids

        return self.store.cached("withdrawn", lambda: withdrawn_rowids(self.store.conn, self.archive.root))

    def publishes(self, licence: str | None) -> bool:
        from fonoteca.publication import policy_for_root

        return policy_for_root(self.archive.root).allows(licence)

    def warm(self) -> None:
        from fonoteca.web import queries

        self.store.warm("summary", lambda: queries.summary(self.store.conn))


class CachedStatic(StaticFiles):
    """Static assets: their URLs carry a hash of their content (?v=...), so browsers may keep them for a year."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=31536000, immutable"
        return response


def create_app(settings: Settings) -> FastAPI:
    archive = open_archive(settings.archive)
    archive.connect(readonly=True).close()  # brings an older schema up to date once, before any thread reads
    site = Site(archive, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(1, settings.threads)
        site.warm()
        yield

    app = FastAPI(
        title=f"Fonoteca: {archive.name}",
        version=__version__,
        description="Read-only JSON API of a Fonoteca music preservation archive. Every HTML page has a JSON twin "
        "under /api with the same parameters; ids in URLs are the catalog's source ids.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.site = site
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]  # FastAPI's documented way to replace it

    app.mount("/static", CachedStatic(directory=render.STATIC, follow_symlink=False), name="static")

    # Starlette types a handler as taking any Exception, though it is only called with the class it is registered for
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(FonotecaError, _fonoteca_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _server_error)

    limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    registry: dict[str, Any] = {}
    app.state.middleware = registry
    app.add_middleware(
        ResponseCache, entries=settings.cache_entries, generation=site.store.generation, registry=registry
    )  # inner: after the security checks and rate limits
    app.add_middleware(SecurityMiddleware, limiter=limiter, allowed_hosts=site.allowed_hosts)
    from fonoteca import plugins

    # Fonoteca's own pages (fonoteca.web.cli) and every plugin's (the Subsonic API: fonoteca.subsonic.cli), after
    # the site's middleware: a plugin's middleware runs before it (outermost).
    plugins.hook().register_routes(app=app)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated spec, saying what the app really answers: invalid parameters are 400 here, never 422."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            spec.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = spec
    return app.openapi_schema


# --- errors --------------------------------------------------------------------------------------------------------
TEXT_PREFIXES = (
    "/static/",
    "/audio/",
    "/stats/charts/",
    "/torrents/file/",
    "/releases/",
)  # files: errors as plain text
MESSAGES = {
    400: "Bad request",
    403: "Not published",
    404: "Not found",
    405: "Method not allowed",
    410: "Withdrawn",
    429: "Too many requests",
    500: "Server error",
    503: "Not available yet",
}


def error_response(
    request: Request,
    status: int,
    message: str,
    details: list[Any] | None = None,
    headers: dict[str, str] | None = None,
    tombstone: dict[str, Any] | None = None,
) -> Response:
    path = render.request_path(request)
    if path.startswith("/api/") or path == "/api":
        body: dict[str, Any] = {"status": status, "message": message}
        if details:
            body["details"] = details
        if tombstone:
            body["tombstone"] = tombstone
        return render.json(request, {"error": body}, status=status, cache=render.CACHE_NONE, headers=headers)
    if path.startswith(TEXT_PREFIXES) or path.endswith(".txt"):
        return Response(
            (message + "\n").encode(),
            status_code=status,
            media_type="text/plain; charset=utf-8",
            headers={"cache-control": render.CACHE_NONE, **(headers or {})},
        )
    data: dict[str, Any] = {
        "status": status,
        "heading": MESSAGES.get(status, "Error"),
        "message": message,
        "details": details or [],
        "tombstone": tombstone,
    }
    response = render.html(
        request,
        "tombstone.html" if tombstone else "error.html",
        data,
        status=status,
        cache=render.CACHE_NONE,
        title=data["heading"],
    )
    if headers:
        response.headers.update(headers)
    return response


def _form_page(request: Request, status: int, message: str) -> Response | None:
    """A form page's own answer to bad parameters: the form as typed, with the message (HTML pages only)."""
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    found = FORM_PAGES.get(endpoint) if endpoint is not None else None
    if found is None or status != 400 or render.request_path(request).startswith("/api/"):
        return None
    template, form, title = found
    data = form(request, message)
    return render.html(
        request, template, data, status=400, cache=render.CACHE_NONE, title=title(data) if title else None
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    message = exc.detail if isinstance(exc.detail, str) else MESSAGES.get(exc.status_code, "Error")
    if exc.status_code == 404 and message == "Not Found":
        message = "there is no page at this address"
    form = _form_page(request, exc.status_code, message)
    if form is not None:
        return form
    return error_response(
        request,
        exc.status_code,
        message,
        headers=getattr(exc, "headers", None),
        tombstone=getattr(exc, "tombstone", None),
    )


def _problem(error: dict[str, Any], description: str | None) -> str:
    """A validation error in words: what was expected, and what came."""
    kind, ctx, value = error.get("type", ""), error.get("ctx") or {}, error.get("input")
    got = f", not {str(value)[:60]!r}" if isinstance(value, (str, int, float)) else ""
    if kind == "int_parsing":
        return f"expected a whole number{got}"
    if kind == "bool_parsing":
        return f"expected true or false{got}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}{got}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}{got}"
    if kind == "string_too_long":
        return f"at most {ctx.get('max_length')} characters"
    if kind == "string_too_short":
        return f"at least {ctx.get('min_length')} character{'s' if ctx.get('min_length') != 1 else ''}"
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}{got}"
    if kind == "string_pattern_mismatch" and description:
        return f"expected {description[0].lower() + description[1:].rstrip('.')}{got}"
    return str(error.get("msg", "invalid"))[:300]


def _descriptions(request: Request) -> dict[str, str]:
    dependant = getattr(request.scope.get("route"), "dependant", None)
    out = {}
    for param in getattr(dependant, "query_params", []) or []:
        description = getattr(getattr(param, "field_info", None), "description", None)
        if description:
            out[param.alias or param.name] = description
    return out


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    details = []
    descriptions = _descriptions(request)
    for error in exc.errors()[:20]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        details.append({"parameter": where, "problem": _problem(error, descriptions.get(where))})
    message = "; ".join(f"{d['parameter']}: {d['problem']}" for d in details) or "invalid parameters"
    form = _form_page(request, 400, message)
    if form is not None:
        return form
    return error_response(request, 400, message, details)


async def _fonoteca_error(request: Request, exc: FonotecaError) -> Response:
    return error_response(request, 400 if isinstance(exc, UsageError) else 503, str(exc))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("error serving %s", render.request_path(request), exc_info=exc)
    # this handler runs outside the middleware stack: add the security headers here
    headers = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}
    return error_response(request, 500, "something went wrong on the server; it has been logged", headers=headers)


__all__ = ["HTTPException", "Settings", "Site", "create_app", "error_response"]
