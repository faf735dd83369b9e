"""The rejects log: one JSON line per record that could not be imported (file, line, where, reason, raw text)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO

import orjson

RAW_LIMIT = 2000  # characters of the rejected text kept for the operator


class RejectLog:
    """rejects/<file stem>-<hash of its path>.jsonl, rewritten by every import of that file (so a rerun after a
    crash ends with the same log as a clean run)."""

    def __init__(self, folder: Path, source: Path) -> None:
        digest = hashlib.sha1(str(source.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:10]
        stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in source.name)[:80]
        self.path = folder / f"{stem}-{digest}.jsonl"
        self.source = str(source)
        self.count = 0
        self.kept = 0  # entries for a field left out of a unit that was imported
        self.reasons: dict[str, int] = {}
        self._file: IO[bytes] | None = None

    def add(self, line: int, reason: str, raw: bytes | str = b"", where: str | None = "", kept: bool = False) -> None:
        """One entry; kept=True when only a field was left out and the rest of the record was imported."""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        entry = {
            "file": self.source,
            "line": line,
            "where": where or None,
            "reason": reason,
            "imported": kept,
            "raw": text[:RAW_LIMIT],
        }
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "wb")
            self._file.write(orjson.dumps(entry) + b"\n")
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None  # name the log, not just the error
        self.count += 1
        self.kept += kept
        key = reason.split(":", 1)[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def add_row(
        self, table: str, rowid: int | None, reason: str, raw: str = "", kept: bool = False, key: str | None = None
    ) -> None:
        """One entry for a row of an SQLite input (the reference layout): table and rowid (or, for a table
        without rowids, its primary key) instead of line and position."""
        entry = {
            "file": self.source,
            "table": table,
            "rowid": rowid,
            "key": key,
            "reason": reason,
            "imported": kept,
            "raw": raw[:RAW_LIMIT],
        }
        self._write(entry, reason, kept)

    def _write(self, entry: dict, reason: str, kept: bool) -> None:
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "wb")
            self._file.write(orjson.dumps(entry) + b"\n")
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self.count += 1
        self.kept += kept
        key = reason.split(":", 1)[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def snapshot(self) -> dict:
        """Where the log stands, flushed to disk first: recorded with the work it covers, for `resume`."""
        position = 0
        if self._file is not None:
            try:
                self._file.flush()
                position = self._file.tell()
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        return {"bytes": position, "count": self.count, "kept": self.kept, "reasons": dict(self.reasons)}

    def resume(self, snapshot: dict) -> None:
        """Continue a log an interrupted run left: cut it back to the snapshot taken with the last work that
        was committed, so that the finished log equals the one a clean run writes."""
        self.count, self.kept, self.reasons = snapshot["count"], snapshot["kept"], dict(snapshot["reasons"])
        if not snapshot["bytes"]:
            return
        try:
            self._file = open(self.path, "r+b")
            self._file.truncate(snapshot["bytes"])
            self._file.seek(snapshot["bytes"])
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def release(self) -> None:
        """Close the file as it stands (an interrupted import: the next run resumes or rewrites it)."""
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError:
                pass

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        elif self.path.exists():
            self.path.unlink()  # a clean run leaves no stale log from an earlier one
