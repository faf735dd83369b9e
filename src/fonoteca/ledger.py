"""The withdrawals ledger: `withdrawals.jsonl` at the archive root, appended to, never rewritten.

One JSON object a line:

    {"seq": 1, "action": "withdraw", "tracks": ["table:track:as-002"], "category": "rights-holder",
     "reason": "takedown request of 2026-11-20", "until": null, "at": "2026-11-25T10:00:00Z", "prev": "000...0"}

`prev` is the sha256 (hex) of the previous line's bytes (without its newline; 64 zeros for the first line), so a
line edited, removed or inserted anywhere breaks the chain at the line after it: `fonoteca ledger verify` names
it. `reinstate` lines undo earlier withdrawals of the tracks they name. A withdrawal with `until` (a date) lapses
on that day by itself, without a new line.

A track is withdrawn when the last line naming it is a withdrawal that has not lapsed. Withdrawn tracks are left
out of what the archive serves and publishes (the site answers 410 with a tombstone, the APIs and search hide
them, pack leaves them out and replaces earlier torrents that hold them); the catalog keeps them and the ledger
says why. The ledger travels in every metadata torrent, so mirrors honour it too.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from fonoteca.errors import FonotecaError, UsageError

LEDGER_NAME = "withdrawals.jsonl"
GENESIS = "0" * 64
ACTIONS = ("withdraw", "reinstate")
CATEGORIES = ("copyright", "rights-holder", "court-order", "privacy", "licence", "error", "other")
MAX_LINE = 1 << 20
MAX_REASON = 4000
_REF = re.compile(r"^[a-z_][a-z0-9_]*:track:.{1,1000}$", re.S)


@dataclass(frozen=True)
class Entry:
    seq: int
    action: str  # withdraw | reinstate
    tracks: tuple[str, ...]  # NS:track:ID
    reason: str
    category: str | None
    until: str | None  # YYYY-MM-DD: the withdrawal lapses on that day
    at: str  # when it was written, ISO 8601 UTC
    prev: str  # sha256 of the previous line

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "action": self.action,
            "tracks": list(self.tracks),
            "category": self.category,
            "reason": self.reason,
            "until": self.until,
            "at": self.at,
            "prev": self.prev,
        }

    def lapsed(self, today: date) -> bool:
        return self.until is not None and date.fromisoformat(self.until) <= today


@dataclass
class Problem:
    line: int
    reason: str


@dataclass
class Verified:
    path: Path
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    head: str = GENESIS  # sha256 of the last line

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ledger": str(self.path),
            "ok": self.ok,
            "entries": len(self.entries),
            "head": self.head,
            "problems": [{"line": p.line, "reason": p.reason} for p in self.problems],
        }


def ledger_path(root: Path) -> Path:
    return Path(root) / LEDGER_NAME


def line_hash(raw: bytes) -> str:
    return hashlib.sha256(raw.rstrip(b"\n")).hexdigest()


def _entry(data: Any, number: int) -> Entry:
    """An entry from a decoded line; FonotecaError naming what is wrong."""
    if not isinstance(data, dict):
        raise FonotecaError("not a JSON object")
    seq, action, tracks, prev = data.get("seq"), data.get("action"), data.get("tracks"), data.get("prev")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq != number:
        raise FonotecaError(f"seq is {seq!r}, expected {number}")
    if action not in ACTIONS:
        raise FonotecaError(f"action {action!r} is not withdraw or reinstate")
    if not isinstance(tracks, list) or not tracks or not all(isinstance(t, str) and _REF.match(t) for t in tracks):
        raise FonotecaError("tracks must be a non-empty list of NS:track:ID")
    if not isinstance(prev, str) or not re.fullmatch(r"[0-9a-f]{64}", prev):
        raise FonotecaError("prev is not 64 hex digits")
    reason, category, until, at = data.get("reason"), data.get("category"), data.get("until"), data.get("at")
    if not isinstance(reason, str) or not isinstance(at, str):
        raise FonotecaError("reason and at must be text")
    if category is not None and category not in CATEGORIES:
        raise FonotecaError(f"category {category!r} is not one of {', '.join(CATEGORIES)}")
    if until is not None:
        try:
            date.fromisoformat(until)
        except (TypeError, ValueError):
            raise FonotecaError(f"until {until!r} is not a date (YYYY-MM-DD)") from None
    return Entry(seq, action, tuple(tracks), reason, category, until, at, prev)


def verify(path: Path) -> Verified:
    """Read the ledger and check every line and the hash chain; the good entries before the first break are kept
    (an absent ledger is an empty, valid one)."""
    result = Verified(Path(path))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return result
    except OSError as exc:
        result.problems.append(Problem(0, f"cannot read {path}: {exc.strerror or exc}"))
        return result
    if data and not data.endswith(b"\n"):
        result.problems.append(Problem(data.count(b"\n") + 1, "the last line is cut off (no newline)"))
    prev = GENESIS
    for number, raw in enumerate(data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"), 1):
        if len(raw) > MAX_LINE:
            result.problems.append(Problem(number, f"longer than {MAX_LINE} bytes"))
            break
        try:
            entry = _entry(orjson.loads(raw), number)
        except orjson.JSONDecodeError as exc:
            result.problems.append(Problem(number, f"not JSON ({exc})"))
            break
        except FonotecaError as exc:
            result.problems.append(Problem(number, str(exc)))
            break
        if entry.prev != prev:
            result.problems.append(
                Problem(
                    number,
                    f"prev {entry.prev[:12]}... is not the sha256 of line "
                    f"{number - 1} ({prev[:12]}...): a line before it was edited, "
                    "removed or inserted",
                )
            )
            break
        result.entries.append(entry)
        prev = line_hash(raw)
    result.head = prev
    return result


def published_copies(root: Path) -> list[Path]:
    """The copies of the ledger that metadata torrents carry (releases/R/data/*__metadata__*/withdrawals.jsonl):
    fixed by their info-hashes, they anchor the ledger's history up to each release."""
    return sorted(Path(root).glob(f"releases/*/data/*__metadata__*/{LEDGER_NAME}"))


