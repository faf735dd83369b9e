"""Spotify Web API objects written by hand from the public Web API reference (shapes and key order as the API
returns them), for importer and round-trip tests."""

from __future__ import annotations

import copy
from typing import Any

API = "https://api.spotify.com/v1/"
OPEN = "https://open.spotify.com/"
MARKETS = ["AD", "AR", "AT", "AU", "BE", "BR", "CA", "DE", "ES", "FR", "GB", "JP", "MX", "SE", "US"]

ADELE = "4dpARuHxo51G3z768sgnrY"
ALBUM_25 = "7uwTHXmFa1Ebi5flqBosig"
HELLO = "0ENSn4fwAbCGeFGVUbXEU3"
WHEN = "1rqqCSm0Qe4I9rUvWncaom"
PLAYLIST = "37i9dQZF1DXcBWIGoYBM5M"


def simple_artist(id_: str, name: str) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"{OPEN}artist/{id_}"},
        "href": f"{API}artists/{id_}",
        "id": id_,
        "name": name,
        "type": "artist",
        "uri": f"spotify:artist:{id_}",
    }


def images(prefix: str) -> list[dict[str, Any]]:
    return [{"height": s, "url": f"https://i.scdn.co/image/{prefix}{s:04d}", "width": s} for s in (640, 300, 64)]


def simple_album() -> dict[str, Any]:
    return {
        "album_type": "album",
        "artists": [simple_artist(ADELE, "Adele")],
        "available_markets": MARKETS,
        "external_urls": {"spotify": f"{OPEN}album/{ALBUM_25}"},
        "href": f"{API}albums/{ALBUM_25}",
        "id": ALBUM_25,
        "images": images("ab67616d0000b273aaaa"),
        "name": "25",
        "release_date": "2015-11-20",
        "release_date_precision": "day",
        "total_tracks": 2,
        "type": "album",
        "uri": f"spotify:album:{ALBUM_25}",
    }


def simple_track(id_: str, name: str, number: int, preview: str | None) -> dict[str, Any]:
    return {
        "artists": [simple_artist(ADELE, "Adele")],
        "available_markets": MARKETS,
        "disc_number": 1,
        "duration_ms": 295502 if number == 1 else 301346,
        "explicit": False,
        "external_urls": {"spotify": f"{OPEN}track/{id_}"},
        "href": f"{API}tracks/{id_}",
        "id": id_,
        "is_local": False,
        "name": name,
        "preview_url": preview,
        "track_number": number,
        "type": "track",
        "uri": f"spotify:track:{id_}",
    }


def full_track(
    id_: str = HELLO,
    name: str = "Hello",
    number: int = 1,
    isrc: str = "GBBKS1500214",
    preview: str | None = None,
    popularity: int = 82,
) -> dict[str, Any]:
    track = {"album": simple_album()}
    base = simple_track(id_, name, number, preview)
    for key in ("artists", "available_markets", "disc_number", "duration_ms", "explicit"):
        track[key] = base[key]
    track["external_ids"] = {"isrc": isrc}
    for key in ("external_urls", "href", "id", "is_local", "name"):
        track[key] = base[key]
    track["popularity"] = popularity
    for key in ("preview_url", "track_number", "type", "uri"):
        track[key] = base[key]
    return track


def full_album() -> dict[str, Any]:
    album = simple_album()
    album["tracks"] = {
        "href": f"{API}albums/{ALBUM_25}/tracks?offset=0&limit=50",
        "limit": 50,
        "next": None,
        "offset": 0,
        "previous": None,
        "total": 2,
        "items": [
            simple_track(HELLO, "Hello", 1, None),
            simple_track(WHEN, "Send My Love (To Your New Lover)", 2, "https://p.scdn.co/mp3-preview/abc"),
        ],
    }
    album["copyrights"] = [
        {"text": "(C) 2015 XL Recordings Ltd", "type": "C"},
        {"text": "(P) 2015 XL Recordings Ltd", "type": "P"},
    ]
    album["external_ids"] = {"upc": "634904074005"}
    album["genres"] = []
    album["label"] = "XL Recordings"
    album["popularity"] = 78
    return album


def full_artist(id_: str = ADELE, name: str = "Adele", genres: list[str] | None = None) -> dict[str, Any]:
    return {
        "external_urls": {"spotify": f"{OPEN}artist/{id_}"},
        "followers": {"href": None, "total": 58412367},
        "genres": ["british soul", "pop", "pop soul"] if genres is None else genres,
        "href": f"{API}artists/{id_}",
        "id": id_,
        "images": images("ab6761610000e5eb"),
        "name": name,
        "popularity": 84,
        "type": "artist",
        "uri": f"spotify:artist:{id_}",
    }


