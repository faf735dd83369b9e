"""Releases: immutable BitTorrent v1+v2 hybrid bulk torrents grouped by popularity, manifests, torrents.json.

Python API (what `fonoteca pack` and `fonoteca torrents` call):

    from fonoteca.pack import pack, PackSettings, list_torrents, pick

    summary = pack(archive)                             # or settings=PackSettings(target_size=..., max_files=...)
    summary.as_dict()  # release, files, bytes, bands {band: torrents/files/bytes/tracks/listens},
                       # torrents [{name, band, btih, btmh, files, bytes, magnet, ...}], metadata {...}
    for p in pick(list_torrents(archive), budget_bytes): p.record["magnet_link"]
"""

from fonoteca.lazy import lazy_exports

# Imported on first use, so that the hashing worker processes (which import fonoteca.pack.hybrid) stay light.
_EXPORTS = {
    "list_torrents": "listing",
    "mark": "listing",
    "pick": "listing",
    "set_stats": "listing",
    "MANIFEST_FIELDS": "manifest",
    "ManifestLine": "manifest",
    "read_manifest": "manifest",
    "PackSummary": "release",
    "TorrentSummary": "release",
    "pack": "release",
    "Band": "settings",
    "PackSettings": "settings",
    "parse_bands": "settings",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
