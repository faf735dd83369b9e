"""Durable writes: the ingest lock, temporary folders, crash recovery, atomic renames and quarantine records."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from fonoteca import locks
from fonoteca.archive import Archive
from fonoteca.durable import fsync_dir, now, write_atomic

TMP = ".tmp"


def ingest_lock(archive: Archive) -> AbstractContextManager[None]:
    """One ingest at a time per archive (a second one is refused, not queued)."""
    archive.require_writable("ingest")
    return locks.held(
        archive.dir("files") / ".ingest.lock",
        busy="another `fonoteca ingest` is running on this archive; wait for it to finish",
    )


def run_tmp_dir(archive: Archive) -> Path:
    """A fresh temporary folder for this run's unfinished files, beside files/ so renames stay atomic."""
    base = archive.dir("files") / TMP
    base.mkdir(exist_ok=True)
    path = base / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def recover(archive: Archive, conn: sqlite3.Connection) -> dict[str, int]:
    """Undo what an interrupted run left: temporary files, and renamed files whose catalog row never committed.
    Called with the ingest lock held, so no other run is writing."""
    removed_tmp = removed_orphans = 0
    base = archive.dir("files") / TMP
    if base.exists():
        for entry in base.iterdir():
            removed_tmp += sum(1 for _ in entry.rglob("*")) if entry.is_dir() else 1
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    pending = conn.execute("SELECT path FROM ingest_pending").fetchall()
    for (rel,) in pending:
        committed = conn.execute("SELECT 1 FROM files WHERE path = ?", (rel,)).fetchone()
        if not committed and archive.storage.exists(rel):
            archive.storage.remove(rel)
            removed_orphans += 1
    if pending:
        conn.execute("DELETE FROM ingest_pending")
    return {"temporary": removed_tmp, "orphans": removed_orphans}


def safe_name(text: str, limit: int = 80) -> str:
    name = re.sub(r"[^0-9A-Za-z._-]+", "_", text).strip("._") or "file"
    return name[:limit]


def dest_path(ns_name: str, track_id: str, tier_name: str, ext: str) -> str:
    """Where a track's file lives, relative to the archive: files/<tier>/<2 hex>/<id>.<ext>."""
    shard = hashlib.sha1(f"{ns_name}:{track_id}".encode()).hexdigest()[:2]
    return f"files/{tier_name}/{shard}/{safe_name(track_id, 120)}.{ext}"


def quarantine(archive: Archive, source: Path, sha256: str, reason: str, message: str, details: dict[str, Any]) -> str:
    """Put a rejected input in quarantine/ (a hard link, else a copy) with a JSON reason beside it; idempotent."""
    qdir = archive.dir("quarantine")
    key = sha256[:16] if sha256 else hashlib.sha256(str(source).encode()).hexdigest()[:16]
    name = f"{key}-{safe_name(source.name)}"
    target = qdir / name
    stored = None
    if not target.exists():
        tmp = qdir / f".{name}.{uuid.uuid4().hex}.part"
        try:
            try:
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
            os.replace(tmp, target)
            stored = name
        except OSError:
            tmp.unlink(missing_ok=True)
    else:
        stored = name
    record = {
        "source": str(source),
        "sha256": sha256 or None,
        "reason": reason,
        "message": message,
        "details": details,
        "file": stored,
        "quarantined_at": now(),
    }
    write_atomic(qdir / f"{name}.json", json.dumps(record, indent=2, ensure_ascii=False, default=str).encode())
    fsync_dir(qdir)
    return f"quarantine/{name}.json"
