"""One Subsonic service per site: its settings, accounts, library snapshot, per-user rate limits and the fetching
session; and the request context every endpoint gets (parameters read with the documented errors)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from fonoteca.subsonic import responses as r
from fonoteca.subsonic.config import SubsonicConfig
from fonoteca.subsonic.library import Library
from fonoteca.subsonic.users import Accounts, User
from fonoteca.web.security import RateLimiter

MAX_INT = 2**53
MAX_VALUES = 1000  # values one repeated parameter may carry (ids to star, songs to add)


class Service:
    def __init__(self, site: Any, config: SubsonicConfig) -> None:
        self.site = site
        self.config = config
        self.root: Path = site.archive.root
        self.accounts = Accounts(self.root)
        self.library = Library(site, config.effective_library)
        self.limiter = RateLimiter(config.rate_limit, config.rate_burst) if config.rate_limit > 0 else None
        self._fetcher: Any = None
        self._lock = threading.Lock()

    @property
    def fetcher(self) -> Any:
        if self._fetcher is None:
            with self._lock:
                if self._fetcher is None:
                    from fonoteca.subsonic.fetcher import Fetcher

                    self._fetcher = Fetcher(self.root, self.config)
        return self._fetcher


@dataclass
class Context:
    service: Service
    params: dict[str, list[str]]
    user: User
    fmt: r.Format
    headers: dict[str, str] = field(default_factory=dict)

    # --- parameters ----------------------------------------------------------------------------------------
    def one(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else None

    def required(self, name: str) -> str:
        value = self.one(name)
        if value is None or value == "":
            raise r.missing(name)
        return value

    def many(self, name: str) -> list[str]:
        values = [v for v in self.params.get(name, []) if v != ""]
        if len(values) > MAX_VALUES:
            raise r.SubsonicError(
                r.MISSING_PARAMETER,
                f"parameter {name!r} is given {len(values)} times; at most {MAX_VALUES} values per request",
            )
        return values

    @overload
    def integer(self, name: str, default: int, *, low: int = 0, high: int | None = None, clamp: bool = True) -> int: ...

    @overload
    def integer(
        self, name: str, default: None = None, *, low: int = 0, high: int | None = None, clamp: bool = True
    ) -> int | None: ...

    def integer(
        self, name: str, default: int | None = None, *, low: int = 0, high: int | None = None, clamp: bool = True
    ) -> int | None:
        """A whole number; beyond `high` it is clamped (counts) or refused (clamp=False)."""
        text = self.one(name)
        if text is None or text == "":
            return default
        try:
            value = int(text.strip())
        except ValueError:
            raise r.SubsonicError(
                r.MISSING_PARAMETER, f"parameter {name!r} must be a whole number, not {text[:40]!r}"
            ) from None
        if abs(value) > MAX_INT:
            raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter {name!r} is out of range ({text[:40]})")
        if value < low:
            raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter {name!r} must be at least {low}, not {value}")
        if high is not None and value > high:
            if not clamp:
                raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter {name!r} must be at most {high}, not {value}")
            value = high
        return value

    def number(self, name: str, default: float = 0.0, *, high: float = 1e7) -> float:
        text = self.one(name)
        if text is None or text == "":
            return default
        try:
            value = float(text)
        except ValueError:
            raise r.SubsonicError(
                r.MISSING_PARAMETER, f"parameter {name!r} must be a number, not {text[:40]!r}"
            ) from None
        if not 0 <= value <= high:
            raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter {name!r} must be between 0 and {high:g}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        text = self.one(name)
        if text is None or text == "":
            return default
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter {name!r} must be true or false, not {text[:40]!r}")

    def users_conn(self) -> Any:
        return self.service.accounts.conn()
