"""The listen model: how many times each track is played.

Where the catalog has play counts (table track_plays) they are used as they are. Everywhere else listens are
estimated from popularity, which Spotify derives from recent plays on a roughly logarithmic scale:

    listens(popularity) = listens_at_zero * 10 ** (popularity / points_per_decade)

so every `points_per_decade` points of popularity mean ten times more listens. The defaults (30 listens at
popularity 0, 12.5 points per decade) put popularity 100 at about 3e9 plays, the order of the most-streamed
songs, and popularity 0 at a few dozen, in line with most songs having fewer than 1,000 streams.

Configure in fonoteca.toml:

    [plan]
    listens_at_zero = 30.0
    points_per_decade = 12.5
    calibration = "auto"    # auto: fit both from track_plays when >= 100 tracks with popularity > 0 have counts
                            # config: always use the two numbers above

A track without popularity counts as popularity 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_LISTENS_AT_ZERO = 30.0
DEFAULT_POINTS_PER_DECADE = 12.5
MIN_TRACKS_TO_FIT = 100


@dataclass(frozen=True)
class ListenModel:
    listens_at_zero: float = DEFAULT_LISTENS_AT_ZERO
    points_per_decade: float = DEFAULT_POINTS_PER_DECADE
    origin: str = "default"  # default | config | fitted

    def estimate(self, popularity: np.ndarray) -> np.ndarray:
        """Estimated listens for an array of popularity values (negative = unknown, counted as 0)."""
        pop = np.clip(popularity, 0, 100).astype(np.float64)
        return self.listens_at_zero * np.power(10.0, pop / self.points_per_decade)

    def listens(self, popularity: np.ndarray, plays: np.ndarray | None = None) -> np.ndarray:
        """Listens per track: the play count where known (>= 0), else the estimate."""
        estimate = self.estimate(popularity)
        if plays is None:
            return estimate
        return np.where(plays >= 0, plays.astype(np.float64), estimate)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_config(
    config: dict[str, Any], popularity: np.ndarray | None = None, plays: np.ndarray | None = None
) -> ListenModel:
    """The model the archive asks for; with calibration = "auto", fitted to the play counts when enough exist."""
    section = config.get("plan", {}) if isinstance(config, dict) else {}
    at_zero = float(section.get("listens_at_zero", DEFAULT_LISTENS_AT_ZERO))
    per_decade = float(section.get("points_per_decade", DEFAULT_POINTS_PER_DECADE))
    if at_zero <= 0 or per_decade <= 0:
        from fonoteca.errors import FonotecaError

        raise FonotecaError("[plan] listens_at_zero and points_per_decade must be positive")
    given = "listens_at_zero" in section or "points_per_decade" in section
    model = ListenModel(at_zero, per_decade, "config" if given else "default")
    if section.get("calibration", "auto") == "auto" and popularity is not None and plays is not None:
        fitted = fit(popularity, plays)
        if fitted is not None:
            return fitted
    return model


def fit(popularity: np.ndarray, plays: np.ndarray) -> ListenModel | None:
    """Least-squares fit of log10(plays) = a + popularity / points_per_decade over tracks with both known.

    Popularity 0 is left out of the fit (it lumps together everything below Spotify's threshold)."""
    known = (plays > 0) & (popularity > 0)
    if int(known.sum()) < MIN_TRACKS_TO_FIT:
        return None
    x = popularity[known].astype(np.float64)
    y = np.log10(plays[known].astype(np.float64))
    if float(x.std()) == 0.0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if slope <= 0 or not math.isfinite(slope):
        return None
    return ListenModel(float(10.0**intercept), float(1.0 / slope), "fitted")