def check_published(root: Path, result: Verified) -> Verified:
    """Add a problem for every published copy that is not the beginning of the ledger: a line edited, removed or
    added before it since that release (this catches an edited last line too, which the chain alone cannot)."""
    try:
        current = Path(result.path).read_bytes().split(b"\n")
    except OSError:
        current = []
    for copy in published_copies(root):
        release = copy.parent.parent.parent.name
        try:
            lines = copy.read_bytes().split(b"\n")[:-1]
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            if number > len(current) or current[number - 1] != line:
                result.problems.append(
                    Problem(
                        number,
                        f"differs from the copy published in release {release} "
                        "(its metadata torrent): the line was edited or removed",
                    )
                )
                break
    result.problems.sort(key=lambda p: p.line)
    return result


def read(path: Path) -> list[Entry]:
    """Every entry; FonotecaError when the ledger does not verify (a broken ledger is never half-trusted)."""
    checked = verify(path)
    if not checked.ok:
        first = checked.problems[0]
        raise FonotecaError(f"{path}:{first.line}: {first.reason}; run `fonoteca ledger verify`")
    return checked.entries


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def append(
    root: Path, action: str, tracks: list[str], reason: str, *, category: str | None = None, until: str | None = None
) -> Entry:
    """Append one entry (durably: written, fsynced, with the folder) under the ledger's lock."""
    from fonoteca import locks

    if action not in ACTIONS:
        raise UsageError(f"action must be one of {', '.join(ACTIONS)}")
    if category is not None and category not in CATEGORIES:
        raise UsageError(f"--category {category!r}: one of {', '.join(CATEGORIES)}")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason is longer than {MAX_REASON} characters")
    if until is not None:
        try:
            date.fromisoformat(until)
        except ValueError:
            raise UsageError(f"--until {until!r}: expected a date, YYYY-MM-DD") from None
    path = ledger_path(root)
    with locks.held(Path(root) / ".withdrawals.lock", busy="another withdraw or reinstate is running; try again"):
        checked = verify(path)
        if not checked.ok:
            first = checked.problems[0]
            raise FonotecaError(
                f"{path}:{first.line}: {first.reason}: nothing is appended to a ledger that does "
                "not verify (restore it from a copy; `fonoteca ledger verify` shows where it breaks)"
            )
        entry = Entry(len(checked.entries) + 1, action, tuple(tracks), reason, category, until, _now(), checked.head)
        line = orjson.dumps(entry.as_dict()) + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        from fonoteca.durable import fsync_dir

        fsync_dir(path.parent)
    return entry


# ------------------------------------------------------------------------------------------------ state


@dataclass(frozen=True)
class Withdrawal:
    """A track's current withdrawal: the entry that withdrew it."""

    track: str
    entry: Entry

    def as_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "category": self.entry.category,
            "reason": self.entry.reason,
            "withdrawn_at": self.entry.at,
            "until": self.entry.until,
            "seq": self.entry.seq,
        }


def state(entries: list[Entry], today: date | None = None) -> dict[str, Withdrawal]:
    """Currently withdrawn tracks by NS:track:ID."""
    today = today or datetime.now(UTC).date()
    current: dict[str, Withdrawal] = {}
    for entry in entries:
        for track in entry.tracks:
            if entry.action == "withdraw":
                current[track] = Withdrawal(track, entry)
            else:
                current.pop(track, None)
    return {k: w for k, w in current.items() if not w.entry.lapsed(today)}


