"""verify on what other tools and accidents produce: BEP 47 symbolic-link entries (checked as links, never as
missing data, and made again by --repair), and a release folder holding one unreadable .torrent (reported, every
other torrent still checked)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import libtorrent as lt

from tests.conftest import run_cli


def _symlink_release(root: Path) -> Path:
    """ROOT/releases/r1 with one torrent `t` of a file and a symbolic link to it (made by libtorrent itself)."""
    data = root / "releases" / "r1" / "data"
    (data / "t").mkdir(parents=True)
    (data / "t" / "a.txt").write_bytes(b"hello, preserved world\n" * 100)
    os.symlink("a.txt", data / "t" / "link")
    fs = lt.file_storage()
    lt.add_files(fs, str(data / "t"), flags=lt.create_torrent.symlinks)
    ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.symlinks)
    lt.set_piece_hashes(ct, str(data))
    (root / "releases" / "r1" / "torrents").mkdir()
    (root / "releases" / "r1" / "torrents" / "t.torrent").write_bytes(lt.bencode(ct.generate()))
    return data / "t"


def test_a_symlink_entry_is_checked_as_a_link(tmp_path):
    folder = _symlink_release(tmp_path / "m")
    ok = run_cli("verify", str(tmp_path / "m"), "--json")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["files"] == 2
    (folder / "link").unlink()
    missing = run_cli("verify", str(tmp_path / "m"), "--json")
    assert missing.exit_code == 1
    problems = json.loads(missing.stdout)["missing"]
    assert [p["path"] for p in problems] == ["t/link"] and "symbolic link" in problems[0]["reason"]
    repaired = run_cli("verify", str(tmp_path / "m"), "--repair", "--timeout", "20", "--json")
    assert repaired.exit_code == 0, repaired.stdout + repaired.stderr
    assert os.readlink(folder / "link") == "a.txt"


def test_a_symlink_pointing_elsewhere_is_corrupt(tmp_path):
    folder = _symlink_release(tmp_path / "m")
    (folder / "link").unlink()
    os.symlink("/etc/passwd", folder / "link")
    result = run_cli("verify", str(tmp_path / "m"), "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["corrupt"][0]["path"] == "t/link"


def test_one_bad_torrent_does_not_stop_verify(packed_archive, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(packed_archive, copy, symlinks=True)
    torrents = sorted((copy / "releases").glob("*/torrents/*.torrent"))
    assert len(torrents) >= 2
    torrents[0].write_bytes(b"d4:infod4:name3:../ee")  # hostile: a name that escapes its folder
    result = run_cli("verify", archive=copy)
    assert result.exit_code == 1
    assert "unreadable" in result.stdout and torrents[0].name in result.stdout
    assert "refused: refused" not in result.stdout + result.stderr
    report = json.loads(run_cli("verify", "--json", archive=copy).stdout)
    assert len(report["unreadable"]) == 1 and report["files"] > 0  # the other torrents were checked
    assert report["missing"] == [] and report["corrupt"] == []
