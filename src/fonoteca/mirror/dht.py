"""Seeder and leecher estimates from the BitTorrent DHT: BEP 33 scrapes, for torrents no tracker counts.

For each info-hash a Kademlia lookup (BEP 5) walks towards the nodes closest to it, asking each `get_peers` with
`scrape: 1`; a node that stores peers for the hash answers with two 256-byte bloom filters of their addresses,
`BFsd` (seeds) and `BFpe` (the other peers). The filters of every node that answered are merged (bitwise or: an
address counted by two nodes counts once) and their sizes estimated with BEP 33's formula. A DHT scrape gives no
count of completed downloads. A hash no node stores anything for has no figures: it stays "unknown", never 0.

The queries are plain KRPC messages over one UDP socket (libtorrent's Python bindings do not expose
`dht_direct_request`), sent as a read-only node (BEP 43: nobody adds this scraper to a routing table), at most
a few a second to any one address (libtorrent blocks an address that sends more than five a second).
"""

from __future__ import annotations

import hashlib
import math
import os
import selectors
import socket
import struct
import time
from dataclasses import dataclass, field

from fonoteca.pack import bencode
from fonoteca.progress import Progress

# The public DHT's bootstrap routers (the ones libtorrent, uTorrent and Transmission ship with).
BOOTSTRAP = (
    "router.bittorrent.com:6881",
    "router.utorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
)
BLOOM_BYTES = 256
BLOOM_BITS = BLOOM_BYTES * 8
BLOOM_HASHES = 2
K = 8  # a lookup ends when the K closest nodes it knows have answered or failed
ALPHA = 4  # queries in flight per lookup
MAX_QUERIES = 64  # per lookup
QUERY_TIMEOUT = 2.0  # seconds to wait for one node's answer
PER_ADDRESS_RATE = 4.0  # queries per second to one IP address

Node = tuple[str, int]


def bloom_estimate(bits: bytes) -> int:
    """BEP 33's estimate of how many addresses a bloom filter holds: ln(c / m) / (k ln(1 - 1/m)), c the zero
    bits, m = 2048, k = 2 (an empty filter holds none; a full one is taken as one zero bit short of full)."""
    zeros = BLOOM_BITS - sum(bin(b).count("1") for b in bits)
    if zeros >= BLOOM_BITS:
        return 0
    c = max(zeros, 1)
    return round(math.log(c / BLOOM_BITS) / (BLOOM_HASHES * math.log(1 - 1 / BLOOM_BITS)))


def bloom_add(bits: bytearray, ip: bytes) -> None:
    """Insert an address (4 or 16 bytes) as BEP 33 does: two 11-bit indices from the SHA-1 of its bytes."""
    digest = hashlib.sha1(ip).digest()
    for index in (digest[0] | digest[1] << 8, digest[2] | digest[3] << 8):
        index %= BLOOM_BITS
        bits[index // 8] |= 1 << (index % 8)


@dataclass
class DhtFigures:
    seeders: int
    leechers: int
    nodes: int  # nodes whose filters were merged


@dataclass
class DhtResult:
    figures: dict[str, DhtFigures] = field(default_factory=dict)  # btih -> estimates (only hashes some node stores)
    queried: int = 0  # queries sent
    answered: int = 0  # answers received
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def parse_node(text: str) -> Node:
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"a DHT node is HOST:PORT, not {text!r}")
    return host, int(port)


def _distance(a: bytes, b: bytes) -> int:
    return int.from_bytes(bytes(x ^ y for x, y in zip(a, b, strict=True)), "big")


def _compact_nodes(data: object) -> list[tuple[bytes, Node]]:
    """(id, (ip, port)) of BEP 5 compact node info (26 bytes each); nothing from a malformed field."""
    if not isinstance(data, bytes) or len(data) % 26:
        return []
    out = []
    for i in range(0, len(data), 26):
        nid, ip, port = (
            data[i : i + 20],
            socket.inet_ntoa(data[i + 20 : i + 24]),
            struct.unpack(">H", data[i + 24 : i + 26])[0],
        )
        if port:
            out.append((nid, (ip, port)))
    return out


@dataclass
class _Lookup:
    target: bytes
    known: dict[Node, bytes | None] = field(default_factory=dict)  # address -> node id (None: not known yet)
    asked: set[Node] = field(default_factory=set)
    done: set[Node] = field(default_factory=set)  # answered or timed out
    inflight: int = 0
    sent: int = 0
    seeds: bytearray = field(default_factory=lambda: bytearray(BLOOM_BYTES))
    peers: bytearray = field(default_factory=lambda: bytearray(BLOOM_BYTES))
    filters: int = 0

    def order(self, node: Node) -> tuple[int, int]:
        nid = self.known.get(node)
        return (0, _distance(nid, self.target)) if nid is not None else (1, 0)

    def next_nodes(self) -> list[Node]:
        """Nodes to ask now: the closest not asked yet, while fewer than ALPHA are in flight."""
        if self.finished():
            return []
        fresh = sorted((n for n in self.known if n not in self.asked), key=self.order)
        return fresh[: max(0, ALPHA - self.inflight)]

    def finished(self) -> bool:
        if self.sent >= MAX_QUERIES:
            return self.inflight == 0
        closest = sorted(self.known, key=self.order)[:K]
        return self.inflight == 0 and all(n in self.done for n in closest)


