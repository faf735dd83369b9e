"""`fonoteca import files DIR...`: a catalog from the files' own tags, grouped into albums as Picard and beets
would, for a folder of well-tagged files that has no catalog of its own.

Each audio file becomes a track (namespace `files`): title, artists, album, track and disc numbers, date, ISRC,
MusicBrainz ids, ReplayGain, and the licence and copyright tags (`LICENSE`, `COPYRIGHT`: Picard's names) as the
track's licence; a file without a licence tag has none on record (unknown). Albums:

* a MusicBrainz album id (MUSICBRAINZ_ALBUMID) groups its files wherever they are (Picard's grouping);
* otherwise the album name with the album artist (ALBUMARTIST, else COMPILATION=1 for "Various Artists");
* files of one folder that share an album name but not an artist, and name no album artist, are one
  compilation by "Various Artists" (beets' grouping by folder);
* discs (DISCNUMBER "1/2") stay one album.

Ids are derived from the album, disc, track number, title and artists, so moving the folder or importing it again
changes nothing. Every file is recorded in source_files (absolute path, size, time), so `fonoteca ingest DIR`
matches the same files without a map. Files without a title tag are rejected (named, with the reason), as are
files mutagen cannot read; sidecars (covers, cue sheets) are passed over.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fonoteca.catalog.ids import is_mbid, normalize_isrc
from fonoteca.catalog.provenance import Bad, LicenceStatement, SourceFile, Unit, attribution_text
from fonoteca.catalog.records import LEVEL_TABLE, AlbumRec, ArtistRec, collection_track
from fonoteca.catalog.values import MAX_TEXT, date_precision, date_problem
from fonoteca.licences import normalise

NAMESPACE, NUMBER = "files", 4
AUDIO_SUFFIXES = (
    ".flac",
    ".mp3",
    ".ogg",
    ".oga",
    ".opus",
    ".m4a",
    ".mp4",
    ".aac",
    ".wav",
    ".aif",
    ".aiff",
    ".wv",
    ".ape",
    ".mpc",
    ".wma",
    ".asf",
    ".dsf",
    ".dff",
    ".tta",
    ".spx",
    ".ofr",
    ".tak",
    ".m4b",
)
VARIOUS = "Various Artists"


@dataclass
class Tagged:
    path: Path
    size: int
    mtime_ns: int
    tags: dict[str, list[str]]
    length: float | None


def audio_files(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, names in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and name.lower().endswith(AUDIO_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def _digest(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(str(p or "").casefold() for p in parts).encode()).hexdigest()[:20]


def _first(tags: dict[str, list[str]], key: str) -> str | None:
    values = tags.get(key) or []
    text = values[0].strip() if values else ""
    return text or None


def _artists(tags: dict[str, list[str]], key: str = "ARTIST") -> list[str]:
    """Artist names: several values of the tag, else ARTISTS, else one value (a joined credit stays whole)."""
    values = [v.strip() for v in tags.get(key) or [] if v.strip()]
    if len(values) > 1:
        return values
    many = [v.strip() for v in tags.get(key + "S") or [] if v.strip()]
    return many or values


def _number(text: str | None, what: str, rejects: list[str]) -> tuple[int | None, int | None]:
    """'3/11' -> (3, 11); a value that is no number is left out with a reject."""
    if not text:
        return None, None
    m = re.fullmatch(r"\s*(\d{1,4})\s*(?:/\s*(\d{1,4})\s*)?", text)
    if not m:
        rejects.append(f"{what} {text[:40]!r} is not a number")
        return None, None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def _date(text: str | None, rejects: list[str]) -> str | None:
    if not text:
        return None
    date = text.strip()[:10]
    if len(date) >= 4 and date[:4] == "0000":
        return None
    if date_problem(date, allow_unknown_year=False) is not None:
        rejects.append(f"DATE {text[:40]!r}: {date_problem(date, allow_unknown_year=False)}")
        return None
    return date


def _album_key(t: Tagged) -> tuple[str, str | None]:
    """(album id, album artist) of a file, before folder compilations are found."""
    tags = t.tags
    album = _first(tags, "ALBUM")
    mb_album = (_first(tags, "MUSICBRAINZ_ALBUMID") or "").lower()
    album_artist = "; ".join(_artists(tags, "ALBUMARTIST")) or None
    if (_first(tags, "COMPILATION") or "") in ("1", "true", "True"):
        album_artist = album_artist or VARIOUS
    if is_mbid(mb_album):
        return mb_album, album_artist
    if album is None:
        return "", album_artist
    if album_artist is not None:
        return "a" + _digest("album", album_artist, album), album_artist
    return "", None


def group_albums(files: list[Tagged]) -> dict[Path, tuple[str, str]]:
    """Album id and album artist of every file that has an album."""
    out: dict[Path, tuple[str, str]] = {}
    loose: dict[tuple[Path, str], list[Tagged]] = defaultdict(list)
    for t in files:
        album_id, album_artist = _album_key(t)
        album = _first(t.tags, "ALBUM")
        if album_id:
            out[t.path] = (album_id, album_artist or "; ".join(_artists(t.tags)) or VARIOUS)
        elif album is not None:
            loose[(t.path.parent, album.casefold())].append(t)
    for (folder, album), members in loose.items():
        credits = {"; ".join(_artists(m.tags)).casefold() for m in members}
        artist = "; ".join(_artists(members[0].tags)) if len(credits) == 1 else VARIOUS
        album_id = "a" + _digest("album", artist, album, folder.name if artist == VARIOUS else "")
        for m in members:
            out[m.path] = (album_id, artist)
    return out


def read_folder(folder: Path) -> Iterator[Unit | Bad]:
    """Every audio file under `folder` as a unit (line: its number in sorted order)."""
    from fonoteca.audio.tags import read_tags_and_length

    tagged: list[tuple[int, Tagged]] = []
    for number, path in enumerate(audio_files(folder), 1):
        try:
            st = path.stat()
        except OSError as exc:
            yield Bad(number, f"cannot be read ({exc.strerror})", str(path))
            continue
        tags, length = read_tags_and_length(path)
        if not tags and length is None:
            yield Bad(number, "not an audio file mutagen can read, or its tags are unreadable", str(path))
            continue
        if not _first(tags, "TITLE"):
            yield Bad(number, "no TITLE tag (a track needs at least a title)", str(path))
            continue
        tagged.append((number, Tagged(path.resolve(), st.st_size, st.st_mtime_ns, tags, length)))
    albums = group_albums([t for _, t in tagged])
    for number, t in tagged:
        yield _unit(number, t, albums.get(t.path))


def _text(value: str | None, what: str, rejects: list[str]) -> str | None:
    if value is not None and len(value) > MAX_TEXT:
        rejects.append(f"{what}: {len(value)} characters, more than the limit of {MAX_TEXT}")
        return None
    return value


def _unit(number: int, t: Tagged, album: tuple[str, str] | None) -> Unit:
    tags = t.tags
    rejects: list[str] = []
    title = _text(_first(tags, "TITLE"), "TITLE", rejects)
    artists = _artists(tags)
    track_no, total = _number(_first(tags, "TRACKNUMBER"), "TRACKNUMBER", rejects)
    disc_no, _discs = _number(_first(tags, "DISCNUMBER"), "DISCNUMBER", rejects)
    date = _date(_first(tags, "DATE") or _first(tags, "ORIGINALDATE"), rejects)
    isrc_text = _first(tags, "ISRC")
    isrc = normalize_isrc(isrc_text) if isrc_text else None
    if isrc_text and isrc is None:
        rejects.append(f"ISRC {isrc_text[:40]!r} is not a valid ISRC")
    records: list[Any] = []
    links = []
    for name in artists:
        artist_id = "r" + _digest("artist", name)
        records.append(ArtistRec(NUMBER, artist_id, name, None, None, LEVEL_TABLE, None, None))
        links.append((artist_id, None))
    album_id = None
    if album is not None:
        album_id, album_artist = album
        album_artist_id = "r" + _digest("artist", album_artist)
        records.append(ArtistRec(NUMBER, album_artist_id, album_artist, None, None, LEVEL_TABLE, None, None))
        records.append(
            AlbumRec(
                NUMBER,
                album_id,
                _first(tags, "ALBUM"),
                "compilation" if album_artist == VARIOUS else None,
                total,
                date,
                date_precision(date) if date else None,
                _first(tags, "LABEL"),
                None,
                None,
                _upc(tags),
                LEVEL_TABLE,
                None,
                None,
                ((album_artist_id, None),),
            )
        )
    track_id = "f" + _digest(album_id or "", disc_no, track_no, title, "; ".join(artists))
    mb_track = (_first(tags, "MUSICBRAINZ_TRACKID") or "").lower()
    extra: dict[str, Any] = {}
    for key in ("REPLAYGAIN_TRACK_GAIN", "REPLAYGAIN_TRACK_PEAK", "REPLAYGAIN_ALBUM_GAIN", "REPLAYGAIN_ALBUM_PEAK"):
        if _first(tags, key):
            extra[key.lower()] = _first(tags, key)
    if is_mbid(mb_track):
        extra["musicbrainz_recording"] = mb_track
    external: tuple[tuple[str, str], ...] = (("isrc", isrc),) if isrc else ()
    if is_mbid(mb_track):
        external = external + (("musicbrainz_recording", mb_track),)
    duration = int(round(t.length * 1000)) if t.length else None
    records.append(
        collection_track(
            NUMBER,
            track_id,
            level=LEVEL_TABLE,
            name=title,
            album=album_id,
            disc_number=disc_no,
            track_number=track_no,
            duration_ms=duration,
            isrc=isrc,
            extra={"raw": extra} if extra else None,
            artists=tuple(links) or None,
            external_ids=external,
        )
    )
    unit = Unit(number, records, field_rejects=rejects, raw=str(t.path))
    licence_text = _first(tags, "LICENSE") or _first(tags, "COPYRIGHT")
    if licence_text:
        licence = normalise(licence_text)
        if not licence.known and _first(tags, "COPYRIGHT") and licence_text != _first(tags, "COPYRIGHT"):
            licence = normalise(_first(tags, "COPYRIGHT"))
        credit = _first(tags, "COPYRIGHT") if licence.attribution_required else None
        unit.licences.append(
            LicenceStatement(
                track_id,
                licence,
                credit or attribution_text(title, "; ".join(artists), licence, None),
                "files",
                str(t.path),
                None,
                None,
            )
        )
    unit.files.append(
        SourceFile(track_id, "", str(t.path), t.size, mtime_ns=t.mtime_ns, format=t.path.suffix.lower().lstrip("."))
    )
    return unit


def _upc(tags: dict[str, list[str]]) -> str | None:
    from fonoteca.catalog.ids import is_valid_gtin

    code = (_first(tags, "BARCODE") or "").strip()
    return code if code and is_valid_gtin(code) else None
