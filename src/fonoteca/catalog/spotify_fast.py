"""The fast path for the common case of a bulk Spotify import: one track, artist or audio-features object per
line, with exactly the keys the API documents.

msgspec decodes such a line straight into a typed struct (strict types, unknown keys refused) and leaves the
nested album, artists and market list as raw bytes. Those repeat across the tracks of a file, so each distinct
byte string is encoded once by the general path (spotify.py) and remembered. Anything the fast path does not
accept (another shape, a type error, an impossible value, an unknown key, deep nesting, a whole document) goes to
the general path, which makes the decisions and writes the reject reasons; both paths produce the same records,
except that the fast path records an object's keys in the API's order rather than the line's (export equality
ignores key order).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from msgspec import UNSET, Raw, Struct, UnsetType
from msgspec.structs import astuple

from fonoteca.catalog import spotify
from fonoteca.catalog.ids import NS_SPOTIFY
from fonoteca.catalog.records import FEATURE_FIELDS, LEVEL_FULL, FeaturesRec, Record, RecordError, TrackRec
from fonoteca.catalog.values import (
    FEATURE_BOUNDS,
    MAX_TEXT,
    POPULARITY,
    features_ok,
    long_text,
    may_be_too_deep,
    too_deep,
)

Number = int | float | None | UnsetType
_memo: dict[bytes, Any] = {}
MEMO_LIMIT = 20_000  # keys hold raw bytes (an album is ~2 kB): bounded memory, cleared when full


class _Track(Struct, tag_field="type", tag="track", forbid_unknown_fields=True):
    album: Raw | UnsetType = UNSET
    artists: Raw | UnsetType = UNSET
    available_markets: Raw | UnsetType = UNSET
    disc_number: int | None | UnsetType = UNSET
    duration_ms: int | None | UnsetType = UNSET
    explicit: bool | None | UnsetType = UNSET
    external_ids: dict[str, str] | UnsetType = UNSET
    external_urls: Raw | UnsetType = UNSET
    href: str | None | UnsetType = UNSET
    id: str | None | UnsetType = UNSET
    is_local: bool | None | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    popularity: int | None | UnsetType = UNSET
    preview_url: str | None | UnsetType = UNSET
    track_number: int | None | UnsetType = UNSET
    uri: str | None | UnsetType = UNSET


class _Features(Struct, tag_field="type", tag="audio_features", forbid_unknown_fields=True):
    acousticness: Number = UNSET
    analysis_url: str | None | UnsetType = UNSET
    danceability: Number = UNSET
    duration_ms: Number = UNSET
    energy: Number = UNSET
    id: str | None | UnsetType = UNSET
    instrumentalness: Number = UNSET
    key: Number = UNSET
    liveness: Number = UNSET
    loudness: Number = UNSET
    mode: Number = UNSET
    speechiness: Number = UNSET
    tempo: Number = UNSET
    time_signature: Number = UNSET
    track_href: str | None | UnsetType = UNSET
    uri: str | None | UnsetType = UNSET
    valence: Number = UNSET


_decoder = msgspec.json.Decoder(_Track | _Features)
_BOUNDS = tuple(FEATURE_BOUNDS[name] for name in FEATURE_FIELDS)
_HIGH = POPULARITY[1]
_TRACK_FIELDS = tuple(f for f in _Track.__struct_fields__)
_FEATURE_KEYS = tuple(_Features.__struct_fields__)
_shapes: dict[tuple[bool, ...], tuple[str, ...]] = {}


def reset() -> None:
    _memo.clear()
    spotify.reset()


def _shape(obj: Struct, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The keys present, in API order, with 'type' where the API puts it (the tag is not a struct field)."""
    values = astuple(obj)
    if UNSET not in values:
        present: tuple[bool, ...] = (len(values),)  # type: ignore[assignment]  # all keys present: the common case
    else:
        present = tuple(v is not UNSET for v in values)
    shape = _shapes.get(present)
    if shape is None:
        keys = list(fields) if len(present) == 1 else [f for f, here in zip(fields, present, strict=True) if here]
        keys.insert(sum(1 for k in keys if k < "type"), "type")
        shape = _shapes[present] = tuple(keys)
    return shape


def encode_line(data: bytes, out: list[Record]) -> bool:
    """Encode one line into `out` if it fits the fast path; False sends it to the general path."""
    try:
        obj = _decoder.decode(data)
    except (msgspec.MsgspecError, RecursionError):
        return False
    try:
        if isinstance(obj, _Track):
            _track(obj, out)
        else:
            _features(obj, out)
    except (RecordError, KeyError, TypeError, ValueError):
        del out[:]
        reset()  # records that were remembered may have been thrown away with this line
        return False
    return True


def _nested(raw: Raw) -> Any:
    """A raw nested value parsed; nesting beyond the limit is left to the general path, which rejects the line.
    (Only the raw parts can nest: every other field has a fixed type.)"""
    data = bytes(raw)
    value = orjson.loads(data)
    if may_be_too_deep(data) and too_deep(value):
        raise RecordError("fall back")
    return value


