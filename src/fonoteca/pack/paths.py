"""Safe names for everything that goes into a torrent: file and folder names built from catalog ids, extensions,
torrent and release names.

A name that comes out of `component()` is never empty, `.` or `..`; holds no path separator, control or format
character, nothing Windows forbids (``<>:"|?*``), no leading dot or space, no trailing dot or space; is not a
reserved device name (CON, NUL, COM1, ... with or without an extension); is Unicode NFC; fits in `limit` bytes of
UTF-8. Whenever the cleaned name differs from its input, a short hash of the input is appended, so two different
inputs never end up with the same name, and a clean input (a Spotify id, an MBID) is kept as it is.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_FORBIDDEN = set('<>:"/\\|?*')
_RESERVED = {"con", "prn", "aux", "nul", "conin$", "conout$", "clock$"} | {
    f"{stem}{n}" for stem in ("com", "lpt") for n in list("123456789") + ["¹", "²", "³", "0"]
}
_EXT = re.compile(r"^[a-z0-9]{1,10}$")
# The one rule for release and torrent names, whoever made them: pack builds torrent names up to this length from
# the collection, band, sequence and id range; a person choosing a release name is held to the same rule.
NAME_MAX = 200
_NAME = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}$")


def _clean_char(ch: str) -> str:
    if ch in _FORBIDDEN:
        return "_"
    category = unicodedata.category(ch)
    if category[0] == "C" or category in ("Zl", "Zp"):  # control, format, surrogate, private use, unassigned
        return "_"
    if category == "Zs" and ch != " ":
        return " "
    return ch


def _truncate_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


# Printable ASCII without the forbidden characters: such a name needs no cleaning (checked at C speed, so that a
# torrent with 200,000 long file names is checked in about a second).
_PLAIN = re.compile(r"[ !#$%&'()+,\-.0-9;=@A-Z\[\]^_`a-z{}~]+")


def component(text: str, *, limit: int = 100) -> str:
    """One safe path component for `text` (see the module docstring)."""
    if limit < 16:
        raise ValueError("limit too small")
    if (
        _PLAIN.fullmatch(text)
        and len(text) <= limit
        and text[0] not in " ."
        and text[-1] not in " ."
        and text.split(".", 1)[0].rstrip(" ").lower() not in _RESERVED
    ):
        return text
    original = text
    text = unicodedata.normalize("NFC", text)
    text = "".join(_clean_char(ch) for ch in text)
    text = text.strip(" .")
    text = re.sub(r"_{2,}", "_", text) if text != original else text
    stem = text.split(".", 1)[0].rstrip(" ").lower()
    if stem in _RESERVED:
        text = "_" + text
    if not text:
        text = "_"
    if text == original and len(text.encode("utf-8")) <= limit:
        return text
    digest = hashlib.sha256(original.encode("utf-8", errors="surrogatepass")).hexdigest()[:10]
    return _truncate_utf8(text, limit - 11).rstrip(" .") + "-" + digest


def extension(text: str) -> str:
    """A file extension (without the dot) reduced to 1-10 lower-case ASCII letters and digits; 'bin' if nothing
    usable is left."""
    ext = re.sub(r"[^a-z0-9]", "", text.lower().lstrip("."))[:10]
    return ext if _EXT.match(ext) else "bin"


def is_safe_relative(path: str, *, limit: int = 240) -> bool:
    """True when a relative torrent path (components joined by '/') holds only safe components."""
    if not path or path.startswith("/") or len(path.encode("utf-8")) > limit:
        return False
    parts = path.split("/")
    return all(p and component(p, limit=255) == p for p in parts)


def is_safe_name(name: object) -> bool:
    """True for a release or torrent name: 1-200 of A-Z a-z 0-9 . _ -, starting with a letter or digit, no '..',
    not a Windows device name."""
    return (
        isinstance(name, str)
        and bool(_NAME.match(name))
        and ".." not in name
        and name.split(".", 1)[0].lower() not in _RESERVED
    )


def check_name(name: object, what: str = "name", *, refuse: bool = False) -> str:
    """`name` when it is a safe release or torrent name; else UsageError (a name a person typed) or, with
    `refuse`, FonotecaError "refused: ..." (a name from an untrusted list or torrent)."""
    from fonoteca.errors import FonotecaError, UsageError

    if is_safe_name(name):
        assert isinstance(name, str)
        return name
    if refuse:
        raise FonotecaError(f"refused: {what} {name!r} is not a safe name")
    raise UsageError(
        f"{what} {name!r} is not allowed: use 1-{NAME_MAX} letters, digits, '.', '_' or '-', "
        "starting with a letter or digit (not a Windows device name)"
    )


def casefold_key(path: str) -> str:
    """How a case-insensitive, normalising file system (Windows, macOS) compares two paths."""
    return unicodedata.normalize("NFC", path).casefold()


# Every torrent of a release has a BitTorrent v1-only twin (fonoteca.pack.hybrid.v1_only) for the clients that
# cannot read BEP 52 hybrids (Transmission 3): the same name, files, pad files and pieces, so the same bytes on
# disk in the same folder, but its own info-hash and its own swarm. Its .torrent lies beside the hybrid's folder.
V1_ONLY_FOLDER = "torrents-v1"


def v1_only_file(name: str) -> str:
    """The file name of a torrent's v1-only twin in releases/R/torrents-v1/ (distinct from the hybrid's
    NAME.torrent, so both can sit in one download folder)."""
    return f"{name}.v1.torrent"
