"""`fonoteca demo`: the whole pipeline on an embedded synthetic collection, stage by stage, with figures.

1. catalog: a Spotify-shaped synthetic catalog (artists, tracks, audio features), imported;
2. audio: real audio rendered for a few hundred tracks across a dozen genres that sound different (each genre has
   its own tempo, brightness, rhythm density and noise), in several formats;
3. search: the full-text index;  4. plan: the optimal tiers within a small budget;
5. ingest: match (by a path -> track map), validate, transcode/keep, tag, checksum, store;
6. licences: the demo's music under CC BY 4.0 with its attribution, but one track "all rights reserved", which the
   release leaves out (`[release] licences`);
7. pack; then one withdrawal (a rights holder's request) and a second pack: the torrent that held the track is
   marked partially broken and a replacement without it is made; the mirror skips the withdrawn file;
8. stats: the archivist's charts;  then verify, mirror, genre map, and the site (the withdrawn track: a 410
   tombstone).
Every stage prints its figures; `--json` prints them all at the end.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fonoteca import archive as archive_mod
from fonoteca.console import console

GENRES = 12
TRACKS_PER_GENRE = 16
CLIP_SECONDS = (20.0, 28.0)
FORMATS = ("flac", "flac", "ogg", "mp3", "wav", "opus")


@dataclass
class AudioTrack:
    id: str
    genre: str
    seconds: float
    popularity: int
    seed: int  # picks the chord progression (the first four bars: seed % 6) and the melody
    key: int  # semitones from the genre's root: tracks of a genre share a sound, not a recording


@dataclass
class DemoContext:
    root: Path
    tracks: int
    seed: int
    port: int
    serve: bool
    archive: archive_mod.Archive | None = None
    genres: int = GENRES
    per_genre: int = TRACKS_PER_GENRE
    audio: list[AudioTrack] = field(default_factory=list)
    release: Any = None
    withheld: str | None = None  # the track whose licence keeps it out of the release
    withdrawn: str | None = None  # the track the demo withdraws
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)


Stage = Callable[[DemoContext], dict[str, Any]]


def _style(track: AudioTrack) -> Any:
    """The genre's sound (its name seeds tempo, brightness, density, noise) in the track's own key."""
    from fonoteca.synth.audio import Style

    style = Style.random(int(hashlib.sha1(track.genre.encode()).hexdigest()[:8], 16))
    style.root = 45 + (style.root - 45 + track.key) % 12
    return style


def _choose_audio(synth: Any, tracks: list[dict[str, Any]], seed: int, genres: int, per_genre: int) -> list[AudioTrack]:
    """The tracks that get real audio: for the most common genres, tracks spread over the popularity range."""
    import random

    genre_of = {a.id: a.genres[0] for a in synth.artists if a.genres}
    by_genre: dict[str, list[dict[str, Any]]] = {}
    for track in tracks:
        genre = genre_of.get(track["artists"][0]["id"])
        if genre:
            by_genre.setdefault(genre, []).append(track)
    common = [g for g, _ in Counter({g: len(v) for g, v in by_genre.items()}).most_common(genres)]
    rng = random.Random(seed)
    chosen = []
    for genre in common:
        candidates = sorted(by_genre[genre], key=lambda t: (t["popularity"], t["id"]))
        step = max(1, len(candidates) // per_genre)
        for i, track in enumerate(candidates[::step][:per_genre]):
            seconds = round(rng.uniform(*CLIP_SECONDS), 1)
            # distinct (key, progression) pairs within a genre, so no two demo recordings fingerprint alike
            progression = (i + i // 12) % 6
            seed_value = rng.randrange(1 << 24) * 6 + progression
            chosen.append(AudioTrack(track["id"], genre, seconds, track["popularity"], seed_value, (i * 5) % 12))
    return chosen


def stage_catalog(ctx: DemoContext) -> dict[str, Any]:
    """Synthesise a Spotify-shaped catalog and import it (demo tracks with audio get clip-length durations)."""
    import orjson
    import zstandard

    from fonoteca.catalog import spotify, spotify_fast
    from fonoteca.catalog.importer import Codec, import_json_files
    from fonoteca.catalog.query import counts
    from fonoteca.synth.catalog import CatalogSynth

    synth = CatalogSynth(ctx.tracks, seed=ctx.seed)
    tracks = list(synth.track_objects())
    ctx.audio = _choose_audio(synth, tracks, ctx.seed, ctx.genres, ctx.per_genre)
    clip = {a.id: int(a.seconds * 1000) for a in ctx.audio}
    source = ctx.root / "sources" / "catalog.jsonl.zst"
    source.parent.mkdir(parents=True, exist_ok=True)
    with zstandard.ZstdCompressor(level=3).stream_writer(open(source, "wb"), closefd=True) as sink:
        for artist in synth.artist_objects():
            sink.write(orjson.dumps(artist) + b"\n")
        for track in tracks:
            if track["id"] in clip:
                track["duration_ms"] = clip[track["id"]]
            sink.write(orjson.dumps(track) + b"\n")
            sink.write(orjson.dumps(synth.features_for(track)) + b"\n")
    assert ctx.archive is not None
    codec = Codec(spotify.units, spotify.encode, spotify_fast.reset, spotify_fast.encode_line)
    summary = import_json_files(ctx.archive, [source], "spotify", codec)
    conn = ctx.archive.connect(readonly=True)
    try:
        found = counts(conn)
    finally:
        conn.close()
    return {
        "objects imported": summary.units,
        "rate/s": round(summary.units / max(summary.seconds, 1e-9)),
        "tracks": found["tracks"],
        "albums": found["albums"],
        "artists": found["artists"],
        "distinct ISRCs": found["isrcs"],
        "genres": found["genres"],
        "rejected": summary.rejected,
    }


def _render(args: tuple[str, float, int, str, Any]) -> str:
    from fonoteca.synth.audio import make_track

    path, seconds, seed, _genre, style = args
    make_track(Path(path), seconds, seed, style=style)
    return path


def stage_audio(ctx: DemoContext) -> dict[str, Any]:
    """Render real audio for the chosen tracks, one sound per genre, in several formats, plus the path -> id map."""
    folder = ctx.root / "sources" / "audio"
    jobs = []
    rows = []
    for i, track in enumerate(ctx.audio):
        fmt = FORMATS[i % len(FORMATS)]
        slug = "".join(ch if ch.isalnum() else "-" for ch in track.genre)
        path = folder / slug / f"{track.id}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        jobs.append((str(path), track.seconds, track.seed, track.genre, _style(track)))
        rows.append((str(path), track.id))
    from fonoteca.children import die_with

    with ProcessPoolExecutor(initializer=die_with, initargs=(os.getpid(),)) as pool:
        list(pool.map(_render, jobs, chunksize=4))
    with open(ctx.root / "sources" / "map.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "track_id"])
        writer.writerows(rows)
    seconds = sum(t.seconds for t in ctx.audio)
    return {
        "files": len(jobs),
        "genres": len({t.genre for t in ctx.audio}),
        "minutes of audio": round(seconds / 60, 1),
        "formats": ", ".join(sorted(set(FORMATS))),
    }


def stage_search(ctx: DemoContext) -> dict[str, Any]:
    from fonoteca.search.index import rebuild

    assert ctx.archive is not None
    built = rebuild(ctx.archive)
    return {k: v for k, v in vars(built).items() if isinstance(v, (int, float, str))}


def stage_plan(ctx: DemoContext) -> dict[str, Any]:
    """Plan with the anna rule (for reference, not stored), then the optimal policy within half its bytes."""
    from fonoteca.plan import planner

    assert ctx.archive is not None
    anna = planner.run(ctx.archive, "anna", None, write=False)
    budget = int(anna["bytes"] * 0.5)
    optimal = planner.run(ctx.archive, "optimal", budget)
    return {
        "budget bytes": budget,
        "planned bytes": optimal["bytes"],
        "files": optimal["files"],
        "listens covered": round(optimal["listens_covered"], 4),
        "anna bytes": anna["bytes"],
        "anna listens covered": round(anna["listens_covered"], 4),
        "original": optimal["tiers"]["original"]["files"],
        "compact": optimal["tiers"]["compact"]["files"],
    }


def stage_ingest(ctx: DemoContext) -> dict[str, Any]:
    from fonoteca.ingest import IngestOptions, ingest

    assert ctx.archive is not None
    options = IngestOptions.from_config(ctx.archive.config, map_csv=ctx.root / "sources" / "map.csv", tier="plan")
    summary = ingest(ctx.archive, [ctx.root / "sources" / "audio"], options)
    report = summary.as_dict()
    return {
        "stored original": summary.stored.get("original", 0),
        "stored compact": summary.stored.get("compact", 0),
        "skipped (plan says skip)": report.get("skipped", 0),
        "quarantined": sum(summary.quarantined.values()),
        "unmatched": report.get("unmatched", 0),
        "realtime factor": round(summary.realtime or 0, 1),
    }


def stage_licences(ctx: DemoContext) -> dict[str, Any]:
    """The demo's own music is under CC BY 4.0 (with the credit it asks for); one stored track is "all rights
    reserved": catalogued, stored and verifiable, but left out of the public release."""
    from fonoteca.catalog.provenance import LicenceStatement, attribution_text, write_licences
    from fonoteca.licences import normalise

    assert ctx.archive is not None
    by_cc, reserved = normalise("CC-BY-4.0"), normalise("All rights reserved")
    conn = ctx.archive.connect()
    try:
        stored = {r for (r,) in conn.execute("SELECT track FROM files")}
        rows = conn.execute(
            "SELECT t.rowid, t.id, t.name, (SELECT group_concat(a.name, ', ') FROM track_artists ta JOIN artists a "
            "ON a.rowid = ta.artist WHERE ta.track = t.rowid) FROM tracks t WHERE t.id IN (SELECT value FROM "
            "json_each(?)) OR t.rowid IN (SELECT track FROM files) ORDER BY t.id",  # files may be stored under a
            (_json_list([a.id for a in ctx.audio]),),
        ).fetchall()  # track of the same recording
        withheld = next((r for r in rows if r[0] in stored), None)
        statements = [
            LicenceStatement(
                rowid, by_cc, attribution_text(name, artists, by_cc, None), "operator", track_id, None, "fonoteca-demo"
            )
            for rowid, track_id, name, artists in rows
            if withheld is None or rowid != withheld[0]
        ]
        if withheld is not None:
            statements.append(
                LicenceStatement(withheld[0], reserved, None, "operator", withheld[1], None, "fonoteca-demo")
            )
        write_licences(conn, statements)
    finally:
        conn.close()
    ctx.withheld = None if withheld is None else f"spotify:track:{withheld[1]}"
    return {
        "CC BY 4.0": len(statements) - (withheld is not None),
        "all rights reserved": int(withheld is not None),
        "kept out of the release": ctx.withheld,
    }


