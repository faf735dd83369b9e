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

from dataclasses import asdict, dataclass
from fractions import Fraction
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


def from_config(config: dict[str, Any], sums: FitSums | None = None) -> ListenModel:
    """The model the archive asks for; with calibration = "auto", fitted to the play counts (`sums`) when enough
    exist."""
    section = config.get("plan", {}) if isinstance(config, dict) else {}
    at_zero = float(section.get("listens_at_zero", DEFAULT_LISTENS_AT_ZERO))
    per_decade = float(section.get("points_per_decade", DEFAULT_POINTS_PER_DECADE))
    if at_zero <= 0 or per_decade <= 0:
        from fonoteca.errors import FonotecaError

        raise FonotecaError("[plan] listens_at_zero and points_per_decade must be positive")
    given = "listens_at_zero" in section or "points_per_decade" in section
    model = ListenModel(at_zero, per_decade, "config" if given else "default")
    if section.get("calibration", "auto") == "auto" and sums is not None:
        fitted = sums.fit()
        if fitted is not None:
            return fitted
    return model


LOG_SCALE = 54  # log10(plays) for plays >= 2 is >= 0.301, whose float64 ulp is 2**-54: times 2**54, an integer
SPLIT = 27  # those integers (< 2**59) in two halves of < 2**32 and < 2**27
ROWS_EXACT = 1 << 20  # float64 sums of 2**20 halves stay below 2**53: exact


class FitSums:
    """What the least-squares fit of log10(plays) on popularity needs, summed exactly: per popularity 1..100, the
    tracks with plays > 0 and the sum of their log10(plays) as an integer count of 2**-54. Exact sums make the fit
    the same however the tracks are split into chunks (the bounded planner adds them chunk by chunk), and hold
    101 numbers, not one per track."""

    def __init__(self) -> None:
        self.count = [0] * 101
        self.log_sum = [0] * 101

    def add(self, popularity: np.ndarray, plays: np.ndarray) -> None:
        """Add tracks (aligned arrays; plays -1 unknown). Popularity 0 is left out (it lumps together everything
        below Spotify's threshold)."""
        known = (plays > 0) & (popularity > 0)
        pop = np.clip(popularity[known], 0, 100).astype(np.intp)
        scaled = np.ldexp(np.log10(plays[known].astype(np.float64)), LOG_SCALE).astype(np.int64)
        for lo in range(0, len(pop), ROWS_EXACT):
            p, v = pop[lo : lo + ROWS_EXACT], scaled[lo : lo + ROWS_EXACT]
            high = np.bincount(p, weights=(v >> SPLIT).astype(np.float64), minlength=101)
            low = np.bincount(p, weights=(v & ((1 << SPLIT) - 1)).astype(np.float64), minlength=101)
            counts = np.bincount(p, minlength=101)
            for x in range(1, 101):
                self.count[x] += int(counts[x])
                self.log_sum[x] += (int(high[x]) << SPLIT) + int(low[x])

    def fit(self) -> ListenModel | None:
        """log10(plays) = a + popularity / points_per_decade, least squares, in exact arithmetic; None when
        fewer than MIN_TRACKS_TO_FIT tracks count, all share one popularity, or the slope is not positive."""
        n = sum(self.count)
        if n < MIN_TRACKS_TO_FIT:
            return None
        sx = sum(x * c for x, c in enumerate(self.count))
        sxx = sum(x * x * c for x, c in enumerate(self.count))
        sy = Fraction(sum(self.log_sum), 1 << LOG_SCALE)
        sxy = Fraction(sum(x * s for x, s in enumerate(self.log_sum)), 1 << LOG_SCALE)
        spread = n * sxx - sx * sx
        if spread == 0:
            return None
        slope = (n * sxy - sx * sy) / spread
        if slope <= 0:
            return None
        intercept = (sy - slope * sx) / n
        return ListenModel(float(10.0 ** float(intercept)), float(1 / slope), "fitted")


def fit_sums(popularity: np.ndarray, plays: np.ndarray | None) -> FitSums | None:
    """The fit's sums over whole arrays (None without play counts)."""
    if plays is None:
        return None
    sums = FitSums()
    sums.add(popularity, plays)
    return sums
