"""Spotify Web API JSON <-> catalog records.

Every key of a source object is either modelled (a typed column, a link, an image row, a market list) or kept in
`extra` so that export rebuilds the object exactly. Values the catalog can derive (href, uri, external_urls and
type from the id) are checked on the way in and only stored when they differ from the derived value.

A value that is of the wrong type or impossible (popularity 1000, a date 2020-13-45, a negative count, a string
over the length limit) is left out: the field is stored empty (exported as null) and a FieldReject says which
field and value; the rest of the object is imported. An object without a valid id, or whose nesting (album,
artists, pages of items) is not what the API returns, is rejected whole.

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
    FEATURE_FIELDS,
    LEVEL_FULL,
    LEVEL_SIMPLIFIED,
    LEVEL_STUB,
    AlbumRec,
    ArtistRec,
    FeaturesRec,
    FieldReject,
    PlaylistItemRec,
    PlaylistRec,
    Record,
    RecordError,
    Shape,
    TrackRec,
)
from fonoteca.catalog.values import (
    MAX_TEXT,
    POPULARITY,
    date_problem,
    feature_problem,
    int_problem,
    long_text,
    shown,
    text_problem,
    type_name,
)

API = "https://api.spotify.com/v1/"
OPEN = "https://open.spotify.com/"
MAX_WRAPPER_NESTING = 4  # {"tracks": {page}} is one level; real responses never nest wrappers deeper

ARTIST_KEYS = frozenset(
    {"external_urls", "href", "id", "name", "type", "uri", "followers", "genres", "images", "popularity"}
)
ALBUM_KEYS = frozenset(
    {
        "album_type",
        "total_tracks",
        "available_markets",
        "external_urls",
        "href",
        "id",
        "images",
        "name",
        "release_date",
        "release_date_precision",
        "type",
        "uri",
        "artists",
        "tracks",
        "external_ids",
        "label",
        "popularity",
    }
)
TRACK_KEYS = frozenset(
    {
        "album",
        "artists",
        "available_markets",
        "disc_number",
        "duration_ms",
        "explicit",
        "external_ids",
        "external_urls",
        "href",
        "id",
        "is_local",
        "name",
        "popularity",
        "preview_url",
        "track_number",
        "type",
        "uri",
    }
)
FEATURE_KEYS = frozenset(FEATURE_FIELDS) | {"id", "uri", "track_href", "analysis_url", "type"}
PLAYLIST_KEYS = frozenset(
    {
        "collaborative",
        "description",
        "external_urls",
        "followers",
        "href",
        "id",
        "images",
        "name",
        "owner",
        "public",
        "snapshot_id",
        "tracks",
        "type",
        "uri",
    }
)
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


_type_name = type_name


def reject_field(out: list[Record], field: str, problem: str) -> None:
    """Note that `field` was left out of the unit being encoded (see FieldReject)."""
    out.append(FieldReject(f"field '{field}': {problem}; the field was left out, the rest imported"))  # type: ignore[arg-type]


def _text(value: Any, field: str) -> str | None:
    """A text value, or RecordError: for values a record cannot do without."""
    if value is None:
        return None
    problem = text_problem(value)
    if problem is not None:
        raise RecordError(f"field '{field}': {problem}")
    return value


def _opt_text(value: Any, field: str, out: list[Record]) -> str | None:
    """A text value, or None with a FieldReject when it is not one or is too long."""
    if value is None:
        return None
    problem = text_problem(value)
    if problem is not None:
        reject_field(out, field, problem if type(value) is str else f"{problem} {shown(value)}")
        return None
    return value


def _int(value: Any, field: str) -> int | None:
    if value is None or type(value) is int:
        return value
    raise RecordError(f"field '{field}': expected integer, got {_type_name(value)}")


def _opt_int(value: Any, field: str, out: list[Record], low: int | None = 0, high: int | None = None) -> int | None:
    """A whole number within bounds (counts, positions, durations are never negative), else None and a FieldReject."""
    if value is None:
        return None
    problem = int_problem(value, low, high)
    if problem is not None:
        reject_field(out, field, problem if type(value) is int else f"{problem} {shown(value)}")
        return None
    return value


def _popularity(value: Any, field: str, out: list[Record]) -> int | None:
    return _opt_int(value, field, out, *POPULARITY)


def _opt_bool(value: Any, field: str, out: list[Record]) -> bool | None:
    if value is None or type(value) is bool:
        return value
    reject_field(out, field, f"expected boolean, got {_type_name(value)} {shown(value)}")
    return None


def _opt_date(value: Any, field: str, out: list[Record]) -> str | None:
    text = _opt_text(value, field, out)
    if text is None:
        return None
    problem = date_problem(text)
    if problem is not None:
        reject_field(out, field, problem)
        return None
    return text


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


def _markets(value: Any, field: str, out: list[Record] | None = None) -> str | None:
    """The market list joined by spaces; a list that is not one of country codes is left out (FieldReject)."""
    if value is None:
        return None
    problem = None
    if type(value) is not list:
        problem = f"expected array, got {_type_name(value)}"
    else:
        try:
            joined = " ".join(value)
        except TypeError:
            problem = "expected an array of country codes"
        else:
            if len(joined) != 3 * len(value) - 1 and value:
                if any(not code or " " in code or len(code) > 8 for code in value):
                    problem = "expected an array of country codes"
    if problem is None:
        return joined
    if out is None:
        raise RecordError(f"field '{field}': {problem}")
    reject_field(out, field, problem)
    return None


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


def _images(
    obj: dict[str, Any], raw: dict[str, Any], out: list[Record], field: str
) -> tuple[tuple[Any, Any, Any, Shape], ...] | None:
    value = obj.get("images")
    if value is None:
        if "images" in obj:
            raw["images"] = None
        return None
    if type(value) is not list:
        reject_field(out, field, f"expected array, got {_type_name(value)}")
        raw["images"] = None
        return None
    images = []
    for i, image in enumerate(value):
        if (
            type(image) is not dict
            or not IMAGE_KEYS.issuperset(image)
            or type(image.get("url")) is not str
            or type(image.get("width", 0)) not in (int, type(None))
            or type(image.get("height", 0)) not in (int, type(None))
        ):
            raw["images"] = value  # an unusual image list is kept verbatim (its strings are checked with raw)
            return None
        if len(image["url"]) > MAX_TEXT:
            reject_field(out, f"{field}[{i}].url", f"{len(image['url'])} characters, more than the limit of {MAX_TEXT}")
            continue
        images.append((image.get("url"), image.get("width"), image.get("height"), tuple(image)))
    return tuple(images)


def _put_raw(
    extra: dict[str, Any], raw: dict[str, Any], out: list[Record] | None = None, what: str = ""
) -> dict[str, Any] | None:
    """Attach the verbatim values; one holding a string over the length limit is left out (exported as null)."""
    if raw:
        for key, value in raw.items():
            if type(value) in (dict, list, str) and (length := long_text(value)) is not None:
                if out is None:
                    raise RecordError(
                        f"field '{what}{key}': a string of {length} characters, more than the limit of {MAX_TEXT}"
                    )
                reject_field(
                    out, f"{what}{key}", f"holds a string of {length} characters, more than the limit of {MAX_TEXT}"
                )
                raw[key] = None
        extra["raw"] = raw
    return extra or None


def _followers(obj: dict[str, Any], raw: dict[str, Any], out: list[Record], field: str) -> int | None:
    """followers {"href": null, "total": N} -> N; any other shape is kept verbatim."""
    value = obj["followers"]
    if (
        type(value) is dict
        and value.keys() == {"href", "total"}
        and value["href"] is None
        and type(value["total"]) is int
    ):
        if value["total"] < 0:
            reject_field(out, f"{field}.total", f"{value['total']} is out of range >= 0")
            raw["followers"] = None
            return None
        return value["total"]
    raw["followers"] = value
    return None


def encode_artist(obj: dict[str, Any], out: list[Record]) -> tuple[str, Shape, dict[str, Any] | None]:
    """Append the artist's record; return (id, shape, extra) for a parent that nests it."""
    id_ = _spotify_id(obj, "artist")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    for key in _unknown(ARTIST_KEYS, shape):
        raw[key] = obj[key]
    _derived(obj, "artist", id_, raw)
    name = _opt_text(obj.get("name"), "artist.name", out)
    full = "followers" in obj or "genres" in obj or "popularity" in obj or "images" in obj
    followers = _followers(obj, raw, out, "artist.followers") if "followers" in obj else None
    genres = None
    if "genres" in obj:
        value = obj["genres"]
        if type(value) is list:
            genres = tuple(_genres(value, out))
        else:
            reject_field(out, "artist.genres", f"expected array, got {_type_name(value)}")
            raw["genres"] = None
    images = _images(obj, raw, out, "artist.images")
    extra = _put_raw({}, raw, out, "artist.")
    out.append(
        ArtistRec(
            NS_SPOTIFY,
            id_,
            name,
            _popularity(obj.get("popularity"), "artist.popularity", out),
            followers,
            LEVEL_FULL if full else LEVEL_SIMPLIFIED,
            shape,
            extra,
            genres,
            images,
        )
    )
    return id_, shape, extra


