"""Turning page data into responses: Jinja2 HTML (every value escaped), JSON, caching headers and ETags.

Every page is one data function; `html()` and `json()` wrap its result. Both set Cache-Control and an ETag
(a hash of the body), and answer a matching If-None-Match with 304, so a proxy or browser revalidates cheaply.
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import orjson
from starlette.requests import Request
from starlette.responses import Response

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Cache-Control values by kind of page.
CACHE_ENTITY = "public, max-age=300"
CACHE_SEARCH = "public, max-age=120"
CACHE_LIVE = "public, max-age=30"
CACHE_NONE = "no-store"

# C0 controls (but tab, newline, carriage return), DEL and C1 controls: shown as visible symbols, never raw.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # U+2400.. CONTROL PICTURES: NUL -> ␀
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def clean_text(value: Any) -> Any:
    """Control characters in a string made visible and inert; anything else unchanged."""
    if isinstance(value, str) and _CONTROL.search(value):
        return _CONTROL.sub(_visible, value)
    return value


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    return clean_text(value)


def fmt_duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)) or ms < 0:
        return ""
    seconds = int(ms // 1000)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def fmt_size(size: Any) -> str:
    if not isinstance(size, (int, float)) or not math.isfinite(size):
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000 or unit == "PB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.2f} {unit}"
        value /= 1000
    return ""


def fmt_num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:,.2f}"
    return str(value)


def fmt_count(value: Any) -> str:
    """An estimated count (listens): whole, with thousands separators."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return f"{round(value):,}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return f"{100 * value:.{digits}f}%"


def safe_url(value: Any) -> str | None:
    """A link target taken from data: only http(s) and magnet links and site-relative paths; None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    lowered = text.lower()
    if lowered.startswith(("https://", "http://", "magnet:?")) or (text.startswith("/") and not text.startswith("//")):
        if _CONTROL.search(text) or any(ch.isspace() for ch in text):
            return None
        return text
    return None


def query_url(path: str, params: dict[str, Any], **changes: Any) -> str:
    """`path?params` with some parameters changed; empty and None values left out."""
    merged = {**params, **changes}
    pairs = [(k, v) for k, v in merged.items() if v is not None and v != ""]
    return path + ("?" + urlencode(pairs) if pairs else "")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its name
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters.update(
        duration=fmt_duration,
        size=fmt_size,
        num=fmt_num,
        pct=fmt_pct,
        count=fmt_count,
        safe_url=safe_url,
        text=clean_text,
    )
    env.globals.update(query_url=query_url)
    return env


def static_version() -> str:
    """A hash of the static assets, appended to their URLs so they can be cached forever."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(STATIC.iterdir()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def request_path(request: Request) -> str:
    """The request's path as routed. Never `request.url.path`: Starlette builds request.url from the Host
    header, so a Host such as "x/y?" would change the path and query it reports (and pages are cached)."""
    return request.scope["path"]


def request_query(request: Request) -> str:
    return request.scope.get("query_string", b"").decode("latin-1")


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _finish(
    request: Request, body: bytes, media_type: str, status: int, cache: str, headers: dict[str, str] | None = None
) -> Response:
    out = {"cache-control": cache if status < 400 else CACHE_NONE}
    if headers:
        out.update(headers)
    if status == 200 and cache != CACHE_NONE:
        etag = _etag(body)
        out["etag"] = etag
        match = request.headers.get("if-none-match")
        if match and (match.strip() == "*" or etag in [m.strip().removeprefix("W/") for m in match.split(",")]):
            return Response(status_code=304, headers=out)
    return Response(body, status_code=status, media_type=media_type, headers=out)


def json_bytes(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)


def json(
    request: Request, data: Any, *, cache: str = CACHE_ENTITY, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return _finish(request, json_bytes(data), "application/json", status, cache, headers)


def html(
    request: Request,
    template: str,
    data: dict[str, Any],
    *,
    cache: str = CACHE_ENTITY,
    status: int = 200,
    api: str | None = None,
    title: str | None = None,
) -> Response:
    """Render `template` with the page's data (`page`), the URL of its JSON twin (`api`) and site globals."""
    site = request.app.state.site
    context = {
        "page": data,
        "api": api,
        "title": title,
        "site": site.info(),
        "request_path": request_path(request),
        "static": site.static_version,
    }
    body = environment().get_template(template).render(context).encode("utf-8")
    headers = {"link": f'<{api}>; rel="alternate"; type="application/json"'} if api else None
    return _finish(request, body, "text/html; charset=utf-8", status, cache, headers)
