"""MusicBrainz JSON (web service /ws/2 responses and JSON-dump lines) -> catalog records.

Artists -> artists (genres from `genres`), releases -> albums (barcode -> UPC, media -> track positions),
recordings -> tracks (ISRCs; the first is the track's primary ISRC, all are external ids). A track object (one
position on a medium: `number`, `position`, a nested `recording`) imports its recording; a release group imports
the artists it credits and the releases it lists (the catalog has no release-group rows). MusicBrainz objects have
no `type` naming the entity, so each is recognised by the keys only its kind has. MusicBrainz JSON is not exported
back, so only its scalar fields beyond the modelled ones are kept in `extra`.

A value that is wrong (an invalid ISRC, a barcode with a bad check digit, a negative length, an impossible date) is
left out with a reject naming the release, medium and track it was found in; the rest is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fonoteca.catalog.ids import NS_MUSICBRAINZ, is_mbid, is_valid_gtin, normalize_isrc
from fonoteca.catalog.records import (
    LEVEL_FULL,
    LEVEL_SIMPLIFIED,
    AlbumLinkRec,
    AlbumRec,
    ArtistRec,
    Record,
    RecordError,
    TrackRec,
)
from fonoteca.catalog.spotify import _int, _list, _object, reject_field
from fonoteca.catalog.values import MAX_TEXT, date_precision, date_problem, shown, text_problem, type_name

WRAPPERS = ("artists", "releases", "recordings", "release-groups", "works", "labels")
RELEASE_MARKERS = (
    "media",
    "barcode",
    "release-group",
    "release-events",
    "packaging",
    "text-representation",
    "cover-art-archive",
)
GROUP_MARKERS = ("primary-type", "primary-type-id", "secondary-types")
RECORDING_MARKERS = ("isrcs", "video", "length")


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


def kind_of(obj: dict[str, Any]) -> str | None:
    """track | release-group | release | recording | artist, by the keys only that kind of object has."""
    if type(obj.get("recording")) is dict and ("position" in obj or "number" in obj):
        return "track"
    if any(key in obj for key in GROUP_MARKERS):
        return "release-group"
    if any(key in obj for key in RELEASE_MARKERS):
        return "release"
    if "title" in obj and any(key in obj for key in RECORDING_MARKERS):
        return "recording"
    if "sort-name" in obj or ("name" in obj and "life-span" in obj):
        return "artist"
    return None


def _mbid(obj: dict[str, Any], what: str) -> str:
    value = obj.get("id")
    if value is None:
        raise RecordError(f"{what} without an id")
    if type(value) is not str or not is_mbid(value):
        raise RecordError(f"{what} id {str(value)[:60]!r} is not a MusicBrainz id (UUID)")
    return value


def _text(obj: dict[str, Any], key: str, out: list[Record], where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    problem = text_problem(value)
    if problem is not None:
        reject_field(out, key, f"{problem if type(value) is str else f'{problem} {shown(value)}'} in {where}")
        return None
    return value


def _scalars(obj: dict[str, Any], modelled: set[str], out: list[Record], where: str) -> dict[str, Any] | None:
    raw = {}
    for key, value in obj.items():
        if key in modelled or not (value is None or type(value) in (str, int, float, bool)):
            continue
        if type(value) is str and len(value) > MAX_TEXT:
            reject_field(out, key, f"{len(value)} characters, more than the limit of {MAX_TEXT} in {where}")
            continue
        raw[key] = value
    return {"raw": raw} if raw else None


def _genres(obj: dict[str, Any], out: list[Record], where: str) -> tuple[str, ...] | None:
    if "genres" not in obj:
        return None
    names = []
    for genre in _list(obj["genres"], "genres"):
        name = _text(_object(genre, "genres[]"), "name", out, where)
        if name:
            names.append(name)
    return tuple(names)


def _credit(value: Any, field: str, out: list[Record], where: str) -> tuple[tuple[str, None], ...]:
    """Artist credits -> simplified artist records and links."""
    links = []
    for credit in _list(value, field):
        artist = _object(_object(credit, field + "[]").get("artist"), field + "[].artist")
        id_ = _mbid(artist, "artist")
        out.append(
            ArtistRec(
                NS_MUSICBRAINZ,
                id_,
                _text(artist, "name", out, f"{where}, artist {id_}"),
                None,
                None,
                LEVEL_SIMPLIFIED,
                None,
                None,
            )
        )
        links.append((id_, None))
    return tuple(links)


def _length(obj: dict[str, Any], out: list[Record], where: str) -> int | None:
    value = obj.get("length")
    if value is None:
        return None
    if type(value) is not int or value < 0:
        reject_field(
            out, "length", f"expected a length in milliseconds, got {type_name(value)} {shown(value)} in {where}"
        )
        return None
    return value


def _isrcs(value: Any, out: list[Record], where: str) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """The valid ISRCs; each invalid one is left out with a reject naming where it was found."""
    if type(value) is not list:
        reject_field(out, "isrcs", f"expected array, got {type_name(value)} in {where}")
        return None, ()
    codes: list[tuple[str, str]] = []
    for code in value:
        isrc = normalize_isrc(code) if type(code) is str else None
        if isrc is None:
            reject_field(out, "isrcs", f"invalid ISRC {shown(code, 40)} in {where}")
            continue
        if ("isrc", isrc) not in codes:
            codes.append(("isrc", isrc))
    return (codes[0][1] if codes else None), tuple(codes)


def _date(obj: dict[str, Any], key: str, out: list[Record], where: str) -> str | None:
    text = _text(obj, key, out, where)
    if not text:
        return None
    problem = date_problem(text, allow_unknown_year=False)
    if problem is not None:
        reject_field(out, key, f"{problem} in {where}")
        return None
    return text


def encode_artist(obj: dict[str, Any], out: list[Record]) -> None:
    id_ = _mbid(obj, "artist")
    where = f"artist {id_}"
    out.append(
        ArtistRec(
            NS_MUSICBRAINZ,
            id_,
            _text(obj, "name", out, where),
            None,
            None,
            LEVEL_FULL,
            None,
            _scalars(obj, {"id", "name", "genres"}, out, where),
            _genres(obj, out, where),
        )
    )


def encode_recording(
    obj: dict[str, Any],
    out: list[Record],
    *,
    level: int = LEVEL_FULL,
    album: str | None = None,
    position: tuple[int, int] | None = None,
    fallback_title: str | None = None,
    fallback_length: int | None = None,
    where: str | None = None,
) -> str:
    id_ = _mbid(obj, "recording")
    where = f"{where}, recording {id_}" if where else f"recording {id_}"
    isrc, external = _isrcs(obj["isrcs"], out, where) if "isrcs" in obj else (None, ())
    artists = _credit(obj["artist-credit"], "artist-credit", out, where) if "artist-credit" in obj else None
    if album is None and "releases" in obj:
        for release in _list(obj["releases"], "releases"):
            release = _object(release, "releases[]")
            encode_release(release, out, level=LEVEL_SIMPLIFIED, where=where)
            album = album or release["id"]
    length = _length(obj, out, where)
    out.append(
        TrackRec(
            NS_MUSICBRAINZ,
            id_,
            _text(obj, "title", out, where) or fallback_title,
            album,
            position[0] if position else None,
            position[1] if position else None,
            length if length is not None else fallback_length,
            None,
            None,
            None,
            None,
            None,
            isrc,
            level,
            None,
            None,
            _scalars(
                obj, {"id", "title", "length", "isrcs", "artist-credit", "releases", "genres", "tags"}, out, where
            ),
            artists,
            external,
        )
    )
    return id_


def encode_track(obj: dict[str, Any], out: list[Record]) -> None:
    """A medium's track on its own (no release around it): its recording, with the track's title and length
    where the recording lacks them."""
    track_id = _mbid(obj, "track")
    where = f"track {track_id}"
    encode_recording(
        obj["recording"],
        out,
        fallback_title=_text(obj, "title", out, where),
        fallback_length=_length(obj, out, where),
        where=where,
    )


def encode_release_group(obj: dict[str, Any], out: list[Record]) -> None:
    """The artists a release group credits and the releases it lists (as simplified albums of its type)."""
    id_ = _mbid(obj, "release group")
    where = f"release group {id_}"
    if "artist-credit" in obj:
        _credit(obj["artist-credit"], "artist-credit", out, where)
    group_type = obj.get("primary-type") if type(obj.get("primary-type")) is str else None
    for release in _list(obj.get("releases") or [], "releases"):
        encode_release(_object(release, "releases[]"), out, level=LEVEL_SIMPLIFIED, where=where, album_type=group_type)


def _barcode(obj: dict[str, Any], out: list[Record], where: str) -> str | None:
    barcode = obj.get("barcode")
    if barcode in (None, ""):
        return None
    if type(barcode) is not str or not is_valid_gtin(barcode):
        reject_field(out, "barcode", f"invalid UPC/EAN {shown(barcode, 40)} (format or check digit) in {where}")
        return None
    return barcode


def encode_release(
    obj: dict[str, Any],
    out: list[Record],
    *,
    level: int = LEVEL_FULL,
    where: str | None = None,
    album_type: str | None = None,
) -> None:
    id_ = _mbid(obj, "release")
    where = f"{where}, release {id_}" if where else f"release {id_}"
    upc = _barcode(obj, out, where)
    group = obj.get("release-group")
    if type(group) is dict and type(group.get("primary-type")) is str:
        album_type = group["primary-type"]
    label = None
    for info in obj.get("label-info") or []:
        if type(info) is dict and type(info.get("label")) is dict and type(info["label"].get("name")) is str:
            label = info["label"]["name"] if len(info["label"]["name"]) <= MAX_TEXT else None
            break
    artists = _credit(obj["artist-credit"], "artist-credit", out, where) if "artist-credit" in obj else None
    total = 0
    for medium in _list(obj.get("media") or [], "media"):
        medium = _object(medium, "media[]")
        disc = _int(medium.get("position"), "media[].position") or 1
        tracks = _list(medium.get("tracks") or [], "media[].tracks")
        total += _int(medium.get("track-count"), "media[].track-count") or len(tracks)
        for track in tracks:
            track = _object(track, "media[].tracks[]")
            number = _int(track.get("position"), "media[].tracks[].position") or 0
            at = f"{where}, medium {disc}, track {number}"
            recording = _object(track.get("recording"), "media[].tracks[].recording")
            recording_id = encode_recording(
                recording,
                out,
                level=LEVEL_SIMPLIFIED,
                album=id_,
                position=(disc, number),
                fallback_title=_text(track, "title", out, at),
                fallback_length=_length(track, out, at),
                where=at,
            )
            out.append(AlbumLinkRec(NS_MUSICBRAINZ, id_, disc, number, recording_id))
    date = _date(obj, "date", out, where)
    out.append(
        AlbumRec(
            NS_MUSICBRAINZ,
            id_,
            _text(obj, "title", out, where),
            album_type.lower() if album_type else None,
            total or None,
            date,
            date_precision(date) if date else None,
            label,
            None,
            None,
            upc,
            level,
            None,
            _scalars(
                obj,
                {"id", "title", "date", "barcode", "media", "artist-credit", "label-info", "release-group"},
                out,
                where,
            ),
            artists,
            None,
            (("upc", upc),) if upc else (),
        )
    )


ENCODERS: dict[str, Callable[[dict[str, Any], list[Record]], object]] = {
    "track": encode_track,
    "release-group": encode_release_group,
    "release": encode_release,
    "recording": encode_recording,
    "artist": encode_artist,
}


def encode(unit: Any, out: list[Record]) -> None:
    if type(unit) is not dict:
        raise RecordError(f"expected a JSON object, got {type_name(unit)}")
    kind = kind_of(unit)
    if kind is None:
        raise RecordError(
            "not a MusicBrainz artist, release, release group, recording or track "
            "(no sort-name, media/barcode, primary-type, title with length/isrcs, or recording)"
        )
    ENCODERS[kind](unit, out)
