"""libtorrent sessions: peers on known addresses only (DHT, LSD, UPnP, NAT-PMP off unless asked), a background
seeder, and a bounded download loop (progress, peers re-connected, resume data saved)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libtorrent as lt

from fonoteca.errors import FonotecaError, UsageError

Peer = tuple[str, int]


def parse_peer(text: str) -> Peer:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--peer {text!r}: expected HOST:PORT")
    return host, int(port)


def make_session(
    listen: str = "127.0.0.1:0", *, discovery: bool = False, upload_rate: int = 0, download_rate: int = 0
) -> lt.session:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--listen {listen!r}: expected HOST:PORT")
    settings: lt.settings_pack = {
        "listen_interfaces": listen,
        "enable_dht": discovery,
        "enable_lsd": discovery,
        "enable_upnp": discovery,
        "enable_natpmp": discovery,
        "allow_multiple_connections_per_ip": True,
        # dial over TCP (fastest on loopback and LANs), but accept uTP: qBittorrent, Transmission and uTorrent try
        # uTP first, and a refused attempt backs their next one off by a minute or more
        "enable_incoming_utp": True,
        "enable_outgoing_utp": False,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.storage_notification,
        "upload_rate_limit": upload_rate,
        "download_rate_limit": download_rate,
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "active_checking": 2,
        "connections_limit": 2000,
        "max_out_request_queue": 4000,
        "max_allowed_in_request_queue": 4000,
        "send_buffer_watermark": 8 * 1024 * 1024,
        "send_buffer_low_watermark": 1024 * 1024,
        "send_buffer_watermark_factor": 150,
        "aio_threads": 4,
        "hashing_threads": 2,
        "request_timeout": 10,
        "peer_connect_timeout": 5,
        "min_reconnect_time": 1,
        "close_redundant_connections": False,
        "user_agent": "Fonoteca",
        "peer_fingerprint": "-FN0001-",
    }
    if not (upload_rate or download_rate):
        settings.pop("upload_rate_limit")
        settings.pop("download_rate_limit")
    try:
        ses = lt.session(settings)
    except RuntimeError as exc:
        raise FonotecaError(f"cannot start a BitTorrent session on {listen}: {exc}") from None
    if upload_rate or download_rate:  # loopback and LAN peers are exempt by default: limit them too (tests, demos)
        for cid in (lt.session.local_peer_class_id, lt.session.global_peer_class_id):
            info = ses.get_peer_class(cid)
            info["upload_limit"] = upload_rate
            info["download_limit"] = download_rate
            ses.set_peer_class(cid, info)
    return ses


def add_params(
    ti: lt.torrent_info,
    save_path: Path,
    *,
    resume: bytes | None = None,
    priorities: list[int] | None = None,
    seed_mode: bool = False,
) -> lt.add_torrent_params:
    atp = None
    if resume:
        try:
            atp = lt.read_resume_data(resume)
            if atp.info_hashes != ti.info_hashes():
                atp = None
        except Exception:
            atp = None
    if atp is None:
        atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = str(save_path)
    if priorities is not None:
        atp.file_priorities = priorities
    flags = atp.flags
    flags &= ~lt.torrent_flags.auto_managed
    flags &= ~lt.torrent_flags.paused
    if seed_mode:
        flags |= lt.torrent_flags.seed_mode
    atp.flags = flags
    return atp


def listen_port(ses: lt.session) -> int:
    return ses.listen_port()


class Seeder:
    """Seed torrents from folders in a background thread:

        with Seeder([(torrent_info, data_folder), ...], listen="127.0.0.1:0") as s:
            s.port    # connect peers to ("127.0.0.1", s.port)

    An item may carry a third value, True to add that torrent trusted (seed mode) whatever `trust` says."""

    def __init__(
        self,
        items: Iterable[tuple],
        *,
        listen: str = "127.0.0.1:0",
        discovery: bool = False,
        upload_rate: int = 0,
        trust: bool = False,
        resume_dir: Path | None = None,
        peers: Iterable[Peer] = (),
    ) -> None:
        """`resume_dir`: libtorrent resume data per torrent (BTIH.resume), read at start (a restart seeds at once,
        without hashing the data again) and written when the seeder stops. `peers`: clients to connect to (and
        reconnect to every few seconds), for those that accept peers but never find this one themselves."""
        given = list(items)
        self.items = [(item[0], item[1]) for item in given]
        trusted = [len(item) > 2 and bool(item[2]) for item in given]
        self.resume_dir = resume_dir
        self.peers = list(peers)
        self.session = make_session(listen, discovery=discovery, upload_rate=upload_rate)
        self.handles: list[lt.torrent_handle] = []
        for n, (ti, save) in enumerate(self.items):
            resume = self._resume_path(ti)
            data = resume.read_bytes() if resume is not None and resume.is_file() else None
            seed_mode = trust or trusted[n]
            self.handles.append(self.session.add_torrent(add_params(ti, save, resume=data, seed_mode=seed_mode)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fonoteca-seeder", daemon=True)
        self.errors: list[str] = []

    @property
    def port(self) -> int:
        return listen_port(self.session)

    def _run(self) -> None:
        last_connect = 0.0
        while not self._stop.is_set():
            if self.peers and time.monotonic() - last_connect > 3.0:
                last_connect = time.monotonic()
                self._connect_peers()
            self.session.wait_for_alert(200)
            for a in self.session.pop_alerts():
                if isinstance(a, (lt.torrent_error_alert, lt.file_error_alert, lt.listen_failed_alert)):
                    self.errors.append(a.message())

    def _connect_peers(self) -> None:
        for h in self.handles:
            if h.is_valid() and h.status().num_peers < len(self.peers):
                for p in self.peers:
                    try:
                        h.connect_peer(p)
                    except Exception as exc:  # libtorrent raises RuntimeError for an address it cannot use
                        self.errors.append(f"connect {p[0]}:{p[1]}: {exc}")

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until every torrent finished checking its data and seeds (False when the deadline passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [h.status() for h in self.handles]
            if all(s.is_seeding for s in states):
                return True
            time.sleep(0.1)
        return False

    def stats(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "torrents": len(self.handles),
            "seeding": sum(h.status().is_seeding for h in self.handles),
            "uploaded": sum(h.status().total_payload_upload for h in self.handles),
        }

    def torrents(self) -> list[dict[str, Any]]:
        """Per torrent: name, state, connected peers, bytes uploaded and the current upload rate."""
        out = []
        for h in self.handles:
            st = h.status()
            state = (
                "seeding"
                if st.is_seeding
                else "checking"
                if st.state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
                else "incomplete"
                if st.progress < 1
                else str(st.state)
            )
            out.append(
                {
                    "name": st.name,
                    "state": state,
                    "peers": st.num_peers,
                    "uploaded": st.total_payload_upload,
                    "upload_rate": st.upload_payload_rate,
                    "progress": st.progress,
                }
            )
        return out

    def start(self) -> Seeder:
        self._thread.start()
        return self

    def _resume_path(self, ti: lt.torrent_info) -> Path | None:
        return None if self.resume_dir is None else self.resume_dir / f"{ti.info_hashes().v1}.resume"

    def save_resume(self, wait: float = 5.0) -> int:
        """Write every torrent's resume data (the seeder's alert thread must not be running); how many."""
        if self.resume_dir is None:
            return 0
        try:
            self.resume_dir.mkdir(parents=True, exist_ok=True)
        except OSError:  # a read-only mirror seeds without resume data
            return 0
        by_hash = {str(h.info_hashes().v1): h for h in self.handles if h.is_valid()}
        for h in by_hash.values():
            h.save_resume_data(lt.torrent_handle.save_info_dict)
        written, deadline = 0, time.monotonic() + wait
        while written < len(by_hash) and time.monotonic() < deadline:
            self.session.wait_for_alert(100)
            for a in self.session.pop_alerts():
                if isinstance(a, lt.save_resume_data_alert):
                    target = self.resume_dir / f"{a.params.info_hashes.v1}.resume"
                    tmp = target.with_suffix(".tmp")
                    tmp.write_bytes(lt.write_resume_data_buf(a.params))
                    tmp.replace(target)
                    written += 1
                elif isinstance(a, lt.save_resume_data_failed_alert):
                    written += 1
        return written

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.save_resume()
        for h in self.handles:
            try:
                self.session.remove_torrent(h)
            except Exception:
                pass
        del self.session

    def __enter__(self) -> Seeder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Job:
    """One torrent to download into save_path (priorities: None for every file)."""

    key: str
    ti: lt.torrent_info
    save_path: Path
    priorities: list[int] | None = None
    resume_file: Path | None = None
    recheck: bool = False
    handle: Any = None
    downloaded: int = 0  # payload bytes received in this run
    hash_failures: int = 0
    done: bool = False
    wanted: int = 0
    had: int = 0  # wanted bytes already there when the job started (after checking)
    checked: bool = False
    connected: bool = False


@dataclass
class Outcome:
    jobs: list[Job]
    complete: bool
    interrupted: bool
    seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def downloaded(self) -> int:
        return sum(j.downloaded for j in self.jobs)


Tick = Callable[[list[Job], list[Any]], None]


def download(
    jobs: list[Job],
    peers: Iterable[Peer],
    *,
    listen: str = "127.0.0.1:0",
    discovery: bool = False,
    timeout: float | None = None,
    stall: float | None = None,
    tick: Tick | None = None,
    stop: threading.Event | None = None,
    keep_seeding: bool = False,
) -> Outcome:
    """Download every job with one session; bounded by `timeout` (seconds) and by `stall` (seconds without any
    progress); `stop` interrupts. Resume data is written to each job's resume_file at the end (and every 10 s)."""
    peers = list(peers)
    ses = make_session(listen, discovery=discovery)
    t0 = time.monotonic()
    errors: list[str] = []
    for j in jobs:
        resume = None
        if j.resume_file is not None and j.resume_file.is_file() and not j.recheck:
            resume = j.resume_file.read_bytes()
        j.save_path.mkdir(parents=True, exist_ok=True)
        j.handle = ses.add_torrent(add_params(j.ti, j.save_path, resume=resume, priorities=j.priorities))
        if j.recheck and resume is None:
            pass  # no resume data: libtorrent checks the files on disk first
    by_handle = {j.handle: j for j in jobs}
    last_connect = 0.0
    last_progress, last_done = time.monotonic(), -1
    last_save = time.monotonic()
    interrupted = False
    try:
        while True:
            now = time.monotonic()
            statuses = [j.handle.status() for j in jobs]
            for j, st in zip(jobs, statuses, strict=True):
                j.downloaded = st.total_payload_download
                j.wanted = st.total_wanted
                checking = st.state in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data)
                if not j.checked and not checking:
                    j.checked = True
                    j.had = st.total_wanted_done
                j.done = j.checked and (st.is_finished or st.is_seeding) and st.total_wanted_done >= st.total_wanted
            if all(j.done for j in jobs):
                break
            done_bytes = sum(st.total_wanted_done for st in statuses)
            if done_bytes != last_done or any(not j.checked for j in jobs):
                last_done, last_progress = done_bytes, now
            fresh = [j for j in jobs if j.checked and not j.connected]
            if fresh or now - last_connect > 2.0:
                if not fresh:
                    last_connect = now
                for j, st in zip(jobs, statuses, strict=True):
                    if not j.done and j.checked and (not j.connected or st.num_peers < len(peers)):
                        j.connected = True
                        for p in peers:
                            try:
                                j.handle.connect_peer(p)
                            except Exception as exc:
                                errors.append(f"connect {p[0]}:{p[1]}: {exc}")
            if stop is not None and stop.is_set():
                interrupted = True
                break
            if timeout is not None and now - t0 > timeout:
                interrupted = True
                errors.append(f"gave up after {timeout:.0f} s")
                break
            if stall is not None and now - last_progress > stall:
                interrupted = True
                errors.append(f"no progress for {stall:.0f} s (are the peers reachable and seeding?)")
                break
            if now - last_save > 10:
                last_save = now
                _save_resume(ses, jobs, wait=0)
            ses.wait_for_alert(100)
            alerts = ses.pop_alerts()
            for a in alerts:
                if isinstance(a, lt.hash_failed_alert):
                    failed = by_handle.get(a.handle)
                    if failed is not None:
                        failed.hash_failures += 1
                elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    errors.append(a.message())
                elif isinstance(a, lt.save_resume_data_alert):
                    _write_resume(by_handle, a)
            if tick is not None:
                tick(jobs, statuses)
        if tick is not None:
            tick(jobs, [j.handle.status() for j in jobs])
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _save_resume(ses, jobs, wait=5.0, by_handle=by_handle)
        if not keep_seeding:
            for j in jobs:
                try:
                    ses.remove_torrent(j.handle)
                except Exception:
                    pass
            del ses
    return Outcome(jobs, all(j.done for j in jobs), interrupted, time.monotonic() - t0, errors)


