"""`fonoteca import jamendo PATH...`: Jamendo API v3 JSON responses (`/v3.0/tracks`: `headers` and `results[]`,
each result with its `license_ccurl`, `audiodownload_allowed`, `musicinfo` tags) and the MTG-Jamendo dataset's TSV
layout (`TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION TAGS...`, tags like `genre---rock`, `mood/theme---calm`, one
per column after DURATION).

Tracks are in the namespace `jamendo` under Jamendo's own numeric ids (the dataset's `track_0001286` is track
1286), so the API's and the dataset's records of one track meet. Genre tags go to the artist's genres (most
frequent first, as the search's genre filter reads them), every tag stays with the track. The licence is the
track's `license_ccurl`; the dataset's TSV has none, so its tracks have no licence on record unless the import
states one for the rows without (`--licence`). `audiodownload_allowed: false` is kept with the track (the artist's
wish on Jamendo); the licence decides what is published. A dataset row's PATH (`86/1286.mp3`) is kept, so
`fonoteca ingest` matches the dataset's audio folder without a map.

Bad input: a response without `results`, a result without a usable id, a TSV without the header, a row with
fewer than five columns or an id that is not Jamendo's are rejected with the line; a duration or date that cannot
be read is left out of the record.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fonoteca.catalog.provenance import Bad, LicenceStatement, SourceFile, Unit, attribution_text
from fonoteca.catalog.records import LEVEL_FULL, LEVEL_TABLE, AlbumRec, ArtistRec, collection_track
from fonoteca.catalog.values import date_precision, date_problem
from fonoteca.licences import Licence, normalise

NAMESPACE, NUMBER = "jamendo", 6
ORIGIN = "jamendo"
TSV_HEADER = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION")
_ID = re.compile(r"^(?:track_|artist_|album_)?0*(\d{1,12})$")
MAX_INPUT = 512 * 1024 * 1024


class Reader:
    """Reads one input; `licence`: the licence of tracks the input gives none for (None: unknown)."""

    def __init__(self, licence: Licence | None = None) -> None:
        self.default = licence
        self.genres: dict[str, Counter[str]] = defaultdict(Counter)
        self.artist_names: dict[str, str | None] = {}

    def __call__(self, path: Path) -> Iterator[Unit | Bad]:
        self.genres.clear()
        self.artist_names.clear()
        try:
            head = path.open("rb").read(4096)
        except OSError as exc:
            yield Bad(1, f"cannot read {path}: {exc.strerror}")
            return
        if head.lstrip()[:1] in (b"{", b"["):
            yield from self._json(path)
        else:
            yield from self._tsv(path)
        yield from self._artists()

    # --- the API's JSON ------------------------------------------------------------------------------------
    def _json(self, path: Path) -> Iterator[Unit | Bad]:
        data = path.read_bytes()
        if len(data) > MAX_INPUT:
            yield Bad(1, f"{path} is larger than {MAX_INPUT} bytes")
            return
        try:
            documents = [(1, orjson.loads(data))]
        except orjson.JSONDecodeError:
            documents = []
            for number, raw in enumerate(data.splitlines(), 1):
                if raw.strip():
                    try:
                        documents.append((number, orjson.loads(raw)))
                    except orjson.JSONDecodeError as exc:
                        yield Bad(number, f"invalid JSON: {exc}", raw.decode("utf-8", "replace"))
        for line, doc in documents:
            results = doc.get("results") if isinstance(doc, dict) else doc if isinstance(doc, list) else None
            if not isinstance(results, list):
                yield Bad(line, "not a Jamendo API response: no 'results' list", orjson.dumps(doc).decode()[:2000])
                continue
            headers = doc.get("headers") if isinstance(doc, dict) else None
            if isinstance(headers, dict) and headers.get("status") not in (None, "success"):
                yield Bad(line, f"the response reports an error: {str(headers.get('error_message'))[:200]}")
            for result in results:
                yield self._result(line, result)

    def _result(self, line: int, result: Any) -> Unit | Bad:
        raw = orjson.dumps(result).decode()[:2000] if isinstance(result, (dict, list)) else str(result)
        if not isinstance(result, dict):
            return Bad(line, "a result that is not an object", raw)
        track = _jamendo_id(result.get("id"))
        if track is None:
            return Bad(line, f"result without a Jamendo track id ({str(result.get('id'))[:40]!r})", raw)
        rejects: list[str] = []
        artist = _jamendo_id(result.get("artist_id"))
        album = _jamendo_id(result.get("album_id"))
        name = _text(result.get("name"))
        unit = Unit(line, raw=raw)
        date = _date(result.get("releasedate"), rejects)
        if artist is not None:
            self.artist_names[artist] = _text(result.get("artist_name"))
        if album is not None:
            unit.records.append(
                AlbumRec(
                    NUMBER,
                    album,
                    _text(result.get("album_name")),
                    None,
                    None,
                    date,
                    date_precision(date) if date else None,
                    None,
                    None,
                    None,
                    None,
                    LEVEL_FULL,
                    None,
                    None,
                    ((artist, None),) if artist else None,
                )
            )
        tags = _musicinfo_tags(result.get("musicinfo"))
        for genre in tags.get("genre", []):
            if artist is not None:
                self.genres[artist][genre] += 1
        extra: dict[str, Any] = {"tags": tags} if tags else {}
        if result.get("audiodownload_allowed") is not None:
            extra["audiodownload_allowed"] = bool(result.get("audiodownload_allowed"))
        if _text(result.get("shareurl")):
            extra["url"] = _text(result.get("shareurl"))
        unit.records.append(
            collection_track(
                NUMBER,
                track,
                level=LEVEL_FULL,
                name=name,
                album=album,
                track_number=_position(result.get("position"), rejects),
                duration_ms=_duration(result.get("duration"), rejects),
                extra=extra or None,
                artists=((artist, None),) if artist else None,
            )
        )
        text = _text(result.get("license_ccurl"))
        licence = normalise(text) if text else self.default
        if licence is not None:
            url = _text(result.get("shareurl")) or f"https://www.jamendo.com/track/{track}"
            unit.licences.append(
                LicenceStatement(
                    track,
                    licence,
                    attribution_text(name, _text(result.get("artist_name")), licence, url),
                    ORIGIN,
                    track,
                    url,
                    None,
                )
            )
        unit.field_rejects = rejects
        return unit

    # --- the MTG-Jamendo dataset's TSV ---------------------------------------------------------------------
    def _tsv(self, path: Path) -> Iterator[Unit | Bad]:
        from fonoteca.catalog.table import _text_lines

        lines = _text_lines(path)
        header_line = next(lines, "")
        header = [h.strip().lstrip("\ufeff") for h in header_line.rstrip("\r\n").split("\t")]
        if tuple(header[:5]) != TSV_HEADER:
            yield Bad(
                1,
                f"not an MTG-Jamendo TSV: the header is {'/'.join(header[:6])!r}, expected {'/'.join(TSV_HEADER)}/TAGS",
                header_line[:2000],
            )
            return
        for number, text in enumerate(lines, 2):
            row = text.rstrip("\r\n").split("\t")
            if not any(cell.strip() for cell in row):
                continue
            yield self._row(number, row, text.rstrip("\r\n"))

    def _row(self, line: int, row: list[str], raw: str) -> Unit | Bad:
        if any("\udc80" <= ch <= "\udcff" for cell in row for ch in cell):
            return Bad(line, "invalid UTF-8", raw.encode("utf-8", "replace").decode())
        if len(row) < 5:
            return Bad(
                line, f"{len(row)} columns, at least 5 expected (TRACK_ID ARTIST_ID ALBUM_ID PATH DURATION)", raw
            )
        track, artist, album = (_jamendo_id(c) for c in row[:3])
        if track is None:
            return Bad(line, f"TRACK_ID {row[0][:40]!r} is not a Jamendo track id", raw)
        rejects: list[str] = []
        path_cell = row[3].strip()
        if not re.fullmatch(r"[0-9]{1,4}/[0-9]{1,12}\.[a-z0-9]{2,5}", path_cell):
            rejects.append(f"PATH {path_cell[:60]!r} is not a dataset audio path (NN/ID.mp3)")
            path_cell = ""
        tags: dict[str, list[str]] = {}
        for cell in row[5:]:
            kind, sep, value = cell.strip().partition("---")
            if sep and kind and value:
                tags.setdefault(kind, []).append(value)
                if kind == "genre" and artist is not None:
                    self.genres[artist][value] += 1
            elif cell.strip():
                rejects.append(f"tag {cell[:40]!r} is not KIND---VALUE")
        if artist is not None:
            self.artist_names.setdefault(artist, None)
        unit = Unit(line, raw=raw)
        if album is not None:
            unit.records.append(
                AlbumRec(
                    NUMBER,
                    album,
                    None,
                    None,
                    None,
                    None,
                    None,
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
        unit.records.append(
            collection_track(
                NUMBER,
                track,
                level=LEVEL_TABLE,
                album=album,
                duration_ms=_duration(row[4], rejects),
                extra={"tags": tags, "path": path_cell} if tags or path_cell else None,
                artists=((artist, None),) if artist else None,
            )
        )
        if self.default is not None:
            url = f"https://www.jamendo.com/track/{track}"
            unit.licences.append(
                LicenceStatement(
                    track,
                    self.default,
                    attribution_text(None, None, self.default, url),
                    ORIGIN,
                    track,
                    url,
                    "mtg-jamendo",
                )
            )
        if path_cell:
            unit.files.append(SourceFile(track, "", path_cell, format=path_cell.rsplit(".", 1)[-1]))
        unit.field_rejects = rejects
        return unit

    def _artists(self) -> Iterator[Unit]:
        """The artists seen, with the genres of their tracks (most frequent first)."""
        if not self.artist_names:
            return
        records = []
        for artist, name in sorted(self.artist_names.items()):
            genres = tuple(g for g, _ in self.genres[artist].most_common(20)) or None
            records.append(ArtistRec(NUMBER, artist, name, None, None, LEVEL_TABLE, None, None, genres))
        yield Unit(0, records)


def _jamendo_id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    m = _ID.match(str(value).strip())
    return str(int(m.group(1))) if m else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def _duration(value: Any, rejects: list[str]) -> int | None:
    if value in (None, ""):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        rejects.append(f"duration {str(value)[:40]!r} is not a number of seconds")
        return None
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        rejects.append(f"duration {str(value)[:40]!r} is out of range")
        return None
    return int(round(seconds * 1000))


def _position(value: Any, rejects: list[str]) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        rejects.append(f"position {str(value)[:40]!r} is not a whole number")
        return None
    return number if number > 0 else None


def _date(value: Any, rejects: list[str]) -> str | None:
    text = _text(value)
    if text is None:
        return None
    problem = date_problem(text[:10], allow_unknown_year=False)
    if problem is not None:
        rejects.append(f"releasedate {text[:40]!r}: {problem}")
        return None
    return text[:10]


def _musicinfo_tags(info: Any) -> dict[str, list[str]]:
    if not isinstance(info, dict) or not isinstance(info.get("tags"), dict):
        return {}
    out: dict[str, list[str]] = {}
    for kind, key in (("genre", "genres"), ("instrument", "instruments"), ("mood/theme", "vartags")):
        values = info["tags"].get(key)
        if isinstance(values, list):
            out[kind] = [str(v) for v in values if isinstance(v, str) and v.strip()]
    return {k: v for k, v in out.items() if v}
