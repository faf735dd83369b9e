"""The Archive: one directory holding the config, the catalog and everything derived from it."""

from __future__ import annotations

import os
import sqlite3
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fonoteca.catalog import db
from fonoteca.errors import FonotecaError

if TYPE_CHECKING:
    from fonoteca.storage import Storage

CONFIG_NAME = "fonoteca.toml"
CATALOG_NAME = "catalog.sqlite3"
SUBDIRS = ("index", "files", "quarantine", "rejects", "releases")

DEFAULT_CONFIG = """\
# Fonoteca archive configuration. Every stage reads its own table; unknown keys are ignored.

[archive]
name = "{name}"
# Short id used in release and torrent names.
collection = "{collection}"

[tiers]
# original: the source audio kept bit-exact; compact: re-encoded with libopus.
compact_codec = "opus"
compact_bitrate = 75000
original_bitrate = 160000
"""


@dataclass
class Archive:
    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    def dir(self, name: str) -> Path:
        """A sub-directory of the archive (index, files, quarantine, rejects, releases), created on demand (on a
        read-only archive it is only named: reading it works, writing into it is refused elsewhere)."""
        path = self.root / name
        if not path.is_dir() and not self.read_only:
            path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def storage(self) -> Storage:
        """Where the stored audio is kept (fonoteca.storage; a plugin may provide another)."""
        from fonoteca import plugins

        return plugins.storage(self)

    @property
    def read_only(self) -> bool:
        """The archive lies on a read-only file system (a mirror on read-only media, a snapshot)."""
        return db.on_read_only_fs(self.catalog_path)

    def require_writable(self, what: str = "this command") -> None:
        """Refuse, in words, a command that writes into an archive on a read-only file system."""
        if self.read_only:
            raise FonotecaError(
                f"{self.root} is on a read-only file system: {what} writes to the archive. Reading commands "
                "(search, show, stats, serve, verify, coverage, export, torrents list) work on it as it is; "
                "to change it, copy it to writable storage or remount it read-write."
            )

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        """A connection to the catalog; the schema is brought up to date first (refused when it is newer)."""
        if readonly:
            conn = db.connect(self.catalog_path, readonly=True)
            if db.needs_migration(conn):
                conn.close()
                if self.read_only:
                    raise FonotecaError(
                        f"{self.catalog_path} was written by an older Fonoteca and lies on a "
                        "read-only file system: open it once with write access to upgrade it"
                    )
                self.connect().close()
                conn = db.connect(self.catalog_path, readonly=True)
            return conn
        self.require_writable()
        conn = db.connect(self.catalog_path)
        db.migrate(conn)
        return conn

    @property
    def name(self) -> str:
        return str(self.config.get("archive", {}).get("name", self.root.name))

    @property
    def collection(self) -> str:
        return str(self.config.get("archive", {}).get("collection", "fonoteca"))


def init(root: Path, *, name: str | None = None) -> Archive:
    """Create an archive directory (idempotent: an existing archive is opened and migrated)."""
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    config_path = root / CONFIG_NAME
    if not config_path.exists():
        label = _toml_string(name or root.name)
        collection = _toml_string(_slug(name or root.name))
        config_path.write_text(DEFAULT_CONFIG.format(name=label, collection=collection), encoding="utf-8")
    for sub in SUBDIRS:
        (root / sub).mkdir(exist_ok=True)
    archive = open_archive(root)
    archive.connect().close()
    return archive


def open_archive(root: Path | None = None) -> Archive:
    """Open an existing archive: the given directory, else $FONOTECA_ARCHIVE, else the current directory."""
    if root is None:
        root = Path(os.environ.get("FONOTECA_ARCHIVE") or Path.cwd())
    root = root.expanduser().resolve()
    config_path = root / CONFIG_NAME
    if not config_path.exists():
        raise FonotecaError(f"{root} is not a Fonoteca archive (no {CONFIG_NAME}); create one with: fonoteca init DIR")
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise FonotecaError(f"{config_path}: invalid TOML: {exc}") from exc
    return Archive(root=root, config=config)


def _slug(text: str) -> str:
    slug = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in text.lower()).strip("-")
    return "-".join(part for part in slug.split("-") if part)[:40] or "fonoteca"


def _toml_string(text: str) -> str:
    """Escape text for a basic TOML string."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)