def _genres(value: list[Any], out: list[Record]) -> list[str]:
    kept = []
    for i, genre in enumerate(value):
        problem = text_problem(genre)
        if problem is None:
            kept.append(genre)
        else:
            reject_field(out, f"artist.genres[{i}]", problem if type(genre) is str else f"{problem} {shown(genre)}")
    return kept


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


def _external_ids(
    value: Any, field: str, primary: str, out: list[Record]
) -> tuple[str | None, tuple[tuple[str, str], ...], dict[str, Any] | None]:
    """(primary id, all valid ids as (kind, value), the object to keep verbatim or None when it is derivable).

    An invalid ISRC, UPC or EAN (format or check digit) is left out with a FieldReject; the verbatim object then
    holds the ids that remain."""
    if type(value) is not dict:
        reject_field(out, field, f"expected object, got {_type_name(value)}")
        return None, (), None
    found: list[tuple[str, str]] = []
    bad: set[str] = set()
    main = None
    for kind, code in value.items():
        code_value, problem = _external_id(kind, code)
        if problem is not None:
            reject_field(out, f"{field}.{kind}", problem)
            bad.add(kind)
            continue
        found.append((kind, code_value))  # type: ignore[arg-type]
        if kind == primary and main is None:
            main = code_value
    if bad:
        return main, tuple(found), {k: v for k, v in value.items() if k not in bad}
    derivable = len(value) == 1 and main is not None and value.get(primary) == main
    return main, tuple(found), None if derivable else value


