"""Releases: immutable BitTorrent v1+v2 hybrid bulk torrents grouped by popularity, manifests, torrents.json.

Python API (what `fonoteca pack` and `fonoteca torrents` call):

    from fonoteca.pack import pack_archive, PackSettings, list_torrents, pick

    summary = pack_archive(archive)                      # or settings=PackSettings(target_size=..., max_files=...)
    summary.as_dict()  # release, files, bytes, bands {band: torrents/files/bytes/tracks/listens},
                       # torrents [{name, band, btih, btmh, files, bytes, magnet, ...}], metadata {...}
    for p in pick(list_torrents(archive), budget_bytes): p.record["magnet_link"]
"""

from typing import Any

# Imported on first use, so that the hashing worker processes (which import fonoteca.pack.hybrid) stay light.
_EXPORTS = {
    "list_torrents": "listing", "mark": "listing", "pick": "listing", "set_stats": "listing",
    "MANIFEST_FIELDS": "release", "PackSummary": "release", "TorrentSummary": "release", "pack": "release",
    "Band": "settings", "PackSettings": "settings", "parse_bands": "settings",
}

__all__ = sorted([*_EXPORTS, "pack_archive"])


def __getattr__(name: str) -> Any:
    if name == "pack_archive":
        name = "pack"
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fonoteca.pack' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"fonoteca.pack.{module}"), name)
