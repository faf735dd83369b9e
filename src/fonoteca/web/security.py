"""Safety around every request: security headers, bounded request sizes, read-only methods, per-client rate limits.

A pure ASGI middleware (no per-request task or body buffering): it looks at the request line, then adds headers
to whatever the app answers.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Scripts, styles, images and media from this site only; no inline script or style, no frames, no plugins,
# forms submit only here. The JSON API and media get the same policy.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"),
]
MAX_PATH = 4096  # bytes of the path (a 200-character id of 4-byte characters, percent-encoded, fits)
MAX_QUERY = 8192  # bytes of the query string
MAX_HEADERS = 16384  # bytes of all request headers
ALLOWED_METHODS = {"GET", "HEAD", "OPTIONS"}
EXEMPT_PREFIXES = ("/static/",)  # cacheable assets do not count against the rate limit


class RateLimiter:
    """Token buckets per client address: `rate` requests per second on average, bursts up to `burst`.

    Remembers at most `max_clients` addresses (least recently seen forgotten first), so memory stays bounded
    whatever the number of clients. Thread-safe; one per process (with several workers, each has its own).
    """

    def __init__(self, rate: float, burst: int, max_clients: int = 65536) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> float:
        """0 when the request may go on, else the seconds to wait before the next one will."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                wait = 0.0
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[client] = (tokens, now)
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        return wait


def client_key(address: str) -> str:
    """Whom a rate limit counts: an IPv4 address, or the /64 network of an IPv6 one (a single host usually
    holds a whole /64, and could otherwise take a fresh address for every request)."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False).network_address)
    except ValueError:
        return address


def _plain(
    status: int, message: str, json_body: bool, extra: list[tuple[bytes, bytes]] | None = None
) -> tuple[Message, Message]:
    if json_body:
        body = orjson.dumps({"error": {"status": status, "message": message}})
        media = b"application/json"
    else:
        body = (message + "\n").encode()
        media = b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ] + (extra or [])
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter | None, allowed_hosts: tuple[str, ...] | None = None) -> None:
        self.app = app
        self.limiter = limiter
        self.allowed_hosts = None if allowed_hosts is None else frozenset(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        refusal = self._refuse(scope, path)
        is_api = path.startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        if refusal is not None:
            status, text, extra = refusal
            start, body = _plain(status, text, is_api, extra)
            await send_with_headers(start)
            if scope["method"] != "HEAD":
                await send(body)
            else:
                await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send_with_headers)

    def _host_allowed(self, scope: Scope) -> bool:
        from fonoteca.web.config import normalize_host

        host = next((v for k, v in scope.get("headers", []) if k == b"host"), None)
        if host is None:
            return False
        return normalize_host(host.decode("latin-1")) in self.allowed_hosts  # type: ignore[operator]

    def _refuse(self, scope: Scope, path: str) -> tuple[int, str, list[tuple[bytes, bytes]] | None] | None:
        method = scope["method"]
        if method not in ALLOWED_METHODS:
            return 405, "this site is read-only: only GET and HEAD requests", [(b"allow", b"GET, HEAD, OPTIONS")]
        raw_path = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
        if len(raw_path) > MAX_PATH or len(scope.get("query_string", b"")) > MAX_QUERY:
            return 414, "request URL too long", None
        if sum(len(k) + len(v) for k, v in scope.get("headers", [])) > MAX_HEADERS:
            return 431, "request headers too large", None
        if self.allowed_hosts is not None and not self._host_allowed(scope):
            return 400, "unknown host: this site answers only for the names in its [web] allowed_hosts", None
        if self.limiter is not None and not path.startswith(EXEMPT_PREFIXES):
            client = scope.get("client")
            wait = self.limiter.allow(client_key(client[0]) if client else "unknown")
            if wait > 0:
                return 429, "too many requests: slow down", [(b"retry-after", str(max(1, round(wait))).encode())]
        return None
