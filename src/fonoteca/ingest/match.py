"""Matching an input file to a catalog track: mapping CSV, then embedded ids (ISRC, track id or source URL,
MusicBrainz recording id), then title + artist + duration. A file no route names unambiguously is unmatched
(reported, never guessed); fingerprints (in the pipeline) then look for the same recording in the archive."""

from __future__ import annotations

import csv
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from fonoteca.catalog.ids import NS_MUSICBRAINZ, is_mbid, normalize_isrc, parse_reference
from fonoteca.errors import FonotecaError, UsageError


@dataclass(frozen=True)
class Match:
    track: int  # tracks.rowid
    route: str  # map | source | isrc | track_id | musicbrainz | title
    expected: Expected | None = None  # source: what the importer described of this file


@dataclass(frozen=True)
class Expected:
    """A source file an importer described (source_files): digests to check, and whether it is an original."""

    origin: str
    item: str
    name: str
    size: int | None
    md5: str | None
    sha1: str | None
    kind: str
    original: str | None
    folder: Path | None = None  # the item's folder here (Internet Archive), where an original would be beside it


@dataclass
class MapEntry:
    kind: str  # track_id | isrc
    value: str
    line: int


def load_map(path: Path) -> dict[str, MapEntry]:
    """A CSV with a header: path,track_id or path,isrc (relative paths are relative to the CSV's folder)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"--map {path}: {exc.strerror or exc}") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    if len(header) < 2 or header[0] != "path" or header[1] not in ("track_id", "isrc"):
        raise UsageError(f"--map {path}: the header must be path,track_id or path,isrc (found {','.join(header)})")
    kind = header[1]
    out: dict[str, MapEntry] = {}
    for line, row in enumerate(reader, start=2):
        if not row or not row[0].strip():
            continue
        if len(row) < 2 or not row[1].strip():
            raise FonotecaError(f"{path}:{line}: a row needs a path and a {kind}")
        file = Path(row[0].strip())
        if not file.is_absolute():
            file = path.parent / file
        out[str(file.resolve())] = MapEntry(kind, row[1].strip(), line)
    return out


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[^\w]+", " ", text).strip()


_SPOTIFY_IN_TEXT = re.compile(r"(?:spotify:track:|open\.spotify\.com/(?:intl-[a-z-]+/)?track/)([0-9A-Za-z]{22})")


class Matcher:
    def __init__(
        self,
        conn: sqlite3.Connection,
        mapping: dict[str, MapEntry] | None = None,
        tolerance: float = 3.0,
        tolerance_ratio: float = 0.02,
    ) -> None:
        self.conn, self.mapping = conn, mapping or {}
        self.tolerance, self.ratio = tolerance, tolerance_ratio
        self.planned = self._has_plan()

    def _has_plan(self) -> bool:
        try:
            return self.conn.execute("SELECT 1 FROM plan LIMIT 1").fetchone() is not None
        except sqlite3.Error:
            return False

    def _best(self, rowids: list[int]) -> int | None:
        """Among tracks sharing an id (an ISRC), the plan's representative: a track with its own file planned,
        else the most popular."""
        if not rowids:
            return None
        if len(rowids) == 1:
            return rowids[0]
        marks = ",".join("?" * len(rowids))
        rows = self.conn.execute(
            f"SELECT t.rowid, coalesce(p.tier, -1), p.rep IS NULL, coalesce(t.popularity, -1) FROM tracks t "
            f"LEFT JOIN plan p ON p.track = t.rowid WHERE t.rowid IN ({marks})",
            rowids,
        ).fetchall()
        rows.sort(key=lambda r: (-r[1], -r[2], -r[3], r[0]))
        return rows[0][0]

    def by_isrc(self, isrc: str) -> int | None:
        code = normalize_isrc(isrc)
        if code is None:
            return None
        rows = self.conn.execute(
            "SELECT rowid FROM tracks WHERE isrc = ? AND level > 0 UNION SELECT owner FROM external_ids "
            "WHERE value = ? AND kind = 'isrc' AND owner_kind = 'track'",
            (code, code),
        ).fetchall()
        return self._best([r[0] for r in rows])

    def by_reference(self, text: str) -> int | None:
        found = _SPOTIFY_IN_TEXT.search(text)
        ref = parse_reference(f"spotify:track:{found.group(1)}" if found else text)
        if ref.kind == "isrc":
            return self.by_isrc(ref.value)
        if ref.kind not in ("track", "any"):
            return None
        sql = "SELECT rowid FROM tracks WHERE id = ? AND level > 0"
        params: list[str | int] = [ref.value]
        if ref.ns is not None:
            sql += " AND ns = ?"
            params.append(ref.ns)
        rows = self.conn.execute(sql, params).fetchall()
        return rows[0][0] if len(rows) == 1 else None

    def by_mbid(self, mbid: str) -> int | None:
        mbid = mbid.strip().lower()
        if not is_mbid(mbid):
            return None
        row = self.conn.execute(
            "SELECT rowid FROM tracks WHERE id = ? AND ns = ? AND level > 0", (mbid, NS_MUSICBRAINZ)
        ).fetchone()
        return row[0] if row else None

    def by_title(self, title: str, artist: str | None, length: float | None) -> int | None:
        rows = self.conn.execute(
            "SELECT rowid, duration_ms FROM tracks WHERE name = ? COLLATE NOCASE AND level > 0 LIMIT 200",
            (title.strip(),),
        ).fetchall()
        if not rows:
            return None
        want_artists = {_norm(a) for a in re.split(r"\s*(?:;|,|&| feat\.? | ft\.? )\s*", artist or "") if a.strip()}
        candidates = []
        for rowid, duration_ms in rows:
            if want_artists:
                names = {
                    _norm(n)
                    for (n,) in self.conn.execute(
                        "SELECT ar.name FROM track_artists l JOIN artists ar ON ar.rowid = l.artist WHERE l.track = ?",
                        (rowid,),
                    )
                    if n
                }
                if not names & want_artists and _norm(artist or "") not in names:
                    continue
            if length is not None and duration_ms:
                expected = duration_ms / 1000
                if abs(length - expected) > max(self.tolerance, self.ratio * expected):
                    continue
            candidates.append(rowid)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        # Several tracks of the same title and artist: one recording on several releases if they share an ISRC.
        isrcs = {
            r[0]
            for r in self.conn.execute(
                f"SELECT isrc FROM tracks WHERE rowid IN ({','.join('?' * len(candidates))})", candidates
            )
        }
        if len(isrcs) == 1 and None not in isrcs:
            return self._best(candidates)
        return None  # ambiguous: not guessed

    def by_source(self, path: str) -> Match | None:
        """A file an importer described: by its absolute path (import files), by its name in an Internet Archive
        item (the item's folder is named for its identifier), or by its dataset path (NNN/NNNNNN.mp3: FMA,
        MTG-Jamendo)."""
        try:
            rows = self.conn.execute(
                "SELECT origin, item, name, track, size, md5, sha1, kind, original FROM source_files "
                "WHERE origin = 'files' AND item = '' AND name = ?",
                (path,),
            ).fetchall()
        except sqlite3.OperationalError:  # a catalog from before source files were recorded
            return None
        full = Path(path)
        if not rows:
            for depth in range(1, min(4, len(full.parts) - 1)):
                folder = full.parents[depth - 1]
                inner = "/".join(full.parts[-depth:])
                rows = [
                    r + (folder,)
                    for r in self.conn.execute(
                        "SELECT origin, item, name, track, size, md5, sha1, kind, original FROM source_files "
                        "WHERE origin = 'internet-archive' AND item = ? AND name = ?",
                        (folder.name, inner),
                    )
                ]
                if rows:
                    break
        if not rows and len(full.parts) >= 2:
            rows = self.conn.execute(
                "SELECT origin, item, name, track, size, md5, sha1, kind, original FROM source_files "
                "WHERE origin IN ('fma', 'jamendo') AND item = '' AND name = ?",
                ("/".join(full.parts[-2:]),),
            ).fetchall()
        tracks = {r[3] for r in rows}
        if len(tracks) != 1:
            return None  # none, or one dataset path in two datasets: not guessed
        origin, item, name, track, size, md5, sha1, kind, original, *folder = rows[0]
        return Match(
            int(track),
            "source",
            Expected(origin, item, name, size, md5, sha1, kind, original, folder[0] if folder else None),
        )

    def match(self, path: str, tags: dict[str, list[str]], length: float | None) -> tuple[Match | None, str]:
        """The track a file is, and how; or None and why not."""
        entry = self.mapping.get(path)
        if entry is not None:
            track = self.by_isrc(entry.value) if entry.kind == "isrc" else self.by_reference(entry.value)
            if track is None:
                return None, f"map line {entry.line}: {entry.kind} {entry.value} names no catalog track"
            return Match(track, "map"), ""
        found = self.by_source(path)
        if found is not None:
            return found, ""
        for value in tags.get("ISRC", []):
            if (track := self.by_isrc(value)) is not None:
                return Match(track, "isrc"), ""
        for key in ("FONOTECA_ID", "SPOTIFY_TRACK_ID", "SPOTIFY_ID", "WEBSITE", "URL", "COMMENT"):
            for value in tags.get(key, []):
                if key in ("WEBSITE", "URL", "COMMENT") and not _SPOTIFY_IN_TEXT.search(value):
                    continue
                if (track := self.by_reference(value)) is not None:
                    return Match(track, "track_id"), ""
        for value in tags.get("MUSICBRAINZ_TRACKID", []):
            if (track := self.by_mbid(value)) is not None:
                return Match(track, "musicbrainz"), ""
        titles, artists = tags.get("TITLE", []), tags.get("ARTIST", [])
        if titles:
            track = self.by_title(titles[0], "; ".join(artists) if artists else None, length)
            if track is not None:
                return Match(track, "title"), ""
            return None, "no catalog track has this title and artist (within the duration tolerance), or several do"
        return None, "no mapping entry and no usable tags (ISRC, track id, MusicBrainz id, title)"
