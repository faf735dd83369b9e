"""fonoteca ingest / restore end to end on synthesised music: every matching route, tiers, fingerprints,
quarantine, idempotence, kill -9 recovery, and the shared corpus of real malformed files."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from fonoteca import archive as archive_mod
from fonoteca.audio import decode
from fonoteca.audio import tags as tagmod
from fonoteca.synth import audio as synth
from tests.conftest import CORPUS, run_cli

SECONDS = 5.0


def _import(root: Path, collection: synth.Collection) -> None:
    result = run_cli("import", "table", collection.catalog_csv, "--map", collection.mapping_toml, archive=root)
    assert result.exit_code == 0, result.stderr


def _ingest(root: Path, *args: str) -> dict:
    result = run_cli("ingest", *args, "--json", archive=root)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _rows(root: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(root / "catalog.sqlite3")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> synth.Collection:
    """Five tagged tracks, one per format (FLAC, Ogg Vorbis, Opus, MP3, WAV)."""
    return synth.make_collection(
        tmp_path_factory.mktemp("music"), 5, SECONDS, ("flac", "ogg", "opus", "mp3", "wav"), seed=21
    )


@pytest.fixture
def loaded(tmp_path, collection) -> Path:
    root = archive_mod.init(tmp_path / "archive").root
    _import(root, collection)
    return root


def test_original_tier_keeps_audio_tags_it_and_restores_bytes(loaded, collection, tmp_path):
    # a local cover for the first album
    (loaded / "covers").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"1" * 64
    (loaded / "covers" / f"{collection.tracks[0].album_id}.png").write_bytes(png)
    s = _ingest(loaded, str(collection.root), "--tier", "original", "--workers", "2")
    assert s["stored"] == {"original": 5, "compact": 0} and s["matched_by"] == {"isrc": 5}
    assert s["quarantined_total"] == 0 and s["unmatched"] == 0
    rows = _rows(
        loaded,
        "SELECT t.id, f.path, f.sha256, f.source_sha256, f.codec, f.duration_ms, f.replaygain_gain, "
        "f.tags, f.source_codec FROM files f JOIN tracks t ON t.rowid = f.track",
    )
    assert len(rows) == 5
    by_id = {t.id: t for t in collection.tracks}
    for track_id, rel, sha, source_sha, codec, duration_ms, gain, family, source_codec in rows:
        t = by_id[track_id]
        stored = loaded / rel
        assert stored.suffix == t.path.suffix
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
        assert hashlib.sha256(t.path.read_bytes()).hexdigest() == source_sha
        assert codec == source_codec and abs(duration_ms - SECONDS * 1000) < 60
        assert gain is not None and family is not None
        back = decode.analyse(stored)  # same audio: the decoded stream is identical to the input's
        assert back.info.codec == decode.analyse(t.path).info.codec
        read = tagmod.read_tags(stored)
        assert read["ISRC"] == [t.isrc] and read["TITLE"] == [t.title] and read["ARTIST"] == [t.artist]
        assert read["FONOTECA_ID"] == [f"spotify:track:{t.id}"]
        assert read["WEBSITE"] == [f"https://open.spotify.com/track/{t.id}"]
        gain_key = "R128_TRACK_GAIN" if codec == "opus" else "REPLAYGAIN_TRACK_GAIN"
        assert gain_key in read
        out = tmp_path / f"restored{t.path.suffix}"
        result = run_cli("restore", f"spotify:track:{t.id}", "--out", out, "--json", archive=loaded)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["exact"] is True
        assert out.read_bytes() == t.path.read_bytes()
    flac = [r for r in rows if r[1].endswith(".flac")][0]
    from mutagen.flac import FLAC

    assert FLAC(str(loaded / flac[1])).pictures[0].data == png
    # idempotence: a second run decides nothing new and leaves the catalog as it was
    before = _rows(loaded, "SELECT * FROM files ORDER BY rowid")
    again = _ingest(loaded, str(collection.root), "--tier", "original")
    assert again["already"] == 5 and again["stored_total"] == 0 and again["items"] == []
    assert _rows(loaded, "SELECT * FROM files ORDER BY rowid") == before
    # a stored file that rots is caught by restore
    victim = loaded / rows[0][1]
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0xFF
    victim.write_bytes(bytes(data))
    bad = run_cli("restore", f"spotify:track:{rows[0][0]}", "--out", tmp_path / "x", archive=loaded)
    assert bad.exit_code == 1 and "corrupt" in bad.stderr


def test_compact_tier_encodes_opus_75k_with_tags(loaded, collection):
    s = _ingest(loaded, str(collection.root), "--tier", "compact")
    assert s["stored"]["compact"] == 5
    for rel, codec, bit_rate, rate, channels, duration_ms in _rows(
        loaded, "SELECT path, codec, bit_rate, sample_rate, channels, duration_ms FROM files"
    ):
        path = loaded / rel
        assert path.suffix == ".opus" and codec == "opus" and rate == 48000 and channels == 2
        with av.open(str(path)) as c:
            stream = c.streams.audio[0]
            assert stream.codec_context.name == "opus"
            decoded = sum(f.samples for f in c.decode(stream)) / 48000
        assert decoded == pytest.approx(SECONDS, abs=0.05) and abs(duration_ms - SECONDS * 1000) < 60
        assert bit_rate == pytest.approx(75000, rel=0.35)
        read = tagmod.read_tags(path)
        assert {"TITLE", "ISRC", "ARTIST", "ALBUM", "R128_TRACK_GAIN", "FONOTECA_ID"} <= set(read)
    assert _rows(loaded, "SELECT count(*) FROM files WHERE patch IS NOT NULL")[0][0] == 0
    assert _rows(loaded, "SELECT count(*) FROM plan_sizes")[0][0] == 5


def test_plan_decides_the_tier(loaded, collection):
    assert run_cli("plan", "--policy", "anna", archive=loaded).exit_code == 0
    s = _ingest(loaded, str(collection.root))
    planned = dict(_rows(loaded, "SELECT track, tier FROM plan WHERE tier > 0"))
    stored = dict(_rows(loaded, "SELECT track, tier FROM files"))
    assert stored == planned and s["stored_total"] == len(planned)


def test_no_plan_and_scheduler_are_clean_errors(loaded, collection):
    result = run_cli("ingest", str(collection.root), archive=loaded)
    assert result.exit_code == 1 and "fonoteca plan" in result.stderr
    with open(loaded / "fonoteca.toml", "a") as f:  # no scheduler listens there: fail fast (tests/test_cluster.py)
        f.write("\n[cluster]\nconnect_timeout_s = 2\n")
    result = run_cli(
        "ingest", str(collection.root), "--tier", "original", "--scheduler", "tcp://127.0.0.1:9", archive=loaded
    )
    assert result.exit_code == 1 and "cannot reach the Dask scheduler" in result.stderr


def test_matching_routes_duplicates_and_quarantine(tmp_path, collection):
    root = archive_mod.init(tmp_path / "archive").root
    _import(root, collection)
    t = collection.tracks
    src = tmp_path / "src"
    src.mkdir()
    samples = [synth.render(SECONDS, tr.seed) for tr in t]
    # map route: untagged file listed in a path,track_id CSV
    synth.write(src / "mapped.flac", samples[0])
    # track id route: only a FONOTECA_ID tag
    synth.make_track(src / "by_id.ogg", SECONDS, t[1].seed, {"fonoteca_id": f"spotify:track:{t[1].id}"})
    # title route: only title and artist
    synth.make_track(src / "by_title.mp3", SECONDS, t[2].seed, {"title": t[2].title, "artist": t[2].artist})
    # isrc route
    synth.make_track(src / "by_isrc.flac", SECONDS, t[3].seed, {"isrc": t[3].isrc})
    # the same recording as "mapped" again, untagged, as Opus: found by fingerprint
    synth.write(src / "zz_copy_of_mapped.opus", samples[0])
    # the same recording as by_isrc but tagged with track 4's ISRC (wrong tags): a duplicate of track 3
    synth.make_track(src / "zz_wrong_tags.wav", SECONDS, t[3].seed, {"isrc": t[4].isrc})
    # unrelated untagged music: unmatched, reported
    synth.write(src / "unknown.flac", synth.render(SECONDS, 999))
    # rejects
    (src / "empty.flac").write_bytes(b"")
    (src / "garbage.mp3").write_bytes(os.urandom(4000))
    full = (src / "by_isrc.flac").read_bytes()
    (src / "cut.flac").write_bytes(full[: len(full) // 2])
    synth.make_track(src / "too_long.flac", SECONDS + 20, 5, {"isrc": t[4].isrc})  # catalog says 5 s
    with open(tmp_path / "map.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "track_id"])
        w.writerow(["src/mapped.flac", f"spotify:track:{t[0].id}"])
        w.writerow(["src/cut.flac", f"spotify:track:{t[4].id}"])
    s = _ingest(root, str(src), "--map", str(tmp_path / "map.csv"), "--tier", "original", "--workers", "2")
    items = {Path(i["path"]).name: i for i in s["items"]}
    assert items["mapped.flac"]["outcome"] == "stored" and items["mapped.flac"]["reason"] == "map"
    assert items["by_id.ogg"]["reason"] == "track_id"
    assert items["by_title.mp3"]["reason"] == "title"
    assert items["by_isrc.flac"]["reason"] == "isrc"
    assert items["zz_copy_of_mapped.opus"]["outcome"] == "duplicate"
    assert items["zz_copy_of_mapped.opus"]["track"] == f"spotify:track:{t[0].id}"
    assert items["zz_wrong_tags.wav"]["outcome"] == "duplicate"
    assert items["zz_wrong_tags.wav"]["track"] == f"spotify:track:{t[3].id}"
    assert items["unknown.flac"]["outcome"] == "unmatched"
    assert items["empty.flac"]["reason"] == "empty"
    assert items["garbage.mp3"]["outcome"] == "quarantined"
    assert items["cut.flac"]["reason"] in ("truncated", "undecodable")
    assert items["too_long.flac"]["reason"] == "duration_mismatch"
    assert s["duplicates"] == 2 and s["unmatched"] == 1 and s["stored"]["original"] == 4
    for name in ("empty.flac", "garbage.mp3", "cut.flac", "too_long.flac"):
        record = json.loads((root / items[name]["record"]).read_text())
        assert record["reason"] == items[name]["reason"] and record["source"].endswith(name)
        if name != "empty.flac":
            assert (root / "quarantine" / record["file"]).read_bytes() == (src / name).read_bytes()
    # fingerprints are kept for every decoded input
    assert _rows(root, "SELECT count(*) FROM fingerprints")[0][0] == 7


def test_a_longer_version_that_starts_alike_is_not_a_duplicate(tmp_path):
    """The fingerprint hears the first two minutes only: an extended version of a stored recording fingerprints
    like it, but its length says it is another recording, so it is stored under its own track."""
    from fonoteca.audio import fingerprint as fpmod

    music = synth.make_collection(tmp_path / "music", 2, 8.0, ("flac",), seed=33)
    first, second = music.tracks
    with open(music.catalog_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1]["duration_ms"] = "24000"
    with open(music.catalog_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    root = archive_mod.init(tmp_path / "archive").root
    _import(root, music)
    src = tmp_path / "src"
    src.mkdir()
    synth.write(src / "a_radio.flac", synth.render(8.0, first.seed))
    synth.write(src / "b_extended.flac", synth.render(24.0, first.seed))
    with open(tmp_path / "map.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerows(
            [
                ["path", "track_id"],
                ["src/a_radio.flac", f"spotify:track:{first.id}"],
                ["src/b_extended.flac", f"spotify:track:{second.id}"],
            ]
        )
    s = _ingest(root, str(src), "--map", str(tmp_path / "map.csv"), "--tier", "compact", "--workers", "1")
    assert s["stored"]["compact"] == 2 and s["duplicates"] == 0, s["items"]
    # the guard, not the fingerprint, told them apart
    raws = [fpmod.from_raw_bytes(r) for (r,) in _rows(root, "SELECT raw FROM fingerprints")]
    assert fpmod.bit_error_rate(*raws) <= fpmod.MATCH_BER


def test_musicbrainz_recording_id_route(tmp_path):
    from tests.helpers import write_jsonl
    from tests.test_catalog_musicbrainz import RECORDING_1, artist, release

    root = archive_mod.init(tmp_path / "archive").root
    rel = release()
    track = rel["media"][0]["tracks"][0]
    track["length"] = track["recording"]["length"] = int(SECONDS * 1000)
    source = write_jsonl(tmp_path / "mb.jsonl", [artist(), rel])
    assert run_cli("import", "musicbrainz", source, archive=root).exit_code == 0
    src = tmp_path / "src"
    synth.make_track(src / "a.flac", SECONDS, 3, {"musicbrainz_trackid": RECORDING_1})
    s = _ingest(root, str(src), "--tier", "compact")
    assert s["matched_by"] == {"musicbrainz": 1}
    (path,) = _rows(root, "SELECT path FROM files")[0]
    read = tagmod.read_tags(root / path)
    assert read["MUSICBRAINZ_TRACKID"] == [RECORDING_1] and read["ISRC"] == ["GBBKS1500214"]
    assert read["BARCODE"] == ["634904074005"]


def _state(root: Path) -> list[tuple]:
    return _rows(
        root,
        "SELECT t.id, f.tier, f.path, f.size, f.sha256, f.source_sha256 FROM files f "
        "JOIN tracks t ON t.rowid = f.track ORDER BY t.id",
    )


def test_kill_9_then_ingest_again_ends_as_an_uninterrupted_run(tmp_path):
    music = synth.make_collection(tmp_path / "music", 30, 2.0, ("flac", "ogg"), seed=33)
    roots = []
    for name in ("clean", "killed"):
        root = archive_mod.init(tmp_path / name).root
        _import(root, music)
        roots.append(root)
    clean, killed = roots
    args = ["ingest", str(music.root), "--tier", "original", "--workers", "2"]
    done = subprocess.run([sys.executable, "-m", "fonoteca", "-A", str(clean), *args], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for kill_after in (3, 12):
        child = subprocess.Popen(
            [sys.executable, "-m", "fonoteca", "-A", str(killed), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.time() + 120
        while time.time() < deadline and child.poll() is None:
            try:
                n = _rows(killed, "SELECT count(*) FROM files")[0][0]
            except sqlite3.Error:
                n = 0
            if n >= kill_after:
                break
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    again = subprocess.run(
        [sys.executable, "-m", "fonoteca", "-A", str(killed), *args], capture_output=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert _state(killed) == _state(clean) and len(_state(clean)) == 30
    on_disk = {str(p.relative_to(killed)) for p in (killed / "files").rglob("*") if p.is_file()}
    on_disk.discard("files/.ingest.lock")
    assert on_disk == {row[2] for row in _state(killed)}  # no partial file, no orphan
    assert _rows(killed, "SELECT count(*) FROM ingest_pending")[0][0] == 0
    for rel, sha in _rows(killed, "SELECT path, sha256 FROM files"):
        assert hashlib.sha256((killed / rel).read_bytes()).hexdigest() == sha


def _full_decode_accepts(path: Path) -> bool:
    """An independent full decode: opens, has audio, every packet decodes, some samples, and not shorter than
    the header declares by more than max(1 s, 5 %) (the documented truncation rule)."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                return False
            s = c.streams.audio[0]
            samples = rate = 0
            for frame in c.decode(s):
                samples += frame.samples
                rate = frame.sample_rate
            if samples == 0:
                return False
            declared = float(s.duration * s.time_base) if s.duration else (c.duration / 1e6 if c.duration else None)
            decoded = samples / rate
            return not (declared and declared - decoded > max(1.0, 0.05 * declared))
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_shared_corpus(tmp_path):
    files = sorted(p for p in CORPUS.iterdir() if p.is_file())
    catalog, map_csv = tmp_path / "catalog.csv", tmp_path / "map.csv"
    ids = [hashlib.sha1(p.name.encode()).hexdigest()[:22] for p in files]
    ids = ["".join(c if c.isalnum() else "x" for c in i) for i in ids]
    with open(catalog, "w", newline="") as f, open(map_csv, "w", newline="") as g:
        w, m = csv.writer(f), csv.writer(g)
        w.writerow(["track_id", "title", "artist_id", "artist", "popularity"])
        m.writerow(["path", "track_id"])
        for i, (p, tid) in enumerate(zip(files, ids, strict=True)):
            w.writerow([tid, f"Corpus {i}", "a" * 22, "Corpus", 50])
            m.writerow([str(p), f"spotify:track:{tid}"])
    (tmp_path / "map.toml").write_text(
        'kind="track"\nnamespace="spotify"\n[columns]\nid="track_id"\nname="title"\n'
        'artist_ids="artist_id"\nartist_names="artist"\npopularity="popularity"\n'
    )
    root = archive_mod.init(tmp_path / "archive").root
    assert run_cli("import", "table", catalog, "--map", tmp_path / "map.toml", archive=root).exit_code == 0
    s = _ingest(root, str(CORPUS), "--map", str(map_csv), "--tier", "original")
    items = {Path(i["path"]).name: i for i in s["items"]}
    assert len(items) == len(files)
    for p in files:
        item = items[p.name]
        if _full_decode_accepts(p):
            assert item["outcome"] == "stored", (p.name, item)
        else:
            assert item["outcome"] == "quarantined", (p.name, item)
            record = json.loads((root / item["record"]).read_text())
            assert record["reason"] and record["message"]
    assert s["stored_total"] > 40 and s["quarantined_total"] > 20
    for rel, source in _rows(root, "SELECT path, source_path FROM files"):
        track = _rows(root, "SELECT t.id FROM files f JOIN tracks t ON t.rowid = f.track WHERE f.path = ?", (rel,))[0][
            0
        ]
        out = tmp_path / "restored"
        assert run_cli("restore", track, "--out", out, archive=root).exit_code == 0
        assert out.read_bytes() == Path(source).read_bytes()
