"""`fonoteca import fma tracks.csv [genres.csv]`: the Free Music Archive dataset's metadata (fma_metadata).

tracks.csv has two header rows, the column group (album, artist, set, track) and the field, then a row naming
the index column (`track_id`); each row is a track with `('track', 'license')`, `('track', 'genres')` (genre ids,
`[21, 811]`), `('track', 'genre_top')`, its album and artist columns. genres.csv (`genre_id, #tracks, parent,
title, top_level`) names the genre ids and their hierarchy: a track's genres are its genres' titles, and the
artist gets them (most frequent first, parents after children) for the search's genre filter.

Tracks are in the namespace `fma` under FMA's ids; the dataset's audio is at `NNN/NNNNNN.mp3` (the id in six
digits, the first three as the folder), recorded so `fonoteca ingest fma_full/` matches without a map. The
licence is the track's license column (deed titles such as `Attribution-NonCommercial-ShareAlike 3.0
International`). Bad rows (a track id that is no number, a row with more or fewer cells than the header) are
rejected with their line; a cell that cannot be read (a duration, a date, a genre list) is left out.
"""

from __future__ import annotations

import ast
import csv
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fonoteca.catalog.provenance import Bad, LicenceStatement, SourceFile, Unit, attribution_text
from fonoteca.catalog.records import LEVEL_TABLE, AlbumRec, ArtistRec, collection_track
from fonoteca.catalog.values import date_precision, date_problem
from fonoteca.errors import FonotecaError
from fonoteca.licences import normalise

NAMESPACE, NUMBER = "fma", 7
ORIGIN = "fma"
GROUPS = ("album", "artist", "set", "track")
REQUIRED = (("track", "title"),)


def audio_path(track_id: int) -> str:
    digits = f"{track_id:06d}"
    return f"{digits[:3]}/{digits}.mp3"


