"""Seeding as a service: a restart resumes from resume data without hashing the data again, `seed --serve` serves
the folder's site beside the swarm, and `mirror --seed` stays up seeding what it mirrored (a second mirror then
completes from it alone)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import libtorrent as lt

from fonoteca.mirror import Seeder, seed_items
from tests.conftest import run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(seeder: Seeder, timeout: float = 30) -> list[lt.torrent_status]:
    """Statuses once every torrent has left the checking states."""
    deadline = time.monotonic() + timeout
    checking = (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
    while True:
        states = [h.status() for h in seeder.handles]
        if all(s.state not in checking for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.05)


def test_a_restart_seeds_from_resume_data_without_hashing_again(packed_archive, tmp_path):
    root = tmp_path / "archive"
    shutil.copytree(packed_archive, root, symlinks=True)
    resume = root / ".mirror" / "resume"
    with Seeder(seed_items(root), resume_dir=resume) as seeder:
        assert seeder.wait_ready(60)
    assert len(list(resume.glob("*.resume"))) == len(seed_items(root))
    # flip a byte of one payload file, keeping its size and time: only a new hash check could notice
    victim = next(p for p in (root / "releases").rglob("*.flac"))
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    victim.unlink()  # a hard link into files/: replace the link, never write through it
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    with Seeder(seed_items(root), resume_dir=resume) as seeder:
        assert all(s.is_seeding for s in _state(seeder))  # resumed: trusted, not rehashed
    with Seeder(seed_items(root)) as seeder:  # without resume data libtorrent hashes, and finds the damage
        assert not all(s.is_seeding and s.progress == 1 for s in _state(seeder))


def test_seed_serves_the_site_and_mirror_seed_stays_up(packed_archive, tmp_path):
    source_port, site_port, mirror_port = _free_port(), _free_port(), _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    seed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fonoteca",
            "seed",
            str(packed_archive),
            "--listen",
            f"127.0.0.1:{source_port}",
            "--serve",
            "--port",
            str(site_port),
            "--for",
            "120",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    first = tmp_path / "first"
    stayer = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{site_port}/api/health", timeout=5).status_code == 200
                break
            except httpx.HTTPError:
                assert seed.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        stayer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fonoteca",
                "mirror",
                str(packed_archive),
                "--into",
                str(first),
                "--peer",
                f"127.0.0.1:{source_port}",
                "--listen",
                f"127.0.0.1:{mirror_port}",
                "--timeout",
                "90",
                "--seed",
                "--seed-for",
                "120",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 90
        while True:  # the first mirror is complete once mirror.json says so
            state = first / "mirror.json"
            if state.is_file() and all(t["complete"] for t in json.loads(state.read_text())["torrents"].values()):
                break
            assert stayer.poll() is None and time.monotonic() < deadline, "the first mirror did not complete"
            time.sleep(0.3)
    finally:
        seed.terminate()
        seed.wait(30)
    try:
        # the source is gone: a second mirror completes from the first one, which stayed up seeding
        second = run_cli(
            "mirror",
            str(packed_archive),
            "--into",
            tmp_path / "second",
            "--peer",
            f"127.0.0.1:{mirror_port}",
            "--timeout",
            "90",
            "--json",
        )
        assert second.exit_code == 0, second.stdout + second.stderr
        assert json.loads(second.stdout)["complete"]
        assert run_cli("verify", str(tmp_path / "second")).exit_code == 0
    finally:
        stayer.terminate()
        assert stayer.wait(30) == 0  # SIGTERM ends the seeding cleanly


def test_a_client_that_dials_over_utp_downloads_from_the_seeder(packed_archive, tmp_path):
    """qBittorrent, Transmission and uTorrent try uTP first: the seeder must accept it (it dials over TCP)."""
    ti, _data = seed_items(packed_archive)[0][:2]
    client = lt.session(
        {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_outgoing_tcp": False,  # uTP only, so a refused uTP connection cannot fall back
            "enable_incoming_tcp": False,
            "enable_outgoing_utp": True,
            "enable_incoming_utp": True,
        }
    )
    with Seeder(seed_items(packed_archive)) as seeder:
        assert seeder.wait_ready(60)
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(ti)
        atp.save_path = str(tmp_path / "got")
        h = client.add_torrent(atp)
        h.connect_peer(("127.0.0.1", seeder.port))
        deadline = time.monotonic() + 60
        while not h.status().is_seeding and time.monotonic() < deadline:
            time.sleep(0.1)
        assert h.status().is_seeding, h.status().state
        assert seeder.stats()["uploaded"] > 0
