"""`fonoteca demo`: the whole pipeline on an embedded synthetic collection, stage by stage, with figures.

Each stage that exists runs in order and reports what it did; later stages (plan, ingest, pack, mirror, serve)
join the list as they are built.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fonoteca import archive as archive_mod
from fonoteca.console import console


@dataclass
class DemoContext:
    root: Path
    tracks: int
    seed: int
    port: int
    serve: bool
    archive: archive_mod.Archive | None = None
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)


Stage = Callable[[DemoContext], dict[str, Any]]


def stage_catalog(ctx: DemoContext) -> dict[str, Any]:
    """Synthesise a Spotify-shaped catalog and import it."""
    from fonoteca.catalog import spotify, spotify_fast
    from fonoteca.catalog.importer import Codec, import_json_files
    from fonoteca.catalog.query import counts
    from fonoteca.synth.catalog import CatalogSynth

    import orjson
    import zstandard

    source = ctx.root / "sources" / "catalog.jsonl.zst"
    source.parent.mkdir(parents=True, exist_ok=True)
    synth = CatalogSynth(ctx.tracks, seed=ctx.seed)
    with zstandard.ZstdCompressor(level=3).stream_writer(open(source, "wb"), closefd=True) as sink:
        for obj in synth.objects({"artist", "track", "audio-features"}):
            sink.write(orjson.dumps(obj) + b"\n")
    assert ctx.archive is not None
    codec = Codec(spotify.units, spotify.encode, spotify_fast.reset, spotify_fast.encode_line)
    summary = import_json_files(ctx.archive, [source], "spotify", codec)
    conn = ctx.archive.connect(readonly=True)
    try:
        found = counts(conn)
    finally:
        conn.close()
    return {
        "objects imported": summary.units, "seconds": round(summary.seconds, 1),
        "tracks": found["tracks"], "albums": found["albums"], "artists": found["artists"],
        "distinct ISRCs": found["isrcs"], "genres": found["genres"], "rejected": summary.rejected,
    }


STAGES: list[tuple[str, Stage]] = [("catalog", stage_catalog)]


def run(directory: Path | None, tracks: int, seed: int, port: int, serve: bool) -> DemoContext:
    root = directory if directory is not None else Path(tempfile.mkdtemp(prefix="fonoteca-demo-"))
    if (root / archive_mod.CONFIG_NAME).exists():
        shutil.rmtree(root)  # a demo always starts from nothing, so its figures mean the same each time
    ctx = DemoContext(root=root.resolve(), tracks=tracks, seed=seed, port=port, serve=serve)
    ctx.archive = archive_mod.init(ctx.root / "archive", name="Fonoteca demo")
    console.print(f"[bold]Fonoteca demo[/bold] in {ctx.root}")
    for name, stage in STAGES:
        started = time.perf_counter()
        with console.status(f"{name}..."):
            figures = stage(ctx)
        figures = {"stage seconds": round(time.perf_counter() - started, 1), **figures}
        ctx.figures[name] = figures
        console.print(f"[green]✓[/green] [bold]{name}[/bold]: " + ", ".join(f"{k} {_fmt(v)}" for k, v in figures.items()))
    return ctx


def _fmt(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)
