"""Licences as sources write them, normalised to SPDX-style ids, and the `[release] licences` policy.

`normalise(text)` reads what real collections write: Creative Commons deed URLs (`http://creativecommons.org/
licenses/by-nc-sa/3.0/us/`, `.../publicdomain/zero/1.0/`), short names (`CC BY-SA 4.0`, `cc-by-nc`), the deed
titles the Free Music Archive and Jamendo use (`Attribution-Noncommercial-No Derivative Works 3.0 United States`),
the Public Domain Mark, the Free Art License, and copyright notices (`All rights reserved`, `(c) 2009 Label`,
`℗ 2011`). The result keeps the raw text; an id is SPDX's where SPDX has one (`CC-BY-4.0`, `CC-BY-NC-SA-3.0-US`,
`CC0-1.0`), else `LicenseRef-...` (`LicenseRef-All-Rights-Reserved`, `LicenseRef-PDM-1.0`, a ported deed SPDX
lacks, or `LicenseRef-Unknown` for text that names no licence Fonoteca knows).

Policy (`[release] licences` in fonoteca.toml): a list of ids, fnmatch patterns (`"CC-BY-*"`) and two words:
`"redistributable"` (every licence that allows copying and sharing the work unchanged: all Creative Commons
licences, CC0, the Public Domain Mark, the Free Art License) and `"unknown"` (tracks whose licence is not on
record or could not be read). The default is `["redistributable"]`: a track whose licence is unknown, or all
rights reserved, stays in the archive, catalogued and verifiable, but is not published (torrents, streams).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any

from fonoteca.errors import FonotecaError

ALL_RIGHTS_RESERVED = "LicenseRef-All-Rights-Reserved"
UNKNOWN = "LicenseRef-Unknown"
PUBLIC_DOMAIN_MARK = "LicenseRef-PDM-1.0"
PUBLIC_DOMAIN = "LicenseRef-Public-Domain"  # a source's word that the work is in the public domain
DEFAULT_RELEASE = ("redistributable",)

_KINDS = {  # CC licence elements, in SPDX's order
    "by": "BY",
    "by-sa": "BY-SA",
    "by-nd": "BY-ND",
    "by-nc": "BY-NC",
    "by-nc-sa": "BY-NC-SA",
    "by-nc-nd": "BY-NC-ND",
}
_NAMES = {
    "BY": "Attribution",
    "BY-SA": "Attribution-ShareAlike",
    "BY-ND": "Attribution-NoDerivatives",
    "BY-NC": "Attribution-NonCommercial",
    "BY-NC-SA": "Attribution-NonCommercial-ShareAlike",
    "BY-NC-ND": "Attribution-NonCommercial-NoDerivatives",
}
_VERSIONS = ("1.0", "2.0", "2.5", "3.0", "4.0")
# Jurisdiction ports of CC licences that SPDX lists (others become LicenseRef-...).
_SPDX_PORTS = {
    "CC-BY-2.5-AU",
    "CC-BY-3.0-AT",
    "CC-BY-3.0-AU",
    "CC-BY-3.0-DE",
    "CC-BY-3.0-IGO",
    "CC-BY-3.0-NL",
    "CC-BY-3.0-US",
    "CC-BY-NC-3.0-DE",
    "CC-BY-NC-ND-3.0-DE",
    "CC-BY-NC-ND-3.0-IGO",
    "CC-BY-NC-SA-2.0-DE",
    "CC-BY-NC-SA-2.0-FR",
    "CC-BY-NC-SA-2.0-UK",
    "CC-BY-NC-SA-3.0-DE",
    "CC-BY-NC-SA-3.0-IGO",
    "CC-BY-ND-3.0-DE",
    "CC-BY-SA-2.0-UK",
    "CC-BY-SA-2.1-JP",
    "CC-BY-SA-3.0-AT",
    "CC-BY-SA-3.0-DE",
    "CC-BY-SA-3.0-IGO",
    "CC-BY-NC-SA-3.0-US",
    "CC-BY-NC-ND-3.0-US",
    "CC-BY-NC-3.0-US",
    "CC-BY-SA-3.0-US",
    "CC-BY-ND-3.0-US",
}
_COUNTRIES = {  # jurisdiction names in deed titles ("... 3.0 United States")
    "united states": "us",
    "germany": "de",
    "deutschland": "de",
    "france": "fr",
    "spain": "es",
    "españa": "es",
    "italy": "it",
    "italia": "it",
    "netherlands": "nl",
    "austria": "at",
    "österreich": "at",
    "australia": "au",
    "england & wales": "uk",
    "england and wales": "uk",
    "uk: england & wales": "uk",
    "japan": "jp",
    "brazil": "br",
    "brasil": "br",
    "canada": "ca",
    "switzerland": "ch",
    "belgium": "be",
    "poland": "pl",
    "portugal": "pt",
    "mexico": "mx",
    "argentina": "ar",
    "chile": "cl",
    "igo": "igo",
}
_FREE_ART = "LAL-1.3"
_REDISTRIBUTABLE_REFS = {
    PUBLIC_DOMAIN_MARK,
    PUBLIC_DOMAIN,
    "LicenseRef-CC-Sampling-Plus-1.0",
    "LicenseRef-CC-NC-Sampling-Plus-1.0",
}


@dataclass(frozen=True)
class Licence:
    id: str  # SPDX id or LicenseRef-...
    raw: str | None  # the text the source wrote
    url: str | None  # the licence's canonical deed URL, when it has one

    @property
    def known(self) -> bool:
        return self.id != UNKNOWN

    @property
    def redistributable(self) -> bool:
        """Copying and sharing the work unchanged is allowed (whatever else the licence asks)."""
        return is_redistributable(self.id)

    @property
    def attribution_required(self) -> bool:
        return attribution_required(self.id)

    @property
    def name(self) -> str:
        return display_name(self.id)


def is_redistributable(licence_id: str | None) -> bool:
    if not licence_id:
        return False
    return (
        licence_id.startswith("CC-BY")
        or licence_id.startswith("LicenseRef-CC-BY")
        or licence_id in ("CC0-1.0", "CC-PDDC", _FREE_ART)
        or licence_id in _REDISTRIBUTABLE_REFS
    )


def attribution_required(licence_id: str | None) -> bool:
    if not licence_id:
        return False
    return (
        licence_id.startswith(("CC-BY", "LicenseRef-CC-BY", "LicenseRef-CC-Sampling", "LicenseRef-CC-NC-Sampling"))
        or licence_id == _FREE_ART
    )


def display_name(licence_id: str) -> str:
    """`CC BY-NC-SA 3.0 US`, `CC0 1.0`, `All rights reserved`, ... (what a track page shows)."""
    if licence_id == ALL_RIGHTS_RESERVED:
        return "All rights reserved"
    if licence_id == UNKNOWN:
        return "Unknown licence"
    if licence_id == PUBLIC_DOMAIN_MARK:
        return "Public Domain Mark 1.0"
    if licence_id == PUBLIC_DOMAIN:
        return "Public domain"
    if licence_id == _FREE_ART:
        return "Free Art License 1.3"
    if licence_id == "CC0-1.0":
        return "CC0 1.0"
    bare = licence_id.removeprefix("LicenseRef-")
    m = re.fullmatch(r"CC-(BY(?:-NC)?(?:-SA|-ND)?)(?:-(\d\.\d)(?:-([A-Z]+))?)?", bare)
    if m:
        return f"CC {m.group(1)}" + (f" {m.group(2)}" if m.group(2) else "") + (f" {m.group(3)}" if m.group(3) else "")
    return bare.replace("-", " ")


def deed_url(licence_id: str) -> str | None:
    if licence_id == "CC0-1.0":
        return "https://creativecommons.org/publicdomain/zero/1.0/"
    if licence_id == PUBLIC_DOMAIN_MARK:
        return "https://creativecommons.org/publicdomain/mark/1.0/"
    if licence_id == _FREE_ART:
        return "https://artlibre.org/licence/lal/en/"
    m = re.fullmatch(r"(?:LicenseRef-)?CC-(BY(?:-NC)?(?:-SA|-ND)?)-(\d\.\d)(?:-([A-Z]+))?", licence_id)
    if m:
        port = f"{m.group(3).lower()}/" if m.group(3) else ""
        return f"https://creativecommons.org/licenses/{m.group(1).lower()}/{m.group(2)}/{port}"
    return None


def _cc_id(kind: str, version: str | None, port: str | None) -> str:
    if version is None:  # "CC BY-NC" without a version: which deed is not known, that it is CC BY-NC is
        return f"LicenseRef-CC-{kind}"
    base = f"CC-{kind}-{version}"
    if port:
        ported = f"{base}-{port.upper()}"
        return ported if ported in _SPDX_PORTS else f"LicenseRef-{ported}"
    return base


_URL = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z+-]+)(?:/(\d\.\d))?(?:/([a-z]{2,3}))?", re.I)


def _from_url(text: str) -> str | None:
    m = _URL.search(text)
    if not m:
        return None
    space, kind, version, port = m.group(1).lower(), m.group(2).lower(), m.group(3), m.group(4)
    if space == "publicdomain":
        if kind == "zero":
            return "CC0-1.0"
        if kind == "mark":
            return PUBLIC_DOMAIN_MARK
        return "CC-PDDC"
    if kind == "publicdomain":  # the retired deed at /licenses/publicdomain/
        return "CC-PDDC"
    if kind in _KINDS:
        return _cc_id(_KINDS[kind], version, port)
    if kind in ("sampling+", "sampling-plus"):
        return "LicenseRef-CC-Sampling-Plus-1.0"
    if kind in ("nc-sampling+", "nc-sampling-plus"):
        return "LicenseRef-CC-NC-Sampling-Plus-1.0"
    return None


_WORDS = [  # (pattern on the lowered text with separators normalised to single spaces, kind)
    (r"\bnon ?commercial share ?alike\b|\bnc sa\b", "BY-NC-SA"),
    (r"\bnon ?commercial no ?deriv|\bnc nd\b", "BY-NC-ND"),
    (r"\bnon ?commercial\b|\bnc\b", "BY-NC"),
    (r"\bshare ?alike\b|\bsa\b", "BY-SA"),
    (r"\bno ?deriv|\bnd\b", "BY-ND"),
    (r"\battribution\b|\bby\b", "BY"),
]


def _cc_words(lowered: str) -> str | None:
    """A CC licence named in words ("CC BY-NC-SA 3.0", "Attribution-Noncommercial-No Derivative Works 3.0 United
    States", "creative commons attribution")."""
    flat = re.sub(r"[\s_\-–/,.:()]+", " ", lowered).strip()
    flat = flat.replace("non commercial", "noncommercial").replace("share alike", "sharealike")
    mentions_cc = "creative commons" in lowered or re.search(r"\bcc\b", flat) or "attribution" in flat
    if not mentions_cc:
        return None
    kind = None
    for pattern, name in _WORDS:
        if re.search(pattern, flat):
            kind = name
            break
    if kind is None:
        return None
    m = re.search(r"\b([1-4])[ .]([05])\b", lowered) or re.search(r"\b([1-4]) ([05])\b", flat)
    version = f"{m.group(1)}.{m.group(2)}" if m else None
    port = next((code for name, code in _COUNTRIES.items() if name in lowered), None)
    if version == "4.0" or re.search(r"\binternational\b|\bunported\b|\bgeneric\b", flat):
        port = None  # 4.0 licences are international; unported deeds have no jurisdiction
    return _cc_id(kind, version, port)


_RESERVED = re.compile(
    r"all rights reserved|\ballrightsreserved\b|tous droits réservés|todos los derechos reservados|"
    r"alle rechte vorbehalten|^\s*(?:©|\(c\)|℗|\(p\)|copyright\b)",
    re.I,
)


def normalise(text: Any) -> Licence:
    """The licence `text` names (see the module docstring); never raises. None and empty text: unknown."""
    if not isinstance(text, str) or not text.strip():
        return Licence(UNKNOWN, None if not isinstance(text, str) else text, None)
    raw = text.strip()
    lowered = raw.lower()
    found = _from_url(lowered)
    if found is None:
        found = _named(lowered)
    if found is None:
        return Licence(UNKNOWN, raw, None)
    return Licence(found, raw, deed_url(found))


def _named(lowered: str) -> str | None:
    flat = re.sub(r"[\s_\-–]+", " ", lowered).strip()
    if re.fullmatch(
        r"(cc ?0|cc zero|creative commons zero|cc0 1 0|cc0 1\.0|cc0 1\.0 universal.*|cc0 universal.*)", flat
    ) or flat.startswith(("cc0", "cc-0", "cc zero", "creative commons zero")):
        return "CC0-1.0"
    if "public domain mark" in flat or flat in ("pdm", "pdm 1.0"):
        return PUBLIC_DOMAIN_MARK
    if re.search(r"\bpublic domain\b|\bgemeinfrei\b|\bdomaine public\b|\bdominio p[uú]blico\b", flat):
        return PUBLIC_DOMAIN
    if "free art" in flat or "licence art libre" in flat or "art libre" in flat or flat in ("lal", "lal 1.3"):
        return _FREE_ART
    if "sampling plus" in flat or "sampling+" in flat:
        return (
            "LicenseRef-CC-NC-Sampling-Plus-1.0"
            if "noncommercial" in flat.replace(" ", "") or " nc " in f" {flat} "
            else "LicenseRef-CC-Sampling-Plus-1.0"
        )
    cc = _cc_words(lowered)
    if cc is not None:
        return cc
    if _RESERVED.search(lowered):
        return ALL_RIGHTS_RESERVED
    short = re.fullmatch(r"(?:cc )?(by(?: nc)?(?: sa| nd)?) ?(\d\.\d)?", flat)
    if short:
        return _cc_id(short.group(1).upper().replace(" ", "-"), short.group(2), None)
    return None


# ------------------------------------------------------------------------------------------------ policy


@dataclass(frozen=True)
class ReleasePolicy:
    """Which licences are published (torrents, streams); the `[release]` table of fonoteca.toml."""

    licences: tuple[str, ...] = DEFAULT_RELEASE

    def allows(self, licence_id: str | None) -> bool:
        """True when a track under `licence_id` (None: no licence on record) may be published."""
        unknown = licence_id in (None, "", UNKNOWN)
        for rule in self.licences:
            word = rule.lower()
            if word in ("*", "all"):
                return True
            if word == "unknown" and unknown:
                return True
            if word == "redistributable" and not unknown and is_redistributable(licence_id):
                return True
            if not unknown and fnmatch.fnmatchcase(str(licence_id).lower(), word):
                return True
        return False

    def reason(self, licence_id: str | None) -> str:
        """Why a track is not published, in words."""
        shown = "no licence on record" if licence_id in (None, "", UNKNOWN) else f"licence {display_name(licence_id)}"
        return f"{shown}: not in this archive's [release] licences ({', '.join(self.licences)})"

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ReleasePolicy:
        section = config.get("release", {}) if isinstance(config, dict) else {}
        if not isinstance(section, dict):
            raise FonotecaError("[release] in fonoteca.toml must be a table")
        value = section.get("licences", section.get("licenses", list(DEFAULT_RELEASE)))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise FonotecaError(
                "[release] licences in fonoteca.toml must be a list of licence ids or patterns, "
                'e.g. ["redistributable"] or ["CC0-1.0", "CC-BY-*"]'
            )
        return cls(tuple(v.strip() for v in value))
