"""Response shapes of the JSON API, for the OpenAPI spec (views return JSON bytes directly; these document them,
and the schemathesis test checks responses against them)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(Model):
    class Body(Model):
        status: int
        message: str
        details: Optional[list[Any]] = None
        tombstone: Optional[dict[str, Any]] = None  # 410: what was withdrawn, when, in which category

    error: Body


class ArtistRef(Model):
    id: str
    name: Optional[str]
    url: Optional[str]


class AlbumRef(Model):
    id: str
    name: Optional[str]
    release_date: Optional[str]
    url: Optional[str]


class TrackItem(Model):
    kind: str
    id: str
    source: Optional[str]
    name: Optional[str]
    url: Optional[str]
    artists: list[ArtistRef]
    album: Optional[AlbumRef]
    year: Optional[int]
    popularity: Optional[int]
    explicit: Optional[bool]
    isrc: Optional[str]
    duration_ms: Optional[int]


class SearchHit(Model):
    """A track (text search), or a track, album or artist an id, ISRC or UPC named (lookup)."""

    kind: str
    id: Optional[str]
    name: Optional[str]
    url: Optional[str]
    score: Optional[float] = None


class SearchPage(Model):
    query: str
    mode: Optional[str]
    message: Optional[str]
    filters: dict[str, Any]
    page: int
    size: int
    count: int
    complete: bool
    did_you_mean: Optional[str] = None  # when nothing matched: a nearby query that finds tracks
    did_you_mean_url: Optional[str] = None
    artists: list[SearchHit] = []  # artists whose name matches (page 1 without filters)
    albums: list[SearchHit] = []
    results: list[SearchHit]
    next: Optional[str]
    previous: Optional[str]


class Suggestion(Model):
    kind: str
    name: Optional[str]
    detail: str
    url: Optional[str]


class Suggestions(Model):
    query: str
    suggestions: list[Suggestion]
    did_you_mean: Optional[str]
    message: Optional[str]


class Location(Model):
    release: str
    torrent: Optional[str]
    path: Optional[str]
    file_index: Optional[int]
    size: Optional[int]
    sha256: Optional[str]
    btih: Optional[str]
    magnet_link: Optional[str]
    torrent_url: Optional[str]
    seeders: Optional[int]
    health: str


class Audio(Model):
    url: str
    media_type: str
    size: int
    origin: str


class Licence(Model):
    id: str  # SPDX id or LicenseRef-...
    name: str
    url: Optional[str]
    raw: Optional[str]  # as the source wrote it
    attribution: Optional[str]  # the credit the licence asks for
    source: str
    source_id: Optional[str]
    source_url: Optional[str]
    collection: Optional[str]
    imported_at: str


class TrackPage(TrackItem):
    licence: Optional[Licence]  # None: no licence on record
    published: bool  # its licence is one this archive publishes ([release] licences)
    unpublished_reason: Optional[str]
    same_recording: list[TrackItem]
    also_on: list[AlbumRef]
    external_ids: list[dict[str, str]]
    audio_features: Optional[dict[str, float]]
    plan: Optional[dict[str, Any]]
    audio: Optional[Audio]
    locations: list[Location]
    file: Optional[dict[str, Any]]


class AlbumPage(Model):
    kind: str
    id: str
    source: Optional[str]
    name: Optional[str]
    url: Optional[str]
    album_type: Optional[str]
    total_tracks: Optional[int]
    release_date: Optional[str]
    year: Optional[int]
    label: Optional[str]
    popularity: Optional[int]
    upc: Optional[str]
    artists: list[ArtistRef]
    duration_ms: int
    tracks: list[TrackItem]
    tracks_truncated: bool


class AlbumItem(Model):
    id: str
    name: Optional[str]
    url: Optional[str]
    album_type: Optional[str]
    release_date: Optional[str]
    year: Optional[int]
    total_tracks: Optional[int]


class ArtistPage(Model):
    kind: str
    id: str
    source: Optional[str]
    name: Optional[str]
    url: Optional[str]
    popularity: Optional[int]
    followers: Optional[int]
    genres: list[str]
    track_count: int
    album_count: int
    top_tracks: list[TrackItem]
    albums: list[AlbumItem]
    page: int
    size: int
    pages: int
    next: Optional[str]
    previous: Optional[str]


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
    name: Optional[str]
    url: Optional[str]
    local_url: Optional[str]
    group_name: Optional[str]
    display_name: Optional[str]
    btih: Optional[str]
    magnet_link: Optional[str]
    torrent_size: Optional[int]
    num_files: Optional[int]
    data_size: Optional[int]
    added_to_torrents_list_at: Optional[str]
    is_metadata: bool
    obsolete: bool
    embargo: bool
    seeders: Optional[int]
    leechers: Optional[int]
    completed: Optional[int]
    stats_scraped_at: Optional[str]
    band: Optional[str]
    tracks: Optional[int]
    listens_covered: Optional[float]
    health: str


class TorrentsPage(Model):
    releases: list[dict[str, Any]]
    bands: list[dict[str, Any]]
    totals: dict[str, Any]
    torrents: list[Torrent]
    page: int
    size: int
    count: int
    next: Optional[str]
    previous: Optional[str]


class GeneratePage(Model):
    budget: int
    budget_text: str
    bytes: int
    count: int
    listens_covered: float
    listens_share: Optional[float]
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
    plan: Optional[dict[str, Any]]
    releases: dict[str, Any]
    search_index: bool
    statistics: bool
