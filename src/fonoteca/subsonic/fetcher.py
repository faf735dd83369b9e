"""Playing what this mirror does not hold yet (`[subsonic] fetch_missing = true`): a stream of a released track
whose file is not here asks the swarm for that file's pieces first, in order (libtorrent piece deadlines and
sequential download, only that file wanted), and sends each piece as soon as it has arrived and passed its hash
check. The file lands where the mirror keeps it (releases/R/data/TORRENT/PATH); once complete its sha256 is
checked against the manifest, and a verified file is kept and recorded in mirror.json (so `fonoteca verify` and
`seed` count it), a wrong one deleted.

One libtorrent session per server process, started on the first such stream; its torrents stay in it, seeding
what they hold, until the server stops. The .torrent comes from the mirror's releases/R/torrents/, else from the
mirror's source ([mirror] source: an archive folder or a torrents.json URL), else from the peers by magnet link.

The first stream of a torrent answers within milliseconds of the peer's reply, not a second later: libtorrent
dials the peers a torrent knows only in its once-a-second round, or at once in a connect boost (a tracker or DHT
reply, or a paused torrent resuming). So once the new torrent is checked (about a millisecond with nothing on
disk) and wants the file, a torrent with no connection is paused and resumed, and the boost dials the [subsonic]
peers straight away; the same when a later stream finds the torrent's connections gone. Nothing is added to the
session before a stream asks for it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fonoteca.errors import FonotecaError
from fonoteca.subsonic.config import SubsonicConfig
from fonoteca.subsonic.library import Released

log = logging.getLogger("fonoteca.subsonic")
READ_CHUNK = 256 * 1024
WINDOW = 16  # pieces asked for with deadlines ahead of the one being sent
DEADLINE_STEP_MS = 40
POLL_S = 0.01
CHECK_POLL_S = 0.001  # a torrent with no data here yet is checked in about a millisecond
TICK_MS = 20


@dataclass
class RemoteFile:
    """One file of a torrent, being fetched: where it lands, and its place in the torrent's pieces."""

    handle: Any
    index: int
    path: Path
    size: int
    offset: int  # in the torrent's byte stream
    piece_length: int
    sha256: str
    release: str
    torrent: str
    btih: str
    has_torrent_file: bool

    def piece(self, pos: int) -> int:
        return (self.offset + pos) // self.piece_length

    def piece_end(self, piece: int) -> int:
        """The file position just after `piece` (clipped to the file)."""
        return min(self.size, (piece + 1) * self.piece_length - self.offset)


