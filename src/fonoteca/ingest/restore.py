"""`fonoteca restore`: rebuild an ingested input byte for byte from its stored file and patch, and check it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fonoteca.archive import Archive
from fonoteca.audio.patch import apply_patch
from fonoteca.catalog.query import lookup
from fonoteca.durable import write_atomic
from fonoteca.errors import FonotecaError
from fonoteca.storage import StorageError
from fonoteca.tiers import Tier


@dataclass
class Restored:
    track: str
    tier: str
    out: Path
    size: int
    sha256: str
    exact: bool  # True: the ingested input, byte for byte; False: the stored re-encoding (compact tier)


def restore(archive: Archive, reference: str, out: Path) -> Restored:
    conn = archive.connect(readonly=True)
    try:
        found = [t for t in lookup(conn, reference) if t.get("kind") == "track"]
        if not found:
            raise FonotecaError(f"{reference}: no such track in the catalog")
        rows = []
        for track in found:
            rows += conn.execute(
                "SELECT tier, path, sha256, source_sha256, patch FROM files WHERE track = ? ORDER BY tier DESC",
                (track["rowid"],),
            ).fetchall()
        if not rows:
            raise FonotecaError(f"{reference}: the archive holds no file for this track")
        tier, rel, sha, source_sha, patch = rows[0]
        ident = f"{found[0]['source']}:track:{found[0]['id']}"
    finally:
        conn.close()
    try:
        with archive.storage.open(rel) as f:
            stored = f.read()
    except StorageError as exc:
        raise FonotecaError(f"{rel}: {exc}") from None
    except OSError as exc:
        raise FonotecaError(f"{rel}: {exc.strerror or exc}") from None
    if hashlib.sha256(stored).hexdigest() != sha:
        raise FonotecaError(f"{rel} is corrupt: its sha256 is not the one recorded at ingest")
    if tier == Tier.ORIGINAL:
        try:
            data = apply_patch(stored, patch or b"")
        except Exception as exc:  # noqa: BLE001
            raise FonotecaError(f"{rel}: the patch does not apply ({exc})") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != source_sha:
            raise FonotecaError(f"{rel}: the rebuilt input's sha256 {digest} is not the recorded {source_sha}")
        exact = True
    else:
        data, digest, exact = stored, sha, False
    write_atomic(out, data)
    return Restored(ident, Tier(tier).label, out, len(data), digest, exact)
