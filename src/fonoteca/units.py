"""Sizes a person types (`300TB`, `1.5 TiB`, `500GB`, `2e12`) and sizes a person reads."""

from __future__ import annotations

import math
import re

from fonoteca.errors import UsageError

# SI prefixes are powers of 1000 (a disk's label), IEC prefixes powers of 1024 (what `df -h` shows).
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "p": 1000**5,
    "pb": 1000**5,
    "e": 1000**6,
    "eb": 1000**6,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pib": 1024**5,
    "eib": 1024**6,
}
_SIZE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?|\.[0-9]+)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in `text`: a number with an optional unit (B, kB, MB, GB, TB, PB: powers of 1000; KiB ... PiB:
    powers of 1024; case does not matter). Raises UsageError with the accepted forms on anything else."""
    match = _SIZE.match(text or "")
    if not match:
        raise UsageError(
            f"cannot read {text!r} as a size: write a number and a unit, e.g. 500GB, 300TB, 1.5TiB, 2e12 "
            "(negative sizes are not allowed)"
        )
    number, unit = match.groups()
    factor = _UNITS.get(unit.lower())
    if factor is None:
        raise UsageError(
            f"unknown size unit {unit!r} in {text!r}: use B, kB, MB, GB, TB, PB (powers of 1000) or "
            "KiB, MiB, GiB, TiB, PiB (powers of 1024)"
        )
    value = float(number.replace("_", "")) * factor
    if not math.isfinite(value):
        raise UsageError(f"size {text!r} is too large")
    return int(round(value))


def format_size(size: float) -> str:
    """`1.23 TB` style (powers of 1000, as disks are sold)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(size) < 1000 or unit == "PB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.2f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
