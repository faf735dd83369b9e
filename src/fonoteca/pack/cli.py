"""`fonoteca pack` and `fonoteca torrents list|pick|mark`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fonoteca.commands import open_archive
from fonoteca.console import console, emit_line, emit_table, lit, number, print_json, progress_bar
from fonoteca.hookspecs import hookimpl

torrents_app = typer.Typer(
    help="The archive's torrents: list them, choose which to seed, flag them.", no_args_is_help=True
)


@torrents_app.command("list")
def torrents_list_command(
    ctx: typer.Context,
    release: str | None = typer.Option(None, "--release", help="Only this release's torrents."),
    as_json: bool = typer.Option(False, "--json", help="Print the list in torrents.json form."),
) -> None:
    """Every torrent of the archive's releases (data and metadata), oldest first."""
    from fonoteca.pack.listing import list_torrents
    from fonoteca.units import format_size

    items = list_torrents(open_archive(ctx), release=release)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no torrents yet: make a release with `fonoteca pack`")
        return
    rows = [
        (
            r["name"],
            f"{r['num_files']:,}",
            format_size(r["data_size"]),
            _seeders(r),
            ",".join(f for f in ("obsolete", "embargo", "partially_broken") if r.get(f)),
            r["btih"],
        )
        for r in items
    ]
    emit_table(
        ("torrent", "files", "size", "seeders", "flags", "btih"),
        rows,
        title=f"{len(items):,} torrents (magnet links: --json)",
        right=("files", "size", "seeders"),
        wide=("torrent",),
    )


def _seeders(record: dict[str, Any]) -> str:
    """Seeders as a scrape counted them; "unknown" when nobody counted."""
    return f"{record['seeders']:,}" if record.get("stats_scraped_at") else "unknown"


@torrents_app.command("pick")
def torrents_pick_command(
    ctx: typer.Context,
    source: Path | None = typer.Argument(
        None, metavar="LIST", help="A downloaded torrents.json (default: this archive's torrents)."
    ),
    budget: str = typer.Option(..., "--budget", metavar="SIZE", help="Disk space to fill, e.g. 4TB, 500GiB."),
    weight: float | None = typer.Option(
        None,
        "--popularity-weight",
        min=0.0,
        metavar="NUMBER",
        help="How much more a popular torrent counts (default: [pack] "
        "pick_popularity_weight of the archive, else 1.0).",
    ),
    bands: list[str] | None = typer.Option(
        None,
        "--band",
        metavar="BAND",
        help="Only torrents of this band (repeatable; the metadata torrent always), before the budget.",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        metavar="N",
        help="Fix the random part of the score (the same N, the same list); default: a new draw each time.",
    ),
    magnets: bool = typer.Option(False, "--magnets", help="Print only the magnet links, one per line."),
    as_json: bool = typer.Option(False, "--json", help="Print the picks as JSON."),
) -> None:
    """The torrents to seed on a disk of SIZE, as the reference site's generator chooses them: the newest metadata
    torrent, then the neediest by (seeders + 0.1 x leechers) x (average size / size) + uniform(0, 2), divided by
    Fonoteca's popularity weight; obsolete, embargoed and counted-dead torrents are left out. Works on a
    downloaded torrents.json too, outside any archive."""
    from fonoteca.pack.listing import pick
    from fonoteca.units import format_size, parse_size

    size = parse_size(budget)
    items, configured = _pick_source(ctx, source)
    picks = pick(items, size, popularity_weight=configured if weight is None else weight, bands=bands, seed=seed)
    if magnets:
        for p in picks:
            emit_line(p.record["magnet_link"])
        return
    if as_json:
        print_json(
            {
                "budget": size,
                "bytes": picks[-1].cumulative if picks else 0,
                "torrents": len(picks),
                "picks": [dict(p.record, score=round(p.score, 6), cumulative_size=p.cumulative) for p in picks],
            }
        )
        return
    rows = [
        (
            i,
            p.record.get("name") or p.record.get("display_name"),
            format_size(p.record["data_size"]),
            _seeders(p.record),
            "metadata" if p.record.get("is_metadata") else f"{p.score:.3f}",
            format_size(p.cumulative),
            p.record.get("btih"),
        )
        for i, p in enumerate(picks, 1)
    ]
    emit_table(
        ("#", "torrent", "size", "seeders", "score", "total", "btih"),
        rows,
        title=f"seed these {len(picks):,} torrents on {budget}",
        right=("#", "size", "seeders", "score", "total"),
        wide=("torrent",),
    )
    used = picks[-1].cumulative if picks else 0
    console.print(
        f"uses {format_size(used)} of {lit(budget)}; magnet links: "
        f"fonoteca torrents pick --budget {lit(budget)} --magnets"
    )


