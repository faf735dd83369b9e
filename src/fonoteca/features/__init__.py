"""Audio features and the genre map.

- extract: features computed from decoded audio (definitions in its docstring);
- compute: `fonoteca features`, computing them for every ingested track in parallel (track_features table);
- mapping: how computed and imported (Spotify) features map onto the map's dimensions;
- genremap: per-genre aggregation, 2D placement, label de-overlap, colour; HTML/PNG/SVG export.

Python API (the demo uses it): compute_features(archive, workers=None) -> FeatureSummary,
genre_map(archive) -> dict, write_genre_map(archive, out_path) -> Path. Imported lazily (the CLI starts fast).
"""

from __future__ import annotations

from typing import Any

__all__ = ["FeatureSummary", "compute_features", "genre_map", "genre_map_from_conn", "write_genre_map"]


def __getattr__(name: str) -> Any:
    if name in ("FeatureSummary", "compute_features"):
        from fonoteca.features import compute

        return getattr(compute, name)
    if name in ("genre_map", "genre_map_from_conn", "write_genre_map"):
        from fonoteca.features import genremap

        return getattr(genremap, name)
    raise AttributeError(name)
