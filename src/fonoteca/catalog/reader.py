"""Reading metadata files: plain, gzip or zstd; one JSON document, or one JSON value per line.

Yields (line number, bytes) pieces and reports what could not be read (over-long lines, a truncated compressed
stream) as problems, so the importer can reject exactly those and keep everything else.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson
import zstandard

MAX_LINE_BYTES = 64 * 1024 * 1024  # a full playlist or album page is far below this
MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024
BLOCK = 4 * 1024 * 1024

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Piece:
    """One JSON text: a line of a JSONL file (number = line) or a whole document (number = 1)."""

    number: int
    data: bytes
    whole_document: bool = False


@dataclass
class Problem:
    """A part of the file that could not be read at all."""

    number: int
    reason: str
    data: bytes = b""


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading, decompressing gzip and zstd transparently (by magic bytes, not by name)."""
    raw = open(path, "rb")
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(GZIP_MAGIC):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        return io.BufferedReader(reader, buffer_size=BLOCK)  # type: ignore[arg-type]
    return raw


READ_ERRORS = (EOFError, OSError, zstandard.ZstdError, zlib.error)


def read_pieces(path: Path) -> Iterator[Piece | Problem]:
    """Every JSON text in the file, in order, with problems in the places they occur."""
    first = _first_line(path)
    if first is not None and _parses(first):
        yield from _read_lines(path)
        return
    document = _read_document(path)
    if document is not None:
        yield Piece(1, document, whole_document=True)
        return
    yield from _read_lines(path)


def _first_line(path: Path) -> bytes | None:
    try:
        with open_binary(path) as stream:
            while True:
                line = stream.readline(MAX_LINE_BYTES)
                if not line:
                    return None
                if line.strip():
                    return line
    except READ_ERRORS:
        return None


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _read_document(path: Path) -> bytes | None:
    """The whole file when it is one JSON document (pretty-printed API responses), else None."""
    try:
        with open_binary(path) as stream:
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
    except READ_ERRORS:
        return None
    if len(data) > MAX_DOCUMENT_BYTES or not data.strip():
        return None
    return data if _parses(data) else None


def _read_lines(path: Path) -> Iterator[Piece | Problem]:
    number = 0
    carry = b""
    skipping = False  # inside an over-long line: drop bytes until its newline
    try:
        with open_binary(path) as stream:
            while True:
                block = stream.read(BLOCK)
                if not block:
                    break
                lines = block.split(b"\n")
                lines[0] = carry + lines[0]
                carry = lines.pop()
                for line in lines:
                    number += 1
                    if skipping:
                        skipping = False
                        continue
                    if line.strip():
                        yield Piece(number, line)
                if len(carry) > MAX_LINE_BYTES:
                    if not skipping:
                        yield Problem(number + 1, f"line longer than {MAX_LINE_BYTES} bytes", carry[:200])
                    skipping = True
                    carry = b""
    except READ_ERRORS as exc:
        if carry.strip() and not skipping:
            yield Problem(number + 1, f"unreadable after line {number}: truncated or corrupt input ({exc})", carry[:200])
        else:
            yield Problem(number + 1, f"unreadable after line {number}: truncated or corrupt input ({exc})")
        return
    if carry.strip() and not skipping:
        yield Piece(number + 1, carry)
