"""OpenSubsonic `formPost`: a client may send an endpoint's parameters as an application/x-www-form-urlencoded
POST body instead of the query string. The site only serves GET and HEAD (its security middleware refuses other
methods), so a form POST to /rest/ is read here, before it, and handed on as the GET it means: the body's
parameters appended to the query string. The body is bounded by the site's query-size limit, which then
applies to the whole request as to any GET."""

from __future__ import annotations

from typing import Any

from fonoteca.web.security import MAX_QUERY

FORM = b"application/x-www-form-urlencoded"


class FormPost:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/rest/"):
            await self.app(scope, receive, send)
            return
        content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
        if content_type and not content_type.split(b";")[0].strip().lower() == FORM:
            await self.app(scope, receive, send)  # not a form: the site answers it (405)
            return
        body, too_long = b"", False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_QUERY:
                too_long = True
            if not message.get("more_body", False):
                break
            if too_long:
                body = body[: MAX_QUERY + 1]
        query = scope.get("query_string", b"")
        joined = b"&".join(part for part in (query, body.strip()) if part)
        if too_long:
            joined = joined + b"&" + b"x" * (MAX_QUERY + 1)  # the site refuses it as a URL too long (414)
        headers = [(k, v) for k, v in scope.get("headers", []) if k not in (b"content-type", b"content-length")]
        sent = False

        async def empty() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return await receive()

        await self.app({**scope, "method": "GET", "query_string": joined, "headers": headers}, empty, send)
