"""The users database, ARCHIVE/users.sqlite3, beside the catalog (which it never touches): accounts, API keys and
every user's own state (stars, ratings, plays, playlists, play queue). The catalog and the releases stay the
archive's, so a mirror stays verifiable whatever its listeners do.

No password is stored in the clear:
  * an API key (OpenSubsonic apiKey) is `KEYID.SECRET`; only scrypt(SECRET) is kept, under KEYID;
  * a password is kept encrypted (Fernet) with ARCHIVE/users.key, a key file readable only by the server's user,
    because Subsonic token auth (t = md5(password + s)) needs the password itself; with --hash-only it is kept as
    an scrypt hash instead, and token auth is refused for that user (only u + p then).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fonoteca.catalog.db import transaction
from fonoteca.errors import FonotecaError, UsageError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

USERS_DB = "users.sqlite3"
KEY_FILE = "users.key"
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
MAX_PASSWORD = 1024
ANONYMOUS = "anonymous"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  rowid INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  admin INTEGER NOT NULL DEFAULT 0,
  password_enc BLOB,              -- Fernet token of the password (users.key), for token auth
  password_hash TEXT,             -- scrypt$N$r$p$salt$hash of the password (--hash-only)
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  key_id TEXT PRIMARY KEY,
  user INTEGER NOT NULL,
  hash TEXT NOT NULL,             -- scrypt of the key's secret part
  created_at TEXT NOT NULL,
  last_used TEXT
);
CREATE TABLE IF NOT EXISTS stars (
  user INTEGER NOT NULL, kind TEXT NOT NULL, item INTEGER NOT NULL, starred_at TEXT NOT NULL,
  PRIMARY KEY (user, kind, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ratings (
  user INTEGER NOT NULL, kind TEXT NOT NULL, item INTEGER NOT NULL, rating INTEGER NOT NULL,
  PRIMARY KEY (user, kind, item)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plays (
  user INTEGER NOT NULL, track INTEGER NOT NULL, album INTEGER, count INTEGER NOT NULL, last_played TEXT NOT NULL,
  PRIMARY KEY (user, track)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS plays_album ON plays (user, album);
CREATE TABLE IF NOT EXISTS playlists (
  rowid INTEGER PRIMARY KEY,
  owner INTEGER NOT NULL, name TEXT NOT NULL, comment TEXT, public INTEGER NOT NULL DEFAULT 0,
  created TEXT NOT NULL, changed TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS playlist_items (
  playlist INTEGER NOT NULL, position INTEGER NOT NULL, track INTEGER NOT NULL,
  PRIMARY KEY (playlist, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS play_queues (
  user INTEGER PRIMARY KEY, current INTEGER, position INTEGER, changed TEXT NOT NULL, changed_by TEXT,
  tracks TEXT NOT NULL            -- JSON list of track rowids
);
"""


@dataclass(frozen=True)
class User:
    rowid: int
    name: str
    admin: bool
    has_password: bool  # encrypted: token auth and u + p work
    hash_only: bool  # only an scrypt hash: u + p works, token auth does not

    @property
    def anonymous(self) -> bool:
        return self.rowid == 0


ANONYMOUS_USER = User(0, ANONYMOUS, False, False, False)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def users_path(root: Path) -> Path:
    return root / USERS_DB


