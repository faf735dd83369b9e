"""Seeder counts from the trackers, and from the DHT where no tracker counts: `fonoteca torrents scrape`.

Each torrent's trackers come from its magnet link (`tr=`, as pack writes them from `[pack] trackers`). Trackers are
asked in batches: HTTP(S) trackers with the scrape convention (BEP 48: the announce URL's last path component
`announce` becomes `scrape`, one `info_hash` parameter per torrent), UDP trackers with the scrape action of BEP 15
(connect, then scrape up to 70 info-hashes per packet). A torrent's figures are the largest any of its trackers
reports (trackers see overlapping swarms; the largest is the least wrong). A torrent without trackers, or whose
trackers did not answer, is then looked up in the DHT (BEP 33, fonoteca.mirror.dht) when DHT nodes are given:
seeders and leechers estimated, completed unknown. Each figure says where it came from (`source`: "tracker" or
"dht"). A torrent nobody answered for keeps its old figures and stays "unknown" if it never had any.
"""

from __future__ import annotations

import random
import socket
import struct
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fonoteca.pack import bencode
from fonoteca.progress import Progress

HTTP_BATCH = 50
UDP_BATCH = 70
UDP_MAGIC = 0x41727101980
MAX_RESPONSE = 8 * 1024 * 1024


@dataclass
class Figures:
    seeders: int
    leechers: int
    completed: int | None  # None from the DHT: a DHT scrape does not count completed downloads
    source: str = "tracker"  # tracker | dht


@dataclass
class ScrapeResult:
    figures: dict[str, Figures] = field(default_factory=dict)  # btih -> largest figures reported
    answered: dict[str, list[str]] = field(default_factory=dict)  # btih -> trackers that reported on it
    errors: list[str] = field(default_factory=list)  # "tracker: reason"
    trackers: int = 0
    seconds: float = 0.0
    scraped_at: str = ""
    dht_queried: int = 0  # DHT queries sent, and answers received
    dht_answered: int = 0


def trackers_of(record: dict[str, Any]) -> list[str]:
    """The http(s) and udp trackers of a torrent record's magnet link."""
    link = record.get("magnet_link") or ""
    if not link.startswith("magnet:?"):
        return []
    params = urllib.parse.parse_qs(link[len("magnet:?") :])
    return [t for t in params.get("tr", []) if t.startswith(("http://", "https://", "udp://"))]


def scrape(
    records: list[dict[str, Any]],
    *,
    timeout: float = 10.0,
    progress: Progress | None = None,
    dht: list[str] | tuple[str, ...] | None = None,
    dht_timeout: float = 20.0,
) -> ScrapeResult:
    """Ask every tracker of the records about their torrents, then (`dht`: bootstrap nodes, HOST:PORT) the DHT
    about those no tracker answered for; the figures found, per info-hash."""
    started = time.perf_counter()
    by_tracker: dict[str, list[str]] = {}
    for rec in records:
        btih = (rec.get("btih") or "").lower()
        if len(btih) != 40:
            continue
        for tracker in trackers_of(rec):
            by_tracker.setdefault(tracker, []).append(btih)
    result = ScrapeResult(trackers=len(by_tracker))
    if progress:
        progress(total=len(by_tracker))
    for tracker, hashes in by_tracker.items():
        unique = sorted(set(hashes))
        try:
            found = _udp(tracker, unique, timeout) if tracker.startswith("udp://") else _http(tracker, unique, timeout)
        except (OSError, ValueError) as exc:
            result.errors.append(f"{tracker}: {exc}")
            found = {}
        for btih, fig in found.items():
            result.answered.setdefault(btih, []).append(tracker)
            held = result.figures.get(btih)
            result.figures[btih] = (
                fig
                if held is None
                else Figures(
                    max(held.seeders, fig.seeders),
                    max(held.leechers, fig.leechers),
                    _larger(held.completed, fig.completed),
                )
            )
        if progress:
            progress(1)
    if dht is not None:
        _ask_dht(result, records, list(dht), dht_timeout)
    result.seconds = time.perf_counter() - started
    result.scraped_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


def _larger(a: int | None, b: int | None) -> int | None:
    """The larger of two counts, either of which may be unknown."""
    if a is None or b is None:
        return b if a is None else a
    return max(a, b)


