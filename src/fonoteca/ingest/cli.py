"""`fonoteca ingest` and `fonoteca restore`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from fonoteca import archive as archive_mod
from fonoteca.console import console, print_json, progress
from fonoteca.ingest.options import IngestOptions
from fonoteca.ingest.pipeline import IngestSummary, ingest
from fonoteca.ingest.restore import restore


def _archive(ctx: typer.Context) -> archive_mod.Archive:
    return archive_mod.open_archive(ctx.obj.get("archive") if ctx.obj else None)


def _print_summary(s: IngestSummary) -> None:
    table = Table(title=f"ingest: {s.inputs:,} inputs in {s.seconds:.1f} s "
                        f"({s.files_per_second:.2f} files/s, {s.realtime:.0f}x realtime, {s.executor or f'{s.workers} workers'})",
                  title_justify="left")
    table.add_column("outcome")
    table.add_column("files", justify="right")
    table.add_column("detail")
    for tier, n in s.stored.items():
        table.add_row(f"stored {tier}", f"{n:,}", "")
    table.add_row("duplicates", f"{s.duplicates:,}", "same recording already in the archive")
    if s.conflicts:
        table.add_row("conflicts", f"{s.conflicts:,}", "track already has a file that sounds different")
    for reason, n in sorted(s.quarantined.items()):
        table.add_row("quarantined", f"{n:,}", reason)
    table.add_row("unmatched", f"{s.unmatched:,}", "no catalog track; see --json items")
    for reason, n in sorted(s.skipped.items()):
        table.add_row("skipped", f"{n:,}", reason)
    table.add_row("already done", f"{s.already:,}", "decided by an earlier run")
    console.print(table)
    if s.matched_by:
        console.print("matched by " + ", ".join(f"{k} {v:,}" for k, v in sorted(s.matched_by.items())))
    if s.recovered.get("temporary") or s.recovered.get("orphans"):
        console.print(f"recovered from an interrupted run: removed {s.recovered['temporary']} temporary and "
                      f"{s.recovered['orphans']} uncommitted files")


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        ctx: typer.Context,
        sources: list[Path] = typer.Argument(..., metavar="SRC...", help="Audio files or folders (walked recursively)."),
        map_csv: Optional[Path] = typer.Option(None, "--map", metavar="CSV",
                                               help="CSV with columns path,track_id or path,isrc (paths relative to the CSV)."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", min=0,
                                              help="Local worker processes (default: every core; with --scheduler "
                                                   "the cluster's workers run the tasks)."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="tcp://HOST:PORT",
                                                help="Run the per-file work on a Dask cluster (`fonoteca cluster "
                                                     "local` starts one here). Default: cluster.scheduler in fonoteca.toml."),
        storage: Optional[str] = typer.Option(None, "--storage", metavar="shared|sources|none",
                                              help="What the cluster's workers share with this machine (default: "
                                                   "cluster.storage in fonoteca.toml, else shared)."),
        tier: str = typer.Option("plan", "--tier", help="plan (follow `fonoteca plan`), or original|compact for every file."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary (with one item per input) as JSON."),
    ) -> None:
        """Match audio files to catalog tracks, validate them by a full decode, keep (original) or re-encode to
        Ogg Opus (compact) as the plan says, tag, checksum and store them atomically. Rejected files go to
        quarantine/ with a JSON reason; unmatched files are reported, never guessed."""
        archive = _archive(ctx)
        options = IngestOptions.from_config(archive.config, workers=workers, map_csv=map_csv, tier=tier,
                                            scheduler=scheduler, storage=storage)
        with progress() as bar:
            task = bar.add_task("ingest", total=None, unit="files")

            def started(total: int) -> None:
                bar.update(task, total=total)

            def advance(done: int, total: int, audio_seconds: float) -> None:
                elapsed = bar.tasks[task].elapsed or 0.0
                rt = audio_seconds / elapsed if elapsed else 0.0
                bar.update(task, completed=done, description=f"ingest {rt:,.0f}x realtime")

            summary = ingest(archive, sources, options, on_progress=advance, on_start=started)
        if as_json:
            print_json(summary.as_dict())
        else:
            _print_summary(summary)

    @app.command("restore")
    def restore_cmd(
        ctx: typer.Context,
        track: str = typer.Argument(..., metavar="TRACK", help="Track id, spotify:track:ID, URL or isrc:CODE."),
        out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="Where to write the rebuilt file."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Rebuild the ingested input of a track byte for byte (original tier: stored file + patch) and check
        its sha256. For a compact-tier track the stored Opus file is written (the input was not kept)."""
        result = restore(_archive(ctx), track, out)
        if as_json:
            print_json({"track": result.track, "tier": result.tier, "out": str(result.out), "size": result.size,
                        "sha256": result.sha256, "exact": result.exact})
        elif result.exact:
            console.print(f"restored {result.track} to {result.out}: {result.size:,} bytes, sha256 {result.sha256} "
                          f"matches the ingested input")
        else:
            console.print(f"{result.track} is kept in the compact tier: wrote the stored Opus file to {result.out} "
                          f"(sha256 {result.sha256} checked); the input itself was not kept")
