"""`fonoteca import internet-archive PATH...`: Internet Archive items, as `https://archive.org/metadata/ID`
returns them (JSON: `metadata` and `files`), or as the item's own `ID_meta.xml` and `ID_files.xml` (a folder
holding them, or either file with the other beside it).

Each original audio file of an item becomes a track (namespace `ia`, id `IDENTIFIER:FILENAME`): its title,
creator, album and track number from the file entry, else from the item (title, creator); its length; the item's
licence (`licenseurl`, else `rights`) and collection. The item is the album. Derivative files (`source:
derivative`, made by the Archive from an original: the VBR MP3 of a FLAC) are recorded as derivatives of their
original, not as tracks. Every audio file's size, md5 and sha1 are kept in source_files, so that `fonoteca ingest
ITEM_FOLDER` matches the item's files by name and checks them before storing.

Bad input: a file that is not JSON or XML, an item without an identifier (or with one the Archive would not
accept), a file list that is not a list, an entry without a name are rejected whole; a size that is no number, a
digest that is not hex, a track number or length that cannot be read are left out of the entry (reject with
`imported: true`). An item with no original audio file gives no track and a reject saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from fonoteca.catalog.provenance import Bad, LicenceStatement, SourceFile, Unit, attribution_text
from fonoteca.catalog.records import LEVEL_FULL, AlbumRec, ArtistRec, collection_track
from fonoteca.catalog.values import date_precision, date_problem
from fonoteca.licences import normalise

NAMESPACE, NUMBER = "ia", 5
ORIGIN = "internet-archive"
AUDIO_EXTENSIONS = (
    ".flac",
    ".mp3",
    ".ogg",
    ".oga",
    ".opus",
    ".m4a",
    ".wav",
    ".aif",
    ".aiff",
    ".shn",
    ".ape",
    ".wv",
    ".aac",
    ".mp4",
    ".m4b",
    ".wma",
)
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha1": re.compile(r"^[0-9a-f]{40}$")}
MAX_INPUT = 256 * 1024 * 1024


def track_id(identifier: str, name: str) -> str:
    """`IDENTIFIER:NAME`, a folder separator in NAME written ':' (an id is one path segment in the site's URLs)."""
    return f"{identifier}:{name.replace('/', ':')}"


def inputs(paths: list[Path]) -> list[Path]:
    """The files to read: JSON files and `*_files.xml` as given; a folder: its metadata JSON or _files.xml."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*_files.xml")) or sorted(
                p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file()
            )
            if not found:
                from fonoteca.errors import FonotecaError

                raise FonotecaError(f"{path}: no ID_files.xml and no metadata JSON in this item folder")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            from fonoteca.errors import FonotecaError

            raise FonotecaError(f"{path}: no such file or folder")
    return out


def read(path: Path) -> Iterator[Unit | Bad]:
    """The units of one input file (a metadata JSON may hold one item, a list of items, or JSON lines)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield Bad(1, f"cannot read {path}: {exc.strerror}")
        return
    if len(data) > MAX_INPUT:
        yield Bad(1, f"{path} is larger than {MAX_INPUT} bytes")
        return
    if path.name.lower().endswith(".xml") or data.lstrip()[:1] == b"<":
        yield from _from_xml(path, data)
        return
    try:
        value = orjson.loads(data)
        items = value if isinstance(value, list) else [value]
        lines = [1] * len(items)
    except orjson.JSONDecodeError:
        items, lines = [], []
        for number, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                items.append(orjson.loads(raw))
                lines.append(number)
            except orjson.JSONDecodeError as exc:
                yield Bad(number, f"invalid JSON: {exc}", raw.decode("utf-8", "replace")[:2000])
    for number, item in zip(lines, items, strict=True):
        yield from item_units(item, number)


def _from_xml(path: Path, data: bytes) -> Iterator[Unit | Bad]:
    import defusedxml.ElementTree as ET
    from defusedxml import DefusedXmlException

    try:
        root = ET.fromstring(data)
    except (ET.ParseError, DefusedXmlException) as exc:
        yield Bad(1, f"{path.name}: not well-formed XML ({exc})", data[:2000].decode("utf-8", "replace"))
        return
    if root.tag == "metadata":
        yield Bad(1, f"{path.name} is item metadata without a file list: give the item folder or its _files.xml")
        return
    if root.tag != "files":
        yield Bad(1, f"{path.name}: the root element is <{root.tag}>, expected <files> (ID_files.xml)")
        return
    identifier = path.name[: -len("_files.xml")] if path.name.endswith("_files.xml") else path.parent.name
    metadata: dict[str, Any] = {"identifier": identifier}
    meta_path = path.with_name(f"{identifier}_meta.xml")
    if meta_path.is_file():
        try:
            meta = ET.fromstring(meta_path.read_bytes())
        except (ET.ParseError, DefusedXmlException, OSError) as exc:
            yield Bad(
                1, f"{meta_path.name}: not well-formed XML ({exc}); the files are imported without the item's metadata"
            )
        else:
            for child in meta:
                text = (child.text or "").strip()
                if child.tag in metadata and child.tag != "identifier":
                    previous = metadata[child.tag]
                    metadata[child.tag] = (previous if isinstance(previous, list) else [previous]) + [text]
                elif child.tag != "identifier" or text:
                    metadata[child.tag] = text
    files = []
    for element in root:
        if element.tag != "file":
            continue
        entry: dict[str, Any] = {k: v for k, v in element.attrib.items()}
        for child in element:
            entry[child.tag] = (child.text or "").strip()
        files.append(entry)
    yield from item_units({"metadata": metadata, "files": files}, 1)


def _text(value: Any) -> str | None:
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value if v)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(entry: dict[str, Any], key: str, rejects: list[str], where: str) -> int | None:
    value = entry.get(key)
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        rejects.append(f"{where}: {key} {str(value)[:40]!r} is not a whole number")
        return None
    if number < 0:
        rejects.append(f"{where}: {key} {number} is negative")
        return None
    return number


