"""The [subsonic] table of fonoteca.toml, checked (errors name the key):

[subsonic]
enabled = true              # serve the Subsonic API under /rest/ (default true)
library = "held"            # held: tracks with a file here; released: also every released track (implied by
                            # fetch_missing); catalog: every track of the catalog (streams only what is here)
fetch_missing = false       # list released tracks this mirror does not hold, and fetch them from the swarm
                            # when a client streams one
peers = ["203.0.113.5:6881"]  # peers to ask for missing files (besides trackers and DHT when discovery is on)
discovery = false           # DHT, local peer discovery, UPnP / NAT-PMP for the fetching session
listen = "0.0.0.0:0"        # the fetching session's BitTorrent address
fetch_timeout = 120         # seconds a stream waits for the next piece before it gives up
anonymous = false           # answer requests without credentials, read-only (public mirrors)
password_auth = true        # accept u + p (plain or enc:HEX) besides apiKey and u + t + s
rate_limit = 50             # requests per second per user, on average (0: no limit)
rate_burst = 500            # requests a user may send at once
transcode_max_seconds = 3600  # longest input a transcoding stream decodes
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fonoteca.errors import FonotecaError

LIBRARIES = ("held", "released", "catalog")


@dataclass(frozen=True)
class SubsonicConfig:
    enabled: bool = True
    library: str = "held"
    fetch_missing: bool = False
    peers: tuple[tuple[str, int], ...] = ()
    discovery: bool = False
    listen: str = "0.0.0.0:0"
    fetch_timeout: float = 120.0
    anonymous: bool = False
    password_auth: bool = True
    rate_limit: float = 50.0
    rate_burst: int = 500
    transcode_max_seconds: float = 3600.0

    @property
    def effective_library(self) -> str:
        """fetch_missing lists the released tracks this copy does not hold yet, so it widens `held`."""
        return "released" if self.fetch_missing and self.library == "held" else self.library


def _where(key: str) -> str:
    return f"fonoteca.toml [subsonic] {key}"


def _bool(table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise FonotecaError(f"{_where(key)}: expected true or false, not {value!r}")
    return value


def _number(table: dict[str, Any], key: str, default: float, *, integer: bool = False) -> Any:
    value = table.get(key, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0:
        raise FonotecaError(f"{_where(key)}: expected a number >= 0, not {value!r}")
    return value


def _peers(table: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    from fonoteca.errors import UsageError
    from fonoteca.mirror.session import parse_peer

    value = table.get("peers", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise FonotecaError(f'{_where("peers")}: expected a list of "HOST:PORT" strings, not {value!r}')
    try:
        return tuple(parse_peer(p) for p in value)
    except UsageError as exc:
        raise FonotecaError(f"{_where('peers')}: {exc}") from None


def subsonic_config(config: dict[str, Any]) -> SubsonicConfig:
    """The [subsonic] table of an archive's parsed fonoteca.toml."""
    table = config.get("subsonic", {})
    if not isinstance(table, dict):
        raise FonotecaError("fonoteca.toml: [subsonic] must be a table")
    library = table.get("library", "held")
    if library not in LIBRARIES:
        raise FonotecaError(f"{_where('library')}: expected one of {', '.join(LIBRARIES)}, not {library!r}")
    listen = table.get("listen", "0.0.0.0:0")
    if not isinstance(listen, str) or ":" not in listen:
        raise FonotecaError(f'{_where("listen")}: expected "HOST:PORT", not {listen!r}')
    return SubsonicConfig(
        enabled=_bool(table, "enabled", True),
        library=library,
        fetch_missing=_bool(table, "fetch_missing", False),
        peers=_peers(table),
        discovery=_bool(table, "discovery", False),
        listen=listen,
        fetch_timeout=float(_number(table, "fetch_timeout", 120.0)),
        anonymous=_bool(table, "anonymous", False),
        password_auth=_bool(table, "password_auth", True),
        rate_limit=float(_number(table, "rate_limit", 50.0)),
        rate_burst=max(1, int(_number(table, "rate_burst", 500, integer=True))),
        transcode_max_seconds=float(_number(table, "transcode_max_seconds", 3600.0)),
    )