def _plausible_features(values: tuple[Any, ...]) -> bool:
    """The common case in one expression (all present, all in range); anything else takes the full test."""
    try:
        d, e, key, loud, mode, sp, ac, ins, li, va, tempo, ts, dur = values
        return (
            0 <= min(d, e, sp, ac, ins, li, va)
            and max(d, e, sp, ac, ins, li, va) <= 1
            and -1 <= key <= 11
            and (mode == 0 or mode == 1)
            and -100 <= loud <= 100
            and tempo >= 0
            and ts >= 0
            and dur >= 0
        )
    except TypeError:  # a value is missing
        return features_ok(_BOUNDS, values)


def _plausible(t: _Track) -> bool:
    """Numbers within what the API documents (anything else is left to the general path to report).
    UNSET and None count as 0 here: they are not numbers to check."""
    return 0 <= (t.popularity or 0) <= _HIGH and min(t.disc_number or 0, t.track_number or 0, t.duration_ms or 0) >= 0


def _track(t: _Track, out: list[Record]) -> None:
    id_ = t.id
    if type(id_) is not str or len(id_) != 22 or not spotify.is_spotify_id(id_) or not _plausible(t):
        raise RecordError("fall back")
    shape = _shape(t, _TRACK_FIELDS)
    raw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if t.href is not UNSET and t.href != f"{spotify.API}tracks/{id_}":
        raw["href"] = t.href
    if t.uri is not UNSET and t.uri != f"spotify:track:{id_}":
        raw["uri"] = t.uri
    if t.external_urls is not UNSET and orjson.loads(memoryview(t.external_urls)) != {
        "spotify": f"{spotify.OPEN}track/{id_}"
    }:
        raw["external_urls"] = _nested(t.external_urls)
    album = album_shape = None
    if t.album is not UNSET:
        key = b"album" + bytes(t.album)
        known = _memo.get(key)
        if known is None:
            nested = _nested(t.album)
            if type(nested) is not dict:
                raise RecordError("fall back")
            known = spotify.encode_album(nested, out)
            _memo[key] = known
        album, album_shape, album_extra = known
        if album_extra:
            extra["album"] = album_extra
    artists = None
    if t.artists is not UNSET:
        key = b"artists" + bytes(t.artists)
        known = _memo.get(key)
        if known is None:
            holder: dict[str, Any] = {}
            links = spotify._nested_artists(_nested(t.artists), "artists", out, holder)
            known = _memo[key] = (links, holder.get("artists"))
        artists = known[0]
        if known[1]:
            extra["artists"] = known[1]
    markets = None
    if t.available_markets is not UNSET:
        key = b"markets" + bytes(t.available_markets)
        markets = _memo.get(key)
        if markets is None:
            markets = _memo[key] = spotify._markets(orjson.loads(memoryview(t.available_markets)), "available_markets")
    isrc: str | None = None
    external: tuple[tuple[str, str], ...] = ()
    if t.external_ids is not UNSET:
        isrc, external, verbatim = spotify._external_ids(t.external_ids, "external_ids", "isrc", out)
        if verbatim is not None:
            raw["external_ids"] = verbatim
    name = t.name
    if type(name) is str and len(name) > MAX_TEXT:
        raise RecordError("fall back")
    if type(t.preview_url) is str and len(t.preview_url) > MAX_TEXT:
        raise RecordError("fall back")
    if raw and long_text(raw) is not None:
        raise RecordError("fall back")
    if raw:
        extra["raw"] = raw
    if len(_memo) >= MEMO_LIMIT:
        _memo.clear()
    full = t.album is not UNSET or t.popularity is not UNSET or t.external_ids is not UNSET
    out.append(
        TrackRec(
            NS_SPOTIFY,
            id_,
            None if name is UNSET else name,
            album,
            None if t.disc_number is UNSET else t.disc_number,
            None if t.track_number is UNSET else t.track_number,
            None if t.duration_ms is UNSET else t.duration_ms,
            None if t.explicit is UNSET else t.explicit,
            None if t.popularity is UNSET else t.popularity,
            None if t.preview_url is UNSET else t.preview_url,
            None if t.is_local is UNSET else t.is_local,
            markets,
            isrc,
            LEVEL_FULL if full else spotify.LEVEL_SIMPLIFIED,
            shape,
            album_shape,
            extra or None,
            artists,
            external,
        )
    )


def _features(f: _Features, out: list[Record]) -> None:
    id_ = f.id
    if type(id_) is not str or not spotify.is_spotify_id(id_):
        raise RecordError("fall back")
    raw: dict[str, Any] = {}
    if f.uri is not UNSET and f.uri != f"spotify:track:{id_}":
        raw["uri"] = f.uri
    if f.track_href is not UNSET and f.track_href != f"{spotify.API}tracks/{id_}":
        raw["track_href"] = f.track_href
    if f.analysis_url is not UNSET and f.analysis_url != f"{spotify.API}audio-analysis/{id_}":
        raw["analysis_url"] = f.analysis_url
    values = tuple(None if (v := getattr(f, name)) is UNSET else v for name in FEATURE_FIELDS)
    if not _plausible_features(values) or (raw and long_text(raw) is not None):
        raise RecordError("fall back")
    out.append(FeaturesRec(NS_SPOTIFY, id_, values, "spotify", _shape(f, _FEATURE_KEYS), {"raw": raw} if raw else None))