def _pick_source(ctx: typer.Context, source: Path | None) -> tuple[list[dict[str, Any]], float]:
    """The torrents to choose from and the popularity weight: a downloaded list (weight 1.0 unless given), else
    the archive's own torrents and its [pack] pick_popularity_weight."""
    from fonoteca.pack.listing import list_torrents, read_list
    from fonoteca.pack.settings import PackSettings

    if source is not None:
        return read_list(source), 1.0
    archive = open_archive(ctx)
    return list_torrents(archive), PackSettings.from_config(archive.config).pick_popularity_weight


@torrents_app.command("mark")
def torrents_mark_command(
    ctx: typer.Context,
    torrents: list[str] = typer.Argument(..., metavar="TORRENT...", help="Torrent names, btih or btmh."),
    obsolete: bool | None = typer.Option(
        None, "--obsolete/--not-obsolete", help="Superseded: no longer worth seeding."
    ),
    embargo: bool | None = typer.Option(None, "--embargo/--no-embargo", help="Held back: must not be seeded for now."),
) -> None:
    """Flag torrents obsolete or embargoed (or clear the flags); `torrents pick` leaves flagged ones out."""
    from fonoteca.errors import UsageError
    from fonoteca.pack.listing import mark

    if obsolete is None and embargo is None:
        raise UsageError("say what to change: --obsolete/--not-obsolete and/or --embargo/--no-embargo")
    n = mark(open_archive(ctx), torrents, obsolete=obsolete, embargo=embargo)
    console.print(f"updated {n} torrent{'s' if n != 1 else ''}; releases/torrents.json rewritten")


def pack_command(
    ctx: typer.Context,
    name: str | None = typer.Option(None, "--name", help="Release name (default: COLLECTION-NNNN)."),
    verify: bool | None = typer.Option(
        None,
        "--verify/--no-verify",
        help="Check each file's sha256 against the catalog while hashing (default: [pack] verify, true).",
    ),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="Hashing threads (default: every core)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Release every stored file not released yet as BitTorrent v1+v2 hybrid torrents grouped by popularity
    band, with a manifest, torrents.json and a metadata torrent. Releases never change once written."""
    from fonoteca.pack.hybrid import Hasher
    from fonoteca.pack.release import pack
    from fonoteca.pack.settings import PackSettings

    archive = open_archive(ctx)
    settings = PackSettings.from_config(archive.config, verify=verify)
    hasher = Hasher(workers or settings.workers or None).start()  # forked before the progress bar's thread
    with hasher, progress_bar("pack", unit="bytes", units={"metadata torrent": "steps"}) as report:
        summary = pack(archive, name=name, settings=settings, progress=report, hasher=hasher)
    if as_json:
        print_json(summary.as_dict())
        return
    _print_pack_summary(summary)
    if summary.release is not None:
        emit_line(summary.release)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("pack")(pack_command)
    app.add_typer(torrents_app, name="torrents")


def _print_pack_summary(summary: Any) -> None:
    """The release, band by band, on stderr; stdout gets only the release name (what a script needs)."""
    from rich.table import Table

    from fonoteca.units import format_size

    for s in summary.skipped:
        console.print(f"[yellow]skipped[/yellow] {lit(s['file'])} ({lit(s['track'])}): {lit(s['reason'])}")
    for why, n in sorted(summary.withheld.items()):
        console.print(
            f"not published: {n:,} file{'s' if n != 1 else ''} ({lit(why)}; see [release] licences and "
            "`fonoteca ledger list`)"
        )
    for r in summary.replacements:
        console.print(
            f"replacement {lit(r['torrent'])} for {lit(r['replaces'])} ({r['left_out']} withdrawn file"
            f"{'s' if r['left_out'] != 1 else ''} left out); the earlier torrent is unchanged and listed "
            "partially_broken"
        )
    if summary.recovered:
        console.print(f"removed unfinished releases: {lit(', '.join(summary.recovered))}")
    if summary.release is None:
        console.print("nothing to release: every stored file is in a release already")
        return
    table = Table(
        title=f"release {lit(summary.release)}: {summary.files:,} files, {format_size(summary.bytes)}, "
        f"{len(summary.torrents)} torrents in {summary.seconds:.1f} s "
        f"(hashing {summary.hash_rate / 1e6:,.0f} MB/s)",
        title_justify="left",
    )
    for column in ("band", "torrents", "files", "size", "tracks", "estimated listens"):
        table.add_column(column, justify="left" if column == "band" else "right")
    for band, b in summary.bands.items():
        table.add_row(
            band,
            f"{b['torrents']:,}",
            f"{b['files']:,}",
            format_size(b["bytes"]),
            f"{b['tracks']:,}",
            number(b["listens"]),
        )
    console.print(table)
    if summary.metadata:
        console.print(f"metadata torrent {lit(summary.metadata.name)}: {lit(summary.metadata.magnet)}")
    console.print(f"written to {lit(summary.root)}")
