"""Probe and full decode with PyAV, in one pass that also fingerprints, measures loudness and (optionally)
re-encodes to Ogg Opus with libopus.

Validation rule (what "a full decode accepts"): the file opens, has an audio stream, every packet decodes without
a decoder error, at least one sample comes out, and, when the container declares a duration, the decoded audio is
not shorter than it by more than max(1 s, 5 %). Anything else raises DecodeError with a reason:
empty | unreadable | no_audio | undecodable | truncated.
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from fonoteca.audio.fingerprint import DEFAULT_SECONDS, Fingerprint, FingerprintBuilder
from fonoteca.audio.loudness import Loudness, LoudnessMeter
from fonoteca.durable import RESOURCE_ERRNOS

av.logging.set_level(av.logging.PANIC)  # decoder chatter on malformed files; errors still raise

TRUNCATION_SECONDS = 1.0
TRUNCATION_RATIO = 0.05
BATCH_SECONDS = 2.0
OPUS_RATE = 48000


class DecodeError(Exception):
    """A file a full decode does not accept; reason is a short keyword, message the details."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message, self.details = reason, message, details


@dataclass
class StreamInfo:
    container: str  # FFmpeg demuxer name, e.g. "flac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str  # decoder name, e.g. "flac", "vorbis", "mp3float"
    sample_rate: int
    channels: int
    bit_rate: int | None  # as the container declares it
    declared_duration: float | None


@dataclass
class OpusSpec:
    """Compact tier encoding: Ogg Opus with libopus (defaults as `ffmpeg -c:a libopus -b:a 75k`)."""

    bitrate: int = 75000
    max_channels: int = 2


@dataclass
class Analysis:
    info: StreamInfo
    samples: int
    rate: int  # rate the analysis ran at (native, or 48 kHz when encoding Opus)
    duration: float  # decoded seconds
    fingerprint: Fingerprint | None
    loudness: Loudness
    encoded: dict[str, Any] = field(default_factory=dict)  # when encoding: codec, sample_rate, channels


def _codec_name(stream: Any) -> str:
    ctx = stream.codec_context
    return getattr(ctx, "name", None) or getattr(getattr(ctx, "codec", None), "name", "") or "unknown"


def _declared(container: Any, stream: Any) -> float | None:
    try:
        if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
            return float(stream.duration * stream.time_base)
        if container.duration is not None and container.duration > 0:
            return container.duration / 1_000_000
    except (TypeError, ValueError, OverflowError):
        pass
    return None


def probe(path: Path) -> StreamInfo:
    """Open a file and describe its first audio stream without decoding (raises DecodeError)."""
    container = _open(path)
    try:
        return _info(container, _audio_stream(container, path))
    finally:
        container.close()


def _open(path: Path) -> Any:
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        if exc.errno in RESOURCE_ERRNOS:
            raise
        raise DecodeError("unreadable", str(exc)) from None
    if size == 0:
        raise DecodeError("empty", "the file has 0 bytes")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.EOFError as exc:
        raise DecodeError("unreadable", f"the file ends before FFmpeg finds a complete header ({exc})") from None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        if getattr(exc, "errno", None) in RESOURCE_ERRNOS:
            raise  # the disk, not the file
        raise DecodeError("unreadable", f"not an audio file FFmpeg can open ({exc})") from None


def _audio_stream(container: Any, path: Path) -> Any:
    if not container.streams.audio:
        container.close()
        raise DecodeError("no_audio", f"no audio stream (container {container.format.name})")
    return container.streams.audio[0]


def _info(container: Any, stream: Any) -> StreamInfo:
    ctx = stream.codec_context
    return StreamInfo(
        container=container.format.name,
        codec=_codec_name(stream),
        sample_rate=int(ctx.sample_rate or 0),
        channels=int(ctx.channels or 0),
        bit_rate=int(container.bit_rate or 0) or None,
        declared_duration=_declared(container, stream),
    )