class _Scraper:
    def __init__(self, hashes: list[str], bootstrap: list[Node], timeout: float) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.bind(("0.0.0.0", 0))
        self.own_id = os.urandom(20)
        self.deadline = time.monotonic() + timeout
        self.lookups = {h: _Lookup(bytes.fromhex(h)) for h in hashes}
        self.pool: dict[Node, bytes] = {}  # every node that answered, for the lookups to start from
        self.pending: dict[bytes, tuple[str, Node, float]] = {}  # transaction id -> (btih, node, sent at)
        self.next_send: dict[str, float] = {}  # ip -> when it may be sent the next query
        self.serial = 0
        self.result = DhtResult()
        for lookup in self.lookups.values():
            for node in bootstrap:
                lookup.known[node] = None

    def run(self, progress: Progress | None) -> DhtResult:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        reported = 0  # lookups told finished: one that opens again (a closer node turned up) is not taken back
        if progress:
            progress(total=len(self.lookups))
        try:
            while time.monotonic() < self.deadline:
                self._send_due()
                if all(lk.finished() for lk in self.lookups.values()):
                    break
                for _ in sel.select(0.05):
                    self._receive()
                self._expire()
                if progress:
                    finished = sum(lk.finished() for lk in self.lookups.values())
                    progress(max(0, finished - reported))
                    reported = max(reported, finished)
        finally:
            sel.close()
            self.sock.close()
        for btih, lk in self.lookups.items():
            if lk.filters:
                self.result.figures[btih] = DhtFigures(
                    bloom_estimate(bytes(lk.seeds)), bloom_estimate(bytes(lk.peers)), lk.filters
                )
        return self.result

    def _send_due(self) -> None:
        now = time.monotonic()
        for btih, lk in self.lookups.items():
            for node in lk.next_nodes():
                if self.next_send.get(node[0], 0.0) > now:
                    continue
                self.next_send[node[0]] = now + 1.0 / PER_ADDRESS_RATE
                self.serial = (self.serial + 1) % 65536
                tid = struct.pack(">H", self.serial)
                query = {
                    b"t": tid,
                    b"y": b"q",
                    b"q": b"get_peers",
                    b"ro": 1,
                    b"a": {b"id": self.own_id, b"info_hash": lk.target, b"scrape": 1},
                }
                lk.asked.add(node)
                try:
                    self.sock.sendto(bencode.encode(query), node)
                except OSError as exc:
                    lk.done.add(node)
                    self.result.errors.append(f"DHT node {node[0]}:{node[1]}: {exc.strerror or exc}")
                    continue
                lk.inflight += 1
                lk.sent += 1
                self.result.queried += 1
                self.pending[tid] = (btih, node, now)

    def _receive(self) -> None:
        while True:
            try:
                data, sender = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP "port unreachable" from an earlier query: that node will time out
                return
            try:
                message = bencode.decode(data)
            except (ValueError, RecursionError):
                continue
            if not isinstance(message, dict):
                continue
            entry = self.pending.get(message.get(b"t"))  # type: ignore[arg-type]
            if entry is None or entry[1] != sender:
                continue
            del self.pending[message[b"t"]]
            btih, node, _ = entry
            lk = self.lookups[btih]
            lk.inflight -= 1
            lk.done.add(node)
            self.result.answered += 1
            body = message.get(b"r")
            if message.get(b"y") == b"r" and isinstance(body, dict):
                self._take(lk, node, body)

    def _take(self, lk: _Lookup, node: Node, body: dict) -> None:
        nid = body.get(b"id")
        if isinstance(nid, bytes) and len(nid) == 20:
            lk.known[node] = nid
            self.pool[node] = nid
        for other_id, other in _compact_nodes(body.get(b"nodes")):
            for each in self.lookups.values():  # what one lookup learns brings every other closer too
                if other not in each.known or each.known[other] is None:
                    each.known[other] = other_id
        seeds, peers = body.get(b"BFsd"), body.get(b"BFpe")
        if isinstance(seeds, bytes) and isinstance(peers, bytes) and len(seeds) == len(peers) == BLOOM_BYTES:
            lk.seeds[:] = bytes(a | b for a, b in zip(lk.seeds, seeds, strict=True))
            lk.peers[:] = bytes(a | b for a, b in zip(lk.peers, peers, strict=True))
            lk.filters += 1

    def _expire(self) -> None:
        now = time.monotonic()
        for tid, (btih, node, sent) in list(self.pending.items()):
            if now - sent > QUERY_TIMEOUT:
                del self.pending[tid]
                lk = self.lookups[btih]
                lk.inflight -= 1
                lk.done.add(node)


def resolve(nodes: list[str], errors: list[str]) -> list[Node]:
    """IPv4 addresses of HOST:PORT nodes; a name that does not resolve is named in `errors`."""
    out: list[Node] = []
    for text in nodes:
        try:
            host, port = parse_node(text)
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
        except (ValueError, OSError) as exc:
            errors.append(f"DHT node {text}: {getattr(exc, 'strerror', None) or exc}")
            continue
        for address in sorted({str(info[4][0]) for info in infos}):
            out.append((address, port))
    return out


def scrape(
    hashes: list[str],
    bootstrap: list[str] | tuple[str, ...] = BOOTSTRAP,
    *,
    timeout: float = 20.0,
    progress: Progress | None = None,
) -> DhtResult:
    """BEP 33 estimates of seeders and leechers for each v1 info-hash (hex) that some DHT node stores peers
    for, reached from the `bootstrap` nodes (HOST:PORT) within `timeout` seconds."""
    started = time.perf_counter()
    errors: list[str] = []
    nodes = resolve(list(bootstrap), errors)
    unique = sorted({h.lower() for h in hashes if len(h) == 40})
    if not nodes or not unique:
        result = DhtResult(errors=errors)
    else:
        result = _Scraper(unique, nodes, timeout).run(progress)
        result.errors[:0] = errors
    if unique and result.answered == 0:
        result.errors.append(f"the DHT did not answer (asked {', '.join(bootstrap) or 'no node'})")
    result.seconds = time.perf_counter() - started
    return result