def _external_id(kind: str, code: Any) -> tuple[str | None, str | None]:
    """(the id in canonical form, None) or (None, what is wrong with it)."""
    if type(code) is not str:
        return None, f"expected string, got {_type_name(code)} {shown(code)}"
    if kind == "isrc":
        isrc = normalize_isrc(code)
        return (isrc, None) if isrc else (None, f"invalid ISRC {shown(code, 40)}")
    if kind in ("upc", "ean"):
        return (
            (code, None)
            if is_valid_gtin(code)
            else (None, f"invalid {kind.upper()} {shown(code, 40)} (format or check digit)")
        )
    problem = text_problem(code)
    return (None, problem) if problem else (code, None)


def _page_meta(page: dict[str, Any], field: str, out: list[Record]) -> dict[str, Any]:
    """A page object without its items (href, limit, next, ...), kept verbatim for export."""
    meta = {k: v for k, v in page.items() if k != "items"}
    for key, value in meta.items():
        if type(value) in (dict, list, str) and (length := long_text(value)) is not None:
            reject_field(
                out, f"{field}.{key}", f"holds a string of {length} characters, more than the limit of {MAX_TEXT}"
            )
            meta[key] = None
    return meta


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
    upc: str | None = None
    ext_ids: tuple[tuple[str, str], ...] = ()
    if "external_ids" in obj:
        upc, ext_ids, verbatim = _external_ids(obj["external_ids"], "album.external_ids", "upc", out)
        if verbatim is not None or type(obj["external_ids"]) is not dict:
            raw["external_ids"] = verbatim
    items: tuple[tuple[str, Shape, dict[str, Any] | None], ...] | None = None
    if "tracks" in obj:
        page = _object(obj["tracks"], "album.tracks")
        encoded = []
        for item in _list(page.get("items", []), "album.tracks.items"):
            track_id, track_shape, track_extra = encode_track(_object(item, "album.tracks.items[]"), out, album=id_)
            encoded.append((track_id, track_shape, track_extra))
        extra["tracks"] = {"meta": _page_meta(page, "album.tracks", out), "has_items": "items" in page}
        items = tuple(encoded)
    images = _images(obj, raw, out, "album.images")
    kept = _put_raw(extra, raw, out, "album.")
    out.append(
        AlbumRec(
            NS_SPOTIFY,
            id_,
            _opt_text(obj.get("name"), "album.name", out),
            _opt_text(obj.get("album_type"), "album.album_type", out),
            _opt_int(obj.get("total_tracks"), "album.total_tracks", out),
            _opt_date(obj.get("release_date"), "album.release_date", out),
            _opt_text(obj.get("release_date_precision"), "album.release_date_precision", out),
            _opt_text(obj.get("label"), "album.label", out),
            _popularity(obj.get("popularity"), "album.popularity", out),
            _markets(obj.get("available_markets"), "album.available_markets", out),
            upc,
            LEVEL_FULL if full else LEVEL_SIMPLIFIED,
            shape,
            kept,
            artists,
            images,
            ext_ids,
            items,
        )
    )
    return id_, shape, kept


