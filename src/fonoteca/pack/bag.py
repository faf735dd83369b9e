"""Every release folder is a BagIt 1.0 bag (RFC 8493), so any archivist can check it with standard tools
(`bagit.py --validate releases/R`, or `sha256sum -c manifest-sha256.txt` inside it):

    releases/R/
      bagit.txt                 BagIt-Version 1.0, UTF-8
      bag-info.txt              Payload-Oxum (bytes.files), Bagging-Date, Bag-Software-Agent, Source-Organization,
                                External-Identifier (the release name)
      manifest-sha256.txt       "SHA256  data/..." for every payload file: the data torrents' files and the
                                metadata torrent's
      tagmanifest-sha256.txt    the sha256 of the tag files: the four above, manifest.jsonl.zst, torrents.json,
                                every torrents/*.torrent and every torrents-v1/*.torrent (the v1-only twins)
      data/...                  the payload (the torrents' folders)

torrents.json is the one tag file rewritten later (swarm figures, flags): the tag manifest is written again with
it, so the bag stays valid.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from fonoteca import __version__
from fonoteca.durable import sha256_of, write_atomic
from fonoteca.pack.paths import V1_ONLY_FOLDER

BAGIT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PAYLOAD_MANIFEST = "manifest-sha256.txt"
TAG_MANIFEST = "tagmanifest-sha256.txt"


def manifest_line(sha256: str, rel: str) -> str:
    """One line of a BagIt manifest (RFC 8493 2.1.3; CR, LF and % in a path are percent-encoded)."""
    return f"{sha256}  {rel.replace('%', '%25').replace(chr(13), '%0D').replace(chr(10), '%0A')}\n"


def add_payload(release: Path, files: Iterable[tuple[str, str]]) -> None:
    """Append (path under the release, sha256) lines to the payload manifest (the metadata torrent's files)."""
    with open(release / PAYLOAD_MANIFEST, "a", encoding="utf-8") as sums:
        for rel, sha256 in files:
            sums.write(manifest_line(sha256, rel))
        sums.flush()
        os.fsync(sums.fileno())


def write_declaration(release: Path, *, name: str, organization: str, bagged: str) -> None:
    """bagit.txt and bag-info.txt, from the payload manifest (Payload-Oxum counts the files it lists)."""
    count = size = 0
    with open(release / PAYLOAD_MANIFEST, encoding="utf-8") as sums:
        for line in sums:
            _, _, rel = line.rstrip("\n").partition("  ")
            size += os.stat(release / rel).st_size
            count += 1
    write_atomic(release / "bagit.txt", BAGIT.encode())
    info = (
        f"Bag-Software-Agent: Fonoteca {__version__}\n"
        f"Bagging-Date: {bagged[:10]}\n"
        f"External-Identifier: {name}\n"
        f"Payload-Oxum: {size}.{count}\n"
        f"Source-Organization: {organization.replace(chr(10), ' ')}\n"
    )
    write_atomic(release / "bag-info.txt", info.encode("utf-8"))


def tag_files(release: Path) -> list[str]:
    """The tag files a release's tag manifest covers (paths relative to the release), in a stable order."""
    names = ["bagit.txt", "bag-info.txt", PAYLOAD_MANIFEST, "manifest.jsonl.zst", "torrents.json"]
    found = [n for n in names if (release / n).is_file()]
    for folder in ("torrents", V1_ONLY_FOLDER):
        if (release / folder).is_dir():
            found += sorted(
                f"{folder}/{p.name}" for p in (release / folder).iterdir() if p.is_file() and p.suffix == ".torrent"
            )
    return found


def write_tag_manifest(release: Path) -> None:
    """tagmanifest-sha256.txt over the tag files as they are now (after any rewrite of torrents.json)."""
    if not (release / "bagit.txt").is_file():
        return  # not a bag (a release packed before releases were bags): nothing to keep valid
    lines = "".join(manifest_line(sha256_of(release / rel), rel) for rel in tag_files(release))
    write_atomic(release / TAG_MANIFEST, lines.encode("utf-8"))
