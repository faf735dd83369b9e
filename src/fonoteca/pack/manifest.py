"""The release manifest, defined once: one JSON line per data file of a release (`manifest.jsonl.zst`).

pack writes it (`write_line`), mirror, fetch, verify and the website read it (`read_manifest`); nobody else
guesses its keys. A line read from an untrusted mirror source is checked field by field: a wrong type is refused
with the line number, so a hostile manifest cannot smuggle a path or an index of the wrong kind.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.jsonl.zst"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ManifestLine:
    id: str  # the track's source id (Spotify base62, MBID, table id)
    ns: str  # its namespace (spotify, musicbrainz, table, ...)
    isrc: str | None
    torrent: str  # the torrent's name
    btih: str  # its v1 info-hash
    path: str  # inside the torrent's folder (FF/ID.EXT)
    file_index: int  # index in the torrent's file list (pad files count)
    offset: int  # byte offset in the torrent's v1 piece space
    size: int
    sha256: str
    pieces_root: str | None  # the file's v2 merkle root (hex)
    tier: str  # original | compact
    popularity: int
    band: str
    title: str | None = None  # the track's name and artists, for a readable name when a file is fetched
    artists: str | None = None
    licence: str | None = None  # SPDX-style id of the track's licence (fonoteca.licences); absent in older
    attribution: str | None = None  # manifests. attribution: the credit the licence asks for

    @property
    def ref(self) -> str:
        """The track as every command accepts it: NS:track:ID."""
        return f"{self.ns}:track:{self.id}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def readable_name(self) -> str:
        """`Artist - Title.ext` (safe as one file name); the id when the manifest has no title."""
        from fonoteca.pack import paths

        ext = self.path.rsplit(".", 1)[-1] if "." in self.path.rsplit("/", 1)[-1] else "bin"
        stem = f"{self.artists} - {self.title}" if self.title and self.artists else (self.title or self.id)
        return paths.component(f"{stem}.{paths.extension(ext)}", limit=200)


MANIFEST_FIELDS = tuple(f.name for f in fields(ManifestLine))
_OPTIONAL = frozenset(
    {"isrc", "pieces_root", "title", "artists", "licence", "attribution"}
)  # may be null or (older manifests) absent
_INTEGERS = frozenset({"file_index", "offset", "size", "popularity"})


def write_line(line: ManifestLine) -> bytes:
    import orjson

    return orjson.dumps(line.as_dict()) + b"\n"


def parse_line(data: dict[str, Any], where: str) -> ManifestLine:
    """A ManifestLine from a decoded JSON object, refused (FonotecaError naming `where`) when malformed."""
    from fonoteca.errors import FonotecaError

    if not isinstance(data, dict):
        raise FonotecaError(f"refused: {where} is not a JSON object")
    values: dict[str, Any] = {}
    for name in MANIFEST_FIELDS:
        value = data.get(name)
        if value is None and name in _OPTIONAL:
            values[name] = None
            continue
        if name not in data:
            raise FonotecaError(f"refused: {where} has no {name!r}")
        wanted = int if name in _INTEGERS else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise FonotecaError(f"refused: {where}: {name!r} has the wrong type ({type(value).__name__})")
        values[name] = value
    if values["file_index"] < 0 or values["size"] < 0 or values["offset"] < 0:
        raise FonotecaError(f"refused: {where}: negative index, offset or size")
    if not _HEX64.match(values["sha256"]):
        raise FonotecaError(f"refused: {where}: sha256 is not 64 hex digits")
    from fonoteca.pack import paths

    if not paths.is_safe_relative(values["path"], limit=1024) or not paths.is_safe_name(values["torrent"]):
        raise FonotecaError(f"refused: {where}: unsafe torrent name or path {values['path']!r}")
    return ManifestLine(**values)


def read_manifest(path: Path, *, skip_bad: bool = False) -> list[ManifestLine]:
    """Every line of a manifest.jsonl.zst, checked: FonotecaError naming the file and line at the first bad one,
    or, with `skip_bad` (a reader that must keep serving, the website), the good lines only."""
    import orjson
    import zstandard

    from fonoteca.errors import FonotecaError

    try:
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read()
    except (OSError, zstandard.ZstdError) as exc:
        raise FonotecaError(f"cannot read {path}: {exc}") from None
    out = []
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            try:
                decoded = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise FonotecaError(f"refused: {path}:{number} is not JSON ({exc})") from None
            out.append(parse_line(decoded, f"{path}:{number}"))
        except FonotecaError:
            if not skip_bad:
                raise
    return out