def encode_track(
    obj: dict[str, Any], out: list[Record], album: str | None = None
) -> tuple[str, Shape, dict[str, Any] | None]:
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
    isrc: str | None = None
    ext_ids: tuple[tuple[str, str], ...] = ()
    if "external_ids" in obj:
        isrc, ext_ids, verbatim = _external_ids(obj["external_ids"], "external_ids", "isrc", out)
        if verbatim is not None or type(obj["external_ids"]) is not dict:
            raw["external_ids"] = verbatim
    full = "album" in obj or "popularity" in obj or "external_ids" in obj
    extra_value = _put_raw(extra, raw, out)
    out.append(
        TrackRec(
            NS_SPOTIFY,
            id_,
            _opt_text(obj.get("name"), "name", out),
            album,
            _opt_int(obj.get("disc_number"), "disc_number", out),
            _opt_int(obj.get("track_number"), "track_number", out),
            _opt_int(obj.get("duration_ms"), "duration_ms", out),
            _opt_bool(obj.get("explicit"), "explicit", out),
            _popularity(obj.get("popularity"), "popularity", out),
            _opt_text(obj.get("preview_url"), "preview_url", out),
            _opt_bool(obj.get("is_local"), "is_local", out),
            _markets(obj.get("available_markets"), "available_markets", out),
            isrc,
            LEVEL_FULL if full else LEVEL_SIMPLIFIED,
            shape,
            album_shape,
            extra_value,
            artists,
            ext_ids,
        )
    )
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
        if value is not None and (problem := feature_problem(name, value)) is not None:
            reject_field(out, name, problem if type(value) in (int, float) else f"{problem} {shown(value)}")
            value = None
        values.append(value)
    out.append(FeaturesRec(NS_SPOTIFY, id_, tuple(values), "spotify", shape, _put_raw({}, raw, out)))


