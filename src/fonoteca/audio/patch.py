"""Binary patches that rebuild an input file byte for byte from the stored (tagged) file.

Format (then zstd-compressed as a whole frame): magic b"FPT1", prefix length, suffix length (both u64 LE), then a
zstd frame of the input's differing middle compressed with the stored file's middle as a raw-content dictionary
(what `zstd --patch-from` does). Tagging rewrites only a file's head (FLAC metadata blocks, ID3, MP4 moov) or
renumbers Ogg pages, so the common prefix and suffix are usually most of the file and the patch is small.
"""

from __future__ import annotations

import hashlib
import struct

import zstandard

MAGIC = b"FPT1"
LEVEL = 19  # small middles; larger ones use level 9 with long-distance matching (levels below ~6 ignore
# most of a large raw-content dictionary)
CHUNK = 1 << 16


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    lo = 0
    step = CHUNK
    while lo < n:  # whole chunks compare in C
        hi = min(n, lo + step)
        if a[lo:hi] != b[lo:hi]:
            break
        lo = hi
    while lo < n and a[lo] == b[lo]:
        lo += 1
    return lo


def _common_suffix(a: bytes, b: bytes, limit: int) -> int:
    n = min(len(a), len(b)) - limit
    k = 0
    while k < n:
        take = min(CHUNK, n - k)
        if a[len(a) - k - take : len(a) - k] != b[len(b) - k - take : len(b) - k]:
            break
        k += take
    while k < n and a[len(a) - 1 - k] == b[len(b) - 1 - k]:
        k += 1
    return k


def make_patch(original: bytes, stored: bytes) -> bytes:
    """A patch such that apply_patch(stored, patch) == original; b"" when the two are identical."""
    if original == stored:
        return b""
    prefix = _common_prefix(original, stored)
    suffix = _common_suffix(original, stored, prefix)
    middle = original[prefix : len(original) - suffix]
    base = stored[prefix : len(stored) - suffix]
    window = max(10, min(31, (len(middle) + len(base)).bit_length() + 1))
    if base:
        params = zstandard.ZstdCompressionParameters.from_level(
            LEVEL if len(middle) < (1 << 20) else 9, window_log=window, enable_ldm=len(middle) >= (1 << 20)
        )
        dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        body = zstandard.ZstdCompressor(dict_data=dictionary, compression_params=params).compress(middle)
    else:
        body = zstandard.ZstdCompressor(level=LEVEL).compress(middle)
    return MAGIC + struct.pack("<QQ", prefix, suffix) + body


def apply_patch(stored: bytes, patch: bytes) -> bytes:
    if not patch:
        return stored
    if patch[:4] != MAGIC:
        raise ValueError("not a Fonoteca patch")
    prefix, suffix = struct.unpack("<QQ", patch[4:20])
    base = stored[prefix : len(stored) - suffix]
    body = patch[20:]
    if base:
        dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        middle = zstandard.ZstdDecompressor(dict_data=dictionary, max_window_size=1 << 31).decompress(body)
    else:
        middle = zstandard.ZstdDecompressor().decompress(body)
    return stored[:prefix] + middle + stored[len(stored) - suffix :]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