class Fetcher:
    def __init__(self, root: Path, config: SubsonicConfig) -> None:
        self.root = root
        self.config = config
        self._lock = threading.Lock()
        self._session: Any = None
        self._handles: dict[str, Any] = {}  # btih -> handle
        self._verifying: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self.errors: list[str] = []

    # --- the session ---------------------------------------------------------------------------------------
    def _ses(self) -> Any:
        if self._session is None:
            from fonoteca.mirror.session import make_session

            self._session = make_session(self.config.listen, discovery=self.config.discovery)
            # time-critical pieces are requested on the session's tick (500 ms by default): a player waits for
            # the first one, so tick often
            self._session.apply_settings(
                {"tick_interval": TICK_MS, "connection_speed": 500, "smooth_connects": False, "min_reconnect_time": 0}
            )
            threading.Thread(target=self._alerts, name="fonoteca-subsonic-fetch", daemon=True).start()
        return self._session

    def _alerts(self) -> None:
        import libtorrent as lt

        while not self._stop.is_set():
            ses = self._session
            if ses is None:
                return
            ses.wait_for_alert(500)
            for alert in ses.pop_alerts():
                if isinstance(alert, (lt.torrent_error_alert, lt.file_error_alert)):
                    self.errors.append(alert.message())
                    del self.errors[:-50]

    def close(self) -> None:
        self._stop.set()
        ses, self._session = self._session, None
        if ses is not None:
            for handle in self._handles.values():
                try:
                    ses.remove_torrent(handle)
                except Exception:  # noqa: BLE001
                    pass
        self._handles.clear()

    # --- torrents ------------------------------------------------------------------------------------------
    def _torrent_bytes(self, released: Released) -> bytes | None:
        from fonoteca.mirror.torrents import safe_name

        release = safe_name(released.release, "release")
        name = safe_name(released.line.torrent, "torrent")
        local = self.root / "releases" / release / "torrents" / f"{name}.torrent"
        if local.is_file():
            return local.read_bytes()
        source = self._mirror_source()
        if source is None or source.startswith("magnet:") or source.endswith(".torrent"):
            return None
        from fonoteca.mirror.sources import open_source

        try:
            src = open_source(source)
            record = next((r for r in src.records if r.get("name") == name), None)
            data = src.torrent_bytes(record) if record is not None else None
        except (FonotecaError, OSError) as exc:
            log.warning("cannot get %s.torrent from the mirror's source %s: %s", name, source, exc)
            return None
        if data is not None:
            self._install(local, data, released.line.btih)
        return data

    def _mirror_source(self) -> str | None:
        import tomllib

        try:
            config = tomllib.loads((self.root / "fonoteca.toml").read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            return None
        source = config.get("mirror", {}).get("source")
        return source if isinstance(source, str) and source else None

    @staticmethod
    def _install(dest: Path, data: bytes, btih: str) -> None:
        from fonoteca.mirror.torrents import load_torrent

        ti = load_torrent(data, dest.name)
        if str(ti.info_hashes().v1) != btih:
            raise FonotecaError(f"refused: {dest.name} does not have the manifest's info-hash {btih}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        tmp.write_bytes(data)
        os.replace(tmp, dest)

    def _magnet(self, released: Released) -> str:
        import orjson

        for listing in (
            self.root / "releases" / released.release / "torrents.json",
            self.root / "releases" / "torrents.json",
        ):
            try:
                records = orjson.loads(listing.read_bytes())
            except (OSError, ValueError):
                continue
            if isinstance(records, dict):
                records = records.get("torrents", [])
            for record in records if isinstance(records, list) else []:
                if isinstance(record, dict) and record.get("btih") == released.line.btih:
                    link = record.get("magnet_link")
                    if isinstance(link, str) and link.startswith("magnet:?"):
                        return link
        return f"magnet:?xt=urn:btih:{released.line.btih}"

    def _handle(self, released: Released) -> tuple[Any, bool]:
        """The torrent's handle in the session (added on first use) and whether its .torrent is here."""
        import libtorrent as lt

        from fonoteca.mirror.session import add_params
        from fonoteca.mirror.torrents import load_torrent, safe_name

        btih = released.line.btih
        with self._lock:
            handle = self._handles.get(btih)
            data_dir = self.root / "releases" / safe_name(released.release, "release") / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            if handle is None:
                ses = self._ses()
                data = self._torrent_bytes(released)
                if data is not None:
                    ti = load_torrent(data, f"{released.line.torrent}.torrent")
                    # the wanted file's priority from the start: a torrent that wants nothing looks finished
                    # and is not given peers until a later second tick
                    wanted = [0] * ti.files().num_files()
                    if 0 <= released.line.file_index < len(wanted):
                        wanted[released.line.file_index] = 7
                    atp = add_params(ti, data_dir, priorities=wanted)
                else:
                    atp = lt.parse_magnet_uri(self._magnet(released))
                    atp.save_path = str(data_dir)
                    atp.flags = (
                        (atp.flags | lt.torrent_flags.default_dont_download)
                        & ~lt.torrent_flags.auto_managed
                        & ~lt.torrent_flags.paused
                    )
                handle = ses.add_torrent(atp)
                handle.set_flags(lt.torrent_flags.sequential_download)
                self._handles[btih] = handle
            self._connect(handle)
            return handle, (
                self.root / "releases" / released.release / "torrents" / f"{released.line.torrent}.torrent"
            ).is_file()

    def _dial_now(self, handle: Any, deadline: float) -> None:
        """Connect to the named peers now rather than on libtorrent's next once-a-second round.

        handle.connect_peer only adds a peer to the torrent's list; libtorrent dials listed peers from the
        session's second tick (session_impl::on_tick, whatever tick_interval says), or at once in a "connect
        boost": after a tracker or DHT reply, or when a paused torrent resumes. Without trackers and DHT the
        boost left is resume, so a torrent with no connection is paused and resumed once its data is checked
        (a checking torrent does not want peers: the boost would find nothing to do)."""
        import libtorrent as lt

        if not self.config.peers:
            return
        checking = (lt.torrent_status.checking_resume_data, lt.torrent_status.checking_files)
        while (status := handle.status()).state in checking and time.monotonic() < deadline:
            time.sleep(CHECK_POLL_S)
        if status.num_peers == 0 and status.state not in checking:
            handle.pause()
            handle.resume()

    @staticmethod
    def _want(handle: Any, index: int, deadline: float) -> None:
        """Want file `index`, and wait until libtorrent applied it (the priority goes through its disk thread): a
        torrent whose wanted files are all here is finished, and a seed drops the connections of such peers
        (libtorrent's close_redundant_connections, on by default), so dial only once it wants the file."""
        handle.file_priority(index, 7)
        while handle.get_file_priorities()[index] != 7 and time.monotonic() < deadline:
            time.sleep(CHECK_POLL_S)

    def _connect(self, handle: Any) -> None:
        for peer in self.config.peers:
            try:
                handle.connect_peer(peer)
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"connect {peer[0]}:{peer[1]}: {exc}")

    # --- one file -------------------------------------------------------------------------------------------
    def open(self, released: Released) -> RemoteFile:
        """Start fetching the file of a released track; raises FonotecaError when the swarm cannot be asked."""
        from fonoteca.mirror.torrents import safe_name

        handle, has_file = self._handle(released)
        deadline = time.monotonic() + self.config.fetch_timeout
        if not handle.status().has_metadata:  # a magnet link: the metadata comes from the peers first
            self._dial_now(handle, deadline)
        while not handle.status().has_metadata:
            if time.monotonic() > deadline:
                raise FonotecaError(
                    f"no peer sent the metadata of {released.line.torrent} in {self.config.fetch_timeout:.0f} s"
                )
            time.sleep(0.05)
        ti = handle.torrent_file()
        fs = ti.files()
        index = released.line.file_index
        if not 0 <= index < fs.num_files() or fs.file_size(index) != released.line.size:
            raise FonotecaError(f"the manifest and {released.line.torrent} disagree about file {index}")
        path = (
            self.root
            / "releases"
            / safe_name(released.release, "release")
            / "data"
            / fs.file_path(index).replace("\\", "/")
        )
        data_dir = (self.root / "releases" / released.release / "data").resolve()
        if not path.resolve().is_relative_to(data_dir):
            raise FonotecaError(f"refused: {fs.file_path(index)} lies outside the release's data folder")
        self._want(handle, index, deadline)
        self._dial_now(handle, deadline)
        remote = RemoteFile(
            handle,
            index,
            path,
            released.line.size,
            fs.file_offset(index),
            ti.piece_length(),
            released.line.sha256,
            released.release,
            released.line.torrent,
            released.line.btih,
            has_file,
        )
        self.ask(remote, 0)
        return remote

    def ask(self, remote: RemoteFile, pos: int) -> None:
        """Deadlines for the pieces from `pos` on: the next one now, the following ones soon after."""
        first = remote.piece(pos)
        last = remote.piece(max(0, remote.size - 1))
        for n, piece in enumerate(range(first, min(last, first + WINDOW) + 1)):
            if not remote.handle.have_piece(piece):
                remote.handle.set_piece_deadline(piece, n * DEADLINE_STEP_MS)

    def ready(self, remote: RemoteFile, pos: int) -> int:
        """How many bytes from `pos` are here and checked (0: wait for the piece)."""
        piece = remote.piece(pos)
        if not remote.handle.have_piece(piece):
            return 0
        return remote.piece_end(piece) - pos

    def finished(self, remote: RemoteFile) -> None:
        """Check the complete file against the manifest in the background: keep it, or delete it."""
        key = (remote.btih, remote.index)
        with self._lock:
            if key in self._verifying:
                return
            self._verifying.add(key)
        threading.Thread(target=self._verify, args=(remote, key), daemon=True, name="fonoteca-subsonic-verify").start()

    def _verify(self, remote: RemoteFile, key: tuple[str, int]) -> None:
        try:
            deadline = time.monotonic() + self.config.fetch_timeout
            while time.monotonic() < deadline:
                progress = remote.handle.file_progress()
                if progress[remote.index] >= remote.size:
                    break
                time.sleep(0.1)
            else:
                return
            remote.handle.flush_cache() if hasattr(remote.handle, "flush_cache") else None
            digest = hashlib.sha256()
            with open(remote.path, "rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            if digest.hexdigest() != remote.sha256:
                log.error(
                    "%s: sha256 %s differs from the manifest's %s; deleted",
                    remote.path,
                    digest.hexdigest(),
                    remote.sha256,
                )
                remote.handle.file_priority(remote.index, 0)
                remote.path.unlink(missing_ok=True)
                return
            if remote.has_torrent_file:
                self._record(remote)
        except OSError as exc:
            log.error("cannot verify %s: %s", remote.path, exc)
        finally:
            with self._lock:
                self._verifying.discard(key)

    def _record(self, remote: RemoteFile) -> None:
        """The verified file counts as held by this mirror (mirror.json), as `fonoteca fetch` records it."""
        from fonoteca.mirror.ops import STATE, load_state, save_state

        if not (self.root / STATE).is_file():
            return  # an archive, not a mirror: its releases hold every file already
        with self._lock:
            state = load_state(self.root)
            entry = state["torrents"].setdefault(
                remote.torrent,
                {"release": remote.release, "btih": remote.btih, "files": [], "complete": False, "is_metadata": False},
            )
            if entry.get("files") is not None:
                entry["files"] = sorted(set(entry["files"]) | {remote.index})
            save_state(self.root, state)
