"""A synthetic catalog shaped like the Spotify Web API, with the statistics of a real one.

- popularity is Zipf-like: a few famous artists, most tracks at 0;
- durations peak near 2:00, 3:00 and 4:00;
- singles dominate albums; compilations re-use recordings, so some ISRCs are shared;
- valid ISRC and UPC (check digit) formats, genres per artist, ~185 markets with a few regional subsets.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fonoteca.synth.words import Lexicon

MARKETS = (
    "AD AE AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA CD CG CH CI CL CM CO CR "
    "CV CW CY CZ DE DJ DK DM DO DZ EC EE EG ES ET FI FJ FM FR GA GB GD GE GH GM GN GQ GR GT GW GY HK HN HR HT HU ID "
    "IE IL IN IQ IS IT JM JO JP KE KG KH KI KM KN KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MH MK ML "
    "MN MO MR MT MU MV MW MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PS PT PW PY QA RO RS RW SA SB SC "
    "SE SG SI SK SL SM SN SR ST SV SZ TD TG TH TJ TL TN TO TR TT TV TW TZ UA UG US UY UZ VC VE VN VU WS XK ZA ZM ZW"
).split()

GENRE_ROOTS = [
    "pop",
    "rock",
    "hip hop",
    "rap",
    "jazz",
    "blues",
    "folk",
    "country",
    "metal",
    "punk",
    "soul",
    "funk",
    "disco",
    "house",
    "techno",
    "trance",
    "drum and bass",
    "dubstep",
    "ambient",
    "classical",
    "opera",
    "reggae",
    "ska",
    "salsa",
    "cumbia",
    "tango",
    "samba",
    "bossa nova",
    "k-pop",
    "j-pop",
    "mandopop",
    "afrobeat",
    "highlife",
    "flamenco",
    "fado",
    "chanson",
    "schlager",
    "gospel",
    "r&b",
    "indie",
    "shoegaze",
    "emo",
    "grunge",
    "trap",
    "lo-fi",
    "bluegrass",
    "zydeco",
    "qawwali",
    "bhangra",
    "enka",
]
GENRE_PREFIXES = [
    "",
    "",
    "",
    "indie ",
    "modern ",
    "classic ",
    "dark ",
    "dream ",
    "neo ",
    "deep ",
    "latin ",
    "german ",
    "french ",
    "brazilian ",
    "swedish ",
    "japanese ",
    "korean ",
    "nigerian ",
    "mexican ",
]

WORDS = (
    "love night heart fire dream light baby time world life rain summer blue dance forever home road sky gold "
    "river wild stars moon shadow city young free run fall ocean silence electric midnight paradise hello goodbye "
    "crazy tonight alone together sweet broken high low echo ghost angel thunder velvet neon sugar honey storm"
).split()
FOREIGN = [
    "corazón",
    "canción",
    "noche",
    "été",
    "über",
    "Straße",
    "café",
    "mañana",
    "señorita",
    "ça",
    "naïve",
    "愛",
    "夜",
    "東京",
    "사랑",
    "서울",
    "любовь",
    "ночь",
    "حب",
    "שלום",
    "Ελλάδα",
    "à bientôt",
    "déjà vu",
]
FIRST = (
    "Ana Ben Carla Dev Elif Finn Grace Hugo Ines Jun Kofi Lena Marco Nia Omar Pia Quinn Rosa Sam Tariq Uma Vik Wen "
    "Yara Zoe"
).split()
LAST = (
    "Adeyemi Berg Castillo Dubois Eriksen Fujita García Haddad Ivanova Jensen Kim López Müller Nakamura Okafor Petrov "
    "Rossi Silva Tanaka Novak Weber"
).split()
BAND = [
    "The {w}s",
    "{W} {W}",
    "{w} club",
    "Los {W}s",
    "{W} Collective",
    "DJ {W}",
    "Lil {W}",
    "{W}$",
    "{W}/{W}",
    "MC {W}",
]

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = "0123456789abcdef"
COUNTRIES = ["US", "GB", "DE", "FR", "SE", "JP", "KR", "BR", "MX", "NG", "ES", "IT", "NL", "CA", "AU", "QM", "QZ"]
API = "https://api.spotify.com/v1/"
OPEN = "https://open.spotify.com/"


@dataclass
class Artist:
    id: str
    name: str
    popularity: int
    followers: int
    genres: list[str]
    images: list[dict[str, Any]]
    fame: float


class CatalogSynth:
    def __init__(self, tracks: int, seed: int = 1, words: int = 0) -> None:
        """`words`: 0 draws titles and names from the small built-in word list (tests, demos); N > 0 from a
        vocabulary of N words with Zipf frequencies (synth/words.py), as a search index meets in a real catalog."""
        self.n_tracks = tracks
        self.rng = random.Random(seed)
        self.lexicon = Lexicon(words, WORDS) if words > 0 else None
        self.genres = self._genre_names()
        self.market_variants = self._market_variants()
        self.artists = self._artists(max(5, tracks // 8))
        self.recordings: list[tuple[str, str, list[Artist], int]] = []  # isrc, name, artists, duration (for re-use)

    # --- helpers -------------------------------------------------------------------------------------------
    def _id(self) -> str:
        return "".join(self.rng.choices(BASE62, k=22))

    def _hex(self, n: int) -> str:
        return "".join(self.rng.choices(HEX, k=n))

    def _genre_names(self) -> list[str]:
        rng = random.Random(7)
        names = {prefix + root for root in GENRE_ROOTS for prefix in GENRE_PREFIXES if rng.random() < 0.5 or not prefix}
        return sorted(names)

    def _market_variants(self) -> list[list[str]]:
        variants = [list(MARKETS)]
        for _ in range(12):  # regional releases: a few recurring subsets
            variants.append([m for m in MARKETS if self.rng.random() < 0.8])
        variants.append([])  # withdrawn everywhere
        return variants

    def _markets(self) -> list[str]:
        r = self.rng.random()
        if r < 0.88:
            return self.market_variants[0]
        if r < 0.99:
            return self.market_variants[1 + int(self.rng.random() * 12)]
        return self.market_variants[-1]

    def _title(self) -> str:
        rng = self.rng
        r = rng.random()
        words = [self._word() for _ in range(1 + int(rng.random() * 3))]
        if r < 0.08:
            words.append(rng.choice(FOREIGN))
        title = " ".join(words).title() if rng.random() < 0.7 else " ".join(words)
        if rng.random() < 0.05:
            title += f" (feat. {rng.choice(FIRST)})"
        if rng.random() < 0.04:
            title += " - Remastered"
        return title

    def _word(self) -> str:
        return self.rng.choice(WORDS) if self.lexicon is None else self.lexicon.draw(self.rng)

    def _artist_name(self) -> str:
        rng = self.rng
        if rng.random() < 0.5:
            if self.lexicon is None:
                return f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            return f"{self._word().title()} {self._word().title()}"
        pattern = rng.choice(BAND)
        return pattern.replace("{w}", self._word(), 1).replace("{W}", self._word().title()).replace("{w}", self._word())

    def _images(self, prefix: str) -> list[dict[str, Any]]:
        return [
            {"height": size, "url": f"https://i.scdn.co/image/{prefix}{self._hex(24)}", "width": size}
            for size in (640, 300, 64)
        ]

    def _artists(self, count: int) -> list[Artist]:
        artists = []
        for rank in range(1, count + 1):
            fame = 92.0 * rank**-0.33
            popularity = max(0, min(100, int(fame + self.rng.gauss(0, 6))))
            followers = (
                int(10 ** (popularity / 16.0) * self.rng.uniform(0.5, 2.0)) if popularity else self.rng.randint(0, 50)
            )
            n_genres = 0 if self.rng.random() < 0.4 else self.rng.randint(1, 4)
            genres = self.rng.sample(self.genres, n_genres)
            artists.append(
                Artist(
                    self._id(),
                    self._artist_name(),
                    popularity,
                    followers,
                    genres,
                    self._images("ab6761610000e5eb"),
                    fame,
                )
            )
        self.rng.shuffle(artists)
        return artists

    def _pick_artist(self) -> Artist:
        # favour famous artists a little so they have bigger catalogues
        n = len(self.artists)
        index = int(n * self.rng.random() ** 1.3)
        return self.artists[min(index, n - 1)]

    def _duration_ms(self) -> int:
        peak = self.rng.choice((120, 180, 180, 240, 240))
        seconds = max(30.0, min(900.0, self.rng.gauss(peak, 22)))
        if self.rng.random() < 0.03:
            seconds = self.rng.uniform(300, 900)
        return int(seconds * 1000) + self.rng.randint(0, 999)

    def _popularity(self, artist: Artist) -> int:
        if self.rng.random() < 0.55 + 0.4 * (1 - artist.fame / 92.0) ** 3:
            return 0
        return max(0, min(100, int(artist.fame * self.rng.uniform(0.4, 1.05) + self.rng.gauss(0, 5))))

    def _isrc(self) -> str:
        rng = self.rng
        registrant = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=3))
        return f"{rng.choice(COUNTRIES)}{registrant}{rng.randint(0, 99):02d}{rng.randint(0, 99999):05d}"

    def _release_date(self) -> tuple[str, str]:
        year = int(2025 - abs(self.rng.gauss(0, 14)))
        year = max(1920, year)
        r = self.rng.random()
        if r < 0.8:
            return f"{year}-{self.rng.randint(1, 12):02d}-{self.rng.randint(1, 28):02d}", "day"
        if r < 0.95:
            return str(year), "year"
        return f"{year}-{self.rng.randint(1, 12):02d}", "month"

    @staticmethod
    def _simple_artist(artist: Artist) -> dict[str, Any]:
        return {
            "external_urls": {"spotify": f"{OPEN}artist/{artist.id}"},
            "href": f"{API}artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }

    # --- objects -------------------------------------------------------------------------------------------
    def artist_objects(self) -> Iterator[dict[str, Any]]:
        for artist in self.artists:
            yield {
                "external_urls": {"spotify": f"{OPEN}artist/{artist.id}"},
                "followers": {"href": None, "total": artist.followers},
                "genres": artist.genres,
                "href": f"{API}artists/{artist.id}",
                "id": artist.id,
                "images": artist.images,
                "name": artist.name,
                "popularity": artist.popularity,
                "type": "artist",
                "uri": f"spotify:artist:{artist.id}",
            }

    def track_objects(self) -> Iterator[dict[str, Any]]:
        """Full track objects with nested simplified album and artists, album by album."""
        made = 0
        rng = self.rng
        while made < self.n_tracks:
            r = rng.random()
            album_type, size = (
                ("single", rng.choice((1, 1, 1, 2, 3)))
                if r < 0.62
                else (("album", rng.randint(7, 16)) if r < 0.93 else ("compilation", rng.randint(12, 24)))
            )
            size = min(size, self.n_tracks - made)
            main = self._pick_artist()
            album_artists = [main] if rng.random() < 0.9 else [main, self._pick_artist()]
            release_date, precision = self._release_date()
            album_id = self._id()
            album = {
                "album_type": album_type,
                "artists": [self._simple_artist(a) for a in album_artists],
                "available_markets": self._markets(),
                "external_urls": {"spotify": f"{OPEN}album/{album_id}"},
                "href": f"{API}albums/{album_id}",
                "id": album_id,
                "images": self._images("ab67616d0000b273"),
                "name": self._title() if album_type != "single" or rng.random() < 0.3 else None,
                "release_date": release_date,
                "release_date_precision": precision,
                "total_tracks": size,
                "type": "album",
                "uri": f"spotify:album:{album_id}",
            }
            for number in range(1, size + 1):
                reuse = album_type == "compilation" and self.recordings and rng.random() < 0.5
                if reuse or (self.recordings and rng.random() < 0.01):
                    isrc, name, artists, duration = rng.choice(self.recordings)
                else:
                    artists = album_artists if rng.random() < 0.85 else album_artists + [self._pick_artist()]
                    isrc, name, duration = self._isrc(), self._title(), self._duration_ms()
                    if len(self.recordings) < 200_000:
                        self.recordings.append((isrc, name, artists, duration))
                    elif rng.random() < 0.01:
                        self.recordings[rng.randrange(len(self.recordings))] = (isrc, name, artists, duration)
                if album["name"] is None:
                    album["name"] = name
                track_id = self._id()
                yield {
                    "album": album,
                    "artists": [self._simple_artist(a) for a in artists],
                    "available_markets": album["available_markets"],
                    "disc_number": 1,
                    "duration_ms": duration,
                    "explicit": rng.random() < 0.14,
                    "external_ids": {"isrc": isrc},
                    "external_urls": {"spotify": f"{OPEN}track/{track_id}"},
                    "href": f"{API}tracks/{track_id}",
                    "id": track_id,
                    "is_local": False,
                    "name": name,
                    "popularity": self._popularity(artists[0]),
                    "preview_url": None if rng.random() < 0.7 else f"https://p.scdn.co/mp3-preview/{self._hex(40)}",
                    "track_number": number,
                    "type": "track",
                    "uri": f"spotify:track:{track_id}",
                }
                made += 1

    def features_for(self, track: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        tid = track["id"]
        energy = round(rng.betavariate(2.5, 2), 3)
        return {
            "acousticness": round(min(1.0, max(0.0, 1 - energy + rng.gauss(0, 0.15))), 4),
            "analysis_url": f"{API}audio-analysis/{tid}",
            "danceability": round(rng.betavariate(3, 2), 3),
            "duration_ms": track["duration_ms"],
            "energy": energy,
            "id": tid,
            "instrumentalness": 0 if rng.random() < 0.3 else round(rng.random() ** 4, 6),
            "key": rng.randint(-1, 11) if rng.random() < 0.02 else rng.randint(0, 11),
            "liveness": round(rng.betavariate(1.5, 8), 4),
            "loudness": round(min(0.0, rng.gauss(-8, 4)), 3),
            "mode": int(rng.random() < 0.63),
            "speechiness": round(rng.betavariate(1.2, 14), 4),
            "tempo": round(rng.uniform(60, 200), 3),
            "time_signature": rng.choice((4, 4, 4, 4, 4, 3, 5)),
            "track_href": f"{API}tracks/{tid}",
            "type": "audio_features",
            "uri": f"spotify:track:{tid}",
            "valence": round(rng.random(), 3),
        }

    def objects(self, kinds: set[str]) -> Iterator[dict[str, Any]]:
        """Artists first (full objects), then tracks, each followed by its audio features when asked."""
        if "artist" in kinds:
            yield from self.artist_objects()
        for track in self.track_objects():
            if "track" in kinds:
                yield track
            if "audio-features" in kinds:
                yield self.features_for(track)
