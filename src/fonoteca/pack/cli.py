"""`fonoteca pack` and `fonoteca torrents list|pick|mark`."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from fonoteca import archive as archive_mod
from fonoteca.console import console, print_json, progress
from fonoteca.plan.units import format_size, parse_size

torrents_app = typer.Typer(help="The archive's torrents: list them, choose which to seed, flag them.",
                           no_args_is_help=True)


def _archive(ctx: typer.Context) -> archive_mod.Archive:
    obj = ctx.find_root().obj or {}
    return archive_mod.open_archive(obj.get("archive"))


@torrents_app.command("list")
def list_cmd(
    ctx: typer.Context,
    release: Optional[str] = typer.Option(None, "--release", help="Only this release's torrents."),
    as_json: bool = typer.Option(False, "--json", help="Print the list in torrents.json form."),
) -> None:
    """Every torrent of the archive's releases (data and metadata), oldest first."""
    from fonoteca.pack.listing import list_torrents

    items = list_torrents(_archive(ctx), release=release)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no torrents yet: make a release with `fonoteca pack`")
        return
    table = Table(title=f"{len(items):,} torrents (details, btih and magnet links: --json)", title_justify="left")
    table.add_column("torrent", overflow="fold", ratio=3)
    for column in ("files", "size", "seeders", "flags"):
        table.add_column(column, justify="left" if column == "flags" else "right", no_wrap=True)
    for r in items:
        flags = ",".join(f for f in ("obsolete", "embargo") if r[f])
        table.add_row(r["name"], f"{r['num_files']:,}", format_size(r["data_size"]),
                      str(r["seeders"]) if r["stats_scraped_at"] else "?", flags)
    console.print(table)


@torrents_app.command("pick")
def pick_cmd(
    ctx: typer.Context,
    budget: str = typer.Option(..., "--budget", metavar="SIZE", help="Disk space to fill, e.g. 4TB, 500GiB."),
    magnets: bool = typer.Option(False, "--magnets", help="Print only the magnet links, one per line."),
    as_json: bool = typer.Option(False, "--json", help="Print the picks as JSON."),
) -> None:
    """The torrents to seed on a disk of SIZE: the newest metadata torrent, then the least seeded per byte,
    weighted by popularity; obsolete and embargoed torrents are left out."""
    from fonoteca.pack.listing import list_torrents, pick
    from fonoteca.pack.settings import PackSettings

    size = parse_size(budget)
    archive = _archive(ctx)
    settings = PackSettings.from_config(archive.config)
    picks = list(pick(list_torrents(archive), size, popularity_weight=settings.pick_popularity_weight))
    if magnets:
        for p in picks:
            typer.echo(p.record["magnet_link"])
        return
    if as_json:
        print_json({"budget": size, "bytes": picks[-1].cumulative if picks else 0, "torrents": len(picks),
                    "picks": [dict(p.record, priority=p.priority, cumulative_size=p.cumulative) for p in picks]})
        return
    table = Table(title=f"seed these {len(picks):,} torrents on {format_size(size)}", title_justify="left")
    for column in ("#", "torrent", "size", "seeders", "priority", "total"):
        if column == "torrent":
            table.add_column(column, overflow="fold", ratio=3)
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for i, p in enumerate(picks, 1):
        r = p.record
        table.add_row(str(i), r["name"], format_size(r["data_size"]),
                      str(r["seeders"]) if r["stats_scraped_at"] else "?", f"{p.priority:.3f}",
                      format_size(p.cumulative))
    console.print(table)
    used = picks[-1].cumulative if picks else 0
    console.print(f"uses {format_size(used)} of {format_size(size)}; magnet links: "
                  f"fonoteca torrents pick --budget {budget} --magnets")


@torrents_app.command("mark")
def mark_cmd(
    ctx: typer.Context,
    torrents: list[str] = typer.Argument(..., metavar="TORRENT...", help="Torrent names, btih or btmh."),
    obsolete: Optional[bool] = typer.Option(None, "--obsolete/--not-obsolete", help="Superseded: no longer worth seeding."),
    embargo: Optional[bool] = typer.Option(None, "--embargo/--no-embargo", help="Held back: must not be seeded for now."),
) -> None:
    """Flag torrents obsolete or embargoed (or clear the flags); `torrents pick` leaves flagged ones out."""
    from fonoteca.errors import UsageError
    from fonoteca.pack.listing import mark

    if obsolete is None and embargo is None:
        raise UsageError("say what to change: --obsolete/--not-obsolete and/or --embargo/--no-embargo")
    n = mark(_archive(ctx), torrents, obsolete=obsolete, embargo=embargo)
    console.print(f"updated {n} torrent{'s' if n != 1 else ''}; releases/torrents.json rewritten")


def register(app: typer.Typer) -> None:
    @app.command("pack")
    def pack_cmd(
        ctx: typer.Context,
        name: Optional[str] = typer.Option(None, "--name", help="Release name (default: COLLECTION-NNNN)."),
        verify: Optional[bool] = typer.Option(None, "--verify/--no-verify",
                                              help="Check each file's sha256 against the catalog while hashing "
                                                   "(default: [pack] verify, true)."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", min=1, help="Hashing threads (default: every core)."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Release every stored file not released yet as BitTorrent v1+v2 hybrid torrents grouped by popularity
        band, with a manifest, torrents.json and a metadata torrent. Releases never change once written."""
        from fonoteca.pack.hybrid import Hasher
        from fonoteca.pack.release import pack
        from fonoteca.pack.settings import PackSettings

        archive = _archive(ctx)
        settings = PackSettings.from_config(archive.config, verify=verify)
        hasher = Hasher(workers or settings.workers or None).start()  # forked before the progress bar's thread
        with hasher, progress() as bar:
            tasks: dict[str, int] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task("hash" if stage == "hash" else "metadata torrent", total=total,
                                                unit="bytes" if stage == "hash" else "steps")
                bar.update(tasks[stage], completed=done, total=total)

            summary = pack(archive, name=name, settings=settings, on_progress=on_progress, hasher=hasher)
        if as_json:
            print_json(summary.as_dict())
            return
        for s in summary.skipped:
            console.print(f"[yellow]skipped[/yellow] {s['file']} ({s['track']}): {s['reason']}")
        if summary.recovered:
            console.print(f"removed unfinished releases: {', '.join(summary.recovered)}")
        if summary.release is None:
            console.print("nothing to release: every stored file is in a release already")
            return
        table = Table(title=f"release {summary.release}: {summary.files:,} files, {format_size(summary.bytes)}, "
                            f"{len(summary.torrents)} torrents in {summary.seconds:.1f} s "
                            f"(hashing {summary.hash_rate / 1e6:,.0f} MB/s)", title_justify="left")
        for column in ("band", "torrents", "files", "size", "tracks", "listens"):
            table.add_column(column, justify="left" if column == "band" else "right")
        for band, b in summary.bands.items():
            table.add_row(band, str(b["torrents"]), f"{b['files']:,}", format_size(b["bytes"]), f"{b['tracks']:,}",
                          f"{b['listens']:.3g}")
        console.print(table)
        if summary.metadata:
            console.print(f"metadata torrent {summary.metadata.name}: {summary.metadata.magnet}")
        console.print(f"written to {summary.root}")

    app.add_typer(torrents_app, name="torrents")
