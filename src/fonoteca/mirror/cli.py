"""`fonoteca seed`, `mirror`, `fetch`, `verify [--repair]` and `coverage`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer

from fonoteca.commands import archive_root
from fonoteca.console import console, emit_line, emit_pairs, emit_table, lit, print_json
from fonoteca.errors import FonotecaError
from fonoteca.hookspecs import hookimpl

PEER_HELP = "Connect to this peer directly (HOST:PORT, repeatable), besides trackers, DHT and web seeds."


def _peers(items: list[str]) -> list[tuple[str, int]]:
    from fonoteca.mirror.session import parse_peer

    return [parse_peer(p) for p in items]


class _Bars:
    """A progress bar per torrent and one overall: bytes, rate, ETA."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(), console=console.real,
                                 disable=not enabled)
        self.tasks: dict[str, Any] = {}
        self.overall = None

    def __enter__(self) -> "_Bars":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def tick(self, jobs: list, statuses: list) -> None:
        if self.overall is None:
            self.overall = self.progress.add_task("all torrents", total=None)
        for j, st in zip(jobs, statuses):
            if j.key not in self.tasks:
                label = j.key if len(j.key) <= 56 else j.key[:27] + "…" + j.key[-28:]
                self.tasks[j.key] = self.progress.add_task(label, total=max(st.total_wanted, 1))
            self.progress.update(self.tasks[j.key], completed=st.total_wanted_done, total=max(st.total_wanted, 1))
        self.progress.update(self.overall, completed=sum(s.total_wanted_done for s in statuses),
                             total=max(sum(s.total_wanted for s in statuses), 1))


