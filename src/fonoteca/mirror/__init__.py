"""Mirrors over real BitTorrent: seed, mirror, fetch, verify, repair, coverage (libtorrent sessions; peers on known
addresses, DHT/LSD/UPnP/NAT-PMP off unless asked).

Python API:

    from fonoteca.mirror import Seeder, seed_items, mirror, fetch, verify_root, repair, coverage

    with Seeder(seed_items(archive_root), listen="127.0.0.1:0") as seeder:   # background thread
        seeder.wait_ready()
        result = mirror(str(archive_root / "releases" / "R"), Path("mirror"), budget=50_000_000,
                        peers=[("127.0.0.1", seeder.port)], timeout=600)
    coverage(Path("mirror"))        # share of tracks, bytes, estimated listens
    verify_root(Path("mirror")).as_dict()
"""

from fonoteca.lazy import lazy_exports

_EXPORTS = {
    "coverage": "ops",
    "fetch": "ops",
    "mirror": "ops",
    "open_source": "sources",
    "repair": "ops",
    "seed_items": "ops",
    "targets": "ops",
    "verify_root": "ops",
    "Seeder": "session",
    "parse_peer": "session",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
