"""`fonoteca seed`, `mirror`, `fetch`, `verify [--repair]` and `coverage`."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import typer

from fonoteca.commands import archive_root
from fonoteca.console import console, emit_line, emit_pairs, emit_table, lit, print_json
from fonoteca.errors import FonotecaError
from fonoteca.hookspecs import hookimpl
from fonoteca.pack.cli import torrents_app

if TYPE_CHECKING:
    from rich.progress import TaskID

PEER_HELP = "Connect to this peer directly (HOST:PORT, repeatable), besides trackers, DHT and web seeds."


def _peers(items: list[str]) -> list[tuple[str, int]]:
    from fonoteca.mirror.session import parse_peer

    return [parse_peer(p) for p in items]


class _Bars:
    """A progress bar per torrent and one overall: bytes, rate, ETA."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console.real,
            disable=not enabled,
        )
        self.tasks: dict[str, Any] = {}
        self.overall: TaskID | None = None

    def __enter__(self) -> _Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.__exit__(kind, exc, tb)

    def tick(self, jobs: list, statuses: list) -> None:
        if self.overall is None:
            self.overall = self.progress.add_task("all torrents", total=None)
        for j, st in zip(jobs, statuses, strict=True):
            if j.key not in self.tasks:
                label = j.key if len(j.key) <= 56 else j.key[:27] + "…" + j.key[-28:]
                self.tasks[j.key] = self.progress.add_task(label, total=max(st.total_wanted, 1))
            self.progress.update(self.tasks[j.key], completed=st.total_wanted_done, total=max(st.total_wanted, 1))
        self.progress.update(
            self.overall,
            completed=sum(s.total_wanted_done for s in statuses),
            total=max(sum(s.total_wanted for s in statuses), 1),
        )


def _size(text: str | None) -> int | None:
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
    status = (
        "[green]intact[/]"
        if report.ok
        else "[red]" + ", ".join(f"{len(report.of(k))} {k}" for k in KINDS if report.of(k) or k != "unreadable") + "[/]"
    )
    withdrawn = f", {len(report.withdrawn)} withdrawn (not checked, never fetched)" if report.withdrawn else ""
    console.print(
        f"{report.torrents} torrents, {report.files} files, {report.bytes:,} bytes in "
        f"{report.seconds:.1f} s ({rate:.0f} MB/s): {status}{withdrawn}"
    )


def _seed_until(
    roots: list[Path],
    *,
    listen: str,
    discovery: bool,
    trust: bool,
    duration: float | None,
    site: tuple[str, int] | None,
    peers: list[tuple[str, int]] | None = None,
) -> None:
    """Seed what the folders hold (and serve the first one's site) until Ctrl-C, SIGTERM or `duration`."""
    import signal
    import threading

    from fonoteca.mirror import Seeder, seed_items

    items = [item for root in roots for item in seed_items(root)]
    if not items:
        raise FonotecaError(f"{', '.join(map(str, roots))}: no torrents to seed")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = None
    try:
        with Seeder(
            items,
            listen=listen,
            discovery=discovery,
            trust=trust,
            peers=peers or [],
            resume_dir=roots[0] / ".mirror" / "resume",
        ) as seeder:
            if site is not None:
                server = _start_site(roots[0], *site)
            console.print(
                f"seeding {len(items)} torrents on port {seeder.port}"
                + (f", site at {server.url}" if server is not None else "")
                + " (Ctrl-C to stop)"
            )
            started = time.monotonic()
            with _SeedTable(seeder) as table:
                try:
                    while not stop.wait(1.0) and (duration is None or time.monotonic() - started < duration):
                        table.refresh()
                except KeyboardInterrupt:
                    pass
            st = seeder.stats()
            console.print(f"{st['seeding']}/{st['torrents']} seeding, {st['uploaded']:,} bytes uploaded")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server is not None:
            server.__exit__(None, None, None)


def _start_site(root: Path, host: str, port: int) -> Any:
    """The archive's or mirror's website in a thread beside the seeder."""
    from fonoteca.archive import open_archive
    from fonoteca.web import ServerThread, Settings, create_app

    archive = open_archive(root)
    return ServerThread(create_app(Settings(archive=archive.root)), host=host, port=port).__enter__()


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
            table.add_row(
                cell(r["name"]),
                r["state"],
                f"{r['peers']:,}",
                format_size(r["uploaded"]),
                f"{format_size(r['upload_rate'])}/s",
            )
        table.add_row(
            "all",
            "",
            f"{sum(r['peers'] for r in rows):,}",
            format_size(sum(r["uploaded"] for r in rows)),
            f"{format_size(sum(r['upload_rate'] for r in rows))}/s",
        )
        return table

    def refresh(self) -> None:
        self.live.update(self._render())

    def __enter__(self) -> _SeedTable:
        self.live.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.refresh()
        self.live.__exit__(kind, exc, tb)


