"""Tags with mutagen, in the conventions of MusicBrainz Picard (Vorbis comment names as the neutral form).

A tag set is a dict of upper-case Vorbis comment names to lists of strings (TITLE, ARTIST, ARTISTS, ALBUM,
ALBUMARTIST, DATE, TRACKNUMBER, DISCNUMBER, ISRC, BARCODE, LABEL, MUSICBRAINZ_TRACKID (the recording),
MUSICBRAINZ_ALBUMID, MUSICBRAINZ_ARTISTID, REPLAYGAIN_TRACK_GAIN, REPLAYGAIN_TRACK_PEAK, plus the source's URL in
WEBSITE and its id in FONOTECA_ID), and one optional front cover. `write_tags` maps it onto the file's own tag
format (Vorbis comments, FLAC pictures, ID3v2.4, MP4 atoms, APEv2, ASF); `read_tags` reads the fields matching
uses back from any of them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen import apev2, asf, id3, mp4
from mutagen.flac import FLAC, Picture

# Picard's ID3 frames and MP4 atoms for the Vorbis names (TXXX / freeform for the rest).
ID3_TEXT = {
    "TITLE": "TIT2",
    "ARTIST": "TPE1",
    "ALBUM": "TALB",
    "ALBUMARTIST": "TPE2",
    "DATE": "TDRC",
    "TRACKNUMBER": "TRCK",
    "DISCNUMBER": "TPOS",
    "ISRC": "TSRC",
    "LABEL": "TPUB",
    "COPYRIGHT": "TCOP",
    "COMPILATION": "TCMP",
}
ID3_TXXX = {
    "BARCODE": "BARCODE",
    "MUSICBRAINZ_ALBUMID": "MusicBrainz Album Id",
    "MUSICBRAINZ_ARTISTID": "MusicBrainz Artist Id",
    "ARTISTS": "ARTISTS",
    "REPLAYGAIN_TRACK_GAIN": "REPLAYGAIN_TRACK_GAIN",
    "REPLAYGAIN_TRACK_PEAK": "REPLAYGAIN_TRACK_PEAK",
    "FONOTECA_ID": "FONOTECA_ID",
    "LICENSE": "LICENSE",
}
MP4_ATOMS = {
    "TITLE": "\xa9nam",
    "ARTIST": "\xa9ART",
    "ALBUM": "\xa9alb",
    "ALBUMARTIST": "aART",
    "DATE": "\xa9day",
    "COPYRIGHT": "cprt",
}
MP4_FREEFORM = {
    "ISRC": "ISRC",
    "BARCODE": "BARCODE",
    "LABEL": "LABEL",
    "MUSICBRAINZ_TRACKID": "MusicBrainz Track Id",
    "MUSICBRAINZ_ALBUMID": "MusicBrainz Album Id",
    "MUSICBRAINZ_ARTISTID": "MusicBrainz Artist Id",
    "ARTISTS": "ARTISTS",
    "REPLAYGAIN_TRACK_GAIN": "replaygain_track_gain",
    "REPLAYGAIN_TRACK_PEAK": "replaygain_track_peak",
    "FONOTECA_ID": "FONOTECA_ID",
    "WEBSITE": "URL",
    "LICENSE": "LICENSE",
}
APE_KEYS = {
    "TITLE": "Title",
    "ARTIST": "Artist",
    "ALBUM": "Album",
    "ALBUMARTIST": "Album Artist",
    "DATE": "Year",
    "TRACKNUMBER": "Track",
    "DISCNUMBER": "Disc",
    "ISRC": "ISRC",
    "BARCODE": "Barcode",
    "LABEL": "Label",
    "MUSICBRAINZ_TRACKID": "MUSICBRAINZ_TRACKID",
    "MUSICBRAINZ_ALBUMID": "MUSICBRAINZ_ALBUMID",
    "MUSICBRAINZ_ARTISTID": "MUSICBRAINZ_ARTISTID",
    "ARTISTS": "Artists",
    "WEBSITE": "Weblink",
    "REPLAYGAIN_TRACK_GAIN": "REPLAYGAIN_TRACK_GAIN",
    "REPLAYGAIN_TRACK_PEAK": "REPLAYGAIN_TRACK_PEAK",
    "FONOTECA_ID": "FONOTECA_ID",
    "COPYRIGHT": "Copyright",
    "LICENSE": "License",
}
ASF_KEYS = {
    "TITLE": "Title",
    "ARTIST": "Author",
    "ALBUM": "WM/AlbumTitle",
    "ALBUMARTIST": "WM/AlbumArtist",
    "DATE": "WM/Year",
    "TRACKNUMBER": "WM/TrackNumber",
    "DISCNUMBER": "WM/PartOfSet",
    "ISRC": "WM/ISRC",
    "BARCODE": "WM/Barcode",
    "MUSICBRAINZ_TRACKID": "MusicBrainz/Track Id",
    "MUSICBRAINZ_ALBUMID": "MusicBrainz/Album Id",
    "FONOTECA_ID": "FONOTECA_ID",
    "REPLAYGAIN_TRACK_GAIN": "replaygain_track_gain",
    "REPLAYGAIN_TRACK_PEAK": "replaygain_track_peak",
    "COPYRIGHT": "Copyright",
    "LICENSE": "LICENSE",
}
MB_UFID = "http://musicbrainz.org"


@dataclass
class Cover:
    data: bytes
    mime: str  # image/jpeg | image/png


def _picture(cover: Cover) -> Picture:
    pic = Picture()
    pic.type, pic.mime, pic.desc, pic.data = 3, cover.mime, "", cover.data
    return pic


def tag_family(path: Path) -> str | None:
    """Which tag format write_tags would use for this file: vorbis, flac, id3, mp4, ape, asf, or None."""
    try:
        f = mutagen.File(str(path))
    except Exception:  # noqa: BLE001 - malformed files: treated as untaggable
        return None
    return _family(f)


def _family(f: Any) -> str | None:
    if f is None:
        return None
    if isinstance(f, FLAC):
        return "flac"
    name = type(f).__module__
    if name.startswith("mutagen.ogg"):
        return "vorbis"
    if isinstance(f, mp4.MP4):
        return "mp4"
    if isinstance(f, asf.ASF):
        return "asf"
    if isinstance(f, apev2.APEv2File):
        return "ape"
    if isinstance(f, id3.ID3FileType) or name in ("mutagen.wave", "mutagen.aiff", "mutagen.dsf", "mutagen.dsdiff"):
        return "id3"
    return None


def write_tags(path: Path, tags: dict[str, list[str]], cover: Cover | None = None) -> str | None:
    """Replace the file's tags with `tags` (and the cover); returns the tag family written, or None when the
    format cannot carry tags here (the file is then left untouched). Raises on a file mutagen cannot rewrite."""
    f = mutagen.File(str(path))
    family = _family(f)
    if family is None:
        return None
    if family in ("vorbis", "flac"):
        if f.tags is None:
            f.add_tags()
        f.tags.clear()
        for key, values in tags.items():
            f.tags[key] = list(values)
        if family == "flac":
            f.clear_pictures()
            if cover:
                f.add_picture(_picture(cover))
        elif cover:
            f.tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(_picture(cover).write()).decode("ascii")]
        f.save()
    elif family == "id3":
        if f.tags is None:
            f.add_tags()
        f.tags.clear()
        for key, values in tags.items():
            if key in ID3_TEXT:
                f.tags.add(getattr(id3, ID3_TEXT[key])(encoding=3, text=list(values)))
            elif key == "MUSICBRAINZ_TRACKID":
                f.tags.add(id3.UFID(owner=MB_UFID, data=values[0].encode("ascii", "replace")))
            elif key == "WEBSITE":
                f.tags.add(id3.WOAF(url=values[0]))
            elif key == "LICENSE" and values[0].startswith(("http://", "https://")):
                f.tags.add(id3.WCOP(url=values[0]))  # Picard: a licence URL is the copyright information URL
            else:
                f.tags.add(id3.TXXX(encoding=3, desc=ID3_TXXX.get(key, key), text=list(values)))
        if cover:
            f.tags.add(id3.APIC(encoding=3, mime=cover.mime, type=3, desc="", data=cover.data))
        f.save()
    elif family == "mp4":
        if f.tags is None:
            f.add_tags()
        f.tags.clear()
        for key, values in tags.items():
            if key in MP4_ATOMS:
                f.tags[MP4_ATOMS[key]] = list(values)
            elif key in ("TRACKNUMBER", "DISCNUMBER"):
                try:
                    f.tags["trkn" if key == "TRACKNUMBER" else "disk"] = [(int(values[0].split("/")[0]), 0)]
                except ValueError:
                    pass
            else:
                name = MP4_FREEFORM.get(key, key)
                f.tags[f"----:com.apple.iTunes:{name}"] = [mp4.MP4FreeForm(v.encode("utf-8")) for v in values]
        if cover:
            fmt = mp4.MP4Cover.FORMAT_PNG if cover.mime == "image/png" else mp4.MP4Cover.FORMAT_JPEG
            f.tags["covr"] = [mp4.MP4Cover(cover.data, imageformat=fmt)]
        f.save()
    elif family == "ape":
        if f.tags is None:
            f.add_tags()
        f.tags.clear()
        for key, values in tags.items():
            f.tags[APE_KEYS.get(key, key)] = list(values)
        if cover:
            f.tags["Cover Art (Front)"] = apev2.APEValue(b"cover.jpg\x00" + cover.data, apev2.BINARY)
        f.save()
    elif family == "asf":
        if f.tags is None:
            f.add_tags()
        f.tags.clear()
        for key, values in tags.items():
            f.tags[ASF_KEYS.get(key, key)] = list(values)
        f.save()
    return family


def read_tags(path: Path) -> dict[str, list[str]]:
    """The tags of a file in Vorbis names (upper case): at least what matching uses (ISRC, MUSICBRAINZ_TRACKID,
    FONOTECA_ID, WEBSITE, TITLE, ARTIST, ALBUM). Never raises: an unreadable tag block reads as no tags."""
    return read_tags_and_length(path)[0]


def read_tags_and_length(path: Path) -> tuple[dict[str, list[str]], float | None]:
    """read_tags plus the duration mutagen reads from the headers (None when unknown); never raises."""
    try:
        f = mutagen.File(str(path))
    except Exception:  # noqa: BLE001 - malformed tags must not stop ingest
        return {}, None
    length = None
    try:
        length = float(f.info.length) if f is not None and f.info is not None and f.info.length else None
    except Exception:  # noqa: BLE001
        length = None
    return _read(f), length


def _read(f: Any) -> dict[str, list[str]]:
    family = _family(f)
    if family is None or f.tags is None:
        return {}
    out: dict[str, list[str]] = {}

    def put(key: str, values: Any) -> None:
        items = values if isinstance(values, list) else [values]
        texts = [str(v) for v in items if str(v).strip()]
        if texts:
            out.setdefault(key, []).extend(texts)

    try:
        if family in ("vorbis", "flac"):
            for key, value in f.tags.items():
                put(key.upper(), value)
        elif family == "id3":
            back = {v: k for k, v in ID3_TEXT.items()}
            txxx = {v.upper(): k for k, v in ID3_TXXX.items()}
            for frame in f.tags.values():
                fid = frame.FrameID
                if fid in back:
                    put(back[fid], [str(t) for t in frame.text])
                elif fid == "TXXX":
                    put(txxx.get(frame.desc.upper(), frame.desc.upper()), [str(t) for t in frame.text])
                elif fid == "UFID" and frame.owner == MB_UFID:
                    put("MUSICBRAINZ_TRACKID", frame.data.decode("ascii", "replace"))
                elif fid in ("WOAF", "WOAR", "WXXX"):
                    put("WEBSITE", frame.url)
                elif fid == "WCOP":
                    put("LICENSE", frame.url)
        elif family == "mp4":
            atoms = {v: k for k, v in MP4_ATOMS.items()}
            free = {v.upper(): k for k, v in MP4_FREEFORM.items()}
            for key, value in f.tags.items():
                if key in atoms:
                    put(atoms[key], value)
                elif key.startswith("----:"):
                    name = key.split(":", 2)[-1].upper()
                    put(free.get(name, name), [bytes(v).decode("utf-8", "replace") for v in value])
        elif family in ("ape", "asf"):
            table = {v.upper(): k for k, v in (APE_KEYS if family == "ape" else ASF_KEYS).items()}
            for key, value in f.tags.items():
                name = table.get(key.upper(), key.upper())
                if family == "ape":
                    if getattr(value, "kind", apev2.TEXT) != apev2.TEXT:
                        continue
                    put(name, list(value))
                else:
                    put(name, [str(v) for v in value])
    except Exception:  # noqa: BLE001
        return out
    return out