def _size(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    from fonoteca.units import parse_size

    return parse_size(text)


def _print_report(report: Any) -> None:
    """Each problem as a row on stdout (the result of verify); the totals on stderr."""
    from fonoteca.mirror.verify import KINDS

    rows = []
    for kind in (*KINDS, "withdrawn"):
        for p in report.of(kind):
            pieces = ",".join(map(str, p.pieces[:20])) + ("..." if len(p.pieces) > 20 else "")
            where = f"{p.release}/torrents/{p.path}" if kind == "unreadable" else f"{p.release}/data/{p.path}"
            rows.append((kind, where, p.track or "", pieces, p.reason))
    if rows:
        emit_table(("problem", "file", "track", "pieces", "reason"), rows, wide=("file", "reason"))
    rate = report.bytes / report.seconds / 1e6 if report.seconds else 0
    status = "[green]intact[/]" if report.ok else \
        "[red]" + ", ".join(f"{len(report.of(k))} {k}" for k in KINDS if report.of(k) or k != "unreadable") + "[/]"
    withdrawn = f", {len(report.withdrawn)} withdrawn (not checked, never fetched)" if report.withdrawn else ""
    console.print(f"{report.torrents} torrents, {report.files} files, {report.bytes:,} bytes in "
                  f"{report.seconds:.1f} s ({rate:.0f} MB/s): {status}{withdrawn}")


class _SeedTable:
    """A live table on stderr: every torrent seeded, its state, peers, bytes uploaded and upload rate."""

    def __init__(self, seeder: Any) -> None:
        from rich.live import Live

        self.seeder = seeder
        self.live = Live(self._render(), console=console.real, refresh_per_second=1, transient=False)

    def _render(self) -> Any:
        from rich.table import Table

        from fonoteca.console import cell
        from fonoteca.units import format_size

        rows = self.seeder.torrents()
        table = Table(title=f"seeding on port {self.seeder.port}", title_justify="left")
        for name in ("torrent", "state", "peers", "uploaded", "rate"):
            table.add_column(name, justify="right" if name in ("peers", "uploaded", "rate") else "left")
        for r in rows:
            table.add_row(cell(r["name"]), r["state"], f"{r['peers']:,}", format_size(r["uploaded"]),
                          f"{format_size(r['upload_rate'])}/s")
        table.add_row("all", "", f"{sum(r['peers'] for r in rows):,}", format_size(sum(r["uploaded"] for r in rows)),
                      f"{format_size(sum(r['upload_rate'] for r in rows))}/s")
        return table

    def refresh(self) -> None:
        self.live.update(self._render())

    def __enter__(self) -> "_SeedTable":
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.live.__exit__(*exc)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    @app.command("seed")
    def seed_cmd(
        ctx: typer.Context,
        listen: str = typer.Option("0.0.0.0:6881", "--listen", help="HOST:PORT to accept peers on."),
        discovery: bool = typer.Option(False, "--discovery/--no-discovery",
                                       help="Also use DHT, local peer discovery, UPnP and NAT-PMP."),
        trust: bool = typer.Option(False, "--trust", help="Skip checking the data first (seed mode)."),
        duration: Optional[float] = typer.Option(None, "--for", help="Stop after this many seconds."),
        paths: Optional[list[Path]] = typer.Argument(None, help="Archive or mirror folders (default: the archive)."),
    ) -> None:
        """Seed every release torrent archives or mirrors hold, until interrupted."""
        from fonoteca.mirror import Seeder, seed_items

        roots = paths or [archive_root(ctx, None)]
        items = [item for root in roots for item in seed_items(root)]
        if not items:
            raise FonotecaError(f"{', '.join(map(str, roots))}: no torrents to seed")
        with Seeder(items, listen=listen, discovery=discovery, trust=trust) as s:
            console.print(f"seeding {len(items)} torrents on port {s.port} (Ctrl-C to stop)")
            t0 = time.monotonic()
            with _SeedTable(s) as table:
                try:
                    while duration is None or time.monotonic() - t0 < duration:
                        time.sleep(1)
                        table.refresh()
                except KeyboardInterrupt:
                    pass
            st = s.stats()
            console.print(f"{st['seeding']}/{st['torrents']} seeding, {st['uploaded']:,} bytes uploaded")


    @app.command("mirror")
    def mirror_cmd(
        source: str = typer.Argument(..., help="torrents.json (path or URL), a release folder, an archive, or the metadata torrent (magnet link or .torrent; needs --peer or --discovery)."),
        into: Path = typer.Option(..., "--into", help="The mirror folder (created; an archive-shaped folder)."),
        budget: Optional[str] = typer.Option(None, "--budget", help="Disk budget (e.g. 500GB): `torrents pick`."),
        bands: Optional[list[str]] = typer.Option(None, "--band", "--bands", help="Only these bands (repeatable)."),
        peer: Optional[list[str]] = typer.Option(None, "--peer", help=PEER_HELP),
        listen: str = typer.Option("0.0.0.0:0", "--listen", help="HOST:PORT for this session."),
        discovery: bool = typer.Option(False, "--discovery/--no-discovery", help="Also use DHT, LSD, UPnP, NAT-PMP."),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="Give up after this many seconds."),
        stall: float = typer.Option(600, "--stall", help="Give up after this many seconds without progress."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Download torrents of a Fonoteca release into a mirror folder (resumable; seed it with `fonoteca seed`)."""
        from fonoteca.mirror import mirror

        with _Bars(not as_json) as bars:
            res = mirror(source, into, budget=_size(budget), bands=bands or None, peers=_peers(peer or []),
                         listen=listen, discovery=discovery, timeout=timeout, stall=stall, tick=bars.tick)
        if as_json:
            print_json(res.as_dict())
        else:
            for e in res.outcome.errors[-5:]:
                console.print(f"[yellow]{lit(e)}[/]")
            console.print(f"{len(res.chosen)} torrents, {res.outcome.downloaded:,} bytes downloaded in "
                          f"{res.outcome.seconds:.1f} s: {'complete' if res.complete else 'INCOMPLETE (run again to resume)'}")
        if not res.complete:
            raise typer.Exit(1)

    @app.command("fetch")
    def fetch_cmd(
        track: str = typer.Argument(..., help="Track id, NS:track:ID (as other commands print it), NS:ID, a URL or "
                                              "isrc:CODE."),
        into: Path = typer.Option(..., "--into", help="Folder: the file is written there as 'Artist - Title.ext' "
                                                      "(the mirror layout beside it keeps it verifiable)."),
        source: Optional[str] = typer.Option(None, "--from", help="Source of the torrents and manifests, when "
                                             "--into is not a mirror of them already."),
        peer: Optional[list[str]] = typer.Option(None, "--peer", help=PEER_HELP),
        listen: str = typer.Option("0.0.0.0:0", "--listen", help="HOST:PORT for this session."),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="Give up after this many seconds."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Download one track's file out of its bulk torrent and check its sha256."""
        from fonoteca.mirror import fetch

        with _Bars(not as_json) as bars:
            res = fetch(track, into, source=source, peers=_peers(peer or []), listen=listen, timeout=timeout,
                        tick=bars.tick)
        if as_json:
            print_json(res.as_dict())
        elif res.ok:
            console.print(f"{lit(res.track)}: sha256 {res.sha256} matches the manifest")
            emit_line(res.path)
        else:
            console.print(f"[red]failed:[/red] {lit(res.track)}: {lit(res.reason)}")
        if not res.ok:
            raise typer.Exit(1)

    @app.command("verify")
    def verify_cmd(
        ctx: typer.Context,
        path: Optional[Path] = typer.Argument(None, help="Archive or mirror folder (default: the archive)."),
        do_repair: bool = typer.Option(False, "--repair", help="Download the bad pieces again from peers."),
        peer: Optional[list[str]] = typer.Option(None, "--peer", help=PEER_HELP),
        listen: str = typer.Option("0.0.0.0:0", "--listen", help="HOST:PORT for the repair session."),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="Give up repairing after this many seconds."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Check every piece hash and every manifest sha256; exit 1 when anything is missing or corrupt."""
        from fonoteca.mirror import repair, verify_root

        root = archive_root(ctx, path)
        report = verify_root(root)
        out: dict[str, Any] = report.as_dict()
        if do_repair and not report.ok:
            if not as_json:
                _print_report(report)
                console.print("repairing...")
            with _Bars(not as_json) as bars:
                fixed = repair(root, _peers(peer or []), listen=listen, timeout=timeout, tick=bars.tick, before=report)
            report = fixed.after
            out = report.as_dict()
            out["repair"] = {"before": fixed.before.as_dict(), "downloaded": fixed.downloaded,
                             "errors": fixed.outcome.errors if fixed.outcome else []}
        if as_json:
            print_json(out)
        else:
            _print_report(report)
        if report.of("missing") or report.of("corrupt") or report.of("unreadable"):
            raise typer.Exit(1)

    @app.command("coverage")
    def coverage_cmd(
        ctx: typer.Context,
        path: Optional[Path] = typer.Argument(None, help="Mirror or archive folder (default: the archive)."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Share of the collection's tracks, bytes and estimated listens that a mirror holds."""
        from fonoteca.mirror import coverage

        cov = coverage(archive_root(ctx, path))
        if as_json:
            print_json(cov)
            return

        def pct(v: Optional[float]) -> str:
            return "n/a" if v is None else f"{100 * v:.1f}%"

        emit_pairs([
            ("torrents", f"{cov['torrents']:,} of {cov['released_torrents']:,}"),
            ("tracks", f"{cov['tracks']:,} of {cov['released_tracks']:,} released ({pct(cov['share_tracks_released'])}), "
                       f"{pct(cov['share_tracks_catalog'])} of the catalog's {cov['catalog_tracks'] or 0:,}"),
            ("bytes", f"{cov['bytes']:,} of {cov['released_bytes']:,} ({pct(cov['share_bytes'])})"),
            ("listens", f"{pct(cov['share_listens'])} of the released tracks' estimated listens"),
        ], title="coverage")
