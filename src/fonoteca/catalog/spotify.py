"""Spotify Web API JSON <-> catalog records.

Every key of a source object is either modelled (a typed column, a link, an image row, a market list) or kept in
`extra` so that export rebuilds the object exactly. Values the catalog can derive (href, uri, external_urls and
type from the id) are checked on the way in and only stored when they differ from the derived value.

Layout of `extra` (absent keys mean "nothing to add"):
  raw      {key: value} for keys not modelled, and for modelled keys whose value cannot be derived or typed
  album    the `extra` of the album nested in a track
  artists  [extra or null, ...] of the nested simplified artists, by position
  tracks   full albums and playlists: {"meta": the page object without its items}
  items    full playlists: number of items in the embedded page
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fonoteca.catalog.ids import NS_SPOTIFY, is_spotify_id, is_valid_gtin, normalize_isrc
from fonoteca.catalog.records import (
    FEATURE_FIELDS, LEVEL_FULL, LEVEL_SIMPLIFIED, LEVEL_STUB, AlbumRec, ArtistRec, FeaturesRec, PlaylistItemRec, PlaylistRec, Record, RecordError,
    Shape, TrackRec,
)

API = "https://api.spotify.com/v1/"
OPEN = "https://open.spotify.com/"
MAX_TEXT = 65536  # characters in one modelled text field; longer values are rejected as hostile

ARTIST_KEYS = frozenset({"external_urls", "href", "id", "name", "type", "uri", "followers", "genres", "images", "popularity"})
ALBUM_KEYS = frozenset({
    "album_type", "total_tracks", "available_markets", "external_urls", "href", "id", "images", "name",
    "release_date", "release_date_precision", "type", "uri", "artists", "tracks", "external_ids", "label",
    "popularity",
})
TRACK_KEYS = frozenset({
    "album", "artists", "available_markets", "disc_number", "duration_ms", "explicit", "external_ids",
    "external_urls", "href", "id", "is_local", "name", "popularity", "preview_url", "track_number", "type", "uri",
})
FEATURE_KEYS = frozenset(FEATURE_FIELDS) | {"id", "uri", "track_href", "analysis_url", "type"}
PLAYLIST_KEYS = frozenset({
    "collaborative", "description", "external_urls", "followers", "href", "id", "images", "name", "owner",
    "public", "snapshot_id", "tracks", "type", "uri",
})
ITEM_KEYS = frozenset({"added_at", "track"})
IMAGE_KEYS = frozenset({"url", "height", "width"})

_unknown_cache: dict[tuple[frozenset[str], Shape], tuple[str, ...]] = {}

# Nested albums and artists repeat in every track that carries them. When the same id comes again with an equal
# object (one C-level comparison), its record was already emitted: the store would skip an identical duplicate
# anyway, so encoding it again is wasted work. Cleared when a unit is rejected (its records were discarded).
_seen_nested: dict[tuple[str, str], tuple[dict[str, Any], tuple[str, Shape, dict[str, Any] | None]]] = {}
SEEN_LIMIT = 20_000  # bounds memory: nested objects repeat mostly within an album's run of tracks


def reset() -> None:
    """Forget nested objects seen so far (called when a unit's records are thrown away)."""
    _seen_nested.clear()


def _seen(kind: str, obj: dict[str, Any]) -> tuple[str, Shape, dict[str, Any] | None] | None:
    held = _seen_nested.get((kind, obj.get("id")))  # type: ignore[arg-type]
    if held is not None and held[0] == obj:
        return held[1]
    return None


def _remember(kind: str, obj: dict[str, Any], result: tuple[str, Shape, dict[str, Any] | None]) -> None:
    if len(_seen_nested) >= SEEN_LIMIT:
        _seen_nested.clear()
    _seen_nested[(kind, result[0])] = (obj, result)


def _unknown(modelled: frozenset[str], shape: Shape) -> tuple[str, ...]:
    """Keys of a shape the schema does not model (cached: real data has a handful of shapes)."""
    key = (modelled, shape)
    found = _unknown_cache.get(key)
    if found is None:
        found = tuple(k for k in shape if k not in modelled)
        if len(_unknown_cache) < 10000:
            _unknown_cache[key] = found
    return found


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise RecordError(f"field '{field}': expected string, got {_type_name(value)}")
    if len(value) > MAX_TEXT:
        raise RecordError(f"field '{field}': {len(value)} characters, more than the limit of {MAX_TEXT}")
    return value


def _int(value: Any, field: str) -> int | None:
    if value is None or type(value) is int:
        return value
    raise RecordError(f"field '{field}': expected integer, got {_type_name(value)}")


def _bool(value: Any, field: str) -> bool | None:
    if value is None or type(value) is bool:
        return value
    raise RecordError(f"field '{field}': expected boolean, got {_type_name(value)}")


def _object(value: Any, field: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise RecordError(f"field '{field}': expected object, got {_type_name(value)}")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if type(value) is not list:
        raise RecordError(f"field '{field}': expected array, got {_type_name(value)}")
    return value


def _spotify_id(obj: dict[str, Any], what: str) -> str:
    value = obj.get("id")
    if value is None:
        raise RecordError(f"{what} without an id")
    if type(value) is not str or not is_spotify_id(value):
        raise RecordError(f"{what} id {str(value)[:60]!r} is not a Spotify id (22 base62 characters)")
    return value


def _markets(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if type(value) is not list:
        raise RecordError(f"field '{field}': expected array, got {_type_name(value)}")
    try:
        joined = " ".join(value)
    except TypeError:
        raise RecordError(f"field '{field}': expected an array of country codes") from None
    if len(joined) != 3 * len(value) - 1 and value:
        if any(not code or " " in code or len(code) > 8 for code in value):
            raise RecordError(f"field '{field}': expected an array of country codes")
    return joined


def _derived(obj: dict[str, Any], kind: str, id_: str, raw: dict[str, Any]) -> None:
    """Check href/uri/external_urls/type against what the id gives; keep differing values in raw."""
    if "href" in obj and obj["href"] != f"{API}{kind}s/{id_}":
        raw["href"] = obj["href"]
    if "uri" in obj and obj["uri"] != f"spotify:{kind}:{id_}":
        raw["uri"] = obj["uri"]
    if "external_urls" in obj and obj["external_urls"] != {"spotify": f"{OPEN}{kind}/{id_}"}:
        raw["external_urls"] = obj["external_urls"]
    if "type" in obj and obj["type"] != kind:
        raw["type"] = obj["type"]


def _images(obj: dict[str, Any], raw: dict[str, Any]) -> tuple[tuple[Any, Any, Any, Shape], ...] | None:
    value = obj.get("images")
    if value is None:
        if "images" in obj:
            raw["images"] = None
        return None
    images = []
    for image in _list(value, "images"):
        if (
            type(image) is not dict
            or not IMAGE_KEYS.issuperset(image)
            or type(image.get("url")) is not str
            or type(image.get("width", 0)) not in (int, type(None))
            or type(image.get("height", 0)) not in (int, type(None))
        ):
            raw["images"] = value  # an unusual image list is kept verbatim
            return None
        images.append((image.get("url"), image.get("width"), image.get("height"), tuple(image)))
    return tuple(images)


def _put_raw(extra: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any] | None:
    if raw:
        extra["raw"] = raw
    return extra or None


def encode_artist(obj: dict[str, Any], out: list[Record]) -> tuple[str, Shape, dict[str, Any] | None]:
    """Append the artist's record; return (id, shape, extra) for a parent that nests it."""
    id_ = _spotify_id(obj, "artist")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    for key in _unknown(ARTIST_KEYS, shape):
        raw[key] = obj[key]
    _derived(obj, "artist", id_, raw)
    name = _text(obj.get("name"), "artist.name")
    full = "followers" in obj or "genres" in obj or "popularity" in obj or "images" in obj
    followers = None
    if "followers" in obj:
        value = obj["followers"]
        if type(value) is dict and value.keys() == {"href", "total"} and value["href"] is None and type(value["total"]) is int:
            followers = value["total"]
        else:
            raw["followers"] = value
    genres = None
    if "genres" in obj:
        value = _list(obj["genres"], "artist.genres")
        for genre in value:
            _text(genre, "artist.genres[]")
        genres = tuple(value)
    images = _images(obj, raw)
    extra = _put_raw({}, raw)
    out.append(ArtistRec(
        NS_SPOTIFY, id_, name, _int(obj.get("popularity"), "artist.popularity"), followers,
        LEVEL_FULL if full else LEVEL_SIMPLIFIED, shape, extra, genres, images,
    ))
    return id_, shape, extra


def _nested_artists(value: Any, field: str, out: list[Record], extra: dict[str, Any]):
    links = []
    nested = []
    for artist in _list(value, field):
        known = _seen("artist", artist) if type(artist) is dict else None
        if known is None:
            known = encode_artist(_object(artist, field + "[]"), out)
            _remember("artist", artist, known)
        id_, shape, sub = known
        links.append((id_, shape))
        nested.append(sub)
    if any(nested):
        extra["artists"] = nested
    return tuple(links)


def _external_ids(value: Any, field: str, primary: str) -> tuple[str | None, tuple[tuple[str, str], ...], bool]:
    """(primary id, all ids as (kind, value), whether the object must be kept verbatim)."""
    ids = _object(value, field)
    found: list[tuple[str, str]] = []
    main = None
    for kind, code in ids.items():
        if type(code) is not str:
            raise RecordError(f"field '{field}.{kind}': expected string, got {_type_name(code)}")
        if kind == "isrc":
            norm = normalize_isrc(code)
            if norm is None:
                raise RecordError(f"field '{field}.isrc': invalid ISRC {code[:40]!r}")
            code_value = norm
        elif kind in ("upc", "ean"):
            if not is_valid_gtin(code):
                raise RecordError(f"field '{field}.{kind}': invalid {kind.upper()} {code[:40]!r} (format or check digit)")
            code_value = code
        else:
            code_value = _text(code, f"{field}.{kind}") or ""
        found.append((kind, code_value))
        if kind == primary and main is None:
            main = code_value
    verbatim = not (len(ids) == 1 and main is not None and ids.get(primary) == main)
    if not ids:
        verbatim = True
    return main, tuple(found), verbatim


def encode_album(obj: dict[str, Any], out: list[Record]) -> tuple[str, Shape, dict[str, Any] | None]:
    id_ = _spotify_id(obj, "album")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key in _unknown(ALBUM_KEYS, shape):
        raw[key] = obj[key]
    _derived(obj, "album", id_, raw)
    full = "tracks" in obj or "label" in obj or "popularity" in obj or "external_ids" in obj
    artists = _nested_artists(obj["artists"], "album.artists", out, extra) if "artists" in obj else None
    upc, ext_ids = None, ()
    if "external_ids" in obj:
        upc, ext_ids, verbatim = _external_ids(obj["external_ids"], "album.external_ids", "upc")
        if verbatim:
            raw["external_ids"] = obj["external_ids"]
    items = None
    if "tracks" in obj:
        page = _object(obj["tracks"], "album.tracks")
        items = []
        for item in _list(page.get("items", []), "album.tracks.items"):
            track_id, track_shape, track_extra = encode_track(_object(item, "album.tracks.items[]"), out, album=id_)
            items.append((track_id, track_shape, track_extra))
        extra["tracks"] = {"meta": {k: v for k, v in page.items() if k != "items"}, "has_items": "items" in page}
        items = tuple(items)
    images = _images(obj, raw)
    extra = _put_raw(extra, raw)
    out.append(AlbumRec(
        NS_SPOTIFY, id_,
        _text(obj.get("name"), "album.name"),
        _text(obj.get("album_type"), "album.album_type"),
        _int(obj.get("total_tracks"), "album.total_tracks"),
        _text(obj.get("release_date"), "album.release_date"),
        _text(obj.get("release_date_precision"), "album.release_date_precision"),
        _text(obj.get("label"), "album.label"),
        _int(obj.get("popularity"), "album.popularity"),
        _markets(obj.get("available_markets"), "album.available_markets"),
        upc, LEVEL_FULL if full else LEVEL_SIMPLIFIED, shape, extra, artists, images, ext_ids, items,
    ))
    return id_, shape, extra


def encode_track(obj: dict[str, Any], out: list[Record], album: str | None = None) -> tuple[str, Shape, dict[str, Any] | None]:
    id_ = _spotify_id(obj, "track")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key in _unknown(TRACK_KEYS, shape):
        raw[key] = obj[key]
    _derived(obj, "track", id_, raw)
    album_shape = None
    if "album" in obj:
        nested = obj["album"]
        if nested is None:
            raw["album"] = None
        else:
            known = _seen("album", nested) if type(nested) is dict else None
            if known is None:
                known = encode_album(_object(nested, "album"), out)
                _remember("album", nested, known)
            album, album_shape, album_extra = known
            if album_extra:
                extra["album"] = album_extra
    artists = _nested_artists(obj["artists"], "artists", out, extra) if "artists" in obj else None
    isrc, ext_ids = None, ()
    if "external_ids" in obj:
        isrc, ext_ids, verbatim = _external_ids(obj["external_ids"], "external_ids", "isrc")
        if verbatim:
            raw["external_ids"] = obj["external_ids"]
    full = "album" in obj or "popularity" in obj or "external_ids" in obj
    extra_value = _put_raw(extra, raw)
    out.append(TrackRec(
        NS_SPOTIFY, id_,
        _text(obj.get("name"), "name"),
        album,
        _int(obj.get("disc_number"), "disc_number"),
        _int(obj.get("track_number"), "track_number"),
        _int(obj.get("duration_ms"), "duration_ms"),
        _bool(obj.get("explicit"), "explicit"),
        _int(obj.get("popularity"), "popularity"),
        _text(obj.get("preview_url"), "preview_url"),
        _bool(obj.get("is_local"), "is_local"),
        _markets(obj.get("available_markets"), "available_markets"),
        isrc, LEVEL_FULL if full else LEVEL_SIMPLIFIED, shape, album_shape, extra_value, artists, ext_ids,
    ))
    return id_, shape, extra_value


def encode_features(obj: dict[str, Any], out: list[Record]) -> None:
    id_ = _spotify_id(obj, "audio features")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    for key in _unknown(FEATURE_KEYS, shape):
        raw[key] = obj[key]
    if "uri" in obj and obj["uri"] != f"spotify:track:{id_}":
        raw["uri"] = obj["uri"]
    if "track_href" in obj and obj["track_href"] != f"{API}tracks/{id_}":
        raw["track_href"] = obj["track_href"]
    if "analysis_url" in obj and obj["analysis_url"] != f"{API}audio-analysis/{id_}":
        raw["analysis_url"] = obj["analysis_url"]
    if "type" in obj and obj["type"] != "audio_features":
        raw["type"] = obj["type"]
    values = []
    for name in FEATURE_FIELDS:
        value = obj.get(name)
        if value is not None and type(value) not in (int, float):
            raise RecordError(f"field '{name}': expected number, got {_type_name(value)}")
        values.append(value)
    out.append(FeaturesRec(NS_SPOTIFY, id_, tuple(values), "spotify", shape, _put_raw({}, raw)))


def _encode_item(item: dict[str, Any], position: int, out: list[Record]) -> PlaylistItemRec:
    """A playlist item: catalog tracks are linked; local tracks and episodes stay verbatim in the item."""
    shape = tuple(item)
    raw = {key: item[key] for key in _unknown(ITEM_KEYS, shape)}
    extra: dict[str, Any] = {}
    track = item.get("track")
    track_id = track_shape = None
    if type(track) is dict and track.get("type", "track") == "track" and not track.get("is_local") and track.get("id") is not None:
        track_id, track_shape, track_extra = encode_track(track, out)
        if track_extra:
            extra["track"] = track_extra
    elif "track" in item:
        raw["track"] = track
    added_at = _text(item.get("added_at"), "items[].added_at")
    return PlaylistItemRec(position, track_id, added_at, shape, track_shape, _put_raw(extra, raw))


def encode_playlist(obj: dict[str, Any], out: list[Record]) -> None:
    id_ = _spotify_id(obj, "playlist")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key in _unknown(PLAYLIST_KEYS, shape):
        raw[key] = obj[key]
    _derived(obj, "playlist", id_, raw)
    followers = None
    if "followers" in obj:
        value = obj["followers"]
        if type(value) is dict and value.keys() == {"href", "total"} and value["href"] is None and type(value["total"]) is int:
            followers = value["total"]
        else:
            raw["followers"] = value
    owner_id = None
    if "owner" in obj:
        owner = obj["owner"]
        raw["owner"] = owner  # users are not catalog entities; the owner object is kept as it came
        if type(owner) is dict and type(owner.get("id")) is str:
            owner_id = owner["id"]
    items = None
    if "tracks" in obj:
        page = _object(obj["tracks"], "tracks")
        if "items" in page:
            offset = page.get("offset") if type(page.get("offset")) is int else 0
            items = tuple(
                _encode_item(_object(item, "tracks.items[]"), offset + i, out)
                for i, item in enumerate(_list(page["items"], "tracks.items"))
            )
        extra["tracks"] = {"meta": {k: v for k, v in page.items() if k != "items"}, "has_items": "items" in page}
        if items is not None:
            extra["tracks"]["count"] = len(items)
            extra["tracks"]["offset"] = offset
    images = _images(obj, raw)
    full = "tracks" in obj or "followers" in obj
    out.append(PlaylistRec(
        NS_SPOTIFY, id_,
        _text(obj.get("name"), "name"),
        _text(obj.get("description"), "description"),
        owner_id,
        _bool(obj.get("public"), "public"),
        _bool(obj.get("collaborative"), "collaborative"),
        followers,
        _text(obj.get("snapshot_id"), "snapshot_id"),
        LEVEL_FULL if full else LEVEL_SIMPLIFIED, shape, _put_raw(extra, raw), images, items,
    ))


def _page_owner(href: Any, kind: str) -> str | None:
    """The album or playlist id in a page's href (…/albums/ID/tracks?…)."""
    if type(href) is not str:
        return None
    marker = f"/{kind}s/"
    start = href.find(marker)
    if start < 0:
        return None
    rest = href[start + len(marker):]
    candidate = rest.split("/", 1)[0].split("?", 1)[0]
    return candidate if is_spotify_id(candidate) else None


ENCODERS = {
    "track": encode_track, "album": encode_album, "artist": encode_artist,
    "audio_features": encode_features, "playlist": encode_playlist,
}
WRAPPER_KEYS = {"tracks", "albums", "artists", "audio_features", "playlists", "episodes", "shows", "audiobooks", "items"}


def units(value: Any) -> Iterator[tuple[str, Any]]:
    """Split a JSON value into import units: (path, object). Wrappers and paging objects are opened."""
    if type(value) is list:
        for i, item in enumerate(value):
            yield from _units_of(item, f"[{i}]")
    else:
        yield from _units_of(value, "")


def _units_of(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if type(value) is not dict:
        yield path, value
        return
    if value.get("type") in ENCODERS:
        yield path, value
        return
    if "items" in value and ("href" in value or "total" in value):
        yield path, value  # a paging object: imported as one unit (it carries its owner in href)
        return
    keys = set(value)
    if keys and keys <= WRAPPER_KEYS:
        for key, inner in value.items():
            if type(inner) is list:  # "several" wrapper: {"tracks": [...]}, nulls are unknown ids
                for i, item in enumerate(inner):
                    if item is not None:
                        yield f"{path}.{key}[{i}]", item
            elif type(inner) is dict:  # search results: {"tracks": {page}}
                yield from _units_of(inner, f"{path}.{key}")
            else:
                yield f"{path}.{key}", inner
        return
    yield path, value


def encode(unit: Any, out: list[Record]) -> None:
    """Encode one import unit (an entity or a page) into records; raise RecordError when it is not importable."""
    if type(unit) is not dict:
        raise RecordError(f"expected a JSON object, got {_type_name(unit)}")
    kind = unit.get("type")
    encoder = ENCODERS.get(kind)  # type: ignore[arg-type]
    if encoder is not None:
        encoder(unit, out)
        return
    if "items" in unit:
        _encode_page(unit, out)
        return
    if "added_at" in unit and "track" in unit:  # a saved-track item (/me/tracks)
        track = unit["track"]
        if type(track) is dict and track.get("id") is not None:
            encode_track(track, out)
        return
    if "danceability" in unit and "id" in unit:  # audio features without "type"
        encode_features(unit, out)
        return
    raise RecordError("not a Spotify object: no recognised 'type' (track, album, artist, audio_features, playlist)")


def _encode_page(page: dict[str, Any], out: list[Record]) -> None:
    items = _list(page["items"], "items")
    href = page.get("href")
    album = _page_owner(href, "album")
    playlist = _page_owner(href, "playlist")
    if playlist is not None and ("/tracks" in str(href) or "/items" in str(href)):
        offset = page.get("offset") if type(page.get("offset")) is int else 0
        entries = tuple(_encode_item(_object(item, "items[]"), offset + i, out) for i, item in enumerate(items))
        out.append(PlaylistRec(NS_SPOTIFY, playlist, None, None, None, None, None, None, None, LEVEL_STUB, None, None, None, entries))
        return
    for i, item in enumerate(items):
        item = _object(item, f"items[{i}]")
        if album is not None and item.get("type") == "track" and "album" not in item:
            encode_track(item, out, album=album)
        elif "track" in item and "added_at" in item:
            track = item["track"]
            if type(track) is dict and track.get("id") is not None:
                encode_track(track, out)
        else:
            encode(item, out)
    if album is not None:
        out.append(AlbumRec(NS_SPOTIFY, album, None, None, None, None, None, None, None, None, None, 0, None, None))
