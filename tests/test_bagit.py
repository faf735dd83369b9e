"""Releases are BagIt 1.0 bags, checked with the Library of Congress `bagit` package: as packed, after the list is
rewritten (flags, swarm figures), once damaged (it must fail), and as a mirror downloads it over BitTorrent."""

from __future__ import annotations

import shutil
from pathlib import Path

import bagit
import pytest

from fonoteca.mirror import Seeder, mirror, seed_items
from tests.conftest import run_cli


def _release(root: Path) -> Path:
    return next(p for p in (root / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def test_a_packed_release_is_a_valid_bag(packed_archive):
    bag = bagit.Bag(str(_release(packed_archive)))
    bag.validate()  # every checksum, the Payload-Oxum, the tag manifest
    assert bag.info["External-Identifier"] == _release(packed_archive).name
    payload = set(bag.payload_files())
    assert any("__metadata__" in p for p in payload) and any(p.endswith((".flac", ".mp3")) for p in payload)
    assert "torrents.json" in bag.tagfile_entries()


def test_the_bag_stays_valid_when_the_list_is_rewritten(packed_archive, tmp_path):
    copy = tmp_path / "a"
    shutil.copytree(packed_archive, copy, symlinks=True)
    name = next(line.split("\t")[0] for line in run_cli("torrents", "list", archive=copy).stdout.splitlines()[1:])
    assert run_cli("torrents", "mark", name, "--obsolete", archive=copy).exit_code == 0
    bagit.Bag(str(_release(copy))).validate()


def test_a_damaged_release_fails_validation(packed_archive, tmp_path):
    copy = tmp_path / "a"
    shutil.copytree(packed_archive, copy, symlinks=True)
    victim = next(p for p in (_release(copy) / "data").rglob("*.flac"))
    data = bytearray(victim.read_bytes())
    victim.unlink()  # the payload is hard links into files/: replace the link, never write through it
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(_release(copy))).validate()


def test_a_mirrored_release_is_a_valid_bag(packed_archive, tmp_path):
    with Seeder(seed_items(packed_archive), listen="127.0.0.1:0") as seeder:
        assert seeder.wait_ready(60), seeder.errors
        result = mirror(str(packed_archive), tmp_path / "m", peers=[("127.0.0.1", seeder.port)], timeout=90, stall=60)
    assert result.complete, result.outcome.errors
    bagit.Bag(str(_release(tmp_path / "m"))).validate()