class _Sink:
    """Collects planar float32 blocks for the loudness meter (batches of about BATCH_SECONDS) and feeds the
    fingerprinter mono int16 at Chromaprint's own rate (11025 Hz) through a second resampler."""

    FP_RATE = 11025

    def __init__(self, rate: int, channels: int, fp_seconds: float) -> None:
        self.rate, self.channels = rate, channels
        self.meter = LoudnessMeter(rate, channels)
        self.fp = FingerprintBuilder(self.FP_RATE, 1, fp_seconds) if fp_seconds > 0 else None
        self.fp_resampler = av.AudioResampler(format="s16", layout="mono", rate=self.FP_RATE) if self.fp else None
        self.blocks: list[list[np.ndarray]] = [[] for _ in range(channels)]
        self.pending = 0
        self.batch = int(rate * BATCH_SECONDS)

    def _fingerprint(self, frame: Any) -> None:
        """A converted frame, for the fingerprint (until it has enough audio)."""
        if self.fp is None or self.fp.full or self.fp_resampler is None:
            return
        try:
            for out in self.fp_resampler.resample(frame):
                self.fp.feed(bytes(out.planes[0])[: out.samples * 2])
        except ValueError:  # format change mid-stream
            self.fp_resampler = av.AudioResampler(format="s16", layout="mono", rate=self.FP_RATE)

    def add(self, frame: Any) -> None:
        self._fingerprint(frame)
        n = frame.samples
        for c, plane in enumerate(frame.planes):
            self.blocks[c].append(np.frombuffer(plane, dtype=np.float32, count=n))
        self.pending += n
        if self.pending >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        block = np.stack([np.concatenate(parts) for parts in self.blocks])
        self.blocks, self.pending = [[] for _ in range(self.channels)], 0
        self.meter.feed(block)

    def finish(self) -> None:
        self.flush()
        if self.fp is not None and self.fp_resampler is not None and not self.fp.full:
            for out in self.fp_resampler.resample(None):
                self.fp.feed(bytes(out.planes[0])[: out.samples * 2])


def analyse(
    path: Path,
    *,
    fingerprint_seconds: float = DEFAULT_SECONDS,
    opus: OpusSpec | None = None,
    out_path: Path | None = None,
    out_tags: dict[str, str] | None = None,
    threads: int = 1,
) -> Analysis:
    """Decode the first audio stream of `path` completely; fingerprint, measure loudness and, with `opus` and
    `out_path`, write an Ogg Opus file in the same pass (in a second thread when `threads` > 1). Raises
    DecodeError when the file is not accepted."""
    container = _open(path)
    out = None
    encoder: _Encoder | None = None
    try:
        stream = _audio_stream(container, path)
        info = _info(container, stream)
        stream.codec_context.thread_count = 1  # one worker = one core; the pool gives the parallelism
        resampler = None
        sink: _Sink | None = None
        samples = 0
        out_rate = out_layout = None
        decoded_rate = info.sample_rate or 0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets, None)
                if packet is None:
                    break
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                if getattr(exc, "errno", None) in RESOURCE_ERRNOS:
                    raise  # the disk, not the file
                where = f"at {samples / out_rate:.2f} s" if out_rate else "before any audio"
                raise DecodeError(
                    "undecodable",
                    f"demuxer or decoder error {where}: {exc}",
                    decoded_seconds=samples / out_rate if out_rate else 0.0,
                ) from None
            for frame in frames:
                if frame.samples == 0:
                    continue
                if resampler is None:
                    decoded_rate = frame.sample_rate
                    channels = frame.layout.nb_channels
                    if opus is not None:
                        out_rate = OPUS_RATE
                        out_layout = "mono" if channels == 1 else "stereo"
                    else:
                        out_rate = frame.sample_rate
                        out_layout = {1: "mono", 2: "stereo"}.get(channels, frame.layout.name)
                    resampler = av.AudioResampler(format="fltp", layout=out_layout, rate=out_rate)
                    out_channels = av.AudioLayout(out_layout).nb_channels
                    sink = _Sink(out_rate, out_channels, fingerprint_seconds)
                    if opus is not None and out_path is not None:
                        # bitexact: a fixed Ogg serial number (FFmpeg picks a random one otherwise), so that the
                        # same input gives the same file in any process (same libopus build and CPU family)
                        out = av.open(str(out_path), "w", format="ogg", options={"fflags": "+bitexact"})
                        out_stream = out.add_stream("libopus", rate=OPUS_RATE, layout=out_layout)
                        out_stream.bit_rate = opus.bitrate
                        if out_tags:
                            out_stream.metadata.update(out_tags)
                        encoder = _Encoder(out, out_stream, threaded=threads > 1)
                samples += frame.samples * out_rate / frame.sample_rate if frame.sample_rate else 0
                try:
                    converted = resampler.resample(frame)
                except ValueError:  # the stream changed format mid-way: convert from the new one
                    converted = resampler.resample(None)
                    resampler = av.AudioResampler(format="fltp", layout=out_layout, rate=out_rate)
                    converted += resampler.resample(frame)
                _consume(converted, sink, encoder)
        if resampler is None or sink is None or out_rate is None or samples < 1:  # the rate is set with the resampler
            raise DecodeError("empty", "no audio samples decode from the file")
        _consume(resampler.resample(None), sink, encoder)
        sink.finish()
        if out is not None and encoder is not None:
            encoder.finish()
            out.close()
            out = None
        duration = samples / out_rate
        declared = info.declared_duration
        if declared is not None and declared - duration > max(TRUNCATION_SECONDS, TRUNCATION_RATIO * declared):
            raise DecodeError(
                "truncated",
                f"decoded {duration:.2f} s of the {declared:.2f} s the header declares",
                decoded_seconds=duration,
                declared_seconds=declared,
            )
        fp = sink.fp.result() if sink.fp is not None else None
        encoded = {}
        if opus is not None:
            encoded = {"codec": "opus", "sample_rate": OPUS_RATE, "channels": sink.channels}
        info.sample_rate = info.sample_rate or decoded_rate
        return Analysis(
            info=info,
            samples=int(round(samples)),
            rate=out_rate,
            duration=duration,
            fingerprint=fp,
            loudness=sink.meter.result(),
            encoded=encoded,
        )
    finally:
        if encoder is not None:
            try:
                encoder.stop()  # no thread may outlive the call (a failed decode stops it here)
            except Exception:  # noqa: BLE001 - the decode's own error is the one to report
                pass
        if out is not None:
            try:
                out.close()
            except Exception:  # noqa: BLE001 - best effort on a failed encode; the caller removes the file
                pass
        container.close()


