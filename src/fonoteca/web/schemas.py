"""Response shapes of the JSON API, for the OpenAPI spec (views return JSON bytes directly; these document them,
and the schemathesis test checks responses against them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(Model):
    class Body(Model):
        status: int
        message: str
        details: list[Any] | None = None
        tombstone: dict[str, Any] | None = None  # 410: what was withdrawn, when, in which category

    error: Body


class ArtistRef(Model):
    id: str
    name: str | None
    url: str | None


class AlbumRef(Model):
    id: str
    name: str | None
    release_date: str | None
    url: str | None


class TrackItem(Model):
    kind: str
    id: str
    source: str | None
    name: str | None
    url: str | None
    artists: list[ArtistRef]
    album: AlbumRef | None
    year: int | None
    popularity: int | None
    explicit: bool | None
    isrc: str | None
    duration_ms: int | None


class SearchHit(Model):
    """A track (text search), or a track, album or artist an id, ISRC or UPC named (lookup)."""

    kind: str
    id: str | None
    name: str | None
    url: str | None
    score: float | None = None


class SearchPage(Model):
    query: str
    mode: str | None
    message: str | None
    filters: dict[str, Any]
    page: int
    size: int
    count: int
    complete: bool
    did_you_mean: str | None = None  # when nothing matched: a nearby query that finds tracks
    did_you_mean_url: str | None = None
    artists: list[SearchHit] = []  # artists whose name matches (page 1 without filters)
    albums: list[SearchHit] = []
    results: list[SearchHit]
    next: str | None
    previous: str | None


class Suggestion(Model):
    kind: str
    name: str | None
    detail: str
    url: str | None


class Suggestions(Model):
    query: str
    suggestions: list[Suggestion]
    did_you_mean: str | None
    message: str | None


class Location(Model):
    release: str
    torrent: str | None
    path: str | None
    file_index: int | None
    size: int | None
    sha256: str | None
    btih: str | None
    magnet_link: str | None
    torrent_url: str | None
    seeders: int | None
    health: str


class Audio(Model):
    url: str
    media_type: str
    size: int
    origin: str


class Licence(Model):
    id: str  # SPDX id or LicenseRef-...
    name: str
    url: str | None
    raw: str | None  # as the source wrote it
    attribution: str | None  # the credit the licence asks for
    source: str
    source_id: str | None
    source_url: str | None
    collection: str | None
    imported_at: str


class TrackPage(TrackItem):
    licence: Licence | None  # None: no licence on record
    published: bool  # its licence is one this archive publishes ([release] licences)
    unpublished_reason: str | None
    same_recording: list[TrackItem]
    also_on: list[AlbumRef]
    external_ids: list[dict[str, str]]
    audio_features: dict[str, float] | None
    plan: dict[str, Any] | None
    audio: Audio | None
    locations: list[Location]
    file: dict[str, Any] | None


class AlbumPage(Model):
    kind: str
    id: str
    source: str | None
    name: str | None
    url: str | None
    album_type: str | None
    total_tracks: int | None
    release_date: str | None
    year: int | None
    label: str | None
    popularity: int | None
    upc: str | None
    artists: list[ArtistRef]
    duration_ms: int
    tracks: list[TrackItem]
    tracks_truncated: bool


class AlbumItem(Model):
    id: str
    name: str | None
    url: str | None
    album_type: str | None
    release_date: str | None
    year: int | None
    total_tracks: int | None


class ArtistPage(Model):
    kind: str
    id: str
    source: str | None
    name: str | None
    url: str | None
    popularity: int | None
    followers: int | None
    genres: list[str]
    track_count: int
    album_count: int
    top_tracks: list[TrackItem]
    albums: list[AlbumItem]
    page: int
    size: int
    pages: int
    next: str | None
    previous: str | None


class IsrcPage(Model):
    kind: str
    isrc: str
    valid: bool
    tracks: list[TrackItem]


class UpcPage(Model):
    kind: str
    upc: str
    albums: list[AlbumItem]


class ShufflePage(Model):
    min_popularity: int
    count: int
    tracks: list[TrackItem]


class Torrent(Model):
    release: str
    name: str | None
    url: str | None
    local_url: str | None
    group_name: str | None
    display_name: str | None
    btih: str | None
    magnet_link: str | None
    torrent_size: int | None
    num_files: int | None
    data_size: int | None
    added_to_torrents_list_at: str | None
    is_metadata: bool
    obsolete: bool
    embargo: bool
    seeders: int | None
    leechers: int | None
    completed: int | None
    stats_scraped_at: str | None
    band: str | None
    tracks: int | None
    listens_covered: float | None
    health: str


class TorrentsPage(Model):
    releases: list[dict[str, Any]]
    bands: list[dict[str, Any]]
    totals: dict[str, Any]
    torrents: list[Torrent]
    page: int
    size: int
    count: int
    next: str | None
    previous: str | None


class GeneratePage(Model):
    budget: int
    budget_text: str
    bytes: int
    count: int
    listens_covered: float
    listens_share: float | None
    tracks: int
    include_metadata: bool
    budget_input: str
    torrents: list[Torrent]


class Chart(Model):
    name: str
    title: str
    formats: list[str]
    images: dict[str, str]
    numbers: Any = None


class StatsPage(Model):
    available: bool
    directory_hint: str
    charts: list[Chart]


class HomePage(Model):
    name: str
    counts: dict[str, Any]
    top_tracks: list[TrackItem]
    plan: dict[str, Any] | None
    releases: dict[str, Any]
    search_index: bool
    statistics: bool
