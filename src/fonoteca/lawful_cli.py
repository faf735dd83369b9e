"""`fonoteca withdraw`, `reinstate`, `ledger verify|list` and `licence set|show`: what the archive may publish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fonoteca.commands import open_archive
from fonoteca.console import console, emit_line, emit_table, lit, print_json
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.hookspecs import hookimpl

ledger_app = typer.Typer(
    help="The withdrawals ledger (withdrawals.jsonl): check its hash chain, list it.", no_args_is_help=True
)
licence_app = typer.Typer(help="Licences of tracks: state them, show them.", no_args_is_help=True)


def _resolve_tracks(conn: Any, refs: list[str]) -> list[tuple[int, str]]:
    """(rowid, NS:track:ID) of every track each reference names (an id as commands print it, a URL, isrc:CODE for
    every track of the recording); FonotecaError naming the references that name none."""
    from fonoteca.catalog.ids import parse_reference
    from fonoteca.catalog.query import lookup_reference
    from fonoteca.ledger import track_ref

    found: dict[int, str] = {}
    missing = []
    for text in refs:
        ref = parse_reference(text)
        if ref.kind not in ("track", "isrc", "any"):
            raise UsageError(f"{text!r} names a {ref.kind}, not a track")
        hits = [h for h in lookup_reference(conn, ref) if h.get("kind") == "track"]
        if not hits:
            missing.append(text)
        for hit in hits:
            found[int(hit["rowid"])] = track_ref(conn, int(hit["rowid"])) or ""
    if missing:
        raise FonotecaError(f"no track in the catalog for {', '.join(map(repr, missing))}; nothing was written")
    return sorted(found.items(), key=lambda kv: kv[1])


def _refresh_lists(archive: Any) -> None:
    """torrents.json says which torrents hold withdrawn tracks: rewrite it when the archive has releases."""
    from fonoteca.pack.listing import write_current_list
    from fonoteca.pack.settings import PackSettings

    if not (archive.root / "releases" / "torrents.json").is_file():
        return
    conn = archive.connect()
    try:
        write_current_list(archive, conn, PackSettings.from_config(archive.config))
    finally:
        conn.close()


def _append(
    ctx: typer.Context,
    action: str,
    ids: list[str],
    reason: str,
    category: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    from fonoteca import ledger

    archive = open_archive(ctx)
    archive.require_writable(action)
    conn = archive.connect(readonly=True)
    try:
        tracks = _resolve_tracks(conn, ids)
        current = ledger.withdrawn_rowids(conn, archive.root)
    finally:
        conn.close()
    if action == "reinstate":
        not_withdrawn = [ref for rowid, ref in tracks if rowid not in current]
        if not_withdrawn:
            raise FonotecaError(f"not withdrawn: {', '.join(not_withdrawn)}; nothing was written")
    entry = ledger.append(archive.root, action, [ref for _, ref in tracks], reason, category=category, until=until)
    _refresh_lists(archive)
    if as_json:
        print_json(entry.as_dict())
        return
    for _, ref in tracks:
        emit_line(ref)
    verb = "withdrawn" if action == "withdraw" else "reinstated"
    console.print(
        f"{len(tracks)} track{'s' if len(tracks) != 1 else ''} {verb} (ledger entry {entry.seq}); "
        + (
            "the site answers 410 for them, the APIs and search leave them out, the next `fonoteca pack` "
            "replaces the torrents that hold them"
            if action == "withdraw"
            else "they are served again"
        )
    )


@ledger_app.command("verify")
def ledger_verify_command(
    ctx: typer.Context,
    path: Path | None = typer.Argument(
        None, help="A withdrawals.jsonl, or an archive or mirror folder (default: the archive)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check every line of the ledger and its sha256 chain, and that every copy published in a metadata torrent is
    where the ledger begins; exit 1 naming the first line that was edited, removed, inserted or damaged."""
    from fonoteca import ledger

    folder = open_archive(ctx).root if path is None else path if path.is_dir() else None
    target = ledger.ledger_path(folder) if folder is not None else path
    assert target is not None  # no folder: a file was named
    result = ledger.verify(target)
    if folder is not None:
        ledger.check_published(folder, result)
    if as_json:
        print_json(result.as_dict())
    else:
        if result.problems:
            emit_table(("line", "problem"), [(p.line, p.reason) for p in result.problems], wide=("problem",))
        state = "[green]intact[/]" if result.ok else "[red]BROKEN[/]"
        console.print(f"{lit(target)}: {len(result.entries)} entries, head {result.head[:16]}...: {state}")
    if not result.ok:
        raise typer.Exit(1)


