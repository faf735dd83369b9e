"""The Subsonic library's snapshot: a change of the catalog is seen by the next request, and the periodic recheck
rebuilds in the background while the snapshot in hand is served (a library of millions of tracks takes seconds
to rebuild, which used to stall every request of that moment: p99 of 5 s under load at 1M tracks)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fonoteca import archive as archive_mod
from fonoteca.subsonic import library as library_mod
from fonoteca.web import store as store_mod
from fonoteca.web.app import Settings, Site
from tests.conftest import run_cli


def _catalog(tmp_path: Path, name: str, tracks: int, seed: int) -> Path:
    data = tmp_path / f"{name}.jsonl.zst"
    assert run_cli("synth", "catalog", "--tracks", str(tracks), "--seed", str(seed), "--out", str(data)).exit_code == 0
    return data


@pytest.fixture()
def site(tmp_path: Path) -> Site:
    root = archive_mod.init(tmp_path / "archive").root
    assert run_cli("import", "spotify", str(_catalog(tmp_path, "a", 300, 5)), archive=root).exit_code == 0
    return Site(archive_mod.open_archive(root), Settings(archive=root))


def _wait_for_new(library: library_mod.Library, old: library_mod.Snapshot, seconds: float) -> library_mod.Snapshot:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        snap = library.snapshot()
        if snap is not old:
            return snap
        time.sleep(0.02)
    raise AssertionError(f"no new snapshot within {seconds} s")


def test_a_stale_snapshot_is_served_while_the_next_is_built(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    library = library_mod.Library(site, "catalog")
    first = library.snapshot()
    hidden = next(iter(first.albums.values())).rowid  # any rowid: a track the recheck will find hidden
    monkeypatch.setattr(library_mod, "hidden_tracks", lambda conn: frozenset({hidden}))
    monkeypatch.setattr(library_mod, "RECHECK_S", 0.0)  # every snapshot is due for its recheck at once
    assert library.snapshot() is first  # served as it is: the rebuild runs in the background
    second = _wait_for_new(library, first, 10)
    assert second.generation > first.generation and second.hidden == {hidden}
    assert second.albums.keys() == first.albums.keys()


def test_a_recheck_that_finds_nothing_changed_keeps_the_snapshot(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    library = library_mod.Library(site, "catalog")
    first = library.snapshot()
    monkeypatch.setattr(library_mod, "RECHECK_S", 0.05)
    time.sleep(0.1)
    assert library.snapshot() is first  # due: the recheck runs in the background
    deadline = time.monotonic() + 10
    while first.checked_at == 0.0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.checked_at > first.built_at  # rechecked ...
    assert library.snapshot() is first and library._generation == first.generation  # ... and not rebuilt


def test_a_changed_catalog_is_seen_by_the_next_request(site: Site, tmp_path: Path) -> None:
    library = library_mod.Library(site, "catalog")
    first = library.snapshot()
    more = _catalog(tmp_path, "b", 200, 6)
    assert run_cli("import", "spotify", str(more), archive=site.archive.root).exit_code == 0
    time.sleep(store_mod.STAMP_EVERY_S + 0.1)  # how often the store looks at the catalog's files, at most
    changed = library.snapshot()
    assert changed is not first and changed.generation == first.generation + 1
    assert len(changed.albums) > len(first.albums)


def test_search_links_read_in_parts_start_as_when_every_song_is_read(site: Site) -> None:
    from fonoteca.subsonic import (
        api,  # noqa: F401 (first: it imports the endpoint modules in their order)
        browse,
        responses,
    )
    from fonoteca.subsonic.config import subsonic_config
    from fonoteca.subsonic.service import Context, Service
    from fonoteca.subsonic.users import ANONYMOUS_USER

    service = Service(site, subsonic_config({"subsonic": {"library": "catalog"}}))
    ctx = Context(service, {}, ANONYMOUS_USER, responses.Format("json"))
    snap = service.library.snapshot()
    conn = service.library.conn(snap)
    songs = [r for (r,) in conn.execute("SELECT rowid FROM tracks WHERE level > 0 ORDER BY random()")]
    every_album, every_artist = browse._song_links(ctx, snap, songs, (len(songs), len(songs)))
    assert len(every_album) > 30 and len(every_artist) > 30  # enough that small asks stop after the first part
    for enough in ((1, 1), (5, 0), (0, 12), (20, 20), (40, 3)):
        albums, artists = browse._song_links(ctx, snap, songs, enough)
        assert albums[: enough[0]] == every_album[: enough[0]] and artists[: enough[1]] == every_artist[: enough[1]]
        assert len(albums) >= enough[0] and len(artists) >= enough[1]
