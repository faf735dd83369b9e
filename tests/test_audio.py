"""fonoteca.audio: loudness, fingerprints, patches, tags and the full-decode validation rule, on synthetic audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fonoteca.audio import decode, fingerprint, loudness, patch, tags
from fonoteca.synth import audio as synth


def test_loudness_of_a_sine_matches_bs1770():
    rate = 48000
    t = np.arange(rate * 10) / rate
    x = (0.1 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    stereo = loudness.measure(np.stack([x, x]), rate)
    assert stereo.integrated_lufs == pytest.approx(-20.0, abs=0.05)
    assert stereo.track_gain == pytest.approx(2.0, abs=0.05)
    assert loudness.measure(x, rate).integrated_lufs == pytest.approx(-23.01, abs=0.05)
    assert loudness.measure(np.zeros((2, rate * 2), np.float32), rate).integrated_lufs is None


def test_patch_rebuilds_bytes():
    rng = np.random.default_rng(1)
    body = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    original = b"HEAD-original" + body + b"tail"
    stored = b"HEAD-with-a-much-longer-tag-block" + body + b"tail"
    p = patch.make_patch(original, stored)
    assert len(p) < 200
    assert patch.apply_patch(stored, p) == original
    assert patch.make_patch(original, original) == b""
    # scattered changes (Ogg page renumbering) still give a small patch
    changed = bytearray(body)
    for at in range(0, len(changed), 4096):
        changed[at : at + 8] = b"\x00" * 8
    p = patch.make_patch(body, bytes(changed))
    assert patch.apply_patch(bytes(changed), p) == body
    assert len(p) < len(body) // 20


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("clips")
    samples = synth.render(8.0, seed=11)
    other = synth.render(8.0, seed=12)
    files = {fmt: synth.write(out / f"a.{fmt}", samples) for fmt in ("flac", "wav", "ogg", "opus", "mp3")}
    files["other"] = synth.write(out / "b.flac", other)
    return files


def test_full_decode_of_each_format(clips):
    for fmt in ("flac", "wav", "ogg", "opus", "mp3"):
        a = decode.analyse(clips[fmt])
        assert a.duration == pytest.approx(8.0, abs=0.06), fmt
        assert a.info.channels == 2
        assert a.loudness.integrated_lufs is not None and -30 < a.loudness.integrated_lufs < -5
        assert a.fingerprint is not None and len(a.fingerprint.raw) > 30


def test_fingerprint_finds_the_same_recording_across_codecs(clips):
    prints = {k: decode.analyse(v).fingerprint for k, v in clips.items()}
    for fmt in ("wav", "ogg", "opus", "mp3"):
        assert fingerprint.bit_error_rate(prints["flac"].raw, prints[fmt].raw) < 0.15, fmt
    assert fingerprint.bit_error_rate(prints["flac"].raw, prints["other"].raw) > fingerprint.MATCH_BER


def test_opus_encode_in_the_same_pass(clips, tmp_path):
    out = tmp_path / "x.opus"
    a = decode.analyse(clips["flac"], opus=decode.OpusSpec(bitrate=64000), out_path=out)
    assert a.encoded["codec"] == "opus"
    back = decode.analyse(out)
    assert back.info.codec == "opus" and back.info.sample_rate == 48000
    assert back.duration == pytest.approx(8.0, abs=0.03)
    assert out.stat().st_size * 8 / back.duration == pytest.approx(64000, rel=0.3)


def test_threaded_encoder_writes_the_same_bytes_and_stops_on_a_bad_file(clips, tmp_path):
    import threading

    one, two = tmp_path / "one.opus", tmp_path / "two.opus"
    a = decode.analyse(clips["flac"], opus=decode.OpusSpec(), out_path=one, threads=1)
    b = decode.analyse(clips["flac"], opus=decode.OpusSpec(), out_path=two, threads=2)
    assert one.read_bytes() == two.read_bytes()
    assert (a.loudness, a.fingerprint.encoded, a.samples) == (b.loudness, b.fingerprint.encoded, b.samples)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(clips["flac"].read_bytes()[: clips["flac"].stat().st_size * 2 // 3])
    with pytest.raises(decode.DecodeError):
        decode.analyse(cut, opus=decode.OpusSpec(), out_path=tmp_path / "cut.opus", threads=2)
    assert not [t for t in threading.enumerate() if t.name == "opus-encoder"]  # no encoder thread left behind


def test_rejections(tmp_path, clips):
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    garbage = tmp_path / "noise.mp3"
    garbage.write_bytes(bytes((i * 151 + 7) % 256 for i in range(5000)))  # fixed bytes: the same reason every run
    truncated = tmp_path / "cut.flac"
    truncated.write_bytes(clips["flac"].read_bytes()[: clips["flac"].stat().st_size // 2])
    text = tmp_path / "notes.ogg"
    text.write_text("not audio at all\n" * 100)
    reasons = {}
    for path in (empty, garbage, truncated, text):
        with pytest.raises(decode.DecodeError) as err:
            decode.analyse(path)
        reasons[path.name] = err.value.reason
    assert reasons == {
        "empty.flac": "empty",
        "noise.mp3": "unreadable",
        "cut.flac": "undecodable",
        "notes.ogg": "unreadable",
    }


def test_tags_round_trip_in_every_family(clips, tmp_path):
    values = {
        "TITLE": ["Título"],
        "ARTIST": ["A; B"],
        "ISRC": ["QZABC2100001"],
        "ALBUM": ["Album"],
        "MUSICBRAINZ_TRACKID": ["0fa3f9ce-6d7b-4e6a-9c9d-4b2f2b6b5d11"],
        "FONOTECA_ID": ["spotify:track:x"],
        "WEBSITE": ["https://open.spotify.com/track/x"],
        "REPLAYGAIN_TRACK_GAIN": ["-3.20 dB"],
    }
    cover = tags.Cover(b"\x89PNG\r\n\x1a\n" + b"0" * 100, "image/png")
    for fmt in ("flac", "wav", "ogg", "opus", "mp3"):
        path = tmp_path / f"t.{fmt}"
        path.write_bytes(clips[fmt].read_bytes())
        family = tags.write_tags(path, values, cover)
        assert family is not None
        back = tags.read_tags(path)
        for key in ("TITLE", "ISRC", "MUSICBRAINZ_TRACKID", "FONOTECA_ID", "REPLAYGAIN_TRACK_GAIN"):
            assert back.get(key) == values[key], (fmt, key, back)
        assert decode.analyse(path).duration == pytest.approx(8.0, abs=0.06)  # still decodes