@torrents_app.command("scrape")
def torrents_scrape_command(
    ctx: typer.Context,
    source: Path | None = typer.Argument(
        None, metavar="LIST", help="A downloaded torrents.json to update in place (default: this archive's torrents)."
    ),
    timeout: float = typer.Option(10.0, "--timeout", min=0.5, metavar="SECONDS", help="Per tracker request."),
    dht: bool = typer.Option(
        True, "--dht/--no-dht", help="Ask the DHT (BEP 33) about the torrents no tracker answered for."
    ),
    dht_node: list[str] | None = typer.Option(
        None,
        "--dht-node",
        metavar="HOST:PORT",
        help="Enter the DHT through this node (repeatable; default: the public DHT's bootstrap routers).",
    ),
    dht_timeout: float = typer.Option(
        20.0,
        "--dht-timeout",
        min=0.5,
        metavar="SECONDS",
        help="How long the DHT lookups may take, all torrents together.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Ask the torrents' trackers how many seed and leech them (BEP 48 HTTP scrape, BEP 15 UDP scrape), and the
    DHT (BEP 33: seeders and leechers estimated, completed unknown) about those no tracker answered for; write
    seeders, leechers, completed, stats_scraped_at and stats_source (tracker or dht) into the list. A torrent
    nobody answered for keeps what it had ("unknown" if it was never counted)."""
    from fonoteca.mirror.dht import BOOTSTRAP, parse_node
    from fonoteca.mirror.scrape import scrape

    nodes = None
    if dht:
        try:
            nodes = [f"{h}:{p}" for h, p in (parse_node(n) for n in dht_node)] if dht_node else list(BOOTSTRAP)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--dht-node") from None
    records, save = _scrape_target(ctx, source)
    from fonoteca.console import progress_bar

    with progress_bar("scrape trackers", unit="trackers", transient=True) as report:
        result = scrape(records, timeout=timeout, dht=nodes, dht_timeout=dht_timeout, progress=report)
    save(result)
    rows = []
    for rec in records:
        btih = (rec.get("btih") or "").lower()
        fig = result.figures.get(btih)
        rows.append(
            (
                rec.get("name") or rec.get("display_name"),
                rec.get("btih"),
                *(
                    ("", "", "", "")
                    if fig is None
                    else (fig.seeders, fig.leechers, "" if fig.completed is None else fig.completed, fig.source)
                ),
                len([a for a in result.answered.get(btih, []) if not a.startswith("dht")]),
            )
        )
    if as_json:
        print_json(
            {
                "scraped_at": result.scraped_at,
                "trackers": result.trackers,
                "seconds": round(result.seconds, 3),
                "dht": {"asked": nodes is not None, "queried": result.dht_queried, "answered": result.dht_answered},
                "errors": result.errors,
                "torrents": [
                    {
                        "name": r[0],
                        "btih": r[1],
                        "seeders": r[2] if r[2] != "" else None,
                        "leechers": r[3] if r[3] != "" else None,
                        "completed": r[4] if r[4] != "" else None,
                        "source": r[5] or None,
                        "trackers_answering": r[6],
                    }
                    for r in rows
                ],
            }
        )
    else:
        emit_table(
            ("torrent", "btih", "seeders", "leechers", "completed", "source", "trackers"),
            [(*r[:2], *("unknown" if v == "" else v for v in r[2:5]), r[5], r[6]) for r in rows],
            right=("seeders", "leechers", "completed", "trackers"),
            wide=("torrent",),
        )
        for error in result.errors:
            console.print(f"[yellow]not answered:[/yellow] {lit(error)}")
        by_dht = sum(1 for f in result.figures.values() if f.source == "dht")
        console.print(
            f"{len(result.figures):,} of {len(records):,} torrents counted ({by_dht:,} by the DHT) by "
            f"{result.trackers:,} trackers in {result.seconds:.1f} s"
        )
    if not result.figures and records:
        raise typer.Exit(1)  # nothing could be counted: the list is unchanged


def _scrape_target(ctx: typer.Context, source: Path | None) -> tuple[list[dict[str, Any]], Any]:
    """The records to scrape and how to store the figures: in the archive (its torrents table and lists), or in
    the downloaded list itself (rewritten atomically)."""
    import orjson

    from fonoteca.durable import write_atomic
    from fonoteca.pack.listing import list_torrents, read_list, set_stats

    if source is not None:
        records = read_list(source)

        def save_file(result: Any) -> None:
            for rec in records:
                fig = result.figures.get(rec["btih"].lower())
                if fig is not None:
                    rec.update(
                        seeders=fig.seeders,
                        leechers=fig.leechers,
                        completed=fig.completed,
                        stats_scraped_at=result.scraped_at,
                        stats_source=fig.source,
                    )
            write_atomic(source, orjson.dumps(records, option=orjson.OPT_INDENT_2) + b"\n")

        return records, save_file
    from fonoteca.commands import open_archive

    archive = open_archive(ctx)
    archive.require_writable("torrents scrape")
    records = list_torrents(archive)

    def save_archive(result: Any) -> None:
        stats = [(btih, f.seeders, f.leechers, f.completed, f.source) for btih, f in result.figures.items()]
        if stats:
            set_stats(archive, stats, scraped_at=result.scraped_at)

    return records, save_archive


def seed_command(
    ctx: typer.Context,
    listen: str = typer.Option("0.0.0.0:6881", "--listen", metavar="HOST:PORT", help="Where to accept peers."),
    discovery: bool = typer.Option(
        False, "--discovery/--no-discovery", help="Also use DHT, local peer discovery, UPnP and NAT-PMP."
    ),
    trust: bool = typer.Option(False, "--trust", help="Skip checking the data first (seed mode)."),
    duration: float | None = typer.Option(None, "--for", metavar="SECONDS", help="Stop after this long."),
    serve: bool = typer.Option(
        False,
        "--serve",
        help="Also serve the site (and its JSON and Subsonic APIs) of the first folder, as `fonoteca serve` does.",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="With --serve: the site's address."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="With --serve: the site's port."),
    peer: list[str] | None = typer.Option(
        None,
        "--peer",
        help="Connect to this client (HOST:PORT, "
        "repeatable) and keep reconnecting: for a client that cannot "
        "find this seeder itself (Transmission ignores loopback and "
        "unroutable addresses a tracker gives it).",
    ),
    paths: list[Path] | None = typer.Argument(None, help="Archive or mirror folders (default: the archive)."),
) -> None:
    """Seed every verified release torrent of archives or mirrors until stopped (a service: run it from
    systemd or cron), each with its v1-only twin (for Transmission 3 and other clients that cannot read hybrid
    torrents). Resume data in FOLDER/.mirror/resume lets a restart seed at once, without hashing the data
    again; a live table shows each torrent's state, peers and upload."""
    roots = paths or [archive_root(ctx, None)]
    _seed_until(
        roots,
        listen=listen,
        discovery=discovery,
        trust=trust,
        duration=duration,
        site=(host, port) if serve else None,
        peers=_peers(peer or []),
    )


def mirror_command(
    source: str = typer.Argument(
        ...,
        help="torrents.json (path or URL), a release folder, an archive, or the metadata torrent (magnet link or "
        ".torrent; needs --peer or --discovery).",
    ),
    into: Path = typer.Option(..., "--into", help="The mirror folder (created; an archive-shaped folder)."),
    budget: str | None = typer.Option(None, "--budget", help="Disk budget (e.g. 500GB): `torrents pick`."),
    bands: list[str] | None = typer.Option(None, "--band", "--bands", help="Only these bands (repeatable)."),
    peer: list[str] | None = typer.Option(None, "--peer", help=PEER_HELP),
    listen: str = typer.Option("0.0.0.0:0", "--listen", help="HOST:PORT for this session."),
    discovery: bool = typer.Option(False, "--discovery/--no-discovery", help="Also use DHT, LSD, UPnP, NAT-PMP."),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after this many seconds."),
    stall: float = typer.Option(600, "--stall", help="Give up after this many seconds without progress."),
    seed: bool = typer.Option(
        False,
        "--seed",
        help="Once complete, stay up seeding what was mirrored (on --listen; until Ctrl-C or --seed-for).",
    ),
    seed_for: float | None = typer.Option(
        None, "--seed-for", metavar="SECONDS", help="With --seed: stop seeding after this long."
    ),
    v1: bool = typer.Option(
        False,
        "--v1",
        help="Download each torrent through its BitTorrent v1-only twin: "
        "the swarm of the clients that cannot read hybrid torrents "
        "(Transmission 3). The same files, checked the same way.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Download torrents of a Fonoteca release into a mirror folder (resumable; seed it with `fonoteca seed`
    or --seed). SOURCE: an archive or release folder, a torrents.json (file or URL) even alone, a file of
    magnet links (one a line, as the site's generator gives them; v1-only twins' links too), or a magnet
    link."""
    from fonoteca.mirror import mirror

    with _Bars(not as_json) as bars:
        res = mirror(
            source,
            into,
            budget=_size(budget),
            bands=bands or None,
            peers=_peers(peer or []),
            listen=listen,
            discovery=discovery,
            timeout=timeout,
            stall=stall,
            tick=bars.tick,
            v1=v1,
        )
    if as_json:
        print_json(res.as_dict())
    if not as_json or not res.complete:  # with --json too, a failure says why on stderr
        for e in res.outcome.errors[-5:]:
            console.print(f"[yellow]{lit(e)}[/]")
        for name in res.incomplete:
            console.print(f"incomplete: {lit(name)}", soft_wrap=True)
        console.print(
            f"{len(res.chosen)} torrents, {res.outcome.downloaded:,} bytes downloaded in "
            f"{res.outcome.seconds:.1f} s: {'complete' if res.complete else 'INCOMPLETE (run again to resume)'}"
        )
    if not res.complete:
        raise typer.Exit(1)
    if seed:
        _seed_until([into], listen=listen, discovery=discovery, trust=True, duration=seed_for, site=None)


def fetch_command(
    track: str = typer.Argument(
        ..., help="Track id, NS:track:ID (as other commands print it), NS:ID, a URL or isrc:CODE."
    ),
    into: Path = typer.Option(
        ...,
        "--into",
        help="Folder: the file is written there as 'Artist - Title.ext' "
        "(the mirror layout beside it keeps it verifiable).",
    ),
    source: str | None = typer.Option(
        None, "--from", help="Source of the torrents and manifests, when --into is not a mirror of them already."
    ),
    peer: list[str] | None = typer.Option(None, "--peer", help=PEER_HELP),
    listen: str = typer.Option("0.0.0.0:0", "--listen", help="HOST:PORT for this session."),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up after this many seconds."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Download one track's file out of its bulk torrent and check its sha256."""
    from fonoteca.mirror import fetch

    with _Bars(not as_json) as bars:
        res = fetch(
            track, into, source=source, peers=_peers(peer or []), listen=listen, timeout=timeout, tick=bars.tick
        )
    if as_json:
        print_json(res.as_dict())
    elif res.ok:
        console.print(f"{lit(res.track)}: sha256 {res.sha256} matches the manifest")
        emit_line(res.path)
    else:
        console.print(f"[red]failed:[/red] {lit(res.track)}: {lit(res.reason)}")
    if not res.ok:
        raise typer.Exit(1)


def verify_command(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, help="Archive or mirror folder (default: the archive)."),
    do_repair: bool = typer.Option(False, "--repair", help="Download the bad pieces again from peers."),
    peer: list[str] | None = typer.Option(None, "--peer", help=PEER_HELP),
    listen: str = typer.Option("0.0.0.0:0", "--listen", help="HOST:PORT for the repair session."),
    timeout: float | None = typer.Option(None, "--timeout", help="Give up repairing after this many seconds."),
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
        out["repair"] = {
            "before": fixed.before.as_dict(),
            "downloaded": fixed.downloaded,
            "errors": fixed.outcome.errors if fixed.outcome else [],
        }
    if as_json:
        print_json(out)
    else:
        _print_report(report)
    if report.of("missing") or report.of("corrupt") or report.of("unreadable"):
        raise typer.Exit(1)


def coverage_command(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, help="Mirror or archive folder (default: the archive)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Share of the collection's tracks, bytes and estimated listens that a mirror holds."""
    from fonoteca.mirror import coverage

    cov = coverage(archive_root(ctx, path))
    if as_json:
        print_json(cov)
        return

    emit_pairs(
        [
            ("torrents", f"{cov['torrents']:,} of {cov['released_torrents']:,}"),
            (
                "tracks",
                f"{cov['tracks']:,} of {cov['released_tracks']:,} released ({_percent(cov['share_tracks_released'])}), "
                f"{_percent(cov['share_tracks_catalog'])} of the catalog's {cov['catalog_tracks'] or 0:,}",
            ),
            ("bytes", f"{cov['bytes']:,} of {cov['released_bytes']:,} ({_percent(cov['share_bytes'])})"),
            ("listens", f"{_percent(cov['share_listens'])} of the released tracks' estimated listens"),
        ],
        title="coverage",
    )


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("seed")(seed_command)
    app.command("mirror")(mirror_command)
    app.command("fetch")(fetch_command)
    app.command("verify")(verify_command)
    app.command("coverage")(coverage_command)
