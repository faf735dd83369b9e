"""How a track's features become the genre map's dimensions, from computed features (track_features) or imported
ones (audio_features, Spotify's), each in 0..1.

Axes (as on Every Noise at Once):
- y, "electric" (up = mechanical and electric, down = organic and acoustic):
    computed: mean of brightness  clip((log centroid_hz - log 150) / (log 4000 - log 150)),
                      noisiness   clip((log10 flatness + 3) / 2.5)          (0.001 -> 0, 0.3 -> 1),
                      compression clip(1 - (dynamic_range_db - 2) / 18);
    imported: mean of energy and 1 - acousticness.
- x, "bounce" (right = spiky and bouncy, left = dense and atmospheric):
    computed: mean of onset density clip(onset_rate / 10), percussiveness 1 - harmonic_ratio,
                      pace clip((tempo - 60) / 120), regularity (a steady pulse bounces; rubato floats);
    imported: mean of danceability, pace clip((tempo - 60) / 120), valence.
Colour (red, green, blue), further dimensions:
- red, "loudness": clip((loudness + 30) / 25) for both (Spotify's loudness is an integrated dB figure too);
- green, "tonality": computed clip(key_strength) (how clearly it sits in a key); imported 1 - speechiness;
- blue, "dynamics": computed clip((dynamic_range_db - 2) / 18); imported acousticness.
"""

from __future__ import annotations

import math
from typing import Any

DIMENSIONS = ("electric", "bounce", "loudness", "tonality", "dynamics")


def _clip(value: float) -> float:
    return 0.0 if value < 0 else 1.0 if value > 1 else value


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(present) / len(present) if present else None


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _pace(tempo: float | None) -> float | None:
    return None if tempo is None or tempo <= 0 else _clip((tempo - 60) / 120)


def from_computed(row: dict[str, Any]) -> dict[str, float | None]:
    c, fl, reg, dr = (_num(row.get(k)) for k in ("centroid_hz", "flatness", "regularity", "dynamic_range_db"))
    onset, harm, tempo = (_num(row.get(k)) for k in ("onset_rate", "harmonic_ratio", "tempo"))
    lufs, strength = _num(row.get("loudness_lufs")), _num(row.get("key_strength"))
    return {
        "electric": _mean(
            [
                None if not c or c <= 0 else _clip((math.log(c) - math.log(150)) / (math.log(4000) - math.log(150))),
                None if fl is None or fl <= 0 else _clip((math.log10(fl) + 3) / 2.5),
                None if dr is None else _clip(1 - (dr - 2) / 18),
            ]
        ),
        "bounce": _mean(
            [
                None if onset is None else _clip(onset / 10),
                None if harm is None else _clip(1 - harm),
                _pace(tempo),
                None if reg is None else _clip(reg),
            ]
        ),
        "loudness": None if lufs is None else _clip((lufs + 30) / 25),
        "tonality": None if strength is None else _clip(strength),
        "dynamics": None if dr is None else _clip((dr - 2) / 18),
    }


def from_imported(row: dict[str, Any]) -> dict[str, float | None]:
    g = {
        k: _num(row.get(k))
        for k in ("energy", "acousticness", "danceability", "valence", "tempo", "loudness", "speechiness")
    }
    return {
        "electric": _mean([g["energy"], None if g["acousticness"] is None else 1 - g["acousticness"]]),
        "bounce": _mean([g["danceability"], _pace(g["tempo"]), g["valence"]]),
        "loudness": None if g["loudness"] is None else _clip((g["loudness"] + 30) / 25),
        "tonality": None if g["speechiness"] is None else _clip(1 - g["speechiness"]),
        "dynamics": g["acousticness"],
    }