def _json_list(items: list[str]) -> str:
    import orjson

    return orjson.dumps(items).decode()


def _pack_settings(ctx: DemoContext) -> Any:
    from fonoteca.pack import PackSettings

    assert ctx.archive is not None
    return PackSettings.from_config(ctx.archive.config, target_size=16 * 1024 * 1024, max_files=40)


def stage_pack(ctx: DemoContext) -> dict[str, Any]:
    """A release of the stored files: small torrents (the demo's scale), grouped by popularity band."""
    from fonoteca.pack import pack

    assert ctx.archive is not None
    summary = pack(ctx.archive, name="demo-1", settings=_pack_settings(ctx))
    ctx.release = summary
    return {
        "release": summary.release,
        "files": summary.files,
        "bytes": summary.bytes,
        "torrents": len(summary.torrents),
        "bands": ", ".join(sorted(summary.bands)),
        "not published": sum(summary.withheld.values()),
        "metadata torrent": summary.metadata.btih if summary.metadata else None,
    }


def stage_withdraw(ctx: DemoContext) -> dict[str, Any]:
    """Withdraw one released track (a line in withdrawals.jsonl), then pack again: the earlier torrent stays as it
    is, marked partially broken, and a replacement torrent without the track joins the list."""
    from fonoteca import ledger
    from fonoteca.pack import pack
    from fonoteca.pack.listing import list_torrents

    assert ctx.archive is not None and ctx.release is not None
    conn = ctx.archive.connect(readonly=True)
    try:
        row = conn.execute(
            "SELECT t.id FROM torrent_files tf JOIN torrents tr ON tr.rowid = tf.torrent JOIN tracks t "
            "ON t.rowid = tf.track WHERE tr.kind = 'data' AND tr.num_files > 1 ORDER BY tr.rowid, tf.idx "
            "LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return {"withdrawn": None}
    ref = f"spotify:track:{row[0]}"
    entry = ledger.append(
        ctx.archive.root,
        "withdraw",
        [ref],
        "demo: a rights holder asked for it to be taken down",
        category="rights-holder",
    )
    second = pack(ctx.archive, name="demo-2", settings=_pack_settings(ctx))
    ctx.withdrawn = ref
    listed = list_torrents(ctx.archive)
    return {
        "withdrawn": ref,
        "ledger entry": entry.seq,
        "release": second.release,
        "replacement torrents": len(second.replacements),
        "partially broken torrents": sum(1 for t in listed if t.get("partially_broken")),
        "ledger verifies": ledger.verify(ledger.ledger_path(ctx.archive.root)).ok,
    }


def stage_verify(ctx: DemoContext) -> dict[str, Any]:
    """Every piece hash and manifest sha256 of the release, as a volunteer would check a copy."""
    from fonoteca.mirror import verify_root

    assert ctx.archive is not None
    report = verify_root(ctx.archive.root)
    return {
        "ok": report.ok,
        "torrents": report.torrents,
        "files": report.files,
        "bytes": report.bytes,
        "problems": len(report.problems),
        "withdrawn files": len(report.withdrawn),
    }


def stage_mirror(ctx: DemoContext) -> dict[str, Any]:
    """Seed the release over loopback BitTorrent and mirror part of it (half its bytes) into a second folder."""
    from fonoteca.mirror import Seeder, coverage, mirror, seed_items, verify_root

    assert ctx.archive is not None and ctx.release is not None
    into = ctx.root / "mirror"
    budget = max(1, ctx.release.bytes // 2)
    with Seeder(seed_items(ctx.archive.root), listen="127.0.0.1:0") as seeder:
        seeder.wait_ready()
        result = mirror(str(ctx.archive.root), into, budget=budget, peers=[("127.0.0.1", seeder.port)], timeout=300)
    held = coverage(into)
    report = verify_root(into)
    return {
        "folder": str(into),
        "complete": result.complete,
        "torrents": len(result.chosen),
        "downloaded bytes": result.outcome.downloaded,
        "verify ok": report.ok,
        "withdrawn files skipped": result.withdrawn_files,
        **{f"coverage {k}": v for k, v in held.items() if isinstance(v, (int, float))},
    }


def stage_features(ctx: DemoContext) -> dict[str, Any]:
    """Audio features from the stored files, then the genre map (also on the site at /genres)."""
    from fonoteca.features import compute_features, write_genre_map

    assert ctx.archive is not None
    summary = compute_features(ctx.archive)
    out = write_genre_map(ctx.archive, ctx.archive.root / "genre-map.html")
    return {
        "tracks": summary.computed + summary.already,
        "failed": summary.failed,
        "realtime factor": round(summary.realtime, 1),
        "genre map": str(out),
    }


def stage_stats(ctx: DemoContext) -> dict[str, Any]:
    from fonoteca.plan.stats import write_stats

    assert ctx.archive is not None
    out = ctx.archive.root / "stats"
    index = write_stats(ctx.archive, out)
    return {"charts": len(list(out.glob("*.png"))), "folder": str(out), "entries": len(index)}


STAGES: list[tuple[str, Stage]] = [
    ("catalog", stage_catalog),
    ("audio", stage_audio),
    ("search", stage_search),
    ("plan", stage_plan),
    ("ingest", stage_ingest),
    ("licences", stage_licences),
    ("pack", stage_pack),
    ("withdraw", stage_withdraw),
    ("verify", stage_verify),
    ("mirror", stage_mirror),
    ("features", stage_features),
    ("stats", stage_stats),
]


def run(
    directory: Path | None,
    tracks: int,
    seed: int,
    port: int,
    serve: bool,
    *,
    genres: int = GENRES,
    per_genre: int = TRACKS_PER_GENRE,
) -> DemoContext:
    root = directory if directory is not None else Path(tempfile.mkdtemp(prefix="fonoteca-demo-"))
    if (root / "archive" / archive_mod.CONFIG_NAME).exists():
        shutil.rmtree(root)  # a demo always starts from nothing, so its figures mean the same each time
    ctx = DemoContext(
        root=root.resolve(), tracks=tracks, seed=seed, port=port, serve=serve, genres=genres, per_genre=per_genre
    )
    ctx.archive = archive_mod.init(ctx.root / "archive", name="Fonoteca demo")
    console.print(f"[bold]Fonoteca demo[/bold] in {ctx.root}")
    for name, stage in STAGES:
        started = time.perf_counter()
        with console.status(f"{name}..."):
            figures = stage(ctx)
        figures = {"seconds": round(time.perf_counter() - started, 1), **figures}
        ctx.figures[name] = figures
        console.print(
            f"[green]✓[/green] [bold]{name}[/bold]: " + ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items())
        )
    return ctx


def serve(ctx: DemoContext) -> None:
    """Serve the demo archive's website until interrupted."""
    from fonoteca.web import serve as serve_site

    assert ctx.archive is not None
    console.print(f"[bold]Serving[/bold] the demo archive at http://127.0.0.1:{ctx.port}/ (Ctrl-C to stop)")
    serve_site(ctx.archive, "127.0.0.1", ctx.port)


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
