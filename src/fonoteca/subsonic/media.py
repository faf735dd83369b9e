"""Audio for players: the stored file as it is (HTTP range requests), or transcoded on the fly with PyAV when a
client asks for another format (`format=mp3|opus`), a lower bit rate (`maxBitRate`) or a start position
(`timeOffset`); and lyrics from the file's tags (getLyricsBySongId)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# The encoders, named as PyAV's types know them (an audio codec's name makes add_stream an audio stream).
Encoder = Literal["libmp3lame", "libopus"]
TRANSCODE_FORMATS: dict[str, tuple[str, Encoder, int, str, str]] = {
    "mp3": ("mp3", "libmp3lame", 44100, "audio/mpeg", "mp3"),
    "opus": ("ogg", "libopus", 48000, "audio/ogg", "opus"),
    "ogg": ("ogg", "libopus", 48000, "audio/ogg", "opus"),
}
BIT_RATES = (32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
DEFAULT_KBPS = 192
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Transcode:
    format: str  # mp3 | opus
    kbps: int
    offset: float  # seconds into the track

    @property
    def media_type(self) -> str:
        return TRANSCODE_FORMATS[self.format][3]

    @property
    def suffix(self) -> str:
        return TRANSCODE_FORMATS[self.format][4]


def plan_transcode(
    fmt: str | None, max_kbps: int | None, offset: float, source_suffix: str, source_kbps: int | None
) -> Transcode | None:
    """None when the file itself answers the request (raw, or nothing asked that it does not already meet)."""
    fmt = (fmt or "").lower()
    if fmt == "raw":
        return None
    wanted_kbps = max_kbps if max_kbps else None
    if fmt in TRANSCODE_FORMATS:
        same = TRANSCODE_FORMATS[fmt][4] == source_suffix or (fmt == "mp3" and source_suffix == "mp3")
        if same and offset <= 0 and (wanted_kbps is None or (source_kbps or 0) <= wanted_kbps):
            return None
        return Transcode("mp3" if fmt == "mp3" else "opus", _kbps(wanted_kbps), offset)
    if wanted_kbps is not None and source_kbps is not None and source_kbps > wanted_kbps:
        return Transcode("mp3", _kbps(wanted_kbps), offset)
    if offset > 0:
        return Transcode("mp3", _kbps(wanted_kbps), offset)
    return None


def _kbps(wanted: int | None) -> int:
    """The nearest usual bit rate at most `wanted` (192 kbit/s when nothing is asked)."""
    if wanted is None:
        return DEFAULT_KBPS
    return max([b for b in BIT_RATES if b <= wanted] or [BIT_RATES[0]])


class _Sink:
    """A non-seekable output for the muxer: what it writes is collected and handed out by `take`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def transcode(path: Path, plan: Transcode, max_seconds: float) -> Iterator[bytes]:
    """The encoded stream, chunk by chunk as it is produced (the caller iterates it in a worker thread)."""
    import av

    container, codec, rate, _media, _suffix = TRANSCODE_FORMATS[plan.format]
    sink = _Sink()
    with av.open(str(path)) as source:
        stream = source.streams.audio[0]
        if plan.offset > 0:
            source.seek(int(plan.offset * av.time_base), any_frame=False)
        out = av.open(sink, "w", format=container)
        try:
            target = out.add_stream(codec, rate=rate, layout="stereo")
            target.bit_rate = plan.kbps * 1000
            fmt = target.codec_context.format.name if target.codec_context.format else "fltp"
            resampler = av.AudioResampler(format=fmt, layout="stereo", rate=rate)
            decoded = 0.0
            for frame in source.decode(stream):
                if frame.time is not None and frame.time < plan.offset - 0.05:
                    continue  # the seek lands on the packet before the offset
                decoded += frame.samples / max(1, frame.sample_rate)
                if decoded > max_seconds:
                    break
                for piece in resampler.resample(frame):
                    piece.pts = None  # timestamps from 0: the output starts at the offset
                    for packet in target.encode(piece):
                        out.mux(packet)
                if sum(len(p) for p in sink.parts) >= CHUNK:
                    yield sink.take()
            for piece in resampler.resample(None):
                piece.pts = None
                for packet in target.encode(piece):
                    out.mux(packet)
            for packet in target.encode(None):
                out.mux(packet)
        finally:
            out.close()
    rest = sink.take()
    if rest:
        yield rest


def lyrics(path: Path) -> list[str]:
    """Unsynchronised lyrics from the file's tags (Vorbis LYRICS / UNSYNCEDLYRICS, ID3 USLT, MP4 ©lyr, APE)."""
    import mutagen

    try:
        found = mutagen.File(str(path))
    except Exception:  # noqa: BLE001 (an unreadable tag has no lyrics)
        return []
    tags = getattr(found, "tags", None)
    if tags is None:
        return []
    texts: list[str] = []
    try:
        from mutagen.id3 import ID3

        if isinstance(tags, ID3):
            texts = [str(frame.text) for frame in tags.getall("USLT")]
        elif hasattr(tags, "get"):
            for key in ("LYRICS", "UNSYNCEDLYRICS", "lyrics", "unsyncedlyrics", "\xa9lyr", "Lyrics"):
                value = tags.get(key)
                if value:
                    texts.extend(str(v) for v in (value if isinstance(value, list) else [value]))
                    break
    except Exception:  # noqa: BLE001
        return []
    return [t for t in texts if t.strip()]
