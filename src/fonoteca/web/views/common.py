"""What every view shares: the twin registration (an HTML page and its JSON API from one data function),
parameter types that accept empty form fields, and errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse
from pydantic import BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import Response

from fonoteca.web import render
from fonoteca.web.schemas import Error

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "Bad parameters"},
    404: {"model": Error, "description": "Not found"},
    410: {"model": Error, "description": "Withdrawn (the tombstone says when and why)"},
    414: {"model": Error, "description": "Request URL too long"},
    429: {"model": Error, "description": "Rate limited"},
}
# The pages that are forms, by endpoint: (template, form data, title), read by the error handlers.
FormData = Callable[[Request, str], dict[str, Any]]
FORM_PAGES: dict[Callable[..., Any], tuple[str, FormData, Callable[[dict[str, Any]], str] | None]] = {}
# Routes outside /api (files, text) answer errors as plain text.
TEXT_ERRORS = {
    status: {"description": value["description"], "content": {"text/plain": {"schema": {"type": "string"}}}}
    for status, value in ERRORS.items()
}


def _empty_to_none(value: Any) -> Any:
    """HTML forms send empty fields as empty strings: treat them as absent."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


Blank = BeforeValidator(_empty_to_none)


def optional(kind: Any, description: str, **constraints: Any) -> Any:
    """An optional query parameter whose empty value (an empty form field) means absent; the constraints apply
    to the value when there is one."""
    inner = Annotated[kind, Field(**constraints)] if constraints else kind
    return Annotated[inner | None, Blank, Query(description=description)]


Popularity = optional(int, "Only tracks with popularity >= N (0-100).", ge=0, le=100)


class NotFound(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=404, detail=message)


class BadRequest(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=400, detail=message)


class Gone(HTTPException):
    """410: the ledger withdraws this track; `tombstone` says what, when and why (fonoteca.ledger)."""

    def __init__(self, message: str, tombstone: dict[str, Any]) -> None:
        super().__init__(status_code=410, detail=message)
        self.tombstone = tombstone


class Forbidden(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=403, detail=message)


def tombstone(withdrawal: Any, ref: str, name: str | None = None) -> Gone:
    """The 410 for a withdrawn track: its id, name, the category, the date and the reason of the withdrawal."""
    e = withdrawal.entry
    stone = {
        "track": ref,
        "name": name,
        "category": e.category or "other",
        "withdrawn_at": e.at,
        "date": e.at[:10],
        "until": e.until,
        "reason": e.reason,
        "ledger_entry": e.seq,
    }
    return Gone(f"{ref} was withdrawn on {e.at[:10]} ({e.category or 'other'})", stone)


class Unavailable(HTTPException):
    def __init__(self, message: str) -> None:
        super().__init__(status_code=503, detail=message)


def site(request: Request) -> Any:
    return request.app.state.site


def is_api(request: Request) -> bool:
    return render.request_path(request).startswith("/api/")


def twin(
    router: APIRouter,
    path: str,
    *,
    template: str,
    model: Any,
    summary: str,
    cache: str = render.CACHE_ENTITY,
    api_path: str | None = None,
    title: Callable[[dict[str, Any]], str] | None = None,
    tags: list[str | Enum] | None = None,
    form: Callable[[Request, str], dict[str, Any]] | None = None,
    responses: dict[int | str, Any] | None = None,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register `path` (HTML, rendered with `template`) and `/api` + path (JSON) for one data function.

    The data function takes `request` plus its typed parameters and returns the page's data as a dict; both
    routes share its parameters, validation and errors, so the JSON twin always says what the page shows.
    form: for a page that is a form (search), the page data to show with a bad-parameter message, from the raw
    query: the HTML page then answers 400 with the form kept as typed, instead of a bare error page."""
    api = api_path or "/api" + path

    def decorate(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(fn)
        def page(*args: Any, **kwargs: Any) -> Any:
            request: Request = kwargs["request"]
            data = fn(*args, **kwargs)
            if isinstance(data, Response):  # a format the caller asked for (plain lines, a bare list): as it is
                return data
            query = render.request_query(request)
            api_url = "/api" + quote(render.request_path(request), safe="/") if api_path is None else api
            return render.html(
                request,
                template,
                data,
                cache=data.pop("_cache", cache),
                api=api_url + ("?" + query if query else ""),
                title=title(data) if title else None,
            )

        @functools.wraps(fn)
        def endpoint(*args: Any, **kwargs: Any) -> Any:
            data = fn(*args, **kwargs)
            if isinstance(data, Response):
                return data
            return render.json(kwargs["request"], data, cache=data.pop("_cache", cache))

        if form is not None:
            FORM_PAGES[page] = (template, form, title)
        router.add_api_route(path, page, methods=["GET", "HEAD"], include_in_schema=False, response_class=HTMLResponse)
        router.add_api_route(
            api,
            endpoint,
            methods=["GET"],
            response_model=model,
            summary=summary,
            responses={**ERRORS, **(responses or {})},
            tags=tags or ["pages"],
            description=fn.__doc__ or summary,
        )
        return fn

    return decorate


def get_and_head(router: APIRouter, path: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A GET route that also answers HEAD (HEAD kept out of the OpenAPI spec, where it would repeat GET)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, fn, methods=["GET"], **options)
        router.add_api_route(
            path,
            fn,
            methods=["HEAD"],
            include_in_schema=False,
            response_class=options.get("response_class", HTMLResponse),
        )
        return fn

    return decorate
