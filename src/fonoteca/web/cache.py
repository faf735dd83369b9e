"""A small in-process cache of whole responses, in front of the framework (a micro-cache, as a reverse proxy
would keep one).

It keeps what the site itself declares cacheable, for as long as it declares: GET answers with status 200 and
`Cache-Control: public, max-age=N` are kept N seconds (at most), keyed by path and query string, and thrown
away as soon as the catalog or the search index changes. An answer that depends on a request header says so
with `Vary` (as HTTP caches expect), and the values of those headers become part of its key: nothing a client
sends outside the key can reach another client's answer (`Vary: *` is never kept). Shuffle (no-store), errors, audio
and files are never kept. A hit costs a dictionary lookup instead of routing, validation, queries and rendering.
Popular searches and pages repeat a lot in real traffic; the benchmark reports figures with and without it.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Scope = dict[str, Any]
MAX_BODY = 512 * 1024
MAX_AGE = re.compile(rb"max-age=(\d+)")
SKIP_PREFIXES = ("/static/", "/audio/", "/releases/", "/torrents/file/", "/stats/charts/")


class ResponseCache:
    """At most `entries` responses, least recently used dropped first; thread-safe; counts hits and misses."""

    def __init__(self, app: Any, entries: int, generation: Callable[[], Any], registry: dict[str, Any]) -> None:
        registry["response_cache"] = self  # the app reads the counters (/api/health)
        self.app = app
        self.entries = entries
        self.generation = generation
        self._items: OrderedDict[tuple, tuple[float, Any, int, list[tuple[bytes, bytes]], bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._vary: dict[tuple[str, bytes], tuple[bytes, ...]] = {}  # request headers an answer depends on
        self.hits = 0
        self.misses = 0

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._items), "capacity": self.entries, "hits": self.hits, "misses": self.misses}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if (
            self.entries <= 0
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or scope["path"].startswith(SKIP_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        base = (scope["path"], scope.get("query_string", b""))
        vary = self._vary.get(base)
        key: tuple = base if vary is None else base + (_header_values(scope, vary),)
        generation = self.generation()
        now = time.monotonic()
        with self._lock:
            item = self._items.get(key)
            if item is not None and (item[0] < now or item[1] != generation):
                del self._items[key]
                item = None
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
        if item is not None:
            await self._replay(scope, send, item)
            return
        captured: dict[str, Any] = {"body": []}

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    captured["done"] = True
            await send(message)

        await self.app(scope, receive, capture)
        self._store(scope, base, generation, captured, now)

    def _store(
        self, scope: Scope, base: tuple[str, bytes], generation: Any, captured: dict[str, Any], now: float
    ) -> None:
        if captured.get("status") != 200 or not captured.get("done"):
            return
        headers = captured["headers"]
        control = next((v for k, v in headers if k.lower() == b"cache-control"), b"")
        match = MAX_AGE.search(control)
        if not control.startswith(b"public") or match is None or int(match.group(1)) <= 0:
            return
        vary = _vary_names(headers)
        if vary == (b"*",):
            return
        body = b"".join(captured["body"])
        if len(body) > MAX_BODY:
            return
        key: tuple = base if not vary else base + (_header_values(scope, vary),)
        expires = now + int(match.group(1))
        with self._lock:
            if vary:
                self._vary[base] = vary
                if len(self._vary) > 4 * max(1, self.entries):
                    self._vary.clear()  # bounded: forgotten names are learnt again from the next answer
            else:
                self._vary.pop(base, None)
            self._items[key] = (expires, generation, 200, headers, body)
            self._items.move_to_end(key)
            while len(self._items) > self.entries:
                self._items.popitem(last=False)

    @staticmethod
    async def _replay(scope: Scope, send: Any, item: tuple) -> None:
        _, _, status, headers, body = item
        etag = next((v for k, v in headers if k.lower() == b"etag"), None)
        match = next((v for k, v in scope.get("headers", []) if k == b"if-none-match"), None)
        if (
            etag is not None
            and match is not None
            and etag in [m.strip().removeprefix(b"W/") for m in match.split(b",")]
        ):
            kept = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-type")]
            await send({"type": "http.response.start", "status": 304, "headers": kept})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _vary_names(headers: list[tuple[bytes, bytes]]) -> tuple[bytes, ...]:
    names: set[bytes] = set()
    for k, v in headers:
        if k.lower() == b"vary":
            names.update(n.strip().lower() for n in v.split(b",") if n.strip())
    return (b"*",) if b"*" in names else tuple(sorted(names))


def _header_values(scope: Scope, names: tuple[bytes, ...]) -> tuple[bytes | None, ...]:
    headers = scope.get("headers", [])
    return tuple(next((v for k, v in headers if k == name), None) for name in names)
