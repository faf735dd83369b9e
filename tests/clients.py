"""Real BitTorrent programs for the tests, each started on 127.0.0.1 by the test and stopped after it: Debian's
opentracker, qBittorrent (qbittorrent-nox, libtorrent 2, driven through its Web API) and Transmission
(transmission-daemon 3.00, driven through its RPC). DHT, local discovery, PEX and port mapping are off: peers meet
through the tracker or are connected by address."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

OPENTRACKER = shutil.which("opentracker")
QBITTORRENT = shutil.which("qbittorrent-nox")
TRANSMISSION_SHOW = shutil.which("transmission-show")
TRANSMISSION = shutil.which("transmission-daemon")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Any, what: str, timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ------------------------------------------------------------------------------------------------ opentracker


class Tracker:
    """opentracker on 127.0.0.1:port (TCP and UDP). Debian builds it with a whitelist: only the info-hashes listed
    are tracked (v1, and v2 truncated to 20 bytes as libtorrent announces it). Run as root, it chroots to its
    folder and drops to the user nobody, who must be able to read the whitelist."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder, self.port = folder, port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def announce(self) -> str:
        return f"http://127.0.0.1:{self.port}/announce"

    def start(self, hashes: list[str]) -> Tracker:
        assert OPENTRACKER, "opentracker is not installed"
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "whitelist.txt").write_text("".join(h + "\n" for h in hashes))
        self.folder.chmod(0o755)
        (self.folder / "whitelist.txt").chmod(0o644)
        self.proc = subprocess.Popen(
            [
                OPENTRACKER,
                "-i",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-P",
                str(self.port),
                "-d",
                str(self.folder),
                "-w",
                "whitelist.txt",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "opentracker exited"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/scrape", timeout=2).read()
                return True
            except OSError:
                return False

        wait_for(up, "opentracker", 20)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


# ------------------------------------------------------------------------------------------------ qBittorrent


SEEDING_STATES = ("uploading", "stalledUP", "forcedUP", "queuedUP")


class QBittorrent:
    """qbittorrent-nox with a profile of its own; its Web API without a password from localhost."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.web_port, self.peer_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None
        self.api = f"http://127.0.0.1:{self.web_port}/api/v2"

    def start(self) -> QBittorrent:
        assert QBITTORRENT, "qbittorrent-nox is not installed"
        config = self.profile / "qBittorrent" / "config"
        config.mkdir(parents=True, exist_ok=True)
        # qBittorrent's defaults where a volunteer keeps them: uTP and TCP, "prefer encryption"
        (config / "qBittorrent.conf").write_text(
            "[LegalNotice]\nAccepted=true\n\n[BitTorrent]\nSession\\DHTEnabled=false\nSession\\LSDEnabled=false\n"
            "Session\\PeXEnabled=false\nSession\\AnonymousModeEnabled=false\n\n[Preferences]\n"
            f"WebUI\\Port={self.web_port}\nWebUI\\LocalHostAuth=false\nWebUI\\CSRFProtection=false\n"
            f"WebUI\\HostHeaderValidation=false\nConnection\\PortRangeMin={self.peer_port}\nConnection\\UPnP=false\n"
            "Bittorrent\\DHT=false\nBittorrent\\LSD=false\nBittorrent\\PeX=false\n"
        )
        self.proc = subprocess.Popen(
            [QBITTORRENT, f"--profile={self.profile}", f"--webui-port={self.web_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "qbittorrent-nox exited"
            try:
                return httpx.get(f"{self.api}/app/version", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "qBittorrent's Web API", 30)
        # loopback peers are many connections from one address: allow them
        self.preferences(
            listen_port=self.peer_port,
            dht=False,
            lsd=False,
            pex=False,
            upnp=False,
            encryption=0,  # its default: prefer encryption
            queueing_enabled=False,  # every torrent active: no "queuedUP" that seeds nothing
            enable_multi_connections_from_same_ip=True,  # one peer on loopback holds many torrents
            max_connec=500,
            max_connec_per_torrent=100,
            max_uploads=100,
            max_uploads_per_torrent=100,
        )
        return self

    def preferences(self, **values: Any) -> None:
        r = httpx.post(f"{self.api}/app/setPreferences", data={"json": json.dumps(values)}, timeout=10)
        assert r.status_code == 200, r.text

    def add(self, torrent: Path, save_path: Path, *, paused: bool = False) -> None:
        with open(torrent, "rb") as f:
            r = httpx.post(
                f"{self.api}/torrents/add",
                files={"torrents": (torrent.name, f.read())},
                data={"savepath": str(save_path), "paused": "true" if paused else "false", "skip_checking": "false"},
                timeout=30,
            )
        assert r.status_code == 200 and r.text.strip() == "Ok.", r.text

    def torrents(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.api}/torrents/info", timeout=10).json()

    def add_peer(self, peer: str) -> None:
        hashes = "|".join(t["hash"] for t in self.torrents())
        r = httpx.post(f"{self.api}/torrents/addPeers", data={"hashes": hashes, "peers": peer}, timeout=10)
        assert r.status_code == 200, r.text

    def wait_all(self, count: int, *, seeding: bool, timeout: float = 120, peer: str | None = None) -> None:
        """Until `count` torrents are complete (downloaded, or checked and seeding), re-adding `peer` meanwhile."""
        last = 0.0

        def done() -> bool:
            nonlocal last
            items = self.torrents()
            if peer is not None and time.monotonic() - last > 3:
                last = time.monotonic()
                self.add_peer(peer)
            ok = [
                t
                for t in items
                # qBittorrent may report a finished torrent's progress a hair below 1.0: its upload states say done
                if (t["progress"] >= 1.0 or t["state"] in SEEDING_STATES)
                and (not seeding or t["state"] in SEEDING_STATES)
            ]
            return len(items) == count and len(ok) == count

        try:
            wait_for(done, f"qBittorrent to complete {count} torrents", timeout, 0.5)
        except AssertionError as e:  # say where each torrent stood, so a failure on CI can be read
            states = [
                (t["name"], t["state"], round(t["progress"], 3), t.get("num_seeds"), t.get("num_complete"))
                for t in self.torrents()
            ]
            raise AssertionError(
                f"{e}; (name, state, progress, seeds connected, seeds known): {states}; {self.diagnosis()}"
            ) from None

    def diagnosis(self) -> str:
        """What qBittorrent says of the torrents that are not complete: their trackers and peers, and its logs."""
        lines = []
        for t in self.torrents():
            if t["progress"] >= 1.0:
                continue
            trackers = httpx.get(f"{self.api}/torrents/trackers", params={"hash": t["hash"]}, timeout=10).json()
            peers = httpx.get(f"{self.api}/sync/torrentPeers", params={"hash": t["hash"]}, timeout=10).json()
            lines.append(
                f"{t['name']}: trackers {[(x['url'], x['status'], x['msg'], x['num_peers']) for x in trackers]}"
                f" peers {[(k, v.get('flags'), v.get('connection')) for k, v in peers.get('peers', {}).items()]}"
            )
        blocked = httpx.get(f"{self.api}/log/peers", timeout=10).json()
        log = httpx.get(f"{self.api}/log/main", timeout=10).json()
        lines.append(f"blocked peers: {[(x['ip'], x['blocked'], x['reason']) for x in blocked][-20:]}")
        lines.append(f"log: {[x['message'] for x in log][-20:]}")
        return "\n".join(lines)

    def stop(self) -> None:
        if self.proc is not None:
            try:
                httpx.post(f"{self.api}/app/shutdown", timeout=5)
                self.proc.wait(15)
            except (httpx.HTTPError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


# ------------------------------------------------------------------------------------------------ Transmission


class Transmission:
    """transmission-daemon with a configuration folder of its own, driven through its RPC (JSON over HTTP, with
    the X-Transmission-Session-Id handshake), no password from 127.0.0.1. Transmission 3.00 never connects to a
    loopback address a tracker gives it (its "martian" rule), but accepts connections from one: peers on this
    machine connect to it (`peer_port`)."""

    SEEDING = 6  # torrent-get status: 0 stopped, 1-2 checking, 3-4 downloading, 5-6 seeding

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rpc_port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rpc_port}/transmission/rpc"
        self.session_id = ""
        self.proc: subprocess.Popen | None = None

    def start(self) -> Transmission:
        assert TRANSMISSION, "transmission-daemon is not installed"
        config = self.folder / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "settings.json").write_text(
            json.dumps(
                {
                    "rpc-enabled": True,
                    "rpc-bind-address": "127.0.0.1",
                    "rpc-port": self.rpc_port,
                    "rpc-authentication-required": False,
                    "rpc-whitelist-enabled": False,
                    "rpc-host-whitelist-enabled": False,
                    "peer-port": self.peer_port,
                    "peer-port-random-on-start": False,
                    "bind-address-ipv4": "127.0.0.1",
                    "dht-enabled": False,
                    "lpd-enabled": False,
                    "pex-enabled": False,
                    "utp-enabled": False,
                    "port-forwarding-enabled": False,
                    "encryption": 0,
                    "start-added-torrents": True,
                    "download-dir": str(self.folder / "downloads"),
                    "incomplete-dir-enabled": False,
                    "ratio-limit-enabled": False,
                    "idle-seeding-limit-enabled": False,
                    "speed-limit-down-enabled": False,
                    "speed-limit-up-enabled": False,
                    "alt-speed-enabled": False,
                    "download-queue-enabled": False,
                    "seed-queue-enabled": False,
                    "queue-stalled-enabled": False,
                    "peer-limit-global": 500,
                    "peer-limit-per-torrent": 100,
                    "upload-slots-per-torrent": 100,
                    "message-level": 1,
                }
            )
        )
        self.proc = subprocess.Popen(
            [TRANSMISSION, "--foreground", "--config-dir", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, "transmission-daemon exited"
            try:
                self.rpc("session-get")
                return True
            except httpx.HTTPError:
                return False

        wait_for(up, "Transmission's RPC", 30)
        return self

    def rpc(self, method: str, **arguments: Any) -> dict[str, Any]:
        for _ in range(3):
            r = httpx.post(
                self.url,
                json={"method": method, "arguments": arguments},
                headers={"X-Transmission-Session-Id": self.session_id},
                timeout=30,
            )
            if r.status_code == 409:  # the first request of a session learns its id
                self.session_id = r.headers["X-Transmission-Session-Id"]
                continue
            answer = r.json()
            assert answer.get("result") == "success", answer
            return answer.get("arguments", {})
        raise AssertionError("Transmission kept refusing the session id")

    def add(self, torrent: Path, download_dir: Path) -> str:
        """Add a .torrent (downloading into, or seeding from, download_dir/NAME); its info-hash."""
        download_dir.mkdir(parents=True, exist_ok=True)
        added = self.rpc(
            "torrent-add",
            metainfo=base64.b64encode(torrent.read_bytes()).decode(),
            **{"download-dir": str(download_dir)},
        )
        return (added.get("torrent-added") or added.get("torrent-duplicate"))["hashString"]

    def torrents(self) -> list[dict[str, Any]]:
        return self.rpc(
            "torrent-get",
            fields=[
                "hashString",
                "name",
                "percentDone",
                "status",
                "error",
                "errorString",
                "peersConnected",
                "uploadedEver",
            ],
        )["torrents"]

    def wait_all(self, count: int, *, seeding: bool, timeout: float = 120) -> None:
        """Until `count` torrents are complete (downloaded, or checked and seeding); a torrent in error fails."""

        def done() -> bool:
            items = self.torrents()
            broken = [t for t in items if t["error"]]
            assert not broken, [(t["name"], t["errorString"]) for t in broken]
            ok = [t for t in items if t["percentDone"] >= 1.0 and (not seeding or t["status"] == self.SEEDING)]
            return len(items) == count and len(ok) == count

        wait_for(done, f"Transmission to complete {count} torrents", timeout, 0.5)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            self.rpc("session-close")
            self.proc.wait(15)
        except (httpx.HTTPError, AssertionError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)


def write_pad_files(folder: Path, torrent: Path) -> int:
    """The BEP 47 pad files of a torrent as Transmission 3 keeps them (files of zeros under NAME/.pad/, written
    while it downloads): what it needs on disk to seed a folder it did not download itself. How many."""
    import libtorrent as lt

    fs = lt.torrent_info(str(torrent)).files()
    written = 0
    for i in range(fs.num_files()):
        if fs.file_flags(i) & lt.file_storage.flag_pad_file:
            target = folder / fs.file_path(i)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(bytes(fs.file_size(i)))
            written += 1
    return written
