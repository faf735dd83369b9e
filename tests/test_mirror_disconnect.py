"""Issue 19, a client that disconnects mid-piece: `fonoteca mirror` against a hostile raw BitTorrent peer that sends
part of a piece and hangs up, and against a real seeder stopped while sending. Real sockets and libtorrent sessions
on 127.0.0.1; the mirror through the real command line where only its outcome matters. Every wait is bounded."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import pytest

from fonoteca import archive as archive_mod
from fonoteca.mirror import Seeder, mirror, ops, seed_items, verify_root
from fonoteca.pack.manifest import read_manifest
from fonoteca.synth import audio as synth
from tests.conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TIMEOUT = 60.0
BLOCK = 16 * 1024  # the request size of libtorrent and every common client (BEP 3)
PROTOCOL = b"\x13BitTorrent protocol"
BLOCK_ARRIVED = (2, 3)  # libtorrent's block_info states writing and finished (the bindings give ints)
JUNK = 0xA5  # every byte the hostile peer sends as payload: never the archive's data


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """A packed archive whose data torrents have 64 KiB pieces (four blocks each: a piece can be half-sent)."""
    coll = synth.make_collection(tmp_path_factory.mktemp("music"), 6, (2.0, 3.0), ("flac", "mp3"), seed=19)
    root = archive_mod.init(tmp_path_factory.mktemp("src") / "archive", name="Disconnect test").root
    r = run_cli("import", "table", str(coll.catalog_csv), "--map", str(coll.mapping_toml), archive=root)
    assert r.exit_code == 0, r.stderr
    r = run_cli("ingest", *[str(t.path) for t in coll.tracks], "--tier", "original", archive=root)
    assert r.exit_code == 0, r.stderr
    with open(root / "fonoteca.toml", "a", encoding="utf-8") as f:
        f.write('\n[pack]\npiece_size = "64KiB"\n')
    r = run_cli("pack", archive=root)
    assert r.exit_code == 0, r.stderr
    return root


# ------------------------------------------------------------------------------------------------ the hostile peer


@dataclass(frozen=True)
class Request:
    index: int
    begin: int
    length: int


def _read_exact(conn: socket.socket, n: int) -> bytes | None:
    """n bytes, or None when the other side closed or went quiet."""
    data = b""
    while len(data) < n:
        try:
            chunk = conn.recv(n - len(data))
        except (TimeoutError, OSError):
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _read_message(conn: socket.socket) -> tuple[int, bytes] | None:
    """(message id, payload) of the next message (-1 for a keep-alive), or None."""
    head = _read_exact(conn, 4)
    if head is None:
        return None
    length = struct.unpack(">I", head)[0]
    if length == 0:
        return -1, b""
    body = _read_exact(conn, length)
    return None if body is None else (body[0], body[1:])


def _message(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", 1 + len(payload), kind) + payload


def _bitfield(pieces: int) -> bytes:
    """Every piece set; the spare bits of the last byte clear, as BEP 3 requires."""
    bits = bytearray(b"\xff" * (pieces // 8))
    if pieces % 8:
        bits.append((0xFF << (8 - pieces % 8)) & 0xFF)
    return bytes(bits)


class HostilePeer:
    """A raw BitTorrent peer on 127.0.0.1 that claims every piece of the torrents it is given, then answers the
    first requests of each connection with junk for half of one piece's blocks (never a whole piece, so it alone
    never completes one), starts one more block, sends only half of it, and hangs up."""

    def __init__(self, torrents: list[lt.torrent_info]) -> None:
        # a hybrid torrent's swarm may be joined by its v1 info-hash or its truncated v2 one
        self.torrents: dict[bytes, lt.torrent_info] = {}
        for ti in torrents:
            hashes = ti.info_hashes()
            self.torrents[hashes.v1.to_bytes()] = ti
            if hashes.has_v2():
                self.torrents[hashes.v2.to_bytes()[:20]] = ti
        self.peer_id = b"-XX0001-" + os.urandom(6).hex().encode()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.junk_blocks = 0  # whole blocks of junk sent
        self.cut_blocks = 0  # blocks begun and broken off
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> HostilePeer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(10)
        self.listener.close()

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="hostile-peer")
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                self._converse(conn)
            except OSError:  # the mirror hung up first (it had what it wanted, or it stopped)
                pass

    def _converse(self, conn: socket.socket) -> None:
        hello = _read_exact(conn, 68)
        if hello is None or hello[:20] != PROTOCOL or hello[28:48] not in self.torrents:
            return
        ti = self.torrents[hello[28:48]]
        with self.lock:
            self.connections += 1
        conn.sendall(PROTOCOL + bytes(8) + hello[28:48] + self.peer_id)  # no extension bits: plain BEP 3
        conn.sendall(_message(5, _bitfield(ti.num_pieces())) + _message(1))  # has everything, unchoked
        requests = self._first_requests(conn)
        if requests:
            self._answer_half_and_hang_up(conn, ti, requests)

    def _first_requests(self, conn: socket.socket) -> list[Request]:
        """The requests of the first batch: wait for one, then take what follows it within a moment."""
        out: list[Request] = []
        while not self._stop.is_set():
            msg = _read_message(conn)
            if msg is None:
                return out
            if msg[0] == 6:
                out.append(Request(*struct.unpack(">III", msg[1])))
                conn.settimeout(0.3)  # libtorrent pipelines its requests: collect the rest of the batch
        return out

    def _answer_half_and_hang_up(self, conn: socket.socket, ti: lt.torrent_info, requests: list[Request]) -> None:
        piece = requests[0].index
        of_piece = [r for r in requests if r.index == piece]
        half = -(-ti.piece_size(piece) // BLOCK) // 2  # a one-block piece gets none: only the broken-off block
        for r in of_piece[:half]:
            conn.sendall(_message(7, struct.pack(">II", r.index, r.begin) + bytes([JUNK]) * r.length))
            with self.lock:
                self.junk_blocks += 1
        cut = (of_piece[half:] or requests[1:] or requests)[0]
        header = struct.pack(">IBII", 9 + cut.length, 7, cut.index, cut.begin)  # announces the whole block...
        conn.sendall(header + bytes([JUNK]) * (cut.length // 2))  # ...and sends half of it
        with self.lock:
            self.cut_blocks += 1


# ------------------------------------------------------------------------------------------------ helpers


def _torrents(root: Path) -> list[lt.torrent_info]:
    return [ti for ti, _, _ in seed_items(root)]


def _peer(port: int) -> tuple[str, int]:
    return ("127.0.0.1", port)


def _release(root: Path) -> Path:
    return next(p for p in (root / "releases").iterdir() if p.is_dir() and not p.name.startswith("."))


def _assert_files_match_manifest(into: Path) -> None:
    """Every released file is there with the manifest's sha256: no junk byte of the hostile peer survives."""
    rel = _release(into)
    lines = read_manifest(rel / "manifest.jsonl.zst")
    assert lines
    for x in lines:
        assert ops.sha256_of(rel / "data" / x.torrent / x.path) == x.sha256, x.path


