"""Reading metadata files: plain, gzip or zstd; one JSON document, or one JSON value per line.

Yields (line number, bytes) pieces and reports what could not be read (over-long lines, a truncated or corrupt
compressed stream) as problems, so the importer can reject exactly those and keep everything else. Decompression
is done here rather than through file objects so that a stream that breaks off or turns to garbage still gives
every byte that decoded before the fault: buffered readers throw away the block they were filling.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson
import zstandard

MAX_LINE_BYTES = 64 * 1024 * 1024  # a full playlist or album page is far below this
MAX_DOCUMENT_BYTES = 1024 * 1024 * 1024
BLOCK = 4 * 1024 * 1024  # plain files are read in blocks of this size
FEED = 1024 * 1024  # compressed bytes handed to the decompressor at a time
SALVAGE_PIECE = 256  # after a fault, the failing feed is decoded again in pieces this small

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


class CorruptInput(Exception):
    """The compressed stream is truncated or corrupt at `offset` (bytes into the file as stored)."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte {offset:,} of the compressed file")
        self.offset = offset
        self.reason = reason


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


# --- decompression --------------------------------------------------------------------------------------------
def chunks(path: Path) -> Iterator[bytes]:
    """The file's content, decompressed by magic bytes (not by name), in chunks.

    A fault in a compressed stream raises CorruptInput only after every byte decoded before it was yielded.
    Operating-system errors (EIO, EMFILE, ...) are raised as OSError naming the file: they are not its fault."""
    try:
        with open(path, "rb") as raw:
            head = raw.read(4)
            raw.seek(0)
            if head.startswith(GZIP_MAGIC):
                yield from _gzip_chunks(raw)
            elif head.startswith(ZSTD_MAGIC):
                yield from _zstd_chunks(raw)
            else:
                while block := raw.read(BLOCK):
                    yield block
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def _gzip_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """gzip members one after another; zlib's state can be copied, so a fault is located to the byte."""
    offset = 0  # file position of the start of `data`
    member = zlib.decompressobj(wbits=31)
    in_member = False
    data = b""
    while True:
        if not data:
            data = raw.read(FEED)
            if not data:
                if in_member:
                    raise CorruptInput(offset, "truncated input: the gzip stream ends before its end marker")
                return
        before = member.copy()
        try:
            out = member.decompress(data)
        except zlib.error as exc:
            good, at = _salvage_zlib(before, data)
            if good:
                yield good
            raise CorruptInput(offset + at, f"corrupt gzip data ({exc})") from None
        in_member = True
        if out:
            yield out
        if member.eof:
            rest = member.unused_data
            offset += len(data) - len(rest)
            data = rest
            member = zlib.decompressobj(wbits=31)  # a further member, or garbage that fails on its header
            in_member = False
        else:
            offset += len(data)
            data = b""


def _salvage_zlib(state: zlib._Decompress, data: bytes) -> tuple[bytes, int]:
    """Decode `data` from a copy of the state before it, piece by piece: (the output before the fault, where)."""
    good = []
    at = 0
    for start in range(0, len(data), SALVAGE_PIECE):
        piece = data[start : start + SALVAGE_PIECE]
        saved = state.copy()
        try:
            good.append(state.decompress(piece))
        except zlib.error:
            for i in range(len(piece)):  # the last good byte
                try:
                    good.append(saved.decompress(piece[i : i + 1]))
                except zlib.error:
                    return b"".join(good), start + i
            return b"".join(good), start + len(piece)
        at = start + len(piece)
    return b"".join(good), at


def _zstd_chunks(raw: BinaryIO) -> Iterator[bytes]:
    """zstd frames one after another; after a fault the frame is decoded again up to it in small pieces."""
    decompressor = zstandard.ZstdDecompressor()
    offset = 0  # file position of the start of `data`
    frame_start = 0
    frame = decompressor.decompressobj()
    in_frame = False
    data = b""
    while True:
        if not data:
            data = raw.read(FEED)
            if not data:
                if in_frame:
                    raise CorruptInput(offset, "truncated input: the zstd stream ends inside a frame")
                return
        try:
            out = frame.decompress(data)
        except zstandard.ZstdError as exc:
            good, at = _salvage_zstd(raw, decompressor, frame_start, offset, data)
            if good:
                yield good
            raise CorruptInput(at, f"corrupt zstd data ({exc})") from None
        in_frame = True
        if out:
            yield out
        if frame.eof:
            rest = frame.unused_data
            offset += len(data) - len(rest)
            data = rest
            frame_start = offset
            frame = decompressor.decompressobj()
            in_frame = False
        else:
            offset += len(data)
            data = b""


def _salvage_zstd(
    raw: BinaryIO, decompressor: zstandard.ZstdDecompressor, frame_start: int, offset: int, data: bytes
) -> tuple[bytes, int]:
    """Replay the frame up to `offset` (its output was already yielded), then feed `data` in pieces: the output
    of every block before the faulty one, and the file position of the piece that failed."""
    frame = decompressor.decompressobj()
    raw.seek(frame_start)
    remaining = offset - frame_start
    try:
        while remaining > 0:
            block = raw.read(min(FEED, remaining))
            if not block:
                break
            frame.decompress(block)
            remaining -= len(block)
    except zstandard.ZstdError:
        return b"", offset  # decoded before without complaint: cannot happen with a file that did not change
    good = []
    for start in range(0, len(data), SALVAGE_PIECE):
        try:
            good.append(frame.decompress(data[start : start + SALVAGE_PIECE]))
        except zstandard.ZstdError:
            return b"".join(good), offset + start
    return b"".join(good), offset + len(data)


# --- JSON texts -------------------------------------------------------------------------------------------------
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
    """The first non-blank line (at most MAX_LINE_BYTES of it)."""
    buffer = b""
    try:
        for chunk in chunks(path):
            buffer += chunk
            while True:
                end = buffer.find(b"\n")
                if end < 0:
                    break
                line, buffer = buffer[:end], buffer[end + 1 :]
                if line.strip():
                    return line
            if len(buffer) > MAX_LINE_BYTES:
                return buffer[:MAX_LINE_BYTES]
    except CorruptInput:
        return None
    return buffer if buffer.strip() else None


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _read_document(path: Path) -> bytes | None:
    """The whole file when it is one JSON document (pretty-printed API responses), else None."""
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in chunks(path):
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_DOCUMENT_BYTES:
                return None
    except CorruptInput:
        return None
    data = b"".join(parts)
    if not data.strip():
        return None
    return data if _parses(data) else None


def _read_lines(path: Path) -> Iterator[Piece | Problem]:
    number = 0
    carry = b""
    skipping = False  # inside an over-long line: drop bytes until its newline
    try:
        for block in chunks(path):
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
    except CorruptInput as exc:
        cut = "; the incomplete line there is left out" if carry.strip() and not skipping else ""
        yield Problem(number + 1, f"{exc}: every line before it was read{cut}", carry[:200] if not skipping else b"")
        return
    if carry.strip() and not skipping:
        yield Piece(number + 1, carry)