@ledger_app.command("list")
def ledger_list_command(
    ctx: typer.Context,
    every: bool = typer.Option(False, "--all", help="Every entry, not only the tracks withdrawn now."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The tracks withdrawn now (category, date, reason), or with --all every entry of the ledger."""
    from fonoteca import ledger

    root = open_archive(ctx).root
    if every:
        entries = ledger.read(ledger.ledger_path(root))
        if as_json:
            print_json([e.as_dict() for e in entries])
            return
        emit_table(
            ("seq", "action", "tracks", "category", "until", "at", "reason"),
            [(e.seq, e.action, " ".join(e.tracks), e.category or "", e.until or "", e.at, e.reason) for e in entries],
            wide=("tracks", "reason"),
        )
        return
    current = sorted(ledger.withdrawn(root).values(), key=lambda w: w.track)
    if as_json:
        print_json([w.as_dict() for w in current])
        return
    emit_table(
        ("track", "category", "withdrawn", "until", "reason"),
        [(w.track, w.entry.category or "", w.entry.at, w.entry.until or "", w.entry.reason) for w in current],
        title=f"{len(current)} tracks withdrawn",
        wide=("reason",),
    )


@licence_app.command("set")
def licence_set_command(
    ctx: typer.Context,
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Tracks (ids as commands print them, isrc:CODE)."),
    licence: str = typer.Option(
        ...,
        "--licence",
        "--license",
        help='The licence: an SPDX id (CC-BY-4.0), a deed URL, a name ("CC BY-SA 3.0") or "All rights reserved".',
    ),
    attribution: str | None = typer.Option(None, "--attribution", help="The credit the licence asks for."),
    source_url: str | None = typer.Option(None, "--source-url", help="Where the work is published."),
) -> None:
    """State the licence of tracks (the operator's own statement: it replaces what an import recorded)."""
    from fonoteca.catalog import provenance
    from fonoteca.licences import normalise

    found = normalise(licence)
    if not found.known:
        raise UsageError(
            f"--licence {licence!r}: not a licence Fonoteca recognises (give an SPDX id such as "
            'CC-BY-4.0, a Creative Commons URL, or "All rights reserved")'
        )
    archive = open_archive(ctx)
    conn = archive.connect()
    try:
        tracks = _resolve_tracks(conn, ids)
        provenance.write_licences(
            conn,
            [
                provenance.LicenceStatement(rowid, found, attribution, "operator", ref, source_url, None)
                for rowid, ref in tracks
            ],
        )
    finally:
        conn.close()
    for _, ref in tracks:
        emit_line(ref)
    console.print(f"{len(tracks)} track(s): licence {found.id} ({found.name})")


@licence_app.command("show")
def licence_show_command(
    ctx: typer.Context,
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Tracks (ids as commands print them, isrc:CODE)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The licence on record of tracks, and whether this archive publishes them."""
    from fonoteca import ledger
    from fonoteca.licences import ReleasePolicy
    from fonoteca.publication import licence_row

    archive = open_archive(ctx)
    policy = ReleasePolicy.from_config(archive.config)
    conn = archive.connect(readonly=True)
    try:
        tracks = _resolve_tracks(conn, ids)
        withdrawn = ledger.withdrawn_rowids(conn, archive.root)
        out: list[dict[str, Any]] = []
        for rowid, ref in tracks:
            row = licence_row(conn, rowid)
            lic = row["id"] if row else None
            published = policy.allows(lic) and rowid not in withdrawn
            why = None if published else ("withdrawn" if rowid in withdrawn else policy.reason(lic))
            out.append({"track": ref, "licence": row, "published": published, "why_not": why})
    finally:
        conn.close()
    if as_json:
        print_json(out)
        return
    emit_table(
        ("track", "licence", "attribution", "published"),
        [
            (
                o["track"],
                o["licence"]["id"] if o["licence"] else "unknown",
                (o["licence"] or {}).get("attribution") or "",
                "yes" if o["published"] else f"no: {o['why_not']}",
            )
            for o in out
        ],
        wide=("attribution", "published"),
    )


def withdraw_command(
    ctx: typer.Context,
    ids: list[str] = typer.Argument(
        ...,
        metavar="ID...",
        help="Tracks (ids as commands print them, a URL, isrc:CODE for every track of a recording).",
    ),
    reason: str = typer.Option(..., "--reason", help="Why (kept in the ledger, public)."),
    category: str = typer.Option(
        "other",
        "--category",
        help="copyright | rights-holder | court-order | privacy | licence | error | other (shown on the tombstone).",
    ),
    until: str | None = typer.Option(
        None, "--until", metavar="DATE", help="The withdrawal lapses on this day (YYYY-MM-DD)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ledger entry as JSON."),
) -> None:
    """Withdraw tracks from what the archive serves and publishes: a line appended to withdrawals.jsonl. The
    site answers 410 with a tombstone, every API and the search hide them, the next pack replaces the torrents
    that hold them (earlier torrents are never changed), mirrors skip them."""
    _append(ctx, "withdraw", ids, reason, category.strip().lower(), until, as_json)


def reinstate_command(
    ctx: typer.Context,
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Withdrawn tracks."),
    reason: str = typer.Option("", "--reason", help="Why (kept in the ledger, public)."),
    as_json: bool = typer.Option(False, "--json", help="Print the ledger entry as JSON."),
) -> None:
    """Undo withdrawals: a line appended to withdrawals.jsonl (the withdrawal stays in the history)."""
    _append(ctx, "reinstate", ids, reason, None, None, as_json)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("withdraw")(withdraw_command)
    app.command("reinstate")(reinstate_command)
    app.add_typer(ledger_app, name="ledger")
    app.add_typer(licence_app, name="licence")
