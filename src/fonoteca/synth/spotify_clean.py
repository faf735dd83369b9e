"""Synthetic databases in the reference layout (spotify_clean*.sqlite3), with the distributions of `synth catalog`.

Artists, albums and tracks come from `CatalogSynth` (Zipf-like popularity, shared ISRCs, market variants, genres),
written as the layout's rows; audio features as `synth catalog` makes them (about 1 % of rows a null response);
playlists with catalog tracks, episodes, local files and ids not in the tracks table; and track_files with the
statuses the published rule gives: tracks taken in order of popularity, then secondary priority, then rowid; one
of popularity 0 whose ISRC already has a download is skipped_isrc_has_download, one below the 0.351 priority
threshold skipped_low_priority; a few would-be downloads failed (error_* and todo_unk statuses), which gives
their ISRC no download. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import math
import random
from array import array
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from fonoteca.catalog import layout
from fonoteca.catalog.db import transaction
from fonoteca.catalog.ids import gtin_check_digit
from fonoteca.progress import Progress
from fonoteca.synth.catalog import BASE62, CatalogSynth

ANNA_THRESHOLD = 0.351
BATCH = 20_000
FETCHED_AT_MS = 1_700_000_000_000  # rows are fetched within a few weeks after this moment
FAILURES = (
    ("error_not_available", 0.010),
    ("error_has_replacement", 0.003),
    ("error_no_ogg160", 0.002),
    ("error_zero_duration", 0.001),
    ("todo_unk", 0.002),
)


def secondary_priority(artist_popularity: int, album_popularity: int, followers: int, isrc_has_download: bool) -> float:
    """The published formula (artist popularity and followers: the highest among the track's artists)."""
    return (
        artist_popularity / 100
        + album_popularity / 100
        + math.log10(min(1e8, followers + 1)) / 8
        - 10 * int(isrc_has_download)
    )


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in " .-()" else "_" for ch in text)[:60]


