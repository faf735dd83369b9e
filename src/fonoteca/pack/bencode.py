"""Bencoding (BEP 3): a deterministic encoder (dictionary keys sorted as raw bytes) and a strict decoder."""

from __future__ import annotations

from itertools import pairwise
from typing import Any


def _key(k: str | bytes) -> bytes:
    return k.encode("utf-8") if isinstance(k, str) else bytes(k)


def encode_into(out: bytearray, value: Any) -> None:
    """Append the bencoding of value (int, bytes, str, list/tuple, dict with str or bytes keys) to out."""
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out += b"i%de" % value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        out += b"%d:" % len(data)
        out += data
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += b"%d:" % len(data)
        out += data
    elif isinstance(value, (list, tuple)):
        out += b"l"
        for item in value:
            encode_into(out, item)
        out += b"e"
    elif isinstance(value, dict):
        items = sorted(((_key(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        for (a, _), (b, _) in pairwise(items):
            if a == b:
                raise ValueError(f"duplicate dictionary key {a!r}")
        out += b"d"
        for k, v in items:
            out += b"%d:" % len(k)
            out += k
            encode_into(out, v)
        out += b"e"
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def encode(value: Any) -> bytes:
    out = bytearray()
    encode_into(out, value)
    return bytes(out)


def decode(data: bytes) -> Any:
    """Decode one bencoded value that spans all of data (dictionary keys come back as bytes)."""
    value, end = _decode(memoryview(data), 0)
    if end != len(data):
        raise ValueError("trailing bytes after the bencoded value")
    return value


def _decode(data: memoryview, i: int) -> tuple[Any, int]:
    if i >= len(data):
        raise ValueError("truncated bencoding")
    c = data[i]
    if c == ord("i"):
        end = bytes(data[i + 1 : i + 32]).index(b"e") + i + 1
        text = bytes(data[i + 1 : end])
        if text in (b"-0", b"") or (text.startswith(b"0") and len(text) > 1) or text.startswith(b"-0"):
            raise ValueError(f"bad integer {text!r}")
        return int(text), end + 1
    if c == ord("l"):
        items, i = [], i + 1
        while data[i] != ord("e"):
            item, i = _decode(data, i)
            items.append(item)
        return items, i + 1
    if c == ord("d"):
        out: dict[bytes, Any] = {}
        i += 1
        last = None
        while data[i] != ord("e"):
            key, i = _decode(data, i)
            if not isinstance(key, bytes):
                raise ValueError("dictionary key is not a string")
            if last is not None and key <= last:
                raise ValueError("dictionary keys are not sorted")
            out[key], i = _decode(data, i)
            last = key
        return out, i + 1
    if ord("0") <= c <= ord("9"):
        colon = bytes(data[i : i + 21]).index(b":") + i
        length = int(bytes(data[i:colon]))
        start = colon + 1
        if start + length > len(data):
            raise ValueError("truncated string")
        return bytes(data[start : start + length]), start + length
    raise ValueError(f"unexpected byte {chr(c)!r} at {i}")
