"""Slow and idle clients against a real `fonoteca serve` process (uvicorn on 127.0.0.1): half-sent requests,
connections that say nothing, bytes trickled one at a time and idle keep-alive connections are closed after
the configured time, and one address cannot hold more than its share of connections. Every socket is opened
by the test on loopback, their number is bounded, and the test stops by itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fonoteca import archive as archive_mod

REQUEST_TIMEOUT = 2.0
KEEP_ALIVE = 1.0
PER_CLIENT = 24
HALF_REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(root: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, COLUMNS="120")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fonoteca",
            "-A",
            str(root),
            "serve",
            "--port",
            str(port),
            "--no-build-index",
            "--rate-limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )


def _wait_up(child: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert child.poll() is None, child.stdout.read().decode() if child.stdout else ""
        assert time.monotonic() < deadline, "fonoteca serve did not answer"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, subprocess.Popen]]:
    archive = archive_mod.init(tmp_path_factory.mktemp("slow") / "archive", name="Slow clients")
    with open(archive.root / "fonoteca.toml", "a", encoding="utf-8") as config:
        config.write(
            f"\n[web]\nrequest_timeout = {REQUEST_TIMEOUT}\nkeep_alive_timeout = {KEEP_ALIVE}\n"
            f"max_connections_per_client = {PER_CLIENT}\n"
        )
    port = _free_port()
    child = _serve(archive.root, port)
    try:
        _wait_up(child, f"http://127.0.0.1:{port}")
        yield port, child
    finally:
        child.terminate()
        child.communicate(timeout=30)


def _connect(port: int, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first:
        sock.sendall(first)
    return sock


def _is_open(sock: socket.socket) -> bool:
    """False once the server has closed the connection (EOF or reset), True while it waits for more."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def _close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def _wait_all_closed(port: int, budget: float = 15.0) -> None:
    """Until the server holds no more of this test's connections (so the next test starts from zero)."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)


def test_slow_and_idle_connections_are_closed(slow_server: tuple[int, subprocess.Popen]) -> None:
    port, _ = slow_server
    half = [_connect(port, HALF_REQUEST) for _ in range(8)]  # half a request, then nothing
    silent = [_connect(port) for _ in range(4)]  # connected, nothing sent
    kept = []  # one full request, then idle keep-alive
    for _ in range(4):
        sock = _connect(port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        kept.append(sock)
    second_half = _connect(
        port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/he"
    )  # keep-alive, then half
    assert second_half.recv(65536).startswith(b"HTTP/1.1 200")
    trickle = [_connect(port, b"G") for _ in range(4)]  # one byte every 0.25 s, never finishing
    everything = half + silent + kept + [second_half] + trickle
    started = time.monotonic()
    try:
        # meanwhile the site answers everyone else
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
        while time.monotonic() - started < REQUEST_TIMEOUT + 1.5:
            for sock in trickle:
                try:
                    sock.setblocking(True)
                    sock.send(b"E")
                except OSError:
                    pass
            time.sleep(0.25)
        still_open = [
            name
            for name, group in (
                ("half", half),
                ("silent", silent),
                ("keep-alive", kept),
                ("second half", [second_half]),
                ("trickle", trickle),
            )
            for sock in group
            if _is_open(sock)
        ]
        assert still_open == [], f"{len(still_open)} of {len(everything)} slow connections still open: {still_open}"
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
    finally:
        _close_all(everything)
    _wait_all_closed(port)


def test_one_address_holds_a_bounded_number_of_connections(slow_server: tuple[int, subprocess.Popen]) -> None:
    port, child = slow_server
    time.sleep(0.5)
    socks = [_connect(port, HALF_REQUEST) for _ in range(PER_CLIENT + 16)]
    try:
        time.sleep(0.5)
        open_now = sum(_is_open(s) for s in socks)
        assert open_now == PER_CLIENT, f"{open_now} connections held open by one address (limit {PER_CLIENT})"
        assert child.poll() is None
    finally:
        _close_all(socks)
    time.sleep(0.5)  # the server sees them close: the address may connect again
    assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
