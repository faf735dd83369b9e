"""The Host header cannot poison what the site caches or writes: absolute URLs come from [web] base_url (or a
trusted Host), requests for hosts outside [web] allowed_hosts are refused, and no cached answer depends on a
request header outside its key. Real uvicorn on loopback, the shared web archive."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from fonoteca.errors import FonotecaError
from tests.test_web_fixtures import RELEASE, WebArchive, server_for, web  # noqa: F401

EVIL = "evil.example"
LIST = "/torrents/generate.txt?budget=1PB&kind=urls"


def local(web: WebArchive) -> str:  # noqa: F811
    """The site's address of the real release's data torrent."""
    return f"/torrents/file/{RELEASE}/{web.torrent}.torrent"


def test_a_hostile_host_does_not_reach_other_visitors(web: WebArchive) -> None:  # noqa: F811
    url = server_for(web, cache_entries=256)
    with httpx.Client(base_url=url) as c:
        attacker = c.get(LIST, headers={"Host": EVIL})
        assert attacker.status_code == 200 and EVIL not in attacker.text  # an untrusted Host is never written
        visitor = c.get(LIST)
        assert visitor.status_code == 200 and EVIL not in visitor.text
        assert url + local(web) in visitor.text.split()  # a loopback Host is trusted: the visitor's own address
        assert visitor.headers["vary"] == "Host"
        again = c.get(LIST, headers={"Host": EVIL})
        assert EVIL not in again.text and url not in again.text  # nor is the visitor's cached answer given out


def test_a_host_with_a_path_does_not_change_cached_pages(web: WebArchive) -> None:  # noqa: F811
    """Starlette builds request.url from the Host header: a Host of "x/api/evil?" would move the path and query
    it reports. Pages take the path from the request line only."""
    url = server_for(web, cache_entries=256)
    with httpx.Client(base_url=url) as c:
        for path in ("/search?q=heart", "/torrents?band=pop_0"):
            hostile = c.get(path, headers={"Host": "x/api/evil?"})
            assert "/api/evil" not in hostile.text, path
            visitor = c.get(path)
            alternate = re.search(r'<link rel="alternate" type="application/json" href="([^"]+)"', visitor.text)
            assert alternate and alternate.group(1) == "/api" + path.replace("&", "&amp;"), path
            assert "/api/evil" not in visitor.text and 'aria-current="page"' in visitor.text, path


def test_base_url_makes_every_absolute_url(web: WebArchive) -> None:  # noqa: F811
    url = server_for(web, base_url="https://music.example.org/")
    with httpx.Client(base_url=url) as c:
        for host in (EVIL, "127.0.0.1"):
            lines = c.get(LIST, headers={"Host": host}).text.split()
            assert "https://music.example.org" + local(web) in lines, host
            assert not any(EVIL in line or "127.0.0.1" in line for line in lines), host
        assert "vary" not in c.get(LIST).headers


def test_allowed_hosts_refuse_every_other_host(web: WebArchive) -> None:  # noqa: F811
    url = server_for(web, allowed_hosts=("music.example.org", "127.0.0.1"))
    with httpx.Client(base_url=url) as c:
        refused = c.get("/api/home", headers={"Host": EVIL})
        assert refused.status_code == 400 and "allowed_hosts" in refused.json()["error"]["message"]
        assert c.get("/", headers={"Host": EVIL + ":80"}).status_code == 400
        assert c.get("/api/home", headers={"Host": "MUSIC.example.org:443"}).status_code == 200
        lines = c.get(LIST, headers={"Host": "music.example.org"}).text.split()
        assert "http://music.example.org" + local(web) in lines
        assert c.get(LIST).status_code == 200


@pytest.mark.parametrize(
    "table, key",
    [
        ('base_url = "ftp://files.example"', "base_url"),
        ('base_url = "https://x.example/?q=1"', "base_url"),
        ("allowed_hosts = []", "allowed_hosts"),
        ("request_timeout = -1", "request_timeout"),
        ('max_connections_per_client = "many"', "max_connections_per_client"),
    ],
)
def test_bad_web_settings_are_named(tmp_path: Path, table: str, key: str) -> None:
    from fonoteca import archive as archive_mod
    from fonoteca.web import Settings, create_app

    archive = archive_mod.init(tmp_path / "a", name="Bad web settings")
    with open(archive.root / "fonoteca.toml", "a", encoding="utf-8") as config:
        config.write(f"\n[web]\n{table}\n")
    with pytest.raises(FonotecaError, match=rf"\[web\] {key}"):
        create_app(Settings(archive=archive.root, rate_limit=0))