def _tree(root: Path, *, leave_out: Path) -> dict[str, tuple[int, int]]:
    """Every path under root outside `leave_out`: (size, mtime) of files, (0, 0) of folders."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != leave_out]
        for name in dirnames:
            out[str((here / name).relative_to(root)) + "/"] = (0, 0)
        for name in filenames:
            st = (here / name).lstat()
            out[str((here / name).relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def _confined_env(base: Path) -> tuple[Path, dict[str, str]]:
    """A working folder and HOME, XDG folders and TMPDIR under `base`: a stray write lands where the test sees it."""
    env = {}
    for var, name in (
        ("HOME", "home"),
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("TMPDIR", "tmp"),
    ):
        (base / name).mkdir(parents=True)
        env[var] = str(base / name)
    (base / "cwd").mkdir()
    return base / "cwd", env


# ------------------------------------------------------------------------------------------------ a hostile peer


def test_a_peer_that_hangs_up_mid_piece_beside_a_good_seeder(packed, tmp_path):
    """The hostile peer's half pieces are thrown away (their pieces fail their hash and come again from the good
    seeder); the mirror completes and every file has the manifest's sha256."""
    into = tmp_path / "m"
    # the good seeder is rate-limited so that the hostile peer is asked for pieces before everything has come
    with HostilePeer(_torrents(packed)) as bad, Seeder(seed_items(packed), upload_rate=300_000) as good:
        assert good.wait_ready(TIMEOUT), good.errors
        res = mirror(str(packed), into, peers=[_peer(bad.port), _peer(good.port)], timeout=TIMEOUT, stall=30)
    assert res.complete, res.outcome.errors
    assert bad.junk_blocks > 0 and bad.cut_blocks > 0  # it was asked, and answered with junk
    assert sum(j.hash_failures for j in res.outcome.jobs) > 0  # its junk reached a piece, which failed
    r = run_cli("verify", "--json", archive=into)
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"], r.stdout + r.stderr
    _assert_files_match_manifest(into)


