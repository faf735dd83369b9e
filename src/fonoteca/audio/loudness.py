"""ReplayGain 2.0 from ITU-R BS.1770-4 / EBU R128 integrated loudness (K-weighting, 400 ms blocks, 75 % overlap,
absolute gate -70 LUFS, relative gate -10 LU), computed in a streaming way so memory stays bounded.

ReplayGain 2.0 reference level is -18 LUFS: track gain = -18 - integrated loudness. The peak is the sample peak
(linear, 1.0 = full scale) of the decoded signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

REFERENCE_LUFS = -18.0
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0


def k_weighting(rate: int) -> np.ndarray:
    """The two K-weighting biquads (pre-filter shelf, RLB high-pass) for a sample rate, as an SOS matrix
    (the libebur128 formulation, exact at 48 kHz and valid at any rate)."""
    f0, gain, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10.0 ** (gain / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    pb = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    pa = [1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    d = 1.0 + k / q + k * k
    rb = [1.0, -2.0, 1.0]
    ra = [1.0, 2.0 * (k * k - 1.0) / d, (1.0 - k / q + k * k) / d]
    return np.array([pb + pa, rb + ra], dtype=np.float64)


def k_weighting_power(freqs: np.ndarray, rate: int) -> np.ndarray:
    """The K-weighting filters' power gain |H(f)|^2 at `freqs` (Hz), for spectral-domain loudness."""
    _, response = signal.sosfreqz(k_weighting(rate), worN=np.asarray(freqs, dtype=np.float64), fs=rate)
    return (np.abs(response) ** 2).astype(np.float32)


def channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0, surround (5.1 positions 4 and 5) 1.41, LFE (position 3 of 5.1+) 0."""
    weights = np.ones(channels, dtype=np.float64)
    if channels >= 6:
        weights[3] = 0.0
        weights[4:6] = 1.41
    return weights


@dataclass
class Loudness:
    integrated_lufs: float | None  # None: silent (every block below the absolute gate) or too short
    peak: float  # sample peak, linear

    @property
    def track_gain(self) -> float | None:
        return None if self.integrated_lufs is None else round(REFERENCE_LUFS - self.integrated_lufs, 2)


class LoudnessMeter:
    """Feed planar float32 blocks (channels x samples); call result() at the end."""

    def __init__(self, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels
        self.sos = k_weighting(rate).astype(np.float32)
        self.zi = np.zeros((self.sos.shape[0], channels, 2), dtype=np.float32)
        self.step = max(1, rate // 10)  # 100 ms sub-blocks
        self.weights = channel_weights(channels)
        self.pending = np.zeros((channels, 0), dtype=np.float32)  # filtered squares not yet in a full sub-block
        self.subblocks: list[np.ndarray] = []  # weighted mean square per 100 ms sub-block
        self.peak = 0.0

    def feed(self, block: np.ndarray) -> None:
        if block.size == 0:
            return
        self.peak = max(self.peak, float(np.abs(block).max()))
        filtered, self.zi = signal.sosfilt(self.sos, block, axis=-1, zi=self.zi)
        squares = np.square(filtered, out=filtered)
        if self.pending.shape[1]:
            squares = np.concatenate([self.pending, squares], axis=1)
        whole = squares.shape[1] // self.step * self.step
        if whole:
            sums = squares[:, :whole].reshape(self.channels, -1, self.step).sum(axis=2, dtype=np.float64)
            self.subblocks.append(self.weights @ sums / self.step)
        self.pending = squares[:, whole:]

    def result(self) -> Loudness:
        if not self.subblocks:
            return Loudness(None, self.peak)
        sub = np.concatenate(self.subblocks)
        if sub.shape[0] < 4:
            return Loudness(None, self.peak)
        blocks = (sub[:-3] + sub[1:-2] + sub[2:-1] + sub[3:]) / 4.0  # 400 ms, hop 100 ms
        with np.errstate(divide="ignore"):
            levels = -0.691 + 10.0 * np.log10(blocks)
        gated = blocks[levels > ABSOLUTE_GATE]
        if gated.size == 0:
            return Loudness(None, self.peak)
        relative = -0.691 + 10.0 * math.log10(gated.mean()) + RELATIVE_GATE
        final = blocks[(levels > ABSOLUTE_GATE) & (levels > relative)]
        if final.size == 0:
            return Loudness(None, self.peak)
        return Loudness(round(-0.691 + 10.0 * math.log10(final.mean()), 2), self.peak)


def measure(samples: np.ndarray, rate: int) -> Loudness:
    """Integrated loudness of a whole signal (channels x samples float array, or one channel)."""
    if samples.ndim == 1:
        samples = samples[None, :]
    meter = LoudnessMeter(rate, samples.shape[0])
    meter.feed(np.ascontiguousarray(samples, dtype=np.float32))
    return meter.result()