class LayoutSynth:
    def __init__(self, tracks: int, seed: int = 1, words: int = 0) -> None:
        self.synth = CatalogSynth(tracks, seed=seed, words=words)
        self.rng = random.Random(seed * 7919 + 17)
        self.n_tracks = tracks
        self.rows: dict[str, list[tuple[Any, ...]]] = {}
        self.artists: dict[str, tuple[int, int, int]] = {}  # id -> (rowid, popularity, followers)
        self.albums: dict[str, tuple[int, int]] = {}  # id -> (rowid, popularity); recent albums only
        self.album_count = 0
        self.appears: dict[int, set[str]] = {}  # album rowid -> artists linked as appears_on
        self.markets: dict[str, int] = {}
        self.isrcs: dict[str, int] = {}
        # what the track_files rule needs of each track: compact arrays, one entry per track
        self.popularity = array("b")
        self.priority = array("d")
        self.isrc = array("l")

    def _ms(self) -> int:
        return FETCHED_AT_MS + self.rng.randint(0, 30 * 86400 * 1000)

    def _id(self) -> str:
        return "".join(self.rng.choices(BASE62, k=22))

    def _hex(self, n: int) -> str:
        return "".join(self.rng.choices("0123456789abcdef", k=n))

    def write(
        self, out: Path, databases: tuple[str, ...] = layout.LOAD_ORDER, progress: Progress | None = None
    ) -> dict[str, Path]:
        """Write the chosen databases into `out` (a folder); returns {database: path}."""
        out.mkdir(parents=True, exist_ok=True)
        paths = {db: out / layout.FILE_NAMES[db] for db in databases}
        for path in paths.values():
            path.unlink(missing_ok=True)
        conns = {db: layout.create_database(str(path), db) for db, path in paths.items()}
        with ExitStack() as stack:
            for conn in conns.values():
                stack.enter_context(transaction(conn, immediate=False))
            self._write_rows(conns, progress)
        for db, conn in conns.items():
            layout.create_indexes(conn, db)
            conn.close()
        return paths

    def _write_rows(self, conns: dict[str, Any], progress: Progress | None) -> int:
        """Every row of the chosen databases, inside their open transactions; returns the number of tracks."""
        self._artists()
        n = 0
        for track in self.synth.track_objects():
            n += 1
            self._track(track, n, want_features=layout.FEATURES in conns, want_files=layout.TRACK_FILES in conns)
            if n % BATCH == 0:
                self._flush(conns)
                if progress:
                    progress(BATCH)
        self._flush(conns)
        if progress and n % BATCH:
            progress(n % BATCH)
        if layout.MAIN in conns:
            conns[layout.MAIN].executemany(
                "INSERT INTO available_markets VALUES (?, ?)", [(rowid, text) for text, rowid in self.markets.items()]
            )
        if layout.PLAYLISTS in conns:
            self._playlists(conns[layout.PLAYLISTS], n)
        if layout.TRACK_FILES in conns:
            self._statuses(conns[layout.TRACK_FILES])
        return n

    def _add(self, table: str, *rows: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, []).extend(rows)

    def _flush(self, conns: dict[str, Any]) -> None:
        for table, batch in self.rows.items():
            conn = conns.get(layout.TABLES[table].database)
            if conn is not None and batch:
                conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(batch[0]))})", batch)
        self.rows.clear()

    # --- main database ------------------------------------------------------------------------------------------
    def _artists(self) -> None:
        for rowid, artist in enumerate(self.synth.artists, 1):
            self.artists[artist.id] = (rowid, artist.popularity, artist.followers)
            self._add("artists", (rowid, artist.id, self._ms(), artist.name, artist.followers, artist.popularity))
            self._add("artist_genres", *((rowid, genre) for genre in artist.genres))
            self._add("artist_images", *((rowid, i["width"], i["height"], i["url"]) for i in artist.images))

    def _album(self, album: dict[str, Any], market: int) -> tuple[int, int]:
        known = self.albums.get(album["id"])
        if known is not None:
            return known
        rng = self.rng
        self.album_count += 1
        rowid = self.album_count
        popularity = max(0, min(100, int(self.artists[album["artists"][0]["id"]][1] * rng.uniform(0.3, 1.0))))
        year = album["release_date"][:4]
        label = f"{album['artists'][0]['name']} Records" if rng.random() < 0.6 else "Independent"
        body = "".join(rng.choices("0123456789", k=11))
        amgid = f"R {rng.randint(100000, 9999999)}" if rng.random() < 0.05 else None
        self._add(
            "albums",
            (
                rowid,
                album["id"],
                self._ms(),
                album["name"],
                album["album_type"],
                market,
                body + gtin_check_digit(body),
                amgid,
                f"{year} {label}",
                f"{year} {label}",
                label,
                popularity,
                album["release_date"],
                album["release_date_precision"],
                album["total_tracks"],
            ),
        )
        self._add(
            "album_images",
            *((rowid, i["width"], i["height"], i["url"]) for i in self.synth._images("ab67616d0000b273")),
        )
        self._add(
            "artist_albums",
            *((self.artists[a["id"]][0], rowid, 0, 0, index) for index, a in enumerate(album["artists"])),
        )
        if len(self.albums) > 256:  # an album's tracks come together: older albums never come back
            self.albums.clear()
            self.appears.clear()
        self.albums[album["id"]] = (rowid, popularity)
        return rowid, popularity

    def _track(self, track: dict[str, Any], rowid: int, *, want_features: bool, want_files: bool) -> None:
        rng = self.rng
        album = track["album"]
        market = self.markets.setdefault(",".join(track["available_markets"]), len(self.markets) + 1)
        album_rowid, album_popularity = self._album(album, market)
        artist_ids = [a["id"] for a in track["artists"]]
        listed = {a["id"] for a in album["artists"]}
        seen = self.appears.setdefault(album_rowid, set())
        for artist in artist_ids:  # featured artists: the album appears on their page
            if artist not in listed and artist not in seen:
                seen.add(artist)
                self._add("artist_albums", (self.artists[artist][0], album_rowid, 1, 1, None))
        isrc = track["external_ids"]["isrc"]
        ean = None
        if rng.random() < 0.01:
            body = "".join(rng.choices("0123456789", k=12))
            ean = body + gtin_check_digit(body)
        self._add(
            "tracks",
            (
                rowid,
                track["id"],
                self._ms(),
                track["name"],
                track["preview_url"],
                album_rowid,
                track["track_number"],
                isrc,
                ean,
                None,
                track["popularity"],
                market,
                track["disc_number"],
                track["duration_ms"],
                int(track["explicit"]),
            ),
        )
        self._add("track_artists", *((rowid, self.artists[a][0]) for a in artist_ids))
        if want_features:
            self._add("track_audio_features", self._features(track))
        if want_files:
            priority = secondary_priority(
                max(self.artists[a][1] for a in artist_ids),
                album_popularity,
                max(self.artists[a][2] for a in artist_ids),
                False,
            )
            self.popularity.append(track["popularity"])
            self.priority.append(priority)
            self.isrc.append(self.isrcs.setdefault(isrc, len(self.isrcs)))
            self._add("track_files", self._file_row(track, album, priority))

    def _features(self, track: dict[str, Any]) -> tuple[Any, ...]:
        if self.rng.random() < 0.01:
            return (track["id"], self._ms(), 1) + (None,) * 13
        f = self.synth.features_for(track)
        return (
            track["id"],
            self._ms(),
            0,
            f["duration_ms"],
            f["time_signature"],
            f["tempo"],
            f["key"],
            f["mode"],
            f["danceability"],
            f["energy"],
            f["loudness"],
            f["speechiness"],
            f["acousticness"],
            f["instrumentalness"],
            f["liveness"],
            f["valence"],
        )

    # --- track files: written as downloads first, the statuses the rule gives set once every track is known ------
    def _file_row(self, track: dict[str, Any], album: dict[str, Any], priority: float) -> tuple[Any, ...]:
        rng = self.rng
        popularity, tid = track["popularity"], track["id"]
        kbit = None if popularity > 0 else 75
        size = int(track["duration_ms"] / 1000 * (160_000 if kbit is None else 75_000) / 8) + rng.randint(2_000, 40_000)
        artist = _safe(track["artists"][0]["name"])
        filename = (
            f"track-popularity-{popularity}/{tid[0]}/{tid[:2]}/{artist}/"
            f"{album['release_date'][:4]} {_safe(album['name'] or '')} ({album['id']})/"
            f"{track['track_number']:02d} {artist} - {_safe(track['name'])}.ogg"
        )
        return (
            tid,
            filename,
            "success",
            kbit,
            self._ms(),
            rng.choice(("US", "DE", "BR", "JP")),
            hashlib.sha256(b"original " + tid.encode()).hexdigest(),
            hashlib.sha256(b"tagged " + tid.encode()).hexdigest(),
            size,
            0,
            popularity,
            priority,
            None,
            None,
            self._hex(40),
            self._hex(40),
            self._hex(40) if popularity > 50 else None,
            None,
            None,
            rng.choice((None, "en", "es", "de", "ja")),
            None,
            int(rng.random() < 0.3),
            None if rng.random() < 0.5 else f"{artist} Records",
            None,
            None,
            None,
        )

    def _outcome(self) -> str:
        r = self.rng.random()
        for name, share in FAILURES:
            if r < share:
                return name
            r -= share
        return "success"

    def _statuses(self, conn: Any) -> None:
        """The published rule over every track, in its order; rows that are not downloads lose their file fields."""
        popularity = np.frombuffer(self.popularity, dtype=np.int8)
        priority = np.frombuffer(self.priority, dtype=np.float64)
        isrc = np.frombuffer(self.isrc, dtype=np.int64)
        order = np.lexsort((np.arange(len(popularity)), -priority, -popularity.astype(np.int16)))
        downloaded = np.zeros(len(self.isrcs), dtype=bool)
        changes = []
        for i in order.tolist():
            has = bool(downloaded[isrc[i]])
            if popularity[i] == 0 and has:
                status = "skipped_isrc_has_download"
            elif popularity[i] == 0 and priority[i] < ANNA_THRESHOLD:
                status = "skipped_low_priority"
            else:
                status = self._outcome()
            if status == "success":
                downloaded[isrc[i]] = True
                if has:
                    changes.append((status, int(has), float(priority[i]) - 10, i + 1, 1))
            else:
                changes.append((status, int(has), float(priority[i]) - 10 * has, i + 1, 0))
            if len(changes) >= BATCH:
                self._update(conn, changes)
        self._update(conn, changes)

    @staticmethod
    def _update(conn: Any, changes: list[tuple[Any, ...]]) -> None:
        conn.executemany(
            "UPDATE track_files SET status = ?1, isrc_has_download = ?2, secondary_priority = ?3, "
            "filename = CASE WHEN ?5 THEN filename END, reencoded_kbit_vbr = CASE WHEN ?5 THEN reencoded_kbit_vbr END, "
            "sha256_original = CASE WHEN ?5 THEN sha256_original END, "
            "sha256_with_embedded_meta = CASE WHEN ?5 THEN sha256_with_embedded_meta END, "
            "filesize_bytes = CASE WHEN ?5 THEN filesize_bytes END WHERE rowid = ?4",
            changes,
        )
        changes.clear()

    # --- playlists ------------------------------------------------------------------------------------------------
    def _playlists(self, conn: Any, tracks: int) -> None:
        rng = self.rng
        playlists: list[tuple[Any, ...]] = []
        images: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        for rowid in range(1, max(2, tracks // 200) + 1):
            size = rng.randint(1, 40)
            playlists.append(
                (
                    rowid,
                    self._id(),
                    self._hex(32),
                    self._ms(),
                    f"Playlist {rowid} {rng.choice(('mix', 'radio', 'faves', 'run'))}",
                    "" if rng.random() < 0.5 else f"songs for {rng.choice(('work', 'sleep', 'the road'))}",
                    int(rng.random() < 0.05),
                    int(rng.random() < 0.9),
                    None if rng.random() < 0.7 else f"#{rng.randint(0, 0xFFFFFF):06X}",
                    f"user{rng.randint(1, 10**6)}",
                    f"User {rng.randint(1, 999)}",
                    int(10 ** rng.uniform(0, 5)),
                    size,
                )
            )
            images.append((rowid, 640, 640, f"https://mosaic.scdn.co/640/{self._hex(40)}"))
            items.extend(self._item(rowid, position, tracks) for position in range(size))
            if len(items) >= BATCH:
                conn.executemany(f"INSERT INTO playlist_tracks VALUES ({','.join('?' * 13)})", items)
                items = []
        conn.executemany(f"INSERT INTO playlists VALUES ({','.join('?' * 13)})", playlists)
        conn.executemany("INSERT INTO playlist_images VALUES (?,?,?,?)", images)
        conn.executemany(f"INSERT INTO playlist_tracks VALUES ({','.join('?' * 13)})", items)

    def _item(self, playlist: int, position: int, tracks: int) -> tuple[Any, ...]:
        rng = self.rng
        added = f"20{rng.randint(15, 24)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T12:00:00Z"
        by = None if rng.random() < 0.3 else f"user{rng.randint(1, 10**6)}"
        r = rng.random()
        if r < 0.05:  # a podcast episode
            return (playlist, position, 1, None, self._id(), added, by, 0, None, None, None, None, None)
        if r < 0.08:  # a local file
            name = f"{rng.choice(('demo', 'live', 'bootleg'))} {rng.randint(1, 99)}"
            return (
                playlist,
                position,
                0,
                None,
                None,
                added,
                by,
                1,
                name,
                "Home recordings",
                "Me",
                rng.randint(60_000, 400_000),
                f"spotify:local:Me:Home+recordings:{name.replace(' ', '+')}:180",
            )
        if r < 0.10:  # a track the tracks table does not hold
            return (playlist, position, 0, None, self._id(), added, by, 0, None, None, None, None, None)
        return (playlist, position, 0, rng.randint(1, tracks), None, added, by, 0, None, None, None, None, None)


def synthesize(
    out: Path,
    tracks: int,
    seed: int = 1,
    databases: tuple[str, ...] = layout.LOAD_ORDER,
    progress: Progress | None = None,
    words: int = 0,
) -> dict[str, Path]:
    """Write synthetic databases of the layout into `out`; returns {database: path}. `words`: as CatalogSynth's."""
    return LayoutSynth(tracks, seed, words).write(out, databases, progress)
