"""Normalised records: what importers produce and the store writes.

Records refer to other entities by their text ids and to shapes by key tuples, so importers need no database
and can run in worker processes. `extra` holds what the schema does not model (see spotify.py for its layout).
Levels: 0 stub (only an id is known), 1 table row (partial data from a CSV), 2 simplified object (an album
inside a track), 3 full object. A row is replaced only by a record of a higher level, or of the same level and a
newer fetched_at.
"""

from __future__ import annotations

from typing import Any, NamedTuple

LEVEL_STUB, LEVEL_TABLE, LEVEL_SIMPLIFIED, LEVEL_FULL = 0, 1, 2, 3

Shape = tuple[str, ...]
Image = tuple[Any, Any, Any, Shape]  # url, width, height, key tuple
Link = tuple[str, Shape | None]  # entity id, key tuple of the nested object


class ArtistRec(NamedTuple):
    ns: int
    id: str
    name: str | None
    popularity: int | None
    followers: int | None
    level: int
    shape: Shape | None
    extra: dict[str, Any] | None
    genres: tuple[str, ...] | None = None
    images: tuple[Image, ...] | None = None


class AlbumRec(NamedTuple):
    ns: int
    id: str
    name: str | None
    album_type: str | None
    total_tracks: int | None
    release_date: str | None
    release_date_precision: str | None
    label: str | None
    popularity: int | None
    markets: str | None
    upc: str | None
    level: int
    shape: Shape | None
    extra: dict[str, Any] | None
    artists: tuple[Link, ...] | None = None
    images: tuple[Image, ...] | None = None
    external_ids: tuple[tuple[str, str], ...] = ()
    # Full albums: the simplified tracks of the embedded page, as (track id, key tuple, nested extra).
    items: tuple[tuple[str, Shape, dict[str, Any] | None], ...] | None = None


class TrackRec(NamedTuple):
    ns: int
    id: str
    name: str | None
    album: str | None
    disc_number: int | None
    track_number: int | None
    duration_ms: int | None
    explicit: bool | None
    popularity: int | None
    preview_url: str | None
    is_local: bool | None
    markets: str | None
    isrc: str | None
    level: int
    shape: Shape | None
    album_shape: Shape | None
    extra: dict[str, Any] | None
    artists: tuple[Link, ...] | None = None
    external_ids: tuple[tuple[str, str], ...] = ()


def collection_track(
    ns: int,
    id: str,
    *,
    level: int,
    name: str | None = None,
    album: str | None = None,
    disc_number: int | None = None,
    track_number: int | None = None,
    duration_ms: int | None = None,
    isrc: str | None = None,
    extra: dict[str, Any] | None = None,
    artists: tuple[Link, ...] | None = None,
    external_ids: tuple[tuple[str, str], ...] = (),
) -> TrackRec:
    """A track as a collection's own metadata describes it (tags, Internet Archive, Jamendo, FMA): what only a
    streaming catalog knows (explicit, popularity, preview, markets, the JSON shapes) is left unknown."""
    return TrackRec(
        ns,
        id,
        name,
        album,
        disc_number,
        track_number,
        duration_ms,
        None,
        None,
        None,
        None,
        None,
        isrc,
        level,
        None,
        None,
        extra,
        artists,
        external_ids,
    )


FEATURE_FIELDS = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
    "time_signature",
    "duration_ms",
)
# the features measured on a scale (key, mode and time signature are categories; duration belongs to the track)
CONTINUOUS_FEATURES = tuple(f for f in FEATURE_FIELDS if f not in ("key", "mode", "time_signature", "duration_ms"))


class FeaturesRec(NamedTuple):
    ns: int
    track: str
    values: tuple[Any, ...]  # in FEATURE_FIELDS order
    origin: str  # spotify | table | computed
    shape: Shape | None
    extra: dict[str, Any] | None


class PlaylistItemRec(NamedTuple):
    position: int
    track: str | None
    added_at: str | None
    shape: Shape
    track_shape: Shape | None
    extra: dict[str, Any] | None


class PlaylistRec(NamedTuple):
    ns: int
    id: str
    name: str | None
    description: str | None
    owner_id: str | None
    public: bool | None
    collaborative: bool | None
    followers: int | None
    snapshot_id: str | None
    level: int
    shape: Shape | None
    extra: dict[str, Any] | None
    images: tuple[Image, ...] | None = None
    items: tuple[PlaylistItemRec, ...] | None = None


class AlbumLinkRec(NamedTuple):
    """A recording's appearance on a further release (MusicBrainz media)."""

    ns: int
    album: str
    disc: int
    number: int
    track: str


class FieldReject(NamedTuple):
    """Not a record: an encoder's note that one field's value was left out and the rest of the unit imported.

    Encoders append it to their output list; the importer logs it as a reject and never hands it to the store."""

    reason: str


Record = ArtistRec | AlbumRec | TrackRec | FeaturesRec | PlaylistRec | AlbumLinkRec


class RecordError(ValueError):
    """A record that cannot be imported; the message names the field and says what is wrong."""


def split_field_rejects(out: list) -> list[str]:
    """Remove the FieldReject notes from an encoder's output; their reasons, in order."""
    if FieldReject not in map(type, out):  # the common case, kept cheap
        return []
    reasons = [r.reason for r in out if type(r) is FieldReject]
    out[:] = [r for r in out if type(r) is not FieldReject]
    return reasons