def _write_resume(by_handle: dict, a: Any) -> None:
    j = by_handle.get(a.handle)
    if j is None or j.resume_file is None:
        return
    data = lt.write_resume_data_buf(a.params)
    j.resume_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = j.resume_file.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(j.resume_file)


def _save_resume(ses: lt.session, jobs: list[Job], *, wait: float, by_handle: dict | None = None) -> None:
    pending = 0
    for j in jobs:
        if j.resume_file is not None and j.handle is not None and j.handle.is_valid():
            j.handle.save_resume_data(lt.torrent_handle.save_info_dict)
            pending += 1
    if not wait or by_handle is None:
        return
    deadline = time.monotonic() + wait
    while pending and time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, lt.save_resume_data_alert):
                _write_resume(by_handle, a)
                pending -= 1
            elif isinstance(a, lt.save_resume_data_failed_alert):
                pending -= 1


def fetch_metainfo(
    magnets: list[str],
    peers: Iterable[Peer],
    *,
    listen: str = "127.0.0.1:0",
    discovery: bool = False,
    timeout: float = 300.0,
    scratch: Path,
) -> list[bytes | str]:
    """The .torrent bytes of each magnet link, from peers (ut_metadata and the trackers of the link), or the
    reason it could not be had. No payload is written: every file gets priority 0 as the metadata arrives
    (default_dont_download, upload mode) and the torrents are removed right after."""
    peers = list(peers)
    out: list[bytes | str] = ["" for _ in magnets]
    ses = make_session(listen, discovery=discovery)
    handles: dict[int, Any] = {}
    try:
        for i, m in enumerate(magnets):
            try:
                atp = lt.parse_magnet_uri(m)
            except Exception as exc:  # libtorrent raises RuntimeError on a malformed link
                out[i] = f"not a magnet link ({exc})"
                continue
            atp.save_path = str(scratch)
            flags = atp.flags | lt.torrent_flags.default_dont_download | lt.torrent_flags.upload_mode
            atp.flags = flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
            handles[i] = ses.add_torrent(atp)
        deadline = time.monotonic() + timeout
        last = 0.0
        while handles:
            pending = {i: h for i, h in handles.items() if not h.status().has_metadata}
            if not pending or time.monotonic() > deadline:
                break
            if time.monotonic() - last > 2.0:
                last = time.monotonic()
                for h in pending.values():
                    for p in peers:
                        h.connect_peer(p)
            ses.wait_for_alert(100)
            ses.pop_alerts()
        for i, h in handles.items():
            if h.status().has_metadata:
                out[i] = b"d4:info" + bytes(h.torrent_file().info_section()) + b"e"
            else:
                out[i] = f"no peer sent its metadata within {timeout:.0f} s"
        return out
    finally:
        for h in handles.values():
            try:
                ses.remove_torrent(h)
            except Exception:
                pass
        del ses
