"""Limits and value checks shared by every importer.

A check returns None when the value is acceptable, else a short text saying what is wrong with it; the importer
decides whether that rejects the whole record or only the field (see README, "Bad input never stops an import").
"""

from __future__ import annotations

import calendar
import re
from typing import Any

from fonoteca.catalog.records import FEATURE_FIELDS

MAX_TEXT = 65536  # characters in one text value; longer ones are rejected as hostile
MAX_DEPTH = 64  # nesting of objects and arrays in one record; real API objects stay below 12

POPULARITY = (0, 100)
UNIT_FEATURES = frozenset(
    {"danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence"}
)

_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


def type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def shown(value: Any, limit: int = 60) -> str:
    """A value as it appears in a reject reason: its repr, cut for very long ones."""
    if type(value) is str and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "..."


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays nest deeper than `limit` (iterative: hostile input cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item if type(item) is list else ()
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def may_be_too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """A cheap test on the raw text: fewer opening brackets than the limit cannot nest deeper than it."""
    return data.count(b"{") + data.count(b"[") > limit


def long_text(value: Any, limit: int = MAX_TEXT) -> int | None:
    """The length of the first string longer than `limit` anywhere inside value (keys included), else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            if len(item) > limit:
                return len(item)
        elif type(item) is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return None


def text_problem(value: Any) -> str | None:
    if type(value) is not str:
        return f"expected string, got {type_name(value)}"
    if len(value) > MAX_TEXT:
        return f"{len(value)} characters, more than the limit of {MAX_TEXT}"
    return None


def int_problem(value: Any, low: int | None = 0, high: int | None = None) -> str | None:
    if type(value) is not int:
        return f"expected integer, got {type_name(value)}"
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{value} is out of range {_range(low, high)}"
    return None


def _range(low: int | float | None, high: int | float | None) -> str:
    if high is None:
        return f">= {low}"
    return f"{low}..{high}"


def date_problem(value: str, allow_unknown_year: bool = True) -> str | None:
    """YYYY, YYYY-MM or YYYY-MM-DD naming a real calendar date. The API's "0000" (year unknown) is accepted."""
    match = _DATE.fullmatch(value)
    if match is None:
        return f"{shown(value)} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"
    year, month, day = (int(g) if g else None for g in match.groups())
    if year == 0 and month is None and allow_unknown_year:
        return None
    if year == 0 or (month is not None and not 1 <= month <= 12):
        return f"{shown(value)} is not a real date"
    if (
        day is not None
        and year is not None
        and month is not None
        and not 1 <= day <= calendar.monthrange(year, month)[1]
    ):
        return f"{shown(value)} is not a real date"
    return None


def date_precision(value: str) -> str:
    return {4: "year", 7: "month"}.get(len(value), "day")


def _feature_bounds(name: str) -> tuple[float, float | None]:
    if name in UNIT_FEATURES:
        return 0, 1
    if name == "key":
        return -1, 11
    if name == "mode":
        return 0, 1
    if name == "loudness":
        return -100, 100  # dB relative to full scale: real values lie in -60..+5
    return 0, None  # tempo, time_signature, duration_ms


FEATURE_BOUNDS = {name: _feature_bounds(name) for name in FEATURE_FIELDS}


def feature_problem(name: str, value: Any) -> str | None:
    """Audio features as the Web API documents them: numbers, most in 0..1, key -1..11, mode 0 or 1."""
    if type(value) is not int and type(value) is not float:
        return f"expected number, got {type_name(value)}"
    low, high = FEATURE_BOUNDS[name]
    if value < low or (high is not None and value > high):
        return f"{shown(value)} is out of range {_range(low, high)}"
    return None


def features_ok(bounds: tuple[tuple[float, float | None], ...], values: tuple[Any, ...]) -> bool:
    """True when every present value is a number within its bounds (the fast path's test, kept cheap)."""
    for value, (low, high) in zip(values, bounds, strict=True):
        if value is None:
            continue
        kind = type(value)
        if (kind is not float and kind is not int) or value < low or (high is not None and value > high):
            return False
    return True
