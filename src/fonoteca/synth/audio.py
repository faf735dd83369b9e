"""Synthetic music for tests, demos and benchmarks: chords and drums rendered with numpy, written as FLAC, WAV,
Ogg Vorbis (libsndfile), Ogg Opus and MP3 (PyAV), optionally tagged (ISRC, title, artist, ...).

A Style sets what a "genre" sounds like: tempo, timbre brightness (harmonics), rhythm density, tonal vs noisy;
later stages (a genre map) can draw styles per genre so the genres sound different. Same seed, same audio.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

RATE = 44100
FORMATS = {"flac": "flac", "wav": "wav", "ogg": "ogg", "opus": "opus", "mp3": "mp3"}
_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
_PROGRESSIONS = [(0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 4, 5, 3), (1, 4, 0, 0), (0, 2, 5, 4)]


@dataclass
class Style:
    tempo: float = 110.0  # beats per minute
    brightness: float = 0.5  # 0 pure sines .. 1 many strong harmonics
    density: float = 0.5  # 0 sparse kick/snare .. 1 busy hats and ghost notes
    noise: float = 0.1  # 0 tonal .. 1 mostly noise
    root: int = 57  # MIDI note of the key's root (57 = A3)

    @classmethod
    def random(cls, seed: int) -> Style:
        rng = np.random.default_rng(seed)
        return cls(
            tempo=float(rng.uniform(70, 160)),
            brightness=float(rng.uniform(0.1, 0.9)),
            density=float(rng.uniform(0.2, 0.9)),
            noise=float(rng.uniform(0.0, 0.4)),
            root=int(rng.integers(45, 60)),
        )


def _midi_hz(note: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69) / 12)


def _tone(freqs: np.ndarray, n: int, rate: int, brightness: float, phase: np.ndarray) -> np.ndarray:
    t = np.arange(n) / rate
    out = np.zeros(n)
    harmonics = 1 + int(round(brightness * 7))
    for f, ph in zip(freqs, phase, strict=True):
        for h in range(1, harmonics + 1):
            if f * h >= rate / 2:
                break
            out += np.sin(2 * np.pi * f * h * t + ph * h) * (brightness ** (h - 1)) / h
    return out / max(1, len(freqs))


def progression(seed: int) -> tuple[int, ...]:
    """The track's eight bars of chord degrees: one of the stock four-bar progressions (seed % 6), then four bars
    drawn from the seed. Chromaprint hears mostly pitch classes over time, so tracks that shared a four-bar loop
    in the same key at a similar tempo fingerprinted as one recording; eight drawn bars make that rare."""
    rng = np.random.default_rng(seed + 104729)
    return _PROGRESSIONS[seed % len(_PROGRESSIONS)] + tuple(int(d) for d in rng.integers(0, 7, 4))


def _lead(style: Style, seed: int, bar: int, rate: int) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """A soft four-bar melody (a note of the scale or a rest on every beat) drawn from the seed: a recording's own
    line over the genre's sound. Returns the motif's degrees and one rendered note per beat (None for a rest)."""
    rng = np.random.default_rng(seed + 15485863)
    steps = 16
    degrees = rng.integers(0, 10, steps)
    rests = rng.random(steps) < 0.25
    length = bar // 4
    t = np.arange(length) / rate
    # on the beat, with slow attack and release: the melody must not add onsets off the beat (the features' tempo
    # estimate hears those)
    env = np.minimum(1.0, t / 0.03) * np.minimum(1.0, (length - np.arange(length)) / (0.03 * rate))
    notes: dict[int, np.ndarray] = {}
    line: list[np.ndarray | None] = []
    for degree, rest in zip(degrees, rests, strict=True):
        if rest:
            line.append(None)
            continue
        d = int(degree)
        if d not in notes:
            f = float(_midi_hz(style.root + 12 + _SCALE[d % 7] + 12 * (d // 7)))
            notes[d] = (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) * env
        line.append(notes[d])
    return degrees, line


def render(seconds: float, seed: int = 0, style: Style | None = None, rate: int = RATE) -> np.ndarray:
    """Stereo float32 samples (n x 2) of `seconds` of music."""
    style = style or Style.random(seed)
    rng = np.random.default_rng(seed + 7919)
    total = int(seconds * rate)
    beat = int(rate * 60 / style.tempo)
    bar = beat * 4
    prog = progression(seed)
    # drum sounds, rendered once
    k = np.arange(int(0.25 * rate)) / rate
    kick = np.sin(2 * np.pi * (50 + 90 * np.exp(-k * 30)) * k) * np.exp(-k * 12)
    s = np.arange(int(0.18 * rate)) / rate
    snare = (rng.standard_normal(s.size) * 0.6 + np.sin(2 * np.pi * 190 * s)) * np.exp(-s * 22)
    h = np.arange(int(0.05 * rate)) / rate
    hat = np.diff(rng.standard_normal(h.size + 1)) * np.exp(-h * 90) * 0.35
    out = np.zeros((total + bar, 2))
    steps = 16
    step = bar // steps
    pattern_rng = np.random.default_rng(seed)
    hats = pattern_rng.random(steps) < 0.25 + 0.7 * style.density
    ghosts = pattern_rng.random(steps) < 0.3 * style.density
    pads: dict[int, np.ndarray] = {}
    env = np.minimum(1.0, np.arange(bar) / (0.02 * rate)) * np.exp(-np.arange(bar) / (bar * 1.5))
    for degree in set(prog):  # one rendering per chord of the progression
        chord = [style.root + _SCALE[(degree + i) % 7] + 12 * ((degree + i) // 7) for i in (0, 2, 4)]
        if style.brightness > 0.6:
            chord.append(chord[0] + 12)
        freqs = _midi_hz(np.array(chord)) * (1 + rng.normal(0, 0.001, len(chord)))
        pad = _tone(freqs, bar, rate, style.brightness, rng.uniform(0, 2 * np.pi, len(chord)))
        bass = np.sin(2 * np.pi * freqs[0] / 2 * np.arange(bar) / rate) * 0.25
        pads[degree] = 0.45 * pad * env + bass * (1 - style.noise)
    _, line = _lead(style, seed, bar, rate)
    for index, start in enumerate(range(0, total, bar)):
        mono = pads[prog[index % len(prog)]] * (0.9 + 0.2 * rng.random())
        for i in range(4):
            note = line[(index % 4) * 4 + i]
            if note is not None:
                mono[i * beat : i * beat + note.size] += 0.12 * note
        if style.noise > 0:
            noise = np.cumsum(rng.standard_normal(bar + 8))
            mono = mono + style.noise * 0.15 * (noise[8:] - noise[:-8]) / 8
        left, right = mono.copy(), mono.copy()
        for i in range(steps):
            at = i * step
            if i % 8 == 0 or (i % 8 == 6 and style.density > 0.6):
                left[at : at + kick.size] += 0.8 * kick[: bar - at]
                right[at : at + kick.size] += 0.8 * kick[: bar - at]
            if i % 8 == 4:
                left[at : at + snare.size] += 0.45 * snare[: bar - at]
                right[at : at + snare.size] += 0.4 * snare[: bar - at]
            elif ghosts[i]:
                left[at : at + snare.size] += 0.1 * snare[: bar - at]
            if hats[i]:
                right[at : at + hat.size] += hat[: bar - at]
                left[at : at + hat.size] += 0.6 * hat[: bar - at]
        out[start : start + bar, 0] += left
        out[start : start + bar, 1] += right
    out = out[:total]
    fade = min(total, int(0.05 * rate))
    if fade:
        out[-fade:] *= np.linspace(1, 0, fade)[:, None]
    peak = np.abs(out).max() or 1.0
    return (out / peak * 0.7).astype(np.float32)


def write(
    path: Path, samples: np.ndarray, rate: int = RATE, fmt: str | None = None, bitrate: int | None = None
) -> Path:
    """Write samples (n x channels float) as flac | wav | ogg (Vorbis) | opus | mp3, by `fmt` or the suffix."""
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("flac", "wav", "ogg"):
        import soundfile

        kwargs = {
            "flac": {"format": "FLAC", "subtype": "PCM_16"},
            "wav": {"format": "WAV", "subtype": "PCM_16"},
            "ogg": {"format": "OGG", "subtype": "VORBIS"},
        }[fmt]
        soundfile.write(str(path), samples, rate, **kwargs)
        return path
    if fmt not in ("opus", "mp3"):
        raise ValueError(f"unknown audio format {fmt!r} (flac, wav, ogg, opus, mp3)")
    import av

    layout = "stereo" if samples.shape[1] == 2 else "mono"
    with av.open(str(path), "w", format="ogg" if fmt == "opus" else "mp3") as out:
        codec: Literal["libopus", "libmp3lame"] = "libopus" if fmt == "opus" else "libmp3lame"
        stream = out.add_stream(codec, rate=48000 if fmt == "opus" else rate, layout=layout)
        stream.bit_rate = bitrate or (96000 if fmt == "opus" else 192000)
        chunk = 4096
        data = np.ascontiguousarray(samples, dtype=np.float32)
        for start in range(0, data.shape[0], chunk):
            block = data[start : start + chunk]
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def make_track(
    path: Path, seconds: float, seed: int, tags: dict[str, str] | None = None, style: Style | None = None
) -> Path:
    """Render, write and (optionally) tag one synthetic track."""
    write(path, render(seconds, seed, style))
    if tags:
        from fonoteca.audio.tags import write_tags

        write_tags(path, {k.upper(): [str(v)] for k, v in tags.items() if v is not None})
    return path


# ---- a small collection: audio files plus the catalog table that describes them ---------------------------------

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORDS = [
    "blue",
    "night",
    "river",
    "golden",
    "echo",
    "silver",
    "morning",
    "paper",
    "glass",
    "summer",
    "velvet",
    "northern",
    "quiet",
    "electric",
    "wild",
    "hollow",
    "crimson",
    "open",
    "distant",
    "lucky",
]

CATALOG_MAPPING = """\
kind = "track"
namespace = "spotify"
licence = "CC0-1.0"  # music synthesised by Fonoteca: nobody holds rights in it
[columns]
id = "track_id"
name = "title"
artist_ids = "artist_id"
artist_names = "artist"
album_id = "album_id"
album_name = "album"
release_date = "release_date"
duration_ms = "duration_ms"
isrc = "isrc"
popularity = "popularity"
track_number = "track_number"
"""


@dataclass
class SynthTrack:
    id: str
    isrc: str
    title: str
    artist: str
    album_id: str
    album: str
    artist_id: str
    seconds: float
    popularity: int
    path: Path
    seed: int


@dataclass
class Collection:
    root: Path
    tracks: list[SynthTrack]
    catalog_csv: Path  # import with: fonoteca import table CATALOG_CSV --map MAPPING_TOML
    mapping_toml: Path
    map_csv: Path  # path,isrc for `fonoteca ingest --map`


def _b62(rng: np.random.Generator) -> str:
    return "".join(_B62[int(x)] for x in rng.integers(0, 62, 22))


def _track_meta(i: int, seed: int, rng: np.random.Generator) -> tuple[str, str, str, str, str, str]:
    tid = _b62(rng)
    aid = _b62(rng)
    isrc = f"QZ{'ABCDEFGHJK'[seed % 10]}{(seed // 10) % 10}{i % 10}{(seed % 100):02d}{i:05d}"
    title = f"{_WORDS[int(rng.integers(0, 20))].title()} {_WORDS[int(rng.integers(0, 20))]} {i}"
    artist = f"The {_WORDS[int(rng.integers(0, 20))].title()}s {seed}-{i % 7}"
    album = f"{_WORDS[int(rng.integers(0, 20))].title()} Sessions {i // 10}"
    return tid, aid, isrc, title, artist, album


def _render_one(args: tuple[str, float, int, str, dict[str, str] | None]) -> str:
    path, seconds, seed, fmt, tags = args
    make_track(Path(path), seconds, seed, tags)
    return path


def make_collection(
    out: Path,
    count: int,
    seconds: float | tuple[float, float] = 6.0,
    formats: tuple[str, ...] = ("flac",),
    seed: int = 1,
    tags: bool = True,
    workers: int = 1,
) -> Collection:
    """Render `count` tracks into out/ (formats used in turn), with a catalog table describing them (ids, ISRCs,
    titles, artists, exact durations, popularity) and a path,isrc map. Files already there are kept."""
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tracks: list[SynthTrack] = []
    jobs = []
    for i in range(count):
        tid, aid, isrc, title, artist, album = _track_meta(i, seed, rng)
        length = float(seconds) if not isinstance(seconds, tuple) else float(rng.uniform(*seconds))
        length = round(length, 2)
        fmt = formats[i % len(formats)]
        path = out / f"{i:04d}-{title.replace(' ', '_')}.{fmt}"
        track_seed = seed * 100003 + i
        tracks.append(
            SynthTrack(
                tid, isrc, title, artist, aid, album, _b62(rng), length, int(rng.integers(0, 101)), path, track_seed
            )
        )
        if not path.exists():
            file_tags = {"isrc": isrc, "title": title, "artist": artist, "album": album} if tags else None
            jobs.append((str(path), length, track_seed, fmt, file_tags))
    if workers > 1 and len(jobs) > 1:
        import multiprocessing

        from fonoteca.children import die_with

        with multiprocessing.get_context("forkserver").Pool(workers, die_with, (os.getpid(),)) as pool:
            for _ in pool.imap_unordered(_render_one, jobs):
                pass
    else:
        for job in jobs:
            _render_one(job)
    import csv

    catalog_csv, mapping_toml, map_csv = out / "catalog.csv", out / "catalog.toml", out / "map.csv"
    with open(catalog_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "track_id",
                "title",
                "artist_id",
                "artist",
                "album_id",
                "album",
                "release_date",
                "duration_ms",
                "isrc",
                "popularity",
                "track_number",
            ]
        )
        for i, t in enumerate(tracks):
            w.writerow(
                [
                    t.id,
                    t.title,
                    t.artist_id,
                    t.artist,
                    t.album_id,
                    t.album,
                    "2021-05-04",
                    int(round(t.seconds * 1000)),
                    t.isrc,
                    t.popularity,
                    i % 10 + 1,
                ]
            )
    mapping_toml.write_text(CATALOG_MAPPING, encoding="utf-8")
    with open(map_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "isrc"])
        for t in tracks:
            w.writerow([t.path.name, t.isrc])
    return Collection(out, tracks, catalog_csv, mapping_toml, map_csv)
