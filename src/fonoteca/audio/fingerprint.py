"""Chromaprint fingerprints (pyacoustid's bindings to Debian's libchromaprint1) and their comparison.

A fingerprint is computed on the first `seconds` of the decoded audio (120 s, as AcoustID does). It is kept two
ways: the compressed base64 string that AcoustID accepts, and the raw 32-bit sub-fingerprints used here to find
the same recording (bit error rate at the best alignment).
"""

from __future__ import annotations

from dataclasses import dataclass

import chromaprint
import numpy as np

DEFAULT_SECONDS = 120.0
# Same recording: mean bit error rate at the best offset at or below this. Measured here: the same recording
# through Opus 75k or MP3 128k sits near 0.01; unrelated audio near 0.47, and the closest of 19,900 pairs of
# synthesised tracks in one style family at 0.30. Remasters and noisy transfers need headroom above 0.01.
MATCH_BER = 0.20
MAX_OFFSET = 24  # sub-fingerprints (about 3 s) tried either way when aligning
SAMPLE_MOD = 16  # index keys: sub-fingerprints whose value % 16 == 0 (a consistent sample)
MIN_ITEMS = 16  # shorter fingerprints (under about 3 s of audio) are not used for matching


@dataclass
class Fingerprint:
    encoded: str  # AcoustID's compressed base64 form
    raw: np.ndarray  # uint32 sub-fingerprints
    seconds: float  # audio it covers

    def keys(self) -> list[int]:
        return sorted({int(v) for v in self.raw if int(v) % SAMPLE_MOD == 0})

    def raw_bytes(self) -> bytes:
        return self.raw.astype("<u4").tobytes()


def from_raw_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class FingerprintBuilder:
    """Feed interleaved int16 PCM (bytes) at the stream's rate; stops taking audio after `seconds`."""

    def __init__(self, rate: int, channels: int, seconds: float = DEFAULT_SECONDS) -> None:
        self.rate, self.channels = rate, channels
        self.limit = int(rate * seconds) * channels  # int16 values
        self.fed = 0
        self.fp = chromaprint.Fingerprinter()
        self.fp.start(rate, channels)

    @property
    def full(self) -> bool:
        return self.fed >= self.limit

    def feed(self, pcm: bytes) -> None:
        if self.full:
            return
        take = min(len(pcm) // 2, self.limit - self.fed)
        self.fp.feed(pcm[: take * 2])
        self.fed += take

    def result(self) -> Fingerprint | None:
        try:
            encoded = self.fp.finish()
        except chromaprint.FingerprintError:
            return None
        if not encoded:
            return None
        raw, _ = chromaprint.decode_fingerprint(encoded)
        return Fingerprint(
            encoded.decode("ascii"),
            np.asarray(raw, dtype=np.int64).astype(np.uint32),
            self.fed / self.channels / self.rate,
        )


def _popcount32(x: np.ndarray) -> np.ndarray:
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return ((x * 0x01010101) & 0xFFFFFFFF) >> 24


def bit_error_rate(a: np.ndarray, b: np.ndarray, max_offset: int = MAX_OFFSET) -> float:
    """Lowest mean bit error rate between two raw fingerprints over alignments within +-max_offset."""
    a64, b64 = a.astype(np.uint64), b.astype(np.uint64)
    best = 1.0
    for offset in range(-max_offset, max_offset + 1):
        if offset >= 0:
            x, y = a64[offset:], b64
        else:
            x, y = a64, b64[-offset:]
        n = min(len(x), len(y))
        if n < MIN_ITEMS or n < 0.5 * min(len(a), len(b)):
            continue
        ber = float(_popcount32(x[:n] ^ y[:n]).sum()) / (32.0 * n)
        best = min(best, ber)
    return best


def usable(fp: Fingerprint | None, peak: float) -> bool:
    """Whether a fingerprint says anything about the recording: long enough and not (near) silence."""
    if fp is None or len(fp.raw) < MIN_ITEMS or peak < 1e-3:
        return False
    return len(np.unique(fp.raw)) > len(fp.raw) // 8


def same_recording(a: np.ndarray, b: np.ndarray, threshold: float = MATCH_BER) -> bool:
    return bit_error_rate(a, b) <= threshold
