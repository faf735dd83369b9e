"""Seeder counts from a real tracker: Debian's opentracker on 127.0.0.1 (HTTP and UDP), a real libtorrent seeder
announcing a packed release, and `fonoteca torrents scrape` writing the figures into the archive's list and into
a downloaded torrents.json."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from fonoteca import archive as archive_mod
from fonoteca.mirror import Seeder, seed_items
from fonoteca.mirror.scrape import scrape, scrape_url
from fonoteca.synth import audio as synth
from tests.clients import OPENTRACKER, Tracker, free_port
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif(OPENTRACKER is None, reason="Debian's opentracker is not installed")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory):
    """A packed archive whose torrents name one tracker twice (HTTP and UDP), and that tracker running."""
    tracker = Tracker(tmp_path_factory.mktemp("tracker"))
    port = tracker.port
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 3, (1.5, 2.0), ("flac",), seed=17)
    root = archive_mod.init(tmp_path_factory.mktemp("a") / "archive").root
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[pack]\ntrackers = ["http://127.0.0.1:{port}/announce", "udp://127.0.0.1:{port}/announce"]\n')
    for args in (
        ("import", "table", coll.catalog_csv, "--map", coll.mapping_toml),
        ("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original"),
        ("pack",),
    ):
        assert run_cli(*args, archive=root).exit_code == 0
    records = json.loads(run_cli("torrents", "list", "--json", archive=root).stdout)
    hashes = [r["btih"] for r in records] + [r["btmh"][:40] for r in records]
    tracker.start(hashes)
    try:
        yield root
    finally:
        tracker.stop()


def test_scrape_url_follows_the_convention():
    assert scrape_url("http://t.example/announce") == "http://t.example/scrape"
    assert scrape_url("http://t.example/x/announce.php?k=1") == "http://t.example/x/scrape.php?k=1"
    with pytest.raises(ValueError):
        scrape_url("http://t.example/a")


def test_never_scraped_is_unknown_then_counted(tracked):
    listed = json.loads(run_cli("torrents", "list", "--json", archive=tracked).stdout)
    assert all(r["stats_scraped_at"] is None for r in listed)
    assert "unknown" in run_cli("torrents", "list", archive=tracked).stdout
    with Seeder(seed_items(tracked), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(60)
        deadline = time.monotonic() + 60  # until the tracker has the seeder's announces for every torrent
        while True:
            found = scrape(listed, timeout=5)
            if len(found.figures) == len(listed) and all(f.seeders >= 1 for f in found.figures.values()):
                break
            assert time.monotonic() < deadline, (found.figures, found.errors)
            time.sleep(0.5)
        assert found.errors == [] and found.trackers == 2
        assert all(len(found.answered[r["btih"]]) == 2 for r in listed)  # both HTTP and UDP answered
        result = run_cli("torrents", "scrape", "--json", archive=tracked)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert all(t["seeders"] >= 1 and t["trackers_answering"] == 2 for t in report["torrents"])
    listed = json.loads((tracked / "releases" / "torrents.json").read_text())
    assert all(r["stats_scraped_at"] == report["scraped_at"] and r["seeders"] >= 1 for r in listed)


def test_a_downloaded_list_is_updated_in_place(tracked, tmp_path):
    copy = tmp_path / "torrents.json"
    shutil.copy(tracked / "releases" / "torrents.json", copy)
    records = json.loads(copy.read_text())
    for r in records:
        r["seeders"], r["stats_scraped_at"] = 0, None
    copy.write_text(json.dumps(records))
    with Seeder(seed_items(tracked), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(60)
        time.sleep(1)
        result = run_cli("torrents", "scrape", str(copy))
    assert result.exit_code == 0, result.stderr
    updated = json.loads(copy.read_text())
    assert all(r["stats_scraped_at"] for r in updated)
    assert {r["btih"] for r in updated} == {r["btih"] for r in records}


def test_a_tracker_that_does_not_answer_is_named(tmp_path):
    dead = free_port()
    records = [
        {
            "name": "x",
            "btih": "1" * 40,
            "magnet_link": f"magnet:?xt=urn:btih:{'1' * 40}&tr=udp%3A%2F%2F127.0.0.1%3A{dead}%2Fannounce"
            f"&tr=http%3A%2F%2F127.0.0.1%3A{dead}%2Fannounce",
        }
    ]
    result = scrape(records, timeout=1)
    assert result.figures == {} and len(result.errors) == 2
    assert all(str(dead) in e for e in result.errors)


def test_trackers_count_while_a_dead_dht_is_named(tracked, tmp_path):
    """A torrent whose tracker answers is counted by it (source: tracker); one that names no tracker goes to the
    DHT, which does not answer: named, that torrent stays unknown, the others keep their figures."""
    copy = tmp_path / "torrents.json"
    records = json.loads((tracked / "releases" / "torrents.json").read_text())
    lonely = records[0]
    lonely["magnet_link"] = lonely["magnet_link"].split("&tr=")[0]
    lonely.update(seeders=0, leechers=0, completed=0, stats_scraped_at=None, stats_source=None)  # never counted
    copy.write_text(json.dumps(records))
    dead = free_port()
    with Seeder(seed_items(tracked), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(60)
        time.sleep(1)
        result = run_cli(
            "torrents", "scrape", str(copy), "--dht-node", f"127.0.0.1:{dead}", "--dht-timeout", "3", "--json"
        )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert any("did not answer" in e and str(dead) in e for e in report["errors"]), report["errors"]
    by_btih = {t["btih"]: t for t in report["torrents"]}
    assert by_btih[lonely["btih"]]["seeders"] is None and by_btih[lonely["btih"]]["source"] is None
    assert all(
        t["source"] == "tracker" and t["completed"] is not None for b, t in by_btih.items() if b != lonely["btih"]
    )
    updated = {r["btih"]: r for r in json.loads(copy.read_text())}
    assert updated[lonely["btih"]]["stats_scraped_at"] is None
    assert all(r["stats_source"] == "tracker" for b, r in updated.items() if b != lonely["btih"])