def _length(value: Any, rejects: list[str], where: str) -> int | None:
    """Milliseconds from '245.67' or '4:05' (the Archive writes both)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if ":" in text:
            seconds = 0.0
            for part in text.split(":"):
                seconds = seconds * 60 + float(part)
        else:
            seconds = float(text)
    except ValueError:
        rejects.append(f"{where}: length {text[:40]!r} is not a duration")
        return None
    if seconds < 0 or seconds != seconds:
        rejects.append(f"{where}: length {text[:40]!r} is not a duration")
        return None
    return int(round(seconds * 1000))


def _track_number(value: Any, rejects: list[str], where: str) -> int | None:
    if value in (None, ""):
        return None
    m = re.match(r"\s*(\d{1,4})", str(value))
    if not m:
        rejects.append(f"{where}: track {str(value)[:40]!r} is not a number")
        return None
    return int(m.group(1))


def _digest(entry: dict[str, Any], key: str, rejects: list[str], where: str) -> str | None:
    value = entry.get(key)
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if not _HEX[key].match(text):
        rejects.append(f"{where}: {key} {str(value)[:80]!r} is not a {key} digest")
        return None
    return text


def _is_audio(name: str) -> bool:
    return name.lower().endswith(AUDIO_EXTENSIONS)


def item_units(item: Any, line: int) -> Iterator[Unit | Bad]:
    """The tracks of one item (the metadata API's object)."""
    raw = orjson.dumps(item).decode()[:2000] if isinstance(item, (dict, list)) else str(item)[:2000]
    if not isinstance(item, dict) or not isinstance(item.get("metadata"), dict):
        yield Bad(line, "not an Internet Archive item: no 'metadata' object", raw)
        return
    meta = item["metadata"]
    identifier = _text(meta.get("identifier"))
    if identifier is None or not _IDENTIFIER.match(identifier):
        yield Bad(line, f"invalid or missing identifier {identifier!r}", raw)
        return
    files = item.get("files", [])
    if not isinstance(files, list):
        yield Bad(line, f"{identifier}: 'files' is not a list", raw)
        return
    entries = []
    for number, entry in enumerate(files):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip() or name.startswith("/") or ".." in name.split("/"):
            yield Bad(
                line,
                f"{identifier}: file {number} has no usable name",
                orjson.dumps(entry).decode()[:2000] if isinstance(entry, (dict, list, str, int)) else "",
            )
            continue
        entries.append(entry)
    originals = [e for e in entries if _is_audio(e["name"]) and e.get("source", "original") == "original"]
    if not originals:
        yield Bad(line, f"{identifier}: no original audio file in the item (nothing to import)", raw)
        return
    yield _item(identifier, meta, entries, originals, line, raw)


def _item(
    identifier: str,
    meta: dict[str, Any],
    entries: list[dict[str, Any]],
    originals: list[dict[str, Any]],
    line: int,
    raw: str,
) -> Unit:
    rejects: list[str] = []
    unit = Unit(line, raw=raw)
    creator = _text(meta.get("creator"))
    album_title = _text(meta.get("title"))
    date = _text(meta.get("date")) or _text(meta.get("year"))
    date = date[:10] if date else None
    if date and date_problem(date, allow_unknown_year=False) is not None:
        rejects.append(f"{identifier}: date {date!r}: {date_problem(date, allow_unknown_year=False)}")
        date = None
    licence = normalise(_text(meta.get("licenseurl")) or _text(meta.get("license")) or _text(meta.get("rights")))
    collection = _text(meta.get("collection"))
    source_url = f"https://archive.org/details/{identifier}"
    artist_ids: dict[str, str] = {}

    def artist(name: str) -> str:
        if name not in artist_ids:
            artist_ids[name] = "n:" + name.casefold()[:200]  # the Archive names creators; it gives them no ids
            unit.records.append(ArtistRec(NUMBER, artist_ids[name], name, None, None, LEVEL_FULL, None, None))
        return artist_ids[name]

    album_artists = ((artist(creator), None),) if creator else None
    unit.records.append(
        AlbumRec(
            NUMBER,
            identifier,
            album_title,
            None,
            len(originals),
            date,
            date_precision(date) if date else None,
            _text(meta.get("publisher")),
            None,
            None,
            None,
            LEVEL_FULL,
            None,
            {"collection": collection, "url": source_url},
            album_artists,
        )
    )
    by_name = {e["name"]: e for e in entries}
    for entry in originals:
        name = entry["name"]
        where = f"{identifier}/{name}"
        title = _text(entry.get("title")) or Path(name).stem
        performer = _text(entry.get("creator")) or _text(entry.get("artist")) or creator
        tid = track_id(identifier, name)
        links = ((artist(performer), None),) if performer else None
        unit.records.append(
            collection_track(
                NUMBER,
                tid,
                level=LEVEL_FULL,
                name=title,
                album=identifier,
                disc_number=1,
                track_number=_track_number(entry.get("track"), rejects, where) or None,
                duration_ms=_length(entry.get("length"), rejects, where),
                extra={"file": name, "format": _text(entry.get("format"))},
                artists=links,
            )
        )
        unit.licences.append(
            LicenceStatement(
                tid,
                licence,
                attribution_text(title, performer, licence, source_url),
                ORIGIN,
                where,
                source_url,
                collection,
            )
        )
        unit.files.append(_source_file(tid, identifier, entry, "original", None, rejects, where))
    for entry in entries:
        original = entry.get("original")
        if entry.get("source") != "derivative" or not _is_audio(entry["name"]) or not isinstance(original, str):
            continue
        if original not in by_name:
            continue
        root = by_name[original]
        if not _is_audio(root["name"]) or root.get("source", "original") != "original":
            continue
        unit.files.append(
            _source_file(
                track_id(identifier, original),
                identifier,
                entry,
                "derivative",
                original,
                rejects,
                f"{identifier}/{entry['name']}",
            )
        )
    unit.field_rejects = rejects
    return unit


def _source_file(
    tid: str, identifier: str, entry: dict[str, Any], kind: str, original: str | None, rejects: list[str], where: str
) -> SourceFile:
    return SourceFile(
        tid,
        identifier,
        entry["name"],
        _int(entry, "size", rejects, where),
        _digest(entry, "md5", rejects, where),
        _digest(entry, "sha1", rejects, where),
        None,
        _text(entry.get("format")),
        kind,
        original,
    )
