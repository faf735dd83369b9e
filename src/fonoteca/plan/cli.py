"""`fonoteca plan`: choose each track's tier within a storage budget (stats charts live in plan.stats)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fonoteca.commands import open_archive
from fonoteca.console import console, emit_table, lit, print_json, progress_bar
from fonoteca.hookspecs import hookimpl
from fonoteca.progress import Progress


def _print_summary(s: dict[str, Any], budget_text: str | None) -> None:
    """The plan per tier on stdout (the result); the verdict, bounds and warnings on stderr."""
    from fonoteca.units import format_size

    budget = "no budget" if s["budget"] is None else f"budget {budget_text}"
    rows = [
        (name, f"{t['files']:,}", f"{t['tracks']:,}", format_size(t["bytes"]), f"{t['listens_covered']:.2%}")
        for name, t in s["tiers"].items()
    ]
    rows.append(
        (
            "total",
            f"{s['files']:,}",
            f"{s['tracks_kept']:,} of {s['tracks']:,}",
            format_size(s["bytes"]),
            f"{s['listens_covered']:.3%}",
        )
    )
    emit_table(
        ("tier", "files", "tracks", "bytes", "listens covered"),
        rows,
        title=f"plan ({s['policy']}, {budget})",
        right=("files", "tracks", "bytes", "listens covered"),
    )
    if s["fits"] is not None:
        verdict = "[green]fits[/green]" if s["fits"] else "[red]does not fit[/red]"
        console.print(f"needs {format_size(s['bytes'])}: {verdict} in {lit(budget_text)}")
    if "bound" in s:
        console.print(
            f"quality-weighted listens {s['quality_weighted']:.3%} (compact counts {s['compact_value']}); "
            f"LP upper bound {s['bound']['lp_share']:.3%}, so within {s['bound']['gap']:.4%} of optimal"
        )
    needs = ", ".join(f"{float(k):.1%}: {format_size(v)}" for k, v in s["bytes_for_share"].items() if v is not None)
    console.print(f"bytes to cover a share of listens (optimal order): {needs}")
    for warning in s["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {lit(warning)}")
    if "run" in s:
        console.print(f"stored as plan run {s['run']} (table plan); ingest follows it")


plays_app = typer.Typer(
    help="Play counts that replace the popularity estimate of the listen model.", no_args_is_help=True
)


@plays_app.command("import")
def plays_import_command(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="CSV/TSV (plain, .gz, .zst) with a header: track id/URI or isrc, and plays."),
    source: str | None = typer.Option(None, help="Label stored with the counts (default: the file name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Load play counts (columns track|track_id|id|uri|isrc and plays|playcount|streams|listens)."""
    from fonoteca.plan.plays import import_plays

    archive = open_archive(ctx)
    conn = archive.connect()
    try:
        summary = import_plays(conn, path, source)
    finally:
        conn.close()
    if as_json:
        print_json(summary.as_dict())
        return
    console.print(
        f"{summary.tracks:,} tracks got play counts from {summary.lines:,} lines "
        f"({summary.unmatched:,} unmatched, {summary.bad:,} unreadable)"
    )
    for example in summary.examples:
        console.print(f"[yellow]{lit(example)}[/yellow]")


def plan_command(
    ctx: typer.Context,
    budget: str | None = typer.Option(
        None,
        "--budget",
        "-b",
        metavar="SIZE",
        help="Disk to fill, e.g. 500GB, 300TB, 1.5TiB (kB..PB: powers of 1000; KiB..PiB: powers of 1024). "
        "Needed by optimal; with anna and all the plan reports whether it fits.",
    ),
    policy: str = typer.Option(
        "optimal",
        "--policy",
        "-p",
        metavar="NAME",
        help="optimal: most listens within the budget (compact vs original per recording); anna: the "
        "reference archive's rule (popularity > 0 original, else compact above a secondary priority of "
        "0.351); all: every recording as the original. Plugins may add more.",
    ),
    compact_value: float | None = typer.Option(
        None,
        "--compact-value",
        min=0.0,
        max=1.0,
        help="Worth of a listen served by the compact tier relative to the original (default: compact_value "
        "in the plan table of fonoteca.toml, else 0.9). Only optimal uses it.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; leave the stored plan as it is."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Assign each track a tier (original, compact, skip) and report files, bytes and the share of
    estimated listens covered. Tracks sharing an ISRC count once. The plan is stored in the catalog
    (table plan) and is what ingest follows."""
    from fonoteca.plan import planner
    from fonoteca.units import parse_size

    size = parse_size(budget) if budget is not None else None
    archive = open_archive(ctx)
    with progress_bar("plan", unit="tracks", transient=True) as report:
        summary = planner.run(archive, policy, size, compact_value=compact_value, write=not dry_run, progress=report)
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary, budget)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.add_typer(plays_app, name="plays")
    app.command("plan")(plan_command)


@hookimpl
def register_policies() -> list[Any]:
    from fonoteca.plan.policies import BUILTIN_POLICIES

    return list(BUILTIN_POLICIES)


@hookimpl
def write_stats(archive: Any, out: Path, counts: dict[str, Any], progress: Progress | None) -> dict[str, Any]:
    from fonoteca.plan.stats import write_stats as write

    return write(archive, out, counts=counts, progress=progress)
