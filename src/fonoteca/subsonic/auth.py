"""Who is asking: OpenSubsonic `apiKey` (preferred), Subsonic token auth (`u` + `t` = md5(password + `s`) + `s`),
`u` + `p` (plain or `enc:HEX`), or nobody when the anonymous read-only mode is on. Every failure is one of the
documented codes (10, 40, 41, 42, 43, 44); a client's version that this server cannot serve is 20 or 30."""

from __future__ import annotations

import hashlib
import hmac
import re

from fonoteca.subsonic import responses as r
from fonoteca.subsonic.config import SubsonicConfig
from fonoteca.subsonic.users import ANONYMOUS_USER, Accounts, User

VERSION = re.compile(r"^(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?$")
SERVER_VERSION = (1, 16, 1)
OLDEST_CLIENT = (1, 1, 0)
HEX_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


def one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def check_version(params: dict[str, list[str]]) -> None:
    """`v`, the protocol version the client speaks (absent: taken as this server's)."""
    text = one(params, "v")
    if text is None or text == "":
        return
    match = VERSION.match(text.strip())
    if match is None:
        raise r.SubsonicError(r.MISSING_PARAMETER, f"parameter 'v' must be a version such as 1.16.1, not {text[:40]!r}")
    version = tuple(int(g or 0) for g in match.groups())
    if version[0] > SERVER_VERSION[0] or (version[0] == SERVER_VERSION[0] and version[:2] > SERVER_VERSION[:2]):
        raise r.SubsonicError(
            r.SERVER_MUST_UPGRADE,
            f"this server speaks the Subsonic API {r.API_VERSION}; the client asks for {text}: the server must upgrade",
        )
    if version < OLDEST_CLIENT:
        raise r.SubsonicError(
            r.CLIENT_MUST_UPGRADE,
            f"the client speaks the Subsonic API {text}; this server needs 1.1.0 or later: the client must upgrade",
        )


def _decoded_password(given: str) -> str:
    if given.startswith("enc:"):
        try:
            return bytes.fromhex(given[4:]).decode("utf-8")
        except ValueError:
            raise r.SubsonicError(r.WRONG_CREDENTIALS, "wrong username or password") from None
    return given


def authenticate(params: dict[str, list[str]], accounts: Accounts, config: SubsonicConfig) -> User:
    api_key, name = one(params, "apiKey"), one(params, "u")
    token, salt, password = one(params, "t"), one(params, "s"), one(params, "p")
    if api_key is not None:
        if name is not None or token is not None or password is not None:
            raise r.SubsonicError(r.CONFLICTING_MECHANISMS, "give either apiKey or u with t and s (or p), not both")
        user = accounts.by_key(api_key)
        if user is None:
            raise r.SubsonicError(r.INVALID_API_KEY, "invalid API key")
        return user
    if name is None:
        if token is None and password is None and salt is None and config.anonymous:
            return ANONYMOUS_USER
        raise r.SubsonicError(
            r.MISSING_PARAMETER,
            "required parameter 'u' is missing (or give apiKey)"
            if token is not None or password is not None
            else "credentials are required: apiKey, or u with t and s (or p)",
        )
    if token is not None and password is not None:
        raise r.SubsonicError(r.CONFLICTING_MECHANISMS, "give either t and s or p, not both")
    if token is None and password is None:
        raise r.SubsonicError(r.MISSING_PARAMETER, "required parameters 't' and 's' (or 'p') are missing")
    user = accounts.user(name) if len(name) <= 64 else None
    if user is not None and not user.has_password and not user.hash_only:
        raise r.SubsonicError(r.MECHANISM_NOT_SUPPORTED, f"{name!r} has no password: sign in with an API key")
    if token is not None:
        if salt is None:
            raise r.SubsonicError(r.MISSING_PARAMETER, "required parameter 's' (the salt of t) is missing")
        if user is not None and user.hash_only:
            raise r.SubsonicError(
                r.TOKEN_NOT_SUPPORTED,
                f"token authentication is not available for {name!r} "
                "(its password is kept hashed only): use apiKey or p",
            )
        stored = accounts.password(user) if user is not None else None
        if user is None or stored is None or not HEX_MD5.match(token) or len(salt) > 256:
            raise r.SubsonicError(r.WRONG_CREDENTIALS, "wrong username or password")
        expected = hashlib.md5((stored + salt).encode("utf-8")).hexdigest()
        if not hmac.compare_digest(expected, token.lower()):
            raise r.SubsonicError(r.WRONG_CREDENTIALS, "wrong username or password")
        return user
    assert password is not None  # neither t nor p was refused above
    if not config.password_auth:
        raise r.SubsonicError(
            r.MECHANISM_NOT_SUPPORTED,
            "password authentication (p) is turned off on this server: use apiKey or u with t and s",
        )
    if user is None or len(password) > 2048 or not accounts.password_matches(user, _decoded_password(password)):
        raise r.SubsonicError(r.WRONG_CREDENTIALS, "wrong username or password")
    return user