def connect(root: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(users_path(root), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


def check_username(name: str) -> str:
    if not USERNAME.match(name or ""):
        raise UsageError(
            f"user name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    if name == ANONYMOUS:
        raise UsageError(f"user name {name!r} is reserved for the anonymous mode")
    return name


# --- secrets ---------------------------------------------------------------------------------------------------
def scrypt_hash(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def scrypt_check(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            secret.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def key_file(root: Path) -> Path:
    return root / KEY_FILE


def load_fernet(root: Path, *, create: bool = False) -> Fernet:
    """The Fernet key of this archive's users; refused when the key file can be read by anyone but its owner."""
    from cryptography.fernet import Fernet

    path = key_file(root)
    if not path.exists():
        if not create:
            raise FonotecaError(
                f"{path} is missing: the stored passwords cannot be read (add the users again "
                "with fonoteca users add --password)"
            )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise FonotecaError(f"{path} can be read by other users (mode {stat.S_IMODE(mode):o}): run chmod 600 {path}")
    try:
        return Fernet(path.read_bytes().strip())
    except ValueError as exc:
        raise FonotecaError(f"{path} is not a Fernet key ({exc})") from None


# --- accounts --------------------------------------------------------------------------------------------------
def _user(row: tuple) -> User:
    return User(int(row[0]), row[1], bool(row[2]), row[3] is not None, row[4] is not None)


USER_COLUMNS = "rowid, name, admin, password_enc, password_hash"


def find_user(conn: sqlite3.Connection, name: str) -> User | None:
    row = conn.execute(f"SELECT {USER_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
    return None if row is None else _user(row)


def list_users(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT u.name, u.admin, u.password_enc IS NOT NULL, u.password_hash IS NOT NULL, u.created_at, "
        "(SELECT count(*) FROM api_keys k WHERE k.user = u.rowid) FROM users u ORDER BY u.name"
    ).fetchall()
    return [
        {
            "name": r[0],
            "admin": bool(r[1]),
            "password": "encrypted" if r[2] else "hashed" if r[3] else "none",
            "api_keys": r[5],
            "created_at": r[4],
        }
        for r in rows
    ]


def add_user(root: Path, name: str, *, password: str | None, admin: bool = False, hash_only: bool = False) -> User:
    check_username(name)
    if password is not None and not 1 <= len(password) <= MAX_PASSWORD:
        raise UsageError(f"the password must have 1 to {MAX_PASSWORD} characters")
    enc = hashed = None
    if password is not None:
        if hash_only:
            hashed = scrypt_hash(password)
        else:
            enc = load_fernet(root, create=True).encrypt(password.encode("utf-8"))
    conn = connect(root)
    try:
        try:
            conn.execute(
                "INSERT INTO users (name, admin, password_enc, password_hash, created_at) VALUES (?,?,?,?,?)",
                (name, int(admin), enc, hashed, now_iso()),
            )
        except sqlite3.IntegrityError:
            raise FonotecaError(f"there is already a user {name!r} (fonoteca users remove {name} first)") from None
        found = find_user(conn, name)
        assert found is not None
        return found
    finally:
        conn.close()


def remove_user(root: Path, name: str) -> None:
    conn = connect(root)
    try:
        user = find_user(conn, name)
        if user is None:
            raise FonotecaError(f"no user {name!r} (fonoteca users list shows them)")
        with transaction(conn):
            for table in ("api_keys", "stars", "ratings", "plays", "play_queues"):
                conn.execute(f"DELETE FROM {table} WHERE user = ?", (user.rowid,))
            conn.execute(
                "DELETE FROM playlist_items WHERE playlist IN (SELECT rowid FROM playlists WHERE owner = ?)",
                (user.rowid,),
            )
            conn.execute("DELETE FROM playlists WHERE owner = ?", (user.rowid,))
            conn.execute("DELETE FROM users WHERE rowid = ?", (user.rowid,))
    finally:
        conn.close()


def new_api_key(root: Path, name: str) -> str:
    """A new API key for the user, shown once: only its hash is kept."""
    conn = connect(root)
    try:
        user = find_user(conn, name)
        if user is None:
            raise FonotecaError(f"no user {name!r} (fonoteca users add {name} first)")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        conn.execute(
            "INSERT INTO api_keys (key_id, user, hash, created_at) VALUES (?,?,?,?)",
            (key_id, user.rowid, scrypt_hash(secret), now_iso()),
        )
        return f"{key_id}.{secret}"
    finally:
        conn.close()


class Accounts:
    """Credential checks for the server: per-thread connections, and a memory of keys already proven (an scrypt
    check costs tens of milliseconds; a key proven once is then recognised by its SHA-256 for a while)."""

    KEY_MEMORY_S = 300.0
    MAX_REMEMBERED = 10000

    def __init__(self, root: Path) -> None:
        self.root = root
        self._local = threading.local()
        self._lock = threading.Lock()
        self._proven: dict[bytes, tuple[float, int]] = {}
        self._fernet: Fernet | None = None

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.root)
        return conn

    def user(self, name: str) -> User | None:
        return find_user(self.conn(), name)

    def by_key(self, key: str) -> User | None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        now = time.monotonic()
        with self._lock:
            hit = self._proven.get(digest)
        if hit is not None and hit[0] > now:
            row = self.conn().execute(f"SELECT {USER_COLUMNS} FROM users WHERE rowid = ?", (hit[1],)).fetchone()
            key_id = key.split(".", 1)[0]
            still = self.conn().execute("SELECT 1 FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            return _user(row) if row is not None and still is not None else None
        key_id, dot, secret = key.partition(".")
        if not dot or not key_id or len(key) > 200:
            return None
        row = self.conn().execute("SELECT user, hash FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None or not scrypt_check(secret, row[1]):
            return None
        with self._lock:
            if len(self._proven) >= self.MAX_REMEMBERED:
                self._proven.clear()
            self._proven[digest] = (now + self.KEY_MEMORY_S, int(row[0]))
        self.conn().execute("UPDATE api_keys SET last_used = ? WHERE key_id = ?", (now_iso(), key_id))
        found = self.conn().execute(f"SELECT {USER_COLUMNS} FROM users WHERE rowid = ?", (row[0],)).fetchone()
        return None if found is None else _user(found)

    def password(self, user: User) -> str | None:
        """The user's password, decrypted (None when it is kept hashed only, or not at all)."""
        row = self.conn().execute("SELECT password_enc FROM users WHERE rowid = ?", (user.rowid,)).fetchone()
        if row is None or row[0] is None:
            return None
        if self._fernet is None:
            self._fernet = load_fernet(self.root)
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(row[0]).decode("utf-8")
        except InvalidToken:
            raise FonotecaError(
                f"{key_file(self.root)} does not decrypt the stored passwords (was it replaced?)"
            ) from None

    def password_matches(self, user: User, given: str) -> bool:
        if user.hash_only:
            row = self.conn().execute("SELECT password_hash FROM users WHERE rowid = ?", (user.rowid,)).fetchone()
            return row is not None and scrypt_check(given, row[0])
        stored = self.password(user)
        return stored is not None and hmac.compare_digest(stored.encode("utf-8"), given.encode("utf-8"))