def audio_features(id_: str = HELLO) -> dict[str, Any]:
    return {
        "acousticness": 0.336,
        "analysis_url": f"{API}audio-analysis/{id_}",
        "danceability": 0.481,
        "duration_ms": 295502,
        "energy": 0.451,
        "id": id_,
        "instrumentalness": 0,
        "key": 5,
        "liveness": 0.0872,
        "loudness": -6.134,
        "mode": 0,
        "speechiness": 0.0347,
        "tempo": 157.98,
        "time_signature": 4,
        "track_href": f"{API}tracks/{id_}",
        "type": "audio_features",
        "uri": f"spotify:track:{id_}",
        "valence": 0.289,
    }


def user(id_: str = "spotify", name: str | None = "Spotify") -> dict[str, Any]:
    out = {
        "display_name": name,
        "external_urls": {"spotify": f"{OPEN}user/{id_}"},
        "href": f"{API}users/{id_}",
        "id": id_,
        "type": "user",
        "uri": f"spotify:user:{id_}",
    }
    return out


def local_track() -> dict[str, Any]:
    """A local file added to a playlist: no ids, empty external objects (as the API returns it)."""
    return {
        "album": {
            "album_type": None,
            "artists": [],
            "available_markets": [],
            "external_urls": {},
            "href": None,
            "id": None,
            "images": [],
            "name": "My Demos",
            "release_date": None,
            "release_date_precision": None,
            "type": "album",
            "uri": None,
        },
        "artists": [{"external_urls": {}, "href": None, "id": None, "name": "Me", "type": "artist", "uri": None}],
        "available_markets": [],
        "disc_number": 0,
        "duration_ms": 184000,
        "explicit": False,
        "external_ids": {},
        "external_urls": {},
        "href": None,
        "id": None,
        "is_local": True,
        "name": "Garage take 3",
        "popularity": 0,
        "preview_url": None,
        "track_number": 0,
        "type": "track",
        "uri": "spotify:local:Me:My+Demos:Garage+take+3:184",
    }


def playlist() -> dict[str, Any]:
    hello = full_track()
    hello["episode"] = False
    hello["track"] = True
    return {
        "collaborative": False,
        "description": "The hottest 50. Cover: <b>Adele</b>",
        "external_urls": {"spotify": f"{OPEN}playlist/{PLAYLIST}"},
        "followers": {"href": None, "total": 34713221},
        "href": f"{API}playlists/{PLAYLIST}",
        "id": PLAYLIST,
        "images": [{"height": None, "url": "https://i.scdn.co/image/pl", "width": None}],
        "name": "Today's Top Hits",
        "owner": user(),
        "primary_color": None,
        "public": True,
        "snapshot_id": "MTY5OTk5OTk5OSwwMDAwMDAwMDAw",
        "tracks": {
            "href": f"{API}playlists/{PLAYLIST}/tracks?offset=0&limit=100",
            "limit": 100,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": 3,
            "items": [
                {
                    "added_at": "2024-01-05T08:00:00Z",
                    "added_by": user("someone", None) | {"display_name": None},
                    "is_local": False,
                    "primary_color": None,
                    "track": hello,
                    "video_thumbnail": {"url": None},
                },
                {
                    "added_at": "2024-01-06T08:00:00Z",
                    "added_by": user("me", "Me"),
                    "is_local": True,
                    "primary_color": None,
                    "track": local_track(),
                    "video_thumbnail": {"url": None},
                },
                {
                    "added_at": "2024-01-07T08:00:00Z",
                    "added_by": user("me", "Me"),
                    "is_local": False,
                    "primary_color": None,
                    "track": None,
                    "video_thumbnail": {"url": None},
                },
            ],
        },
        "type": "playlist",
        "uri": f"spotify:playlist:{PLAYLIST}",
    }


def search_results() -> dict[str, Any]:
    when = full_track(
        WHEN, "Send My Love (To Your New Lover)", 2, "GBBKS1500215", "https://p.scdn.co/mp3-preview/abc", 75
    )
    return {
        "tracks": {
            "href": f"{API}search?query=adele&type=track&offset=0&limit=20",
            "items": [full_track(), when],
            "limit": 20,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": 2,
        },
        "artists": {
            "href": f"{API}search?query=adele&type=artist&offset=0&limit=20",
            "items": [full_artist()],
            "limit": 20,
            "next": None,
            "offset": 0,
            "previous": None,
            "total": 1,
        },
    }


def album_tracks_page() -> dict[str, Any]:
    return copy.deepcopy(full_album()["tracks"])
