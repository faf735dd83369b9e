"""Seeder counts from the DHT (BEP 33) for torrents without trackers: real libtorrent sessions on 127.0.0.1 form a
small DHT (bootstrapped from each other, nothing outside this machine), one of them seeds a packed release that
names no tracker and announces it to the DHT, and `fonoteca torrents scrape` asks the DHT about it. A torrent
nobody announced stays "unknown", never 0; every figure says where it came from."""

from __future__ import annotations

import json
import shutil
import time

import libtorrent as lt
import pytest

from fonoteca.mirror import dht, seed_items
from fonoteca.mirror.session import add_params
from tests.clients import free_port
from tests.conftest import run_cli


def _node(bootstrap: list[int]) -> lt.session:
    """A libtorrent DHT node on 127.0.0.1. Every node of this DHT shares one address, so the rules that guard
    the public DHT against many nodes (or floods) from one address are relaxed."""
    return lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": True,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "dht_bootstrap_nodes": ",".join(f"127.0.0.1:{p}" for p in bootstrap),
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_prefer_verified_node_ids": False,
            "dht_block_ratelimit": 1000,
            "allow_multiple_connections_per_ip": True,
        }
    )


def test_bloom_estimate_follows_bep_33():
    bits = bytearray(dht.BLOOM_BYTES)
    assert dht.bloom_estimate(bytes(bits)) == 0
    for n in range(50):
        dht.bloom_add(bits, bytes([10, 0, n // 256, n % 256]))
    assert 45 <= dht.bloom_estimate(bytes(bits)) <= 55
    assert dht.bloom_estimate(b"\xff" * dht.BLOOM_BYTES) > 5000  # saturated: very many, not infinite


@pytest.fixture
def small_dht(packed_archive):
    """Three DHT nodes; the first seeds every torrent of the packed release but the last one."""
    first = _node([])
    second = _node([first.listen_port()])
    third = _node([first.listen_port(), second.listen_port()])
    for other in (second, third):
        first.add_dht_node(("127.0.0.1", other.listen_port()))
    items = [item for item in seed_items(packed_archive) if item[0].info_hashes().has_v2()]  # the listed hybrids
    seeded, left = items[:-1], items[-1]
    handles = [first.add_torrent(add_params(ti, save)) for ti, save, _ in seeded]
    try:
        yield (
            [second.listen_port(), third.listen_port()],
            [str(ti.info_hashes().v1) for ti, _, _ in seeded],
            str(left[0].info_hashes().v1),
            handles,
        )
    finally:
        for s in (first, second, third):
            s.pause()
        del first, second, third


def _announced(nodes: list[int], hashes: list[str], handles: list) -> None:
    """Until the DHT stores the seeder for every hash (announces travel a moment)."""
    deadline = time.monotonic() + 60
    while True:
        found = dht.scrape(hashes, [f"127.0.0.1:{p}" for p in nodes], timeout=5)
        if set(found.figures) == set(hashes) and all(f.seeders >= 1 for f in found.figures.values()):
            return
        assert time.monotonic() < deadline, (found.figures, found.errors)
        for h in handles:
            h.force_dht_announce()
        time.sleep(1)


def test_scrape_asks_the_dht_for_torrents_without_trackers(packed_archive, small_dht, tmp_path):
    nodes, seeded, nobody, handles = small_dht
    listing = json.loads((packed_archive / "releases" / "torrents.json").read_text())
    assert all("&tr=" not in r["magnet_link"] for r in listing)  # no tracker to ask: the DHT only
    _announced(nodes, seeded, handles)
    copy = tmp_path / "torrents.json"
    shutil.copy(packed_archive / "releases" / "torrents.json", copy)
    args = [a for p in nodes for a in ("--dht-node", f"127.0.0.1:{p}")] + ["--dht-timeout", "10"]
    result = run_cli("torrents", "scrape", str(copy), *args, "--json")
    assert result.exit_code == 0, result.stderr
    report = {t["btih"]: t for t in json.loads(result.stdout)["torrents"]}
    for btih in seeded:
        assert report[btih]["seeders"] >= 1 and report[btih]["source"] == "dht", report[btih]
        assert report[btih]["completed"] is None  # the DHT does not count completed downloads
    assert report[nobody]["seeders"] is None and report[nobody]["source"] is None
    updated = {r["btih"]: r for r in json.loads(copy.read_text())}
    assert all(
        updated[b]["stats_source"] == "dht"
        and updated[b]["seeders"] >= 1
        and updated[b]["completed"] is None
        and updated[b]["stats_scraped_at"]
        for b in seeded
    )
    assert updated[nobody]["stats_scraped_at"] is None and updated[nobody]["stats_source"] is None
    table = run_cli("torrents", "scrape", str(copy), *args)
    row = next(line.split("\t") for line in table.stdout.splitlines() if nobody in line)
    assert row[2:5] == ["unknown"] * 3, row
    # into an archive's own list: the figures and their source
    archive = tmp_path / "archive"
    shutil.copytree(packed_archive, archive, symlinks=True)
    assert run_cli("torrents", "scrape", *args, archive=archive).exit_code == 0
    listed = {r["btih"]: r for r in json.loads(run_cli("torrents", "list", "--json", archive=archive).stdout)}
    assert all(listed[b]["stats_source"] == "dht" and listed[b]["completed"] is None for b in seeded)
    assert listed[nobody]["stats_scraped_at"] is None


def test_a_dht_that_does_not_answer_is_named(packed_archive, tmp_path):
    dead = free_port()
    copy = tmp_path / "torrents.json"
    shutil.copy(packed_archive / "releases" / "torrents.json", copy)
    result = run_cli("torrents", "scrape", str(copy), "--dht-node", f"127.0.0.1:{dead}", "--dht-timeout", "3")
    assert result.exit_code == 1  # nothing could be counted
    assert f"127.0.0.1:{dead}" in result.stderr and "did not answer" in result.stderr
    assert all(r["stats_scraped_at"] is None for r in json.loads(copy.read_text()))
    bad = run_cli("torrents", "scrape", str(copy), "--dht-node", "nowhere")
    assert bad.exit_code == 2 and "HOST:PORT" in bad.stderr
