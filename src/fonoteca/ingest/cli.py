"""`fonoteca ingest` and `fonoteca restore`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fonoteca.commands import open_archive
from fonoteca.console import console, lit, print_json, progress_bar
from fonoteca.hookspecs import hookimpl


def _print_summary(s: Any) -> None:
    """What happened to each input, on stderr: an ingest's result is the archive, the summary is a report."""
    from rich.table import Table

    table = Table(
        title=f"ingest: {s.inputs:,} inputs in {s.seconds:.1f} s "
        f"({s.files_per_second:.2f} files/s, {s.realtime:.0f}x realtime, {s.executor or f'{s.workers} workers'})",
        title_justify="left",
    )
    table.add_column("outcome")
    table.add_column("files", justify="right")
    table.add_column("detail")
    for tier, n in s.stored.items():
        table.add_row(f"stored {tier}", f"{n:,}", "")
    table.add_row("duplicates", f"{s.duplicates:,}", "same recording already in the archive")
    if s.conflicts:
        table.add_row("conflicts", f"{s.conflicts:,}", "track already has a file that sounds different")
    for reason, n in sorted(s.quarantined.items()):
        table.add_row("quarantined", f"{n:,}", lit(reason))
    table.add_row("unmatched", f"{s.unmatched:,}", "no catalog track (listed below)" if s.unmatched else "")
    for reason, n in sorted(s.skipped.items()):
        table.add_row("skipped", f"{n:,}", lit(reason))
    table.add_row("already done", f"{s.already:,}", "decided by an earlier run")
    for outcome, n in sorted(s.earlier.items()):
        table.add_row(f"  of which {outcome}", f"{n:,}", "unchanged since (listed below)")
    console.print(table)
    if s.matched_by:
        console.print("matched by " + ", ".join(f"{k} {v:,}" for k, v in sorted(s.matched_by.items())))
    _print_problem_files(s.items)
    if s.recovered.get("temporary") or s.recovered.get("orphans"):
        console.print(
            f"recovered from an interrupted run: removed {s.recovered['temporary']} temporary and "
            f"{s.recovered['orphans']} uncommitted files"
        )


def _print_problem_files(items: list[dict[str, Any]], limit: int = 50) -> None:
    """Name the files that were not stored because of themselves (unmatched, quarantined), with the reason."""
    problems = [i for i in items if i.get("outcome") in ("unmatched", "quarantined")]
    for item in problems[:limit]:
        why = item.get("reason") or ""
        detail = item.get("message") or item.get("note") or ""
        label = item["outcome"] + (" earlier" if item.get("earlier") else "")
        console.print(
            f"[yellow]{label}[/yellow] {lit(item['path'])}: {lit(why)}"
            + (f" ({lit(detail)})" if detail and detail != why else "")
        )
    if len(problems) > limit:
        console.print(f"... and {len(problems) - limit:,} more (see --json)")


def ingest_command(
    ctx: typer.Context,
    sources: list[Path] = typer.Argument(..., metavar="SRC...", help="Audio files or folders (walked recursively)."),
    map_csv: Path | None = typer.Option(
        None,
        "--map",
        metavar="CSV",
        help="CSV with columns path,track_id or path,isrc (paths relative to the CSV).",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=0,
        help="Local worker processes (default: every core; with --scheduler the cluster's workers run the tasks).",
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="Run the per-file work on a Dask cluster (`fonoteca cluster "
        "local` starts one here). Default: cluster.scheduler in fonoteca.toml.",
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        metavar="shared|sources|none",
        help="What the cluster's workers share with this machine (default: "
        "cluster.storage in fonoteca.toml, else shared).",
    ),
    tier: str = typer.Option(
        "plan",
        "--tier",
        metavar="plan|original|compact",
        help="plan (follow `fonoteca plan`), or original|compact for every file.",
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any input was quarantined or unmatched."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary (with one item per input) as JSON."),
) -> None:
    """Match audio files to catalog tracks, validate them by a full decode, keep (original) or re-encode to
    Ogg Opus (compact) as the plan says, tag, checksum and store them atomically. Rejected files go to
    quarantine/ with a JSON reason; unmatched files are reported, never guessed."""
    from fonoteca.ingest.options import IngestOptions
    from fonoteca.ingest.pipeline import ingest

    archive = open_archive(ctx)
    options = IngestOptions.from_config(
        archive.config, workers=workers, map_csv=map_csv, tier=tier, scheduler=scheduler, storage=storage
    )
    with progress_bar("ingest", unit="files") as report:
        summary = ingest(archive, sources, options, progress=report)
    if as_json:
        print_json(summary.as_dict())
    else:
        _print_summary(summary)
    if strict and summary.problems:
        console.print(
            f"[red]--strict:[/red] {summary.problems:,} inputs quarantined or unmatched (in this run or an earlier one)"
        )
        raise typer.Exit(1)


def restore_command(
    ctx: typer.Context,
    track: str = typer.Argument(..., metavar="TRACK", help="Track id, spotify:track:ID, URL or isrc:CODE."),
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="Where to write the rebuilt file."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Rebuild the ingested input of a track byte for byte (original tier: stored file + patch) and check
    its sha256. For a compact-tier track the stored Opus file is written (the input was not kept)."""
    from fonoteca.ingest.restore import restore

    result = restore(open_archive(ctx), track, out)
    if as_json:
        print_json(
            {
                "track": result.track,
                "tier": result.tier,
                "out": str(result.out),
                "size": result.size,
                "sha256": result.sha256,
                "exact": result.exact,
            }
        )
    elif result.exact:
        console.print(
            f"restored {result.track} to {result.out}: {result.size:,} bytes, sha256 {result.sha256} "
            f"matches the ingested input"
        )
    else:
        console.print(
            f"{result.track} is kept in the compact tier: wrote the stored Opus file to {result.out} "
            f"(sha256 {result.sha256} checked); the input itself was not kept"
        )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("ingest")(ingest_command)
    app.command("restore")(restore_command)