def load_genres(path: Path) -> dict[int, tuple[str, int | None]]:
    """genre_id -> (title, parent id or None); FonotecaError naming the file and line when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FonotecaError(f"{path}: cannot be read ({exc})") from None
    rows = csv.reader(text.splitlines())
    header = [h.strip() for h in next(rows, [])]
    if "genre_id" not in header or "title" not in header:
        raise FonotecaError(
            f"{path}: not an FMA genres.csv (the header needs genre_id and title, found {','.join(header)[:200]})"
        )
    gid, title, parent = (
        header.index("genre_id"),
        header.index("title"),
        header.index("parent") if "parent" in header else None,
    )
    out: dict[int, tuple[str, int | None]] = {}
    for line, row in enumerate(rows, 2):
        if not row:
            continue
        try:
            number = int(row[gid])
            up = int(row[parent]) if parent is not None and row[parent].strip() not in ("", "0") else None
        except (ValueError, IndexError):
            raise FonotecaError(f"{path}:{line}: genre_id and parent must be numbers") from None
        out[number] = (row[title].strip(), up)
    return out


class Reader:
    def __init__(self, genres: dict[int, tuple[str, int | None]] | None = None) -> None:
        self.genres = genres or {}
        self.artist_genres: dict[str, Counter[str]] = defaultdict(Counter)
        self.artists: dict[str, tuple[str | None, str | None]] = {}

    def __call__(self, path: Path) -> Iterator[Unit | Bad]:
        from fonoteca.catalog.table import _text_lines

        rows = csv.reader(_text_lines(path))
        try:
            groups = next(rows)
            fields = next(rows)
        except StopIteration:
            yield Bad(1, f"{path}: fewer than the two header rows of an FMA tracks.csv")
            return
        except csv.Error as exc:
            yield Bad(1, f"{path}: the header cannot be read ({exc})")
            return
        columns = self._columns(groups, fields)
        if isinstance(columns, Bad):
            yield columns
            return
        width = len(fields)
        for row in rows:
            line = rows.line_num
            if not row or not any(c.strip() for c in row):
                continue
            if row[0].strip() == "track_id" and not any(c.strip() for c in row[1:]):
                continue  # the row naming the index column
            yield self._row(line, row, width, columns)
        yield from self._artist_units()

    @staticmethod
    def _columns(groups: list[str], fields: list[str]) -> dict[tuple[str, str], int] | Bad:
        # pandas writes the group once per column; blank cells (an older export) repeat the group on the left
        out: dict[tuple[str, str], int] = {}
        current = ""
        # the two header rows come from outside and may differ in length: the shorter one names the columns
        for i, (group, name) in enumerate(zip(groups, fields, strict=False)):
            current = group.strip() or current
            if i and current in GROUPS:
                out[(current, name.strip())] = i
        missing = [f"('{g}', '{n}')" for g, n in REQUIRED if (g, n) not in out]
        if missing or not {g for g, _ in out} & {"track"}:
            return Bad(
                1,
                f"not an FMA tracks.csv: no column {', '.join(missing) or 'of the track group'} in the "
                f"two header rows (found {', '.join(sorted({g for g, _ in out}))[:200]})",
            )
        return out

    def _row(self, line: int, row: list[str], width: int, columns: dict[tuple[str, str], int]) -> Unit | Bad:
        raw = ",".join(row)[:2000]
        if len(row) != width:
            return Bad(line, f"{len(row)} fields, but the header has {width}", raw)
        try:
            track_number = int(row[0])
        except ValueError:
            return Bad(line, f"track_id {row[0][:40]!r} is not a number", raw)
        if track_number < 0:
            return Bad(line, f"track_id {track_number} is negative", raw)

        def cell(group: str, name: str) -> str:
            i = columns.get((group, name))
            return row[i].strip() if i is not None else ""

        rejects: list[str] = []
        track = str(track_number)
        artist = _id(cell("artist", "id"), "('artist', 'id')", rejects)
        album = _id(cell("album", "id"), "('album', 'id')", rejects)
        title = cell("track", "title") or None
        artist_name = cell("artist", "name") or None
        if artist is not None:
            self.artists[artist] = (artist_name, cell("artist", "website") or None)
        genres = self._genres(cell("track", "genres_all") or cell("track", "genres"), rejects)
        top = cell("track", "genre_top")
        for genre in ([top] if top else []) + [g for g in genres if g != top]:
            if artist is not None:
                self.artist_genres[artist][genre] += 1
        unit = Unit(line, raw=raw)
        if album is not None:
            date = _date(cell("album", "date_released"), "('album', 'date_released')", rejects)
            unit.records.append(
                AlbumRec(
                    NUMBER,
                    album,
                    cell("album", "title") or None,
                    (cell("album", "type") or "").lower() or None,
                    _int(cell("album", "tracks"), "('album', 'tracks')", rejects),
                    date,
                    date_precision(date) if date else None,
                    None,
                    None,
                    None,
                    None,
                    LEVEL_TABLE,
                    None,
                    None,
                    ((artist, None),) if artist else None,
                )
            )
        extra: dict[str, Any] = {}
        if genres:
            extra["genres"] = genres
        for key in ("listens", "interest", "favorites"):
            value = _int(cell("track", key), f"('track', '{key}')", rejects)
            if value is not None:
                extra[key] = value
        unit.records.append(
            collection_track(
                NUMBER,
                track,
                level=LEVEL_TABLE,
                name=title,
                album=album,
                track_number=_int(cell("track", "number"), "('track', 'number')", rejects) or None,
                duration_ms=_duration(cell("track", "duration"), rejects),
                extra=extra or None,
                artists=((artist, None),) if artist else None,
            )
        )
        licence_text = cell("track", "license")
        if licence_text:
            licence = normalise(licence_text)
            url = f"https://freemusicarchive.org/track/{track}"
            unit.licences.append(
                LicenceStatement(
                    track, licence, attribution_text(title, artist_name, licence, None), ORIGIN, track, url, "fma"
                )
            )
        unit.files.append(SourceFile(track, "", audio_path(track_number), format="mp3"))
        unit.field_rejects = rejects
        return unit

    def _genres(self, text: str, rejects: list[str]) -> list[str]:
        if not text:
            return []
        try:
            ids = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            rejects.append(f"('track', 'genres') {text[:60]!r} is not a list of genre ids")
            return []
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            rejects.append(f"('track', 'genres') {text[:60]!r} is not a list of genre ids")
            return []
        names = []
        for gid in ids:
            if gid in self.genres:
                names.append(self.genres[gid][0])
                parent = self.genres[gid][1]
                while parent is not None and parent in self.genres and self.genres[parent][0] not in names:
                    names.append(self.genres[parent][0])
                    parent = self.genres[parent][1]
        return list(dict.fromkeys(names))

    def _artist_units(self) -> Iterator[Unit]:
        if not self.artists:
            return
        records = [
            ArtistRec(
                NUMBER,
                artist,
                name,
                None,
                None,
                LEVEL_TABLE,
                None,
                {"website": site} if site else None,
                tuple(g for g, _ in self.artist_genres[artist].most_common(20)) or None,
            )
            for artist, (name, site) in sorted(self.artists.items())
        ]
        yield Unit(0, records)


def _id(text: str, what: str, rejects: list[str]) -> str | None:
    if not text:
        return None
    try:
        return str(int(float(text)))
    except ValueError:
        rejects.append(f"{what} {text[:40]!r} is not a number")
        return None


def _int(text: str, what: str, rejects: list[str]) -> int | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        rejects.append(f"{what} {text[:40]!r} is not a number")
        return None
    if value != value or value < 0 or value != int(value):
        rejects.append(f"{what} {text[:40]!r} is not a whole number >= 0")
        return None
    return int(value)


def _duration(text: str, rejects: list[str]) -> int | None:
    if not text:
        return None
    try:
        if ":" in text:
            seconds = 0.0
            for part in text.split(":"):
                seconds = seconds * 60 + float(part)
        else:
            seconds = float(text)
    except ValueError:
        rejects.append(f"('track', 'duration') {text[:40]!r} is not a duration")
        return None
    if seconds < 0 or seconds != seconds:
        rejects.append(f"('track', 'duration') {text[:40]!r} is not a duration")
        return None
    return int(round(seconds * 1000))


def _date(text: str, what: str, rejects: list[str]) -> str | None:
    if not text:
        return None
    date = text[:10]
    problem = date_problem(date, allow_unknown_year=False)
    if problem is not None:
        rejects.append(f"{what} {text[:40]!r}: {problem}")
        return None
    return date
