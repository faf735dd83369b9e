"""Identifier formats: ISRC, UPC/EAN (GTIN), Spotify base62 ids, MusicBrainz ids, and what a user types."""

from __future__ import annotations

import re
from dataclasses import dataclass

NS_SPOTIFY = 1
NS_MUSICBRAINZ = 2
NS_TABLE = 3
NAMESPACES = {"spotify": NS_SPOTIFY, "musicbrainz": NS_MUSICBRAINZ, "table": NS_TABLE}
NAMESPACE_NAMES = {value: key for key, value in NAMESPACES.items()}


def register_namespace(name: str, number: int) -> None:
    """Add an importer's id namespace (plugins declare theirs through `register_importers`); a name or number
    already taken by another namespace is refused: stored rows would change meaning."""
    from fonoteca.errors import FonotecaError

    if NAMESPACES.get(name) == number:
        return
    if name in NAMESPACES or number in NAMESPACE_NAMES or not name.isidentifier() or number < 1:
        raise FonotecaError(
            f"id namespace {name!r} = {number} collides with "
            f"{NAMESPACE_NAMES.get(number) or name!r} (or is not a valid name and number)"
        )
    NAMESPACES[name] = number
    NAMESPACE_NAMES[number] = name


_ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
_MBID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SPOTIFY_URL = re.compile(
    r"https?://open\.spotify\.com/(?:intl-[a-z-]+/)?(track|album|artist|playlist)/([0-9A-Za-z]{22})"
)


def normalize_isrc(value: str) -> str | None:
    """The canonical ISRC (upper case, no hyphens or spaces), or None when it is not a valid ISRC."""
    code = value.replace("-", "").replace(" ", "").upper()
    return code if _ISRC.fullmatch(code) else None


def is_valid_gtin(value: str) -> bool:
    """UPC-A (12), EAN-13, GTIN-8 and GTIN-14 with a correct check digit."""
    if len(value) not in (8, 12, 13, 14) or not value.isascii() or not value.isdigit():
        return False
    # weights 3, 1, 3, ... from the digit before the check digit leftwards (one call per row of a bulk import)
    total = 3 * sum(map(int, value[-2::-2])) + sum(map(int, value[-3::-2]))
    return (10 - total % 10) % 10 == ord(value[-1]) - 48


def gtin_check_digit(body: str) -> str:
    """The check digit that completes a GTIN body (used by the synthesiser)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def is_spotify_id(value: str) -> bool:
    return bool(_SPOTIFY_ID.fullmatch(value))


def is_mbid(value: str) -> bool:
    return bool(_MBID.fullmatch(value))


@dataclass(frozen=True)
class Reference:
    """What a user typed, resolved to a kind of lookup: kind is track|album|artist|playlist|isrc|upc|any."""

    kind: str
    value: str
    ns: int | None = None


KINDS = {
    "track": "track",
    "album": "album",
    "artist": "artist",
    "playlist": "playlist",
    "recording": "track",
    "release": "album",
}  # MusicBrainz names its tracks and albums so


def parse_reference(text: str) -> Reference:
    """Parse what a user types, and every id form a command prints:

    'isrc:CODE', 'upc:CODE' / 'ean:CODE'; 'NS:KIND:ID' ('spotify:track:ID', 'table:track:as-002',
    'musicbrainz:album:MBID') and 'NS:ID' for the namespaces spotify, musicbrainz and table; 'KIND:ID';
    'mbid:MBID'; an open.spotify.com URL; a bare Spotify id, MBID, ISRC or UPC/EAN."""
    text = text.strip()
    lowered = text.lower()
    if lowered.startswith("isrc:"):
        return Reference("isrc", normalize_isrc(text[5:]) or text[5:].strip().upper())
    if lowered.startswith("upc:") or lowered.startswith("ean:"):
        return Reference("upc", text[4:].strip())
    if match := _SPOTIFY_URL.match(text):
        return Reference(match.group(1), match.group(2), NS_SPOTIFY)
    namespace, _, rest = text.partition(":")
    if rest and namespace.lower() in NAMESPACES:
        return _in_namespace(NAMESPACES[namespace.lower()], rest.strip())
    if lowered.startswith("mbid:"):
        return Reference("any", text[5:].strip().lower(), NS_MUSICBRAINZ)
    kind, _, rest = text.partition(":")
    if rest and kind.lower() in KINDS:
        return Reference(KINDS[kind.lower()], rest.strip())
    if is_mbid(lowered):
        return Reference("any", lowered, NS_MUSICBRAINZ)
    if is_spotify_id(text):
        return Reference("any", text, NS_SPOTIFY)
    if normalize_isrc(text) and len(text.replace("-", "")) == 12 and not text.isdigit():
        return Reference("isrc", normalize_isrc(text) or text)
    if text.isdigit() and is_valid_gtin(text):
        return Reference("upc", text)
    return Reference("any", text)


def _in_namespace(ns: int, rest: str) -> Reference:
    """'KIND:ID' or 'ID' after a namespace prefix (table ids may themselves hold colons)."""
    kind, _, value = rest.partition(":")
    if value and kind.lower() in KINDS:
        kind, rest = KINDS[kind.lower()], value.strip()
    else:
        kind = "any"
    return Reference(kind, rest.lower() if ns == NS_MUSICBRAINZ else rest, ns)