_CACHE: dict[str, tuple[Any, dict[str, Withdrawal]]] = {}
_CACHE_LOCK = threading.Lock()


def signature(root: Path) -> tuple[Any, ...] | None:
    """Changes whenever the ledger does (for caches of what it hides)."""
    try:
        st = os.stat(ledger_path(root))
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def withdrawn(root: Path) -> dict[str, Withdrawal]:
    """The tracks withdrawn now in the ledger at `root` (cached per ledger state and day). A ledger that does not
    verify hides what its good lines withdraw: a broken chain never brings a withdrawn track back."""
    key = (signature(root), datetime.now(UTC).date())
    name = str(Path(root).resolve())
    with _CACHE_LOCK:
        hit = _CACHE.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
    if key[0] is None:
        found: dict[str, Withdrawal] = {}
    else:
        checked = verify(ledger_path(root))
        found = state(checked.entries, key[1])
        if not checked.ok:  # lines after the break still withdraw: only their reinstatements are not trusted
            found.update(_withdrawals_after_break(ledger_path(root), len(checked.entries), key[1]))
    with _CACHE_LOCK:
        _CACHE[name] = (key, found)
    return found


def _withdrawals_after_break(path: Path, good: int, today: date) -> dict[str, Withdrawal]:
    out: dict[str, Withdrawal] = {}
    try:
        lines = path.read_bytes().split(b"\n")[good:]
    except OSError:
        return out
    for raw in lines:
        try:
            data = orjson.loads(raw)
            entry = Entry(
                int(data["seq"]),
                str(data["action"]),
                tuple(str(t) for t in data["tracks"]),
                str(data.get("reason") or ""),
                data.get("category"),
                data.get("until"),
                str(data.get("at") or ""),
                str(data.get("prev") or ""),
            )
        except Exception:  # noqa: BLE001 (a damaged line is no withdrawal we can read)
            continue
        if entry.action == "withdraw" and not _safe_lapsed(entry, today):
            for track in entry.tracks:
                out[track] = Withdrawal(track, entry)
    return out


def _safe_lapsed(entry: Entry, today: date) -> bool:
    try:
        return entry.lapsed(today)
    except (TypeError, ValueError):
        return False


def catalog_root(conn: sqlite3.Connection) -> Path | None:
    """The folder of the catalog a connection has open (an archive or a mirror): where its ledger is."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main" and file:
            return Path(file).parent
    return None


_ROWIDS: dict[tuple[str, int], tuple[Any, dict[int, Withdrawal]]] = {}


def withdrawn_rowids(conn: sqlite3.Connection, root: Path | None = None) -> dict[int, Withdrawal]:
    """tracks.rowid -> withdrawal, for the tracks the ledger withdraws that the catalog has (cached per
    connection, ledger state and catalog state)."""
    root = root if root is not None else catalog_root(conn)
    if root is None:
        return {}
    found = withdrawn(root)
    if not found:
        return {}
    key = (signature(root), datetime.now(UTC).date(), _catalog_signature(conn))
    cache_key = (str(root), id(conn))
    with _CACHE_LOCK:
        hit = _ROWIDS.get(cache_key)
        if hit is not None and hit[0] == key:
            return hit[1]
    out = _rowids_of(conn, found)
    with _CACHE_LOCK:
        if len(_ROWIDS) > 256:
            _ROWIDS.clear()
        _ROWIDS[cache_key] = (key, out)
    return out


def _catalog_signature(conn: sqlite3.Connection) -> Any:
    try:
        return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes
    except sqlite3.Error:
        return None


def _rowids_of(conn: sqlite3.Connection, found: dict[str, Withdrawal]) -> dict[int, Withdrawal]:
    from fonoteca.catalog.ids import NAMESPACES

    out: dict[int, Withdrawal] = {}
    for ref, w in found.items():
        ns_name, _, track_id = ref.split(":", 2)
        ns = NAMESPACES.get(ns_name)
        if ns is None:
            continue
        row = conn.execute("SELECT rowid FROM tracks WHERE id = ? AND ns = ?", (track_id, ns)).fetchone()
        if row is not None:
            out[int(row[0])] = w
    return out


def track_ref(conn: sqlite3.Connection, rowid: int) -> str | None:
    from fonoteca.catalog.ids import NAMESPACE_NAMES

    row = conn.execute("SELECT ns, id FROM tracks WHERE rowid = ?", (rowid,)).fetchone()
    return None if row is None else f"{NAMESPACE_NAMES.get(row[0], 'ns' + str(row[0]))}:track:{row[1]}"