def test_only_a_peer_that_hangs_up_mid_piece(packed, tmp_path):
    """With the hostile peer alone `fonoteca mirror` exits 1 saying why, and writes nothing outside its folder;
    run again with a good seeder, it completes over the junk blocks the first run kept."""
    into = tmp_path / "m"
    cwd, env = _confined_env(tmp_path / "around")
    before = _tree(tmp_path, leave_out=into)
    with HostilePeer(_torrents(packed)) as bad:
        r = run_cli(
            "mirror",
            str(packed),
            "--into",
            into,
            "--peer",
            f"127.0.0.1:{bad.port}",
            "--timeout",
            str(TIMEOUT),
            "--stall",
            "3",
            "--json",
            env=env,
            cwd=cwd,
            timeout=TIMEOUT * 2,
        )
    assert r.exit_code == 1, r.stdout + r.stderr
    assert bad.cut_blocks > 0
    out = json.loads(r.stdout)
    names = {t["name"] for t in json.loads((packed / "releases" / "torrents.json").read_text())}
    assert not out["complete"] and set(out["incomplete"]) == names
    # with --json too the reason is on stderr: no progress, each torrent left incomplete, what to do
    assert "Traceback" not in r.stderr
    assert "no progress for 3 s" in r.stderr and "INCOMPLETE (run again to resume)" in r.stderr
    assert all(f"incomplete: {name}" in r.stderr for name in names), r.stderr
    assert not any(e["complete"] for e in json.loads((into / "mirror.json").read_text())["torrents"].values())
    assert _tree(tmp_path, leave_out=into) == before
    with Seeder(seed_items(packed)) as good:
        assert good.wait_ready(TIMEOUT), good.errors
        r = run_cli("mirror", str(packed), "--into", into, "--peer", f"127.0.0.1:{good.port}", "--timeout", "60")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert verify_root(into).ok
    _assert_files_match_manifest(into)


# ------------------------------------------------------------------------------------------------ a seeder stopped


def _partial_pieces(handle: lt.torrent_handle) -> list[int]:
    """The pieces of which some blocks have arrived but not all."""
    out = []
    for p in handle.get_download_queue():
        arrived = sum(b["state"] in BLOCK_ARRIVED for b in p["blocks"])
        if 0 < arrived < len(p["blocks"]):
            out.append(p["piece_index"])
    return out


def _whole_pieces(handle: lt.torrent_handle, ti: lt.torrent_info) -> list[int]:
    """The pieces held and checked (total_wanted_done would count the blocks of partial pieces too)."""
    return [i for i in range(ti.num_pieces()) if handle.have_piece(i)]


