"""The `[web]` table of fonoteca.toml: how the site names itself and how long it waits for clients.

    [web]
    base_url = "https://music.example.org"        # absolute URLs the site writes (seeding lists) start with this
    allowed_hosts = ["music.example.org"]          # requests naming another Host are refused with 400
    request_timeout = 10                           # seconds a client has to send a whole request
    keep_alive_timeout = 5                         # seconds an idle keep-alive connection stays open
    max_connections_per_client = 64                # open connections one address (an IPv6 /64) may hold

Without base_url the site builds absolute URLs from the request's Host only when that Host is trusted: one of
allowed_hosts, or, when allowed_hosts is not set, a loopback name (localhost, 127.0.0.1, [::1]).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fonoteca.errors import FonotecaError
from fonoteca.web.connections import MAX_CONNECTIONS_PER_CLIENT, REQUEST_TIMEOUT_S

KEEP_ALIVE_S = 5.0


@dataclass(frozen=True)
class WebConfig:
    base_url: str | None = None
    allowed_hosts: tuple[str, ...] | None = None
    request_timeout: float = REQUEST_TIMEOUT_S
    keep_alive_timeout: float = KEEP_ALIVE_S
    max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT


def _where(key: str) -> str:
    return f"fonoteca.toml [web] {key}"


def check_base_url(value: Any, where: str = _where("base_url")) -> str:
    """An http(s) URL with a host and no query or fragment, without its trailing slash."""
    if not isinstance(value, str):
        raise FonotecaError(f'{where}: expected a URL such as "https://music.example.org", not {value!r}')
    parts = urlsplit(value.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or any(ch.isspace() for ch in value.strip())
    ):
        raise FonotecaError(
            f"{where}: expected an http(s) URL with a host and no query, such as "
            f'"https://music.example.org", not {value!r}'
        )
    return value.strip().rstrip("/")


def normalize_host(host: str) -> str:
    """A Host header value without its port, lower case ("[::1]:8000" -> "::1")."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    if text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    return text.rstrip(".")


def check_hosts(value: Any, where: str = _where("allowed_hosts")) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(h, str) and h.strip() for h in value):
        raise FonotecaError(f'{where}: expected a list of host names, such as ["music.example.org"], not {value!r}')
    return tuple(normalize_host(h) for h in value)


def _number(table: dict[str, Any], key: str, default: float, *, integer: bool = False) -> Any:
    value = table.get(key, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        raise FonotecaError(
            f"{_where(key)}: expected a number of {'connections' if integer else 'seconds'} "
            f">= 0 (0: no limit), not {value!r}"
        )
    return value


def web_config(config: dict[str, Any]) -> WebConfig:
    """The [web] table of an archive's parsed fonoteca.toml, checked (errors name the key)."""
    table = config.get("web", {})
    if not isinstance(table, dict):
        raise FonotecaError("fonoteca.toml: [web] must be a table")
    base = table.get("base_url")
    hosts = table.get("allowed_hosts")
    return WebConfig(
        base_url=None if base in (None, "") else check_base_url(base),
        allowed_hosts=None if hosts is None else check_hosts(hosts),
        request_timeout=float(_number(table, "request_timeout", REQUEST_TIMEOUT_S)),
        keep_alive_timeout=float(_number(table, "keep_alive_timeout", KEEP_ALIVE_S)),
        max_connections_per_client=int(
            _number(table, "max_connections_per_client", MAX_CONNECTIONS_PER_CLIENT, integer=True)
        ),
    )


def is_loopback_host(host: str) -> bool:
    name = normalize_host(host)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
