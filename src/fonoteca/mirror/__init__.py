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

from fonoteca.mirror.ops import (coverage, fetch, mirror, open_source, repair, seed_items, targets,  # noqa: F401
                                 verify_root)
from fonoteca.mirror.session import Seeder, parse_peer  # noqa: F401