class _Encoder:
    """Encodes converted frames to the Ogg Opus output. With `threaded`, libopus runs in a thread of its own:
    PyAV releases the GIL inside avcodec_send_frame, where libopus does its work, so the encoding of one stretch
    overlaps the decoding, resampling, loudness and fingerprinting of the next (as ffmpeg's own threads do). Worth
    it only when a core would otherwise idle (fewer workers than cores)."""

    _STOP = object()
    BATCH = 16

    def __init__(self, out: Any, stream: Any, threaded: bool) -> None:
        self.out, self.stream = out, stream
        self.error: BaseException | None = None
        self.queue: queue.Queue[Any] | None = None
        self.thread: threading.Thread | None = None
        self.batch: list[Any] = []  # frames go over in batches: one hand-over per BATCH frames, not per frame
        if threaded:
            self.queue = queue.Queue(maxsize=8)  # at most about 4 s of audio in flight: bounded memory
            self.thread = threading.Thread(target=self._run, name="opus-encoder", daemon=True)
            self.thread.start()

    def _encode(self, frame: Any) -> None:
        for pkt in self.stream.encode(frame):
            self.out.mux(pkt)

    def _run(self) -> None:
        assert self.queue is not None
        while (frames := self.queue.get()) is not self._STOP:
            if self.error is None:  # after an error keep draining, so the producer never blocks on a full queue
                try:
                    for frame in frames:
                        self._encode(frame)
                except BaseException as exc:  # noqa: BLE001 - handed to the decoding thread, which raises it
                    self.error = exc

    def add(self, frame: Any) -> None:
        if self.queue is None:
            self._encode(frame)
            return
        if self.error is not None:
            raise self.error
        self.batch.append(frame)
        if len(self.batch) >= self.BATCH:
            self.queue.put(self.batch)
            self.batch = []

    def stop(self) -> None:
        """Wait for the frames in flight (also on the way out of a failed decode)."""
        if self.thread is not None and self.queue is not None:
            if self.batch:
                self.queue.put(self.batch)
                self.batch = []
            self.queue.put(self._STOP)
            self.thread.join()
            self.thread = self.queue = None
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Encode what is left and flush libopus."""
        self.stop()
        self._encode(None)


def _consume(frames: list[Any], sink: _Sink | None, encoder: _Encoder | None) -> None:
    for converted in frames:
        if sink is not None:
            sink.add(converted)
        if encoder is not None:
            encoder.add(converted)


def decode_mono(source: str | Path | bytes, rate: int) -> np.ndarray:
    """The whole audio stream as float32 mono at `rate` (PyAV's resampler), for analysis: the audio features."""
    import io

    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)
    chunks: list[np.ndarray] = []
    with av.open(handle, "r") as container:
        stream = next(s for s in container.streams if isinstance(s, av.AudioStream))
        stream.codec_context.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)