class StopMidPiece:
    """A mirror tick that stops the seeder, from another thread, as soon as a data torrent holds a whole piece
    and a partial one; it keeps the partial pieces it saw."""

    def __init__(self, seeder: Seeder, data_torrents: set[str]) -> None:
        self.data_torrents = data_torrents
        self.partial: dict[str, list[int]] = {}
        self.stopper = threading.Thread(target=seeder.stop, name="stop-seeder")

    def __call__(self, jobs: list, statuses: list) -> None:
        if self.partial:  # stopped once already
            return
        for j in jobs:
            if j.key not in self.data_torrents or j.done or not _whole_pieces(j.handle, j.ti):
                continue
            partial = _partial_pieces(j.handle)
            if partial:
                self.partial[j.key] = partial
                self.stopper.start()
                return


def _have_pieces(resume_file: Path) -> list[int]:
    have = lt.read_resume_data(resume_file.read_bytes()).have_pieces
    return [i for i, bit in enumerate(have) if bit]


def _piece_bytes(data: Path, ti: lt.torrent_info, piece: int) -> bytes:
    """A piece's bytes as they lie in a data folder (pad files as zeros, missing bytes as nothing)."""
    out = b""
    fs = ti.files()
    for s in ti.map_block(piece, 0, ti.piece_size(piece)):
        if fs.file_flags(s.file_index) & lt.file_storage.flag_pad_file:
            out += bytes(s.size)
            continue
        path = data / fs.file_path(s.file_index)
        if path.is_file():
            with open(path, "rb") as f:
                f.seek(s.offset)
                out += f.read(s.size)
    return out


def test_a_seeder_stopped_while_sending(packed, tmp_path):
    """A rate-limited seeder stopped mid-piece: the mirror gives up for want of progress and counts as held only
    pieces that are whole and right; run again with a good seeder, it fetches only the pieces that were not whole
    (missing or partial), and completes."""
    into = tmp_path / "m"
    records = json.loads((packed / "releases" / "torrents.json").read_text())
    slow = Seeder(seed_items(packed), upload_rate=100_000).start()
    cut = StopMidPiece(slow, {r["name"] for r in records if not r["is_metadata"]})
    try:
        assert slow.wait_ready(TIMEOUT), slow.errors
        first = mirror(str(packed), into, peers=[_peer(slow.port)], timeout=TIMEOUT, stall=3, tick=cut)
    finally:
        if cut.stopper.ident is None:
            slow.stop()
        else:
            cut.stopper.join(30)
    assert cut.partial, "the seeder was never caught mid-piece"
    assert not first.complete and first.outcome.interrupted
    assert any("no progress" in e for e in first.outcome.errors), first.outcome.errors
    state = json.loads((into / "mirror.json").read_text())["torrents"]
    assert not state[next(iter(cut.partial))]["complete"]
    data, source = _release(into) / "data", _release(packed) / "data"
    not_whole = 0  # bytes of the pieces the first run does not hold whole
    for j in first.outcome.jobs:
        have = _have_pieces(ops._resume_file(into, j.ti))
        if j.key in cut.partial:
            # libtorrent may save a piece it had verified as unfinished (seen with a piece ending in a pad file),
            # so the held pieces are not bounded below: that piece is fetched again, it is never taken as whole
            assert not j.done and len(have) < j.ti.num_pieces()
        for piece in have:  # a piece counted as held is whole and is the seeder's
            assert _piece_bytes(data, j.ti, piece) == _piece_bytes(source, j.ti, piece), (j.key, piece)
        not_whole += sum(j.ti.piece_size(p) for p in range(j.ti.num_pieces()) if p not in have)
    with Seeder(seed_items(packed)) as good:
        assert good.wait_ready(TIMEOUT), good.errors
        second = mirror(str(packed), into, peers=[_peer(good.port)], timeout=TIMEOUT, stall=30)
    assert second.complete, second.outcome.errors
    assert 0 < second.outcome.downloaded <= not_whole
    assert verify_root(into).ok
    _assert_files_match_manifest(into)
