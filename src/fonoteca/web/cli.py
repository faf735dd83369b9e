"""`fonoteca serve`: the website and JSON API of this archive (or a mirror of it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from fonoteca.hookspecs import hookimpl


def serve_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes (about one per CPU core for heavy traffic)."
    ),
    threads: int = typer.Option(4, "--threads", min=1, max=256, help="Database reader threads per process."),
    rate_limit: float = typer.Option(
        20.0, "--rate-limit", min=0, help="Requests per second per client address and process (0: no limit)."
    ),
    rate_burst: int = typer.Option(
        200, "--rate-burst", min=1, help="Requests a client may send at once before the rate limit applies."
    ),
    stats: Path | None = typer.Option(
        None, "--stats", help="Folder written by `fonoteca stats --out` (default: ARCHIVE/stats)."
    ),
    cache_entries: int = typer.Option(
        2048,
        "--cache-entries",
        min=0,
        help="Responses each process keeps in memory for as long as their Cache-Control allows (0: none).",
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
    build_index: bool = typer.Option(
        True, "--build-index/--no-build-index", help="Build the search index first when the archive has none."
    ),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        metavar="URL",
        help="Public address of the site: absolute links (torrent lists, magnet files) are built from it, never "
        "from the request's Host (default: [web] base_url).",
    ),
    allowed_host: list[str] | None = typer.Option(
        None,
        "--allowed-host",
        metavar="HOST",
        help="Answer only requests for this Host (repeatable; others get 400; default: [web] allowed_hosts).",
    ),
    request_timeout: float | None = typer.Option(
        None,
        "--request-timeout",
        min=0.1,
        metavar="SECONDS",
        help="Close a connection that takes longer to send a whole request (default: [web] request_timeout, 10).",
    ),
    keep_alive_timeout: float | None = typer.Option(
        None,
        "--keep-alive-timeout",
        min=0.1,
        metavar="SECONDS",
        help="Close an idle keep-alive connection after this long (default: [web] keep_alive_timeout, 5).",
    ),
    max_connections_per_client: int | None = typer.Option(
        None,
        "--max-connections-per-client",
        min=0,
        metavar="N",
        help="Connections one address may hold per process (0: no limit; default: [web] "
        "max_connections_per_client, 64).",
    ),
) -> None:
    """Serve the website (search, tracks, albums, artists, audio, torrents, statistics) and its JSON API."""
    from fonoteca.commands import open_archive
    from fonoteca.web.server import serve as run

    archive = open_archive(ctx)
    run(
        archive,
        host,
        port,
        workers=workers,
        threads=threads,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        stats_dir=stats,
        access_log=access_log,
        build_index=build_index,
        cache_entries=cache_entries,
        base_url=base_url,
        allowed_hosts=allowed_host,
        request_timeout=request_timeout,
        keep_alive_timeout=keep_alive_timeout,
        max_connections_per_client=max_connections_per_client,
    )


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.command("serve")(serve_command)


@hookimpl
def register_routes(app: Any) -> None:
    """Fonoteca's own pages and API: catalog, releases, statistics, the API index and the genre map."""
    from fonoteca.web import genres
    from fonoteca.web.views import api_index, catalog, releases, stats

    for module in (catalog, releases, stats, api_index, genres):
        app.include_router(module.router)
