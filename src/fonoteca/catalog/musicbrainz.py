"""MusicBrainz JSON (web service /ws/2 responses and JSON-dump lines) -> catalog records.

Artists -> artists (genres from `genres`), releases -> albums (barcode -> UPC, media -> track positions),
recordings -> tracks (ISRCs; the first is the track's primary ISRC, all are external ids). MusicBrainz objects
have no `type` naming the entity, so it is recognised by its keys. MusicBrainz JSON is not exported back, so
only its scalar fields beyond the modelled ones are kept in `extra`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fonoteca.catalog.ids import NS_MUSICBRAINZ, is_mbid, is_valid_gtin, normalize_isrc
from fonoteca.catalog.records import (
    LEVEL_FULL, LEVEL_SIMPLIFIED, AlbumLinkRec, AlbumRec, ArtistRec, Record, RecordError, TrackRec,
)
from fonoteca.catalog.spotify import _int, _list, _object, _text, _type_name

WRAPPERS = ("artists", "releases", "recordings", "release-groups", "works", "labels")


def units(value: Any) -> Iterator[tuple[str, Any]]:
    if type(value) is list:
        for i, item in enumerate(value):
            yield f"[{i}]", item
        return
    if type(value) is dict:
        lists = [key for key in WRAPPERS if type(value.get(key)) is list]
        if lists and ("count" in value or "offset" in value or "created" in value or len(value) <= 3):
            for key in lists:  # search and browse responses
                for i, item in enumerate(value[key]):
                    yield f"{key}[{i}]", item
            return
    yield "", value


def _mbid(obj: dict[str, Any], what: str) -> str:
    value = obj.get("id")
    if value is None:
        raise RecordError(f"{what} without an id")
    if type(value) is not str or not is_mbid(value):
        raise RecordError(f"{what} id {str(value)[:60]!r} is not a MusicBrainz id (UUID)")
    return value


def _scalars(obj: dict[str, Any], modelled: set[str]) -> dict[str, Any] | None:
    raw = {k: v for k, v in obj.items() if k not in modelled and (v is None or type(v) in (str, int, float, bool))}
    return {"raw": raw} if raw else None


def _genres(obj: dict[str, Any]) -> tuple[str, ...] | None:
    if "genres" not in obj:
        return None
    names = []
    for genre in _list(obj["genres"], "genres"):
        name = _object(genre, "genres[]").get("name")
        if _text(name, "genres[].name"):
            names.append(name)
    return tuple(names)


def _credit(value: Any, field: str, out: list[Record]) -> tuple[tuple[str, None], ...]:
    """Artist credits -> simplified artist records and links."""
    links = []
    for credit in _list(value, field):
        artist = _object(_object(credit, field + "[]").get("artist"), field + "[].artist")
        id_ = _mbid(artist, "artist")
        out.append(ArtistRec(NS_MUSICBRAINZ, id_, _text(artist.get("name"), "artist.name"), None, None,
                             LEVEL_SIMPLIFIED, None, None))
        links.append((id_, None))
    return tuple(links)


def _length(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise RecordError(f"field '{field}': expected a length in milliseconds, got {_type_name(value)}")
    return value


def _isrcs(value: Any) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    codes = []
    for code in _list(value, "isrcs"):
        if type(code) is not str or normalize_isrc(code) is None:
            raise RecordError(f"field 'isrcs': invalid ISRC {str(code)[:40]!r}")
        codes.append(("isrc", normalize_isrc(code) or code))
    return (codes[0][1] if codes else None), tuple(codes)


def _precision(date: str | None) -> str | None:
    if not date:
        return None
    return {4: "year", 7: "month", 10: "day"}.get(len(date))


def encode_artist(obj: dict[str, Any], out: list[Record]) -> None:
    id_ = _mbid(obj, "artist")
    out.append(ArtistRec(
        NS_MUSICBRAINZ, id_, _text(obj.get("name"), "name"), None, None, LEVEL_FULL, None,
        _scalars(obj, {"id", "name", "genres"}), _genres(obj),
    ))


def encode_recording(obj: dict[str, Any], out: list[Record], *, level: int = LEVEL_FULL,
                     album: str | None = None, position: tuple[int, int] | None = None,
                     fallback_title: str | None = None, fallback_length: int | None = None) -> str:
    id_ = _mbid(obj, "recording")
    isrc, external = _isrcs(obj["isrcs"]) if "isrcs" in obj else (None, ())
    artists = _credit(obj["artist-credit"], "artist-credit", out) if "artist-credit" in obj else None
    if album is None and "releases" in obj:
        for release in _list(obj["releases"], "releases"):
            release = _object(release, "releases[]")
            encode_release(release, out, level=LEVEL_SIMPLIFIED)
            album = album or release["id"]
    length = _length(obj.get("length"), "length")
    out.append(TrackRec(
        NS_MUSICBRAINZ, id_, _text(obj.get("title"), "title") or fallback_title, album,
        position[0] if position else None, position[1] if position else None,
        length if length is not None else fallback_length, None, None, None, None, None, isrc, level, None, None,
        _scalars(obj, {"id", "title", "length", "isrcs", "artist-credit", "releases", "genres", "tags"}),
        artists, external,
    ))
    return id_


def encode_release(obj: dict[str, Any], out: list[Record], *, level: int = LEVEL_FULL) -> None:
    id_ = _mbid(obj, "release")
    barcode = obj.get("barcode")
    upc = None
    if barcode not in (None, ""):
        if type(barcode) is not str or not is_valid_gtin(barcode):
            raise RecordError(f"field 'barcode': invalid UPC/EAN {str(barcode)[:40]!r} (format or check digit)")
        upc = barcode
    group = obj.get("release-group")
    album_type = None
    if type(group) is dict and type(group.get("primary-type")) is str:
        album_type = group["primary-type"].lower()
    label = None
    for info in obj.get("label-info") or []:
        if type(info) is dict and type(info.get("label")) is dict and type(info["label"].get("name")) is str:
            label = info["label"]["name"]
            break
    artists = _credit(obj["artist-credit"], "artist-credit", out) if "artist-credit" in obj else None
    total = 0
    for medium in _list(obj.get("media") or [], "media"):
        medium = _object(medium, "media[]")
        disc = _int(medium.get("position"), "media[].position") or 1
        tracks = _list(medium.get("tracks") or [], "media[].tracks")
        total += _int(medium.get("track-count"), "media[].track-count") or len(tracks)
        for track in tracks:
            track = _object(track, "media[].tracks[]")
            number = _int(track.get("position"), "media[].tracks[].position") or 0
            recording = _object(track.get("recording"), "media[].tracks[].recording")
            recording_id = encode_recording(
                recording, out, level=LEVEL_SIMPLIFIED, album=id_, position=(disc, number),
                fallback_title=_text(track.get("title"), "media[].tracks[].title"),
                fallback_length=_length(track.get("length"), "media[].tracks[].length"),
            )
            out.append(AlbumLinkRec(NS_MUSICBRAINZ, id_, disc, number, recording_id))
    date = _text(obj.get("date"), "date")
    out.append(AlbumRec(
        NS_MUSICBRAINZ, id_, _text(obj.get("title"), "title"), album_type, total or None, date or None,
        _precision(date), label, None, None, upc, level, None,
        _scalars(obj, {"id", "title", "date", "barcode", "media", "artist-credit", "label-info", "release-group"}),
        artists, None, (("upc", upc),) if upc else (),
    ))


def encode(unit: Any, out: list[Record]) -> None:
    if type(unit) is not dict:
        raise RecordError(f"expected a JSON object, got {_type_name(unit)}")
    if "media" in unit or "barcode" in unit or "release-group" in unit:
        encode_release(unit, out)
    elif "isrcs" in unit or ("title" in unit and ("length" in unit or "first-release-date" in unit or "video" in unit)):
        encode_recording(unit, out)
    elif "sort-name" in unit or ("name" in unit and "life-span" in unit):
        encode_artist(unit, out)
    elif "primary-type" in unit:
        return  # release groups carry nothing the catalog models beyond what releases give
    else:
        raise RecordError("not a MusicBrainz artist, release or recording (no sort-name, media/barcode, or title/length)")
