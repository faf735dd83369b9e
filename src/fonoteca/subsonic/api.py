"""The /rest/ router: every endpoint as /rest/NAME and /rest/NAME.view, GET (and POST forms, see `formpost`),
answering XML, JSON or JSONP. Each request is authenticated, rate limited per user, then handled in a worker
thread; whatever goes wrong is a documented Subsonic error (HTTP 200, as clients expect; 429 when rate limited,
501 for an endpoint this server does not implement), never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fonoteca.errors import FonotecaError
from fonoteca.subsonic import responses as r
from fonoteca.subsonic.auth import authenticate, check_version
from fonoteca.subsonic.config import subsonic_config
from fonoteca.subsonic.service import Context, Service
from fonoteca.web.security import client_key

log = logging.getLogger("fonoteca.subsonic")
router = APIRouter(include_in_schema=False)
Handler = Callable[[Context], Any]
HANDLERS: dict[str, tuple[Handler, bool, bool]] = {}  # name -> (handler, writes, needs credentials)
MAX_PARAMS = 2000
CORS = {"access-control-allow-origin": "*", "cross-origin-resource-policy": "cross-origin"}


def endpoint(name: str, *, writes: bool = False, public: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler; `writes`: refused (50) to the anonymous user; `public`: answered without credentials."""

    def decorate(fn: Handler) -> Handler:
        HANDLERS[name] = (fn, writes, not public)
        return fn

    return decorate


def service(request: Request) -> Service:
    app = request.app
    found = getattr(app.state, "subsonic", None)
    if found is None:
        found = app.state.subsonic = Service(app.state.site, subsonic_config(app.state.site.archive.config))
    return found


async def _params(request: Request) -> dict[str, list[str]]:
    pairs = parse_qsl(
        request.scope.get("query_string", b"").decode("latin-1"),
        keep_blank_values=True,
        max_num_fields=MAX_PARAMS,
        encoding="utf-8",
        errors="replace",
    )
    if request.method == "POST":
        body = await request.body()
        pairs += parse_qsl(
            body.decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=MAX_PARAMS,
            encoding="utf-8",
            errors="replace",
        )
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def _handle(
    svc: Service,
    found: tuple[Handler, bool, bool],
    params: dict[str, list[str]],
    fmt: r.Format,
    headers: dict[str, str],
    client: Any,
) -> Any:
    """Authenticate, rate limit, refuse writes to the anonymous user, then answer (in a worker thread)."""
    handler, writes, needs_user = found
    if needs_user:
        user = authenticate(params, svc.accounts, svc.config)
    else:
        from fonoteca.subsonic.users import ANONYMOUS_USER

        user = ANONYMOUS_USER
    _limited(svc, user, client)
    if writes and user.anonymous:
        raise r.SubsonicError(r.NOT_AUTHORIZED, "the anonymous user may only read: sign in to change anything")
    return handler(Context(svc, params, user, fmt, headers))


def _limited(svc: Service, ctx_user: Any, client: Any) -> None:
    if svc.limiter is None:
        return
    who = f"user:{ctx_user.name}" if not ctx_user.anonymous else f"anon:{client_key(client[0]) if client else '?'}"
    wait = svc.limiter.allow(who)
    if wait > 0:
        raise r.SubsonicError(
            r.GENERIC,
            "too many requests for this user: slow down",
            http_status=429,
            headers={"retry-after": str(max(1, round(wait)))},
        )


@router.api_route("/rest/{name}", methods=["GET", "HEAD", "POST"])
async def rest(request: Request, name: str) -> Response:
    fmt = r.Format("xml")
    try:
        try:
            params = await _params(request)
        except ValueError:
            raise r.SubsonicError(r.MISSING_PARAMETER, f"too many parameters (at most {MAX_PARAMS})") from None
        fmt = r.Format.of(params)
        svc = service(request)
        method = name[:-5] if name.endswith(".view") else name
        found = HANDLERS.get(method)
        if found is None:
            raise r.SubsonicError(r.GENERIC, f"{method[:60]!r} is not implemented by this server", http_status=501)
        check_version(params)
        headers = {k: v for k, v in request.headers.items() if k == "range"}
        # one worker thread for the credential check (it reads the users database) and the handler: a second
        # hop between threads would cost CPU per request and a second wait for a free worker under load
        result = await anyio.to_thread.run_sync(_handle, svc, found, params, fmt, headers, request.scope.get("client"))
        if isinstance(result, Response):
            result.headers.update(CORS)
            return result
        return r.render(fmt, result, headers=CORS)
    except r.SubsonicError as exc:
        return r.error(fmt, exc)
    except FonotecaError as exc:
        return r.error(fmt, r.SubsonicError(r.GENERIC, str(exc)))
    except Exception:  # noqa: BLE001 (never a stack trace to the client; the log has it)
        log.exception("error serving %s", request.scope.get("path"))
        return r.error(fmt, r.SubsonicError(r.GENERIC, "something went wrong on the server; it has been logged"))


# the endpoints live in these modules; importing them registers them
from fonoteca.subsonic import browse, personal, playback  # noqa: E402,F401