def _encode_item(item: dict[str, Any], position: int, out: list[Record]) -> PlaylistItemRec:
    """A playlist item: catalog tracks are linked; local tracks and episodes stay verbatim in the item."""
    shape = tuple(item)
    raw = {key: item[key] for key in _unknown(ITEM_KEYS, shape)}
    extra: dict[str, Any] = {}
    track = item.get("track")
    track_id = track_shape = None
    if (
        type(track) is dict
        and track.get("type", "track") == "track"
        and not track.get("is_local")
        and track.get("id") is not None
    ):
        track_id, track_shape, track_extra = encode_track(track, out)
        if track_extra:
            extra["track"] = track_extra
    elif "track" in item:
        raw["track"] = track
    added_at = _opt_text(item.get("added_at"), "items[].added_at", out)
    return PlaylistItemRec(position, track_id, added_at, shape, track_shape, _put_raw(extra, raw, out, "items[]."))


def encode_playlist(obj: dict[str, Any], out: list[Record]) -> None:
    id_ = _spotify_id(obj, "playlist")
    shape = tuple(obj)
    raw: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key in _unknown(PLAYLIST_KEYS, shape):
        raw[key] = obj[key]
    _derived(obj, "playlist", id_, raw)
    followers = _followers(obj, raw, out, "followers") if "followers" in obj else None
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
            given = page.get("offset")
            offset = given if type(given) is int else 0
            items = tuple(
                _encode_item(_object(item, "tracks.items[]"), offset + i, out)
                for i, item in enumerate(_list(page["items"], "tracks.items"))
            )
        extra["tracks"] = {"meta": _page_meta(page, "tracks", out), "has_items": "items" in page}
        if items is not None:
            extra["tracks"]["count"] = len(items)
            extra["tracks"]["offset"] = offset
    images = _images(obj, raw, out, "images")
    full = "tracks" in obj or "followers" in obj
    out.append(
        PlaylistRec(
            NS_SPOTIFY,
            id_,
            _opt_text(obj.get("name"), "name", out),
            _opt_text(obj.get("description"), "description", out),
            owner_id if owner_id is None or len(owner_id) <= MAX_TEXT else None,
            _opt_bool(obj.get("public"), "public", out),
            _opt_bool(obj.get("collaborative"), "collaborative", out),
            followers,
            _opt_text(obj.get("snapshot_id"), "snapshot_id", out),
            LEVEL_FULL if full else LEVEL_SIMPLIFIED,
            shape,
            _put_raw(extra, raw, out),
            images,
            items,
        )
    )


def _page_owner(href: Any, kind: str) -> str | None:
    """The album or playlist id in a page's href (…/albums/ID/tracks?…)."""
    if type(href) is not str:
        return None
    marker = f"/{kind}s/"
    start = href.find(marker)
    if start < 0:
        return None
    rest = href[start + len(marker) :]
    candidate = rest.split("/", 1)[0].split("?", 1)[0]
    return candidate if is_spotify_id(candidate) else None


ENCODERS = {
    "track": encode_track,
    "album": encode_album,
    "artist": encode_artist,
    "audio_features": encode_features,
    "playlist": encode_playlist,
}
WRAPPER_KEYS = {
    "tracks",
    "albums",
    "artists",
    "audio_features",
    "playlists",
    "episodes",
    "shows",
    "audiobooks",
    "items",
}


def units(value: Any) -> Iterator[tuple[str, Any]]:
    """Split a JSON value into import units: (path, object). Wrappers and paging objects are opened."""
    if type(value) is list:
        for i, item in enumerate(value):
            yield from _units_of(item, f"[{i}]")
    else:
        yield from _units_of(value, "")


def _units_of(value: Any, path: str, nesting: int = 0) -> Iterator[tuple[str, Any]]:
    if type(value) is not dict or nesting >= MAX_WRAPPER_NESTING:
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
                yield from _units_of(inner, f"{path}.{key}", nesting + 1)
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
        given = page.get("offset")
        offset = given if type(given) is int else 0
        entries = tuple(_encode_item(_object(item, "items[]"), offset + i, out) for i, item in enumerate(items))
        out.append(
            PlaylistRec(
                NS_SPOTIFY, playlist, None, None, None, None, None, None, None, LEVEL_STUB, None, None, None, entries
            )
        )
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
