"""Subsonic answers: the `subsonic-response` envelope as XML (default, namespace http://subsonic.org/restapi),
JSON (`f=json`) or JSONP (`f=jsonp&callback=NAME`), and the documented errors.

A payload is a tree of plain values: a dict is an element (its scalar values are attributes, a dict value is one
child element, a list value repeated child elements, in insertion order: the schema's sequences need that order),
and the key "value" is the element's text (a genre's name, lyrics). JSON is the same tree, as the Subsonic JSON
format is: attributes and children side by side. Errors are answered with HTTP 200, as clients expect.
"""

from __future__ import annotations

import re
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import orjson
from starlette.responses import Response

from fonoteca import __version__

API_VERSION = "1.16.1"
NAMESPACE = "http://subsonic.org/restapi"
SERVER_TYPE = "fonoteca"
NO_STORE = "no-store"
JSONP_CALLBACK = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]{0,63}(\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}$")
# XML 1.0 allows neither C0 controls (but tab, newline, return) nor surrogates nor U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# The documented error codes.
GENERIC = 0
MISSING_PARAMETER = 10
CLIENT_MUST_UPGRADE = 20
SERVER_MUST_UPGRADE = 30
WRONG_CREDENTIALS = 40
TOKEN_NOT_SUPPORTED = 41
MECHANISM_NOT_SUPPORTED = 42
CONFLICTING_MECHANISMS = 43
INVALID_API_KEY = 44
NOT_AUTHORIZED = 50
NOT_FOUND = 70


class SubsonicError(Exception):
    """An answer with status "failed": a documented code and a message for the person using the client."""

    def __init__(self, code: int, message: str, http_status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.headers = headers or {}


def missing(name: str) -> SubsonicError:
    return SubsonicError(MISSING_PARAMETER, f"required parameter {name!r} is missing")


def not_found(what: str) -> SubsonicError:
    return SubsonicError(NOT_FOUND, f"{what} not found")


class Format:
    """How a request wants its answer: xml, json or jsonp (with its callback)."""

    def __init__(self, name: str = "xml", callback: str | None = None) -> None:
        self.name = name
        self.callback = callback

    @classmethod
    def of(cls, params: dict[str, list[str]]) -> Format:
        """The f parameter; an unknown one answers XML (what Subsonic does), a bad JSONP callback JSON."""
        name = (params.get("f") or ["xml"])[-1].lower()
        if name == "jsonp":
            callback = (params.get("callback") or [""])[-1]
            if JSONP_CALLBACK.match(callback):
                return cls("jsonp", callback)
            return cls("json")
        return cls(name if name in ("json", "xml") else "xml")


def envelope(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "version": API_VERSION,
        "type": SERVER_TYPE,
        "serverVersion": __version__,
        "openSubsonic": True,
    }


def render(
    fmt: Format,
    payload: dict[str, Any] | None = None,
    *,
    status: str = "ok",
    http_status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    body = envelope(status)
    if payload:
        body.update(payload)
    all_headers = {"cache-control": NO_STORE, **(headers or {})}
    if fmt.name == "xml":
        return Response(
            xml_document("subsonic-response", body).encode("utf-8"),
            status_code=http_status,
            media_type="application/xml",
            headers=all_headers,
        )
    data = orjson.dumps({"subsonic-response": body}, option=orjson.OPT_NON_STR_KEYS)
    if fmt.name == "jsonp":
        return Response(
            (fmt.callback or "").encode() + b"(" + data + b");",
            status_code=http_status,
            media_type="application/javascript",
            headers=all_headers,
        )
    return Response(data, status_code=http_status, media_type="application/json", headers=all_headers)


def error(fmt: Format, exc: SubsonicError) -> Response:
    return render(
        fmt,
        {"error": {"code": exc.code, "message": exc.message}},
        status="failed",
        http_status=exc.http_status,
        headers=exc.headers,
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def to_xml(name: str, node: dict[str, Any], *, root: bool = False) -> str:
    attrs, children, text = [], [], None
    if root:
        attrs.append(f"xmlns={quoteattr(NAMESPACE)}")
    for key, value in node.items():
        if value is None:
            continue
        if key == "value" and not isinstance(value, (dict, list)):
            text = _text(value)
        elif isinstance(value, dict):
            children.append(to_xml(key, value))
        elif isinstance(value, list):
            children.extend(
                to_xml(key, item) if isinstance(item, dict) else f"<{key}>{escape(_text(item))}</{key}>"
                for item in value
            )
        else:
            attrs.append(f"{key}={quoteattr(_text(value))}")
    head = f"<{name}" + ("" if not attrs else " " + " ".join(attrs))
    inner = (escape(text) if text is not None else "") + "".join(children)
    if not inner:
        return head + "/>"
    return f"{head}>{inner}</{name}>"


def xml_document(name: str, node: dict[str, Any]) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + to_xml(name, node, root=True)
