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
        entry = {"file": self.source, "line": line, "where": where or None, "reason": reason,
                 "imported": kept, "raw": text[:RAW_LIMIT]}
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

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        elif self.path.exists():
            self.path.unlink()  # a clean run leaves no stale log from an earlier one
