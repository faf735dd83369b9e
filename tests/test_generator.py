"""One pick everywhere: the site's and API's "what should I seed" list is `fonoteca torrents pick`'s list, for the
same release (really packed), seed and a non-default popularity weight."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import httpx

from tests.conftest import run_cli


def test_site_generator_is_torrents_pick(packed_archive, tmp_path):
    root = tmp_path / "archive"
    shutil.copytree(packed_archive, root, symlinks=True)
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write("\n[pack]\npick_popularity_weight = 3.0\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fonoteca", "-A", str(root), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        for seed in (1, 2, 3):
            for budget in ("200kB", "1PB"):
                cli = run_cli("torrents", "pick", "--budget", budget, "--seed", str(seed), "--json", archive=root)
                assert cli.exit_code == 0, cli.stderr
                expected = [p["name"] for p in json.loads(cli.stdout)["picks"]]
                site = httpx.get(
                    f"http://127.0.0.1:{port}/api/torrents/generate", params={"budget": budget, "seed": seed}
                ).json()
                assert [t["name"] for t in site["torrents"]] == expected, (seed, budget)
                assert expected
        # the weight matters: at weight 0 the list for some seed differs
        differs = False
        for seed in range(10):
            weighted = json.loads(
                run_cli("torrents", "pick", "--budget", "1PB", "--seed", str(seed), "--json", archive=root).stdout
            )["picks"]
            flat = json.loads(
                run_cli(
                    "torrents",
                    "pick",
                    "--budget",
                    "1PB",
                    "--seed",
                    str(seed),
                    "--json",
                    "--popularity-weight",
                    "0",
                    archive=root,
                ).stdout
            )["picks"]
            differs |= [p["name"] for p in weighted] != [p["name"] for p in flat]
        assert differs
    finally:
        server.terminate()
        server.wait(20)


def test_the_reference_sites_interface(packed_archive):
    """/torrents/generate?max_tb=X&format=json|url|magnet (and under /api/), as volunteers' scripts call it."""
    from fonoteca.web import ServerThread, Settings, create_app

    settings = Settings(archive=packed_archive, rate_limit=0, base_url="https://music.example.org/")
    with ServerThread(create_app(settings)) as server, httpx.Client(base_url=server.url) as client:
        for prefix in ("", "/api"):
            listed = client.get(f"{prefix}/torrents/generate", params={"max_tb": 1, "format": "json", "seed": 1})
            assert listed.status_code == 200 and listed.headers["content-type"].startswith("application/json")
            torrents = listed.json()
            assert isinstance(torrents, list) and torrents[0]["is_metadata"]
            magnets = client.get(f"{prefix}/torrents/generate", params={"max_tb": 1, "format": "magnet", "seed": 1})
            assert magnets.text.splitlines() == [t["magnet_link"] for t in torrents]
            urls = client.get(f"{prefix}/torrents/generate", params={"max_tb": 1, "format": "url", "seed": 1})
            assert len(urls.text.splitlines()) == len(torrents)
            assert all(u.startswith("https://music.example.org/") for u in urls.text.splitlines())
        # a tiny max_tb leaves room for the metadata torrent only; budget= still works; both at once is refused
        tiny = client.get("/api/torrents/generate", params={"max_tb": 0.00000002, "format": "json"}).json()
        assert all(t["is_metadata"] for t in tiny)
        assert client.get("/api/torrents/generate", params={"budget": "1TB", "seed": 1}).json()["count"] == len(
            torrents
        )
        assert client.get("/api/torrents/generate", params={"budget": "1TB", "max_tb": 1}).status_code == 400
        assert client.get("/api/torrents/generate", params={"max_tb": -1}).status_code == 400
        assert client.get("/api/torrents/generate", params={"format": "xml"}).status_code == 400