def _ask_dht(result: ScrapeResult, records: list[dict[str, Any]], nodes: list[str], timeout: float) -> None:
    """BEP 33 figures for the torrents no tracker answered for (fonoteca.mirror.dht)."""
    from fonoteca.mirror import dht

    missing = sorted({(r.get("btih") or "").lower() for r in records} - set(result.figures) - {""})
    if not missing:
        return
    found = dht.scrape(missing, nodes, timeout=timeout)
    for btih, fig in found.figures.items():
        result.figures[btih] = Figures(fig.seeders, fig.leechers, None, source="dht")
        result.answered.setdefault(btih, []).append(f"dht ({fig.nodes} node{'s' if fig.nodes != 1 else ''})")
    result.errors += found.errors
    result.dht_queried, result.dht_answered = found.queried, found.answered


# ------------------------------------------------------------------------------------------------ HTTP (BEP 48)


def scrape_url(announce: str) -> str:
    """The scrape URL of an HTTP tracker (ValueError when its announce URL does not follow the convention)."""
    parts = urllib.parse.urlsplit(announce)
    head, _, last = parts.path.rpartition("/")
    if not last.startswith("announce"):
        raise ValueError("the tracker's announce URL does not end in /announce: it offers no scrape")
    return urllib.parse.urlunsplit(parts._replace(path=f"{head}/scrape{last[len('announce') :]}"))


def _http(announce: str, hashes: list[str], timeout: float) -> dict[str, Figures]:
    base = scrape_url(announce)
    out: dict[str, Figures] = {}
    for start in range(0, len(hashes), HTTP_BATCH):
        batch = hashes[start : start + HTTP_BATCH]
        query = "&".join("info_hash=" + urllib.parse.quote(bytes.fromhex(h), safe="") for h in batch)
        url = base + ("&" if "?" in base else "?") + query
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read(MAX_RESPONSE + 1)
        if len(data) > MAX_RESPONSE:
            raise ValueError("the scrape answer is too large")
        try:
            decoded = bencode.decode(data)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"the scrape answer is not bencoded ({exc})") from None
        if not isinstance(decoded, dict):
            raise ValueError("the scrape answer is not a dictionary")
        if b"failure reason" in decoded:
            raise ValueError(f"the tracker refused: {decoded[b'failure reason']!r}")
        files = decoded.get(b"files", {})
        if not isinstance(files, dict):
            raise ValueError("the scrape answer has no 'files' dictionary")
        for key, entry in files.items():
            if isinstance(key, bytes) and len(key) == 20 and isinstance(entry, dict):
                out[key.hex()] = Figures(
                    _count(entry, b"complete"), _count(entry, b"incomplete"), _count(entry, b"downloaded")
                )
    return out


def _count(entry: dict[bytes, Any], key: bytes) -> int:
    value = entry.get(key, 0)
    return value if isinstance(value, int) and 0 <= value < 1 << 40 else 0


# ------------------------------------------------------------------------------------------------ UDP (BEP 15)


def _udp(tracker: str, hashes: list[str], timeout: float) -> dict[str, Figures]:
    parts = urllib.parse.urlsplit(tracker)
    if not parts.hostname or not parts.port:
        raise ValueError("a udp tracker needs a host and a port")
    address = (parts.hostname, parts.port)
    out: dict[str, Figures] = {}
    with socket.socket(socket.AF_INET6 if ":" in parts.hostname else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        connection = _udp_connect(sock, address)
        for start in range(0, len(hashes), UDP_BATCH):
            batch = hashes[start : start + UDP_BATCH]
            transaction = random.getrandbits(32)
            sock.sendto(
                struct.pack(">QII", connection, 2, transaction) + b"".join(bytes.fromhex(h) for h in batch), address
            )
            data = _udp_answer(sock, address, transaction, 8 + 12 * len(batch))
            action = struct.unpack(">I", data[:4])[0]
            if action == 3:
                raise ValueError(f"the tracker refused: {data[8:].decode(errors='replace')}")
            for i, btih in enumerate(batch):
                seeders, completed, leechers = struct.unpack(">III", data[8 + 12 * i : 20 + 12 * i])
                out[btih] = Figures(seeders, leechers, completed)
    return out


def _udp_connect(sock: socket.socket, address: tuple[str, int]) -> int:
    transaction = random.getrandbits(32)
    sock.sendto(struct.pack(">QII", UDP_MAGIC, 0, transaction), address)
    data = _udp_answer(sock, address, transaction, 16)
    return struct.unpack(">Q", data[8:16])[0]


def _udp_answer(sock: socket.socket, address: tuple[str, int], transaction: int, size: int) -> bytes:
    """The tracker's answer to one request (others are ignored); OSError (timeout) when none comes."""
    while True:
        data, sender = sock.recvfrom(65536)
        if len(data) >= 8 and struct.unpack(">I", data[4:8])[0] == transaction:
            if struct.unpack(">I", data[:4])[0] != 3 and len(data) < size:
                raise ValueError("the tracker's answer is too short")
            return data
