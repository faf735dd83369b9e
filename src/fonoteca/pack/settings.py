"""The [pack] table of fonoteca.toml, with its defaults.

    [pack]
    # Popularity bands, most popular first: "LOW-HIGH" or a single value; together they must cover 0-100 once.
    bands = ["50-100", "40-49", "30-39", "20-29", "10-19", "1-9", "0"]
    target_size = "200GB"     # a torrent is cut before it would pass this many bytes of files ...
    max_files = 20000         # ... or this many files (clients slow down with many more per torrent)
    piece_size = "auto"       # or a power of two such as "1MiB" (auto: from the torrent and file sizes)
    max_piece_size = "16MiB"  # the largest piece auto picks for the pieces count rule
    max_torrent_file_size = "8MB"  # cut torrents and grow pieces so every .torrent stays below this (libtorrent
                              # clients refuse to load .torrent files over 10 MB unless their limit is raised)
    trackers = []             # announce URLs (BEP 12: one tier each, in order)
    web_seeds = []            # BEP 19 URLs of the folder that holds the torrent folders; "{release}" is replaced
                              # by the release name, e.g. "https://example.org/releases/{release}/data/"
    torrent_url = ""          # prefix of the .torrent URLs in torrents.json, e.g. "https://example.org/";
                              # default: [web] base_url (the site serves every .torrent at that path),
                              # else paths relative to the archive (releases/R/torrents/NAME.torrent)
    verify = true             # check every file's sha256 against the catalog while hashing
    workers = 0               # hashing threads (0: one per core)
    pick_popularity_weight = 1.0  # `torrents pick`: a torrent of popularity 100 counts 1 + this times one of 0

Only the collection id ([archive] collection), the bands, the size limits and the piece rule change which
torrents a pack makes; trackers, web seeds and URLs are outside the info-hash.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from fonoteca.errors import FonotecaError
from fonoteca.pack.hybrid import MAX_PIECE, MIN_PIECE
from fonoteca.units import parse_size

DEFAULT_BANDS = ("50-100", "40-49", "30-39", "20-29", "10-19", "1-9", "0")
DEFAULT_TARGET_SIZE = 200 * 1000**3
DEFAULT_MAX_FILES = 20_000
DEFAULT_MAX_PIECE = 16 * 1024**2
DEFAULT_MAX_TORRENT_FILE = 8 * 1000**2


@dataclass(frozen=True)
class Band:
    low: int
    high: int

    @property
    def name(self) -> str:
        return f"pop_{self.low}" if self.low == self.high else f"pop_{self.low}-{self.high}"

    def __contains__(self, popularity: int) -> bool:
        return self.low <= popularity <= self.high


@dataclass(frozen=True)
class PackSettings:
    bands: tuple[Band, ...] = tuple()
    target_size: int = DEFAULT_TARGET_SIZE
    max_files: int = DEFAULT_MAX_FILES
    piece_size: int | None = None  # None: auto
    max_piece_size: int = DEFAULT_MAX_PIECE
    max_torrent_file_size: int = DEFAULT_MAX_TORRENT_FILE
    trackers: tuple[str, ...] = ()
    web_seeds: tuple[str, ...] = ()
    torrent_url: str = ""
    verify: bool = True
    workers: int = 0
    pick_popularity_weight: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.bands:
            object.__setattr__(self, "bands", parse_bands(DEFAULT_BANDS))

    def band_of(self, popularity: int | None) -> Band:
        pop = min(100, max(0, int(popularity or 0)))
        for band in self.bands:
            if pop in band:
                return band
        raise AssertionError("bands cover 0-100")

    def fingerprint(self) -> dict[str, Any]:
        """What decides the torrents' contents and info-hashes (stored with each release)."""
        return {
            "bands": [b.name for b in self.bands],
            "target_size": self.target_size,
            "max_files": self.max_files,
            "piece_size": self.piece_size or "auto",
            "max_piece_size": self.max_piece_size,
            "max_torrent_file_size": self.max_torrent_file_size,
        }

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["bands"] = [b.name for b in self.bands]
        out.pop("extra", None)
        return out

    @classmethod
    def from_config(cls, config: dict[str, Any], **overrides: Any) -> PackSettings:
        section = config.get("pack", {}) if isinstance(config, dict) else {}
        if not isinstance(section, dict):
            raise FonotecaError("[pack] in fonoteca.toml must be a table")
        values: dict[str, Any] = {}
        try:
            if "bands" in section:
                values["bands"] = parse_bands(section["bands"])
            if "target_size" in section:
                values["target_size"] = _size(section["target_size"], "target_size")
            if "max_files" in section:
                values["max_files"] = int(section["max_files"])
            if "piece_size" in section and str(section["piece_size"]).lower() != "auto":
                values["piece_size"] = _piece(section["piece_size"], "piece_size")
            if "max_piece_size" in section:
                values["max_piece_size"] = _piece(section["max_piece_size"], "max_piece_size")
            if "max_torrent_file_size" in section:
                values["max_torrent_file_size"] = _size(section["max_torrent_file_size"], "max_torrent_file_size")
            if "trackers" in section:
                values["trackers"] = tuple(
                    _urls(section["trackers"], "trackers", ("http", "https", "udp", "ws", "wss"))
                )
            if "web_seeds" in section:
                values["web_seeds"] = tuple(_urls(section["web_seeds"], "web_seeds", ("http", "https")))
            base_url = str(config.get("web", {}).get("base_url") or "")
            if "torrent_url" in section or base_url:
                url = str(section.get("torrent_url", base_url))
                values["torrent_url"] = url if not url or url.endswith("/") else url + "/"
            if "verify" in section:
                values["verify"] = bool(section["verify"])
            if "workers" in section:
                values["workers"] = int(section["workers"])
            if "pick_popularity_weight" in section:
                values["pick_popularity_weight"] = float(section["pick_popularity_weight"])
        except (TypeError, ValueError) as exc:
            raise FonotecaError(f"[pack] in fonoteca.toml: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.target_size <= 0:
            raise FonotecaError("[pack] target_size must be positive")
        if self.max_torrent_file_size < 64 * 1024:
            raise FonotecaError("[pack] max_torrent_file_size must be at least 64kB")
        if self.max_files < 1:
            raise FonotecaError("[pack] max_files must be at least 1")
        if self.workers < 0:
            raise FonotecaError("[pack] workers must be 0 (every core) or more")
        if self.pick_popularity_weight < 0:
            raise FonotecaError("[pack] pick_popularity_weight must not be negative")


def parse_bands(items: Any) -> tuple[Band, ...]:
    """Bands from strings like "50-100" or "0" (or [low, high] pairs); they must cover 0-100 exactly once."""
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError('bands must be a non-empty list such as ["50-100", "0-49"]')
    bands: list[Band] = []
    for item in items:
        if isinstance(item, (list, tuple)) and len(item) == 2:
            low, high = int(item[0]), int(item[1])
        else:
            m = re.fullmatch(r"\s*(?:pop_)?(\d{1,3})\s*(?:-\s*(\d{1,3}))?\s*", str(item))
            if not m:
                raise ValueError(f"band {item!r}: write LOW-HIGH or a single value between 0 and 100")
            low = int(m.group(1))
            high = int(m.group(2)) if m.group(2) is not None else low
        if not 0 <= low <= high <= 100:
            raise ValueError(f"band {item!r}: need 0 <= LOW <= HIGH <= 100")
        bands.append(Band(low, high))
    covered = sorted(v for b in bands for v in range(b.low, b.high + 1))
    if covered != list(range(101)):
        missing = sorted(set(range(101)) - set(covered))
        twice = sorted({v for v in covered if covered.count(v) > 1})
        raise ValueError(
            "bands must cover popularity 0-100 exactly once"
            + (f"; missing {missing[:10]}" if missing else "")
            + (f"; overlapping {twice[:10]}" if twice else "")
        )
    return tuple(bands)


def _size(value: Any, key: str) -> int:
    try:
        size = int(value) if isinstance(value, (int, float)) else parse_size(str(value))
    except FonotecaError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if size <= 0:
        raise ValueError(f"{key} must be positive")
    return size


def _piece(value: Any, key: str) -> int:
    size = _size(value, key)
    if size < MIN_PIECE or size > MAX_PIECE or size & (size - 1):
        raise ValueError(f"{key} must be a power of two between 16KiB and 64MiB, not {value!r}")
    return size


def _urls(value: Any, key: str, schemes: tuple[str, ...]) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{key} must be a list of URLs")
    out = []
    for url in value:
        url = str(url).strip()
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in schemes or not re.match(r"^[a-zA-Z]+://[^\s\x00-\x1f\x7f]+$", url):
            raise ValueError(f"{key}: {url!r} is not a URL with one of the schemes {', '.join(schemes)}")
        out.append(url)
    return out
