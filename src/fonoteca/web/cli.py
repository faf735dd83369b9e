"""`fonoteca serve`: the website and JSON API of this archive (or a mirror of it)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes (about one per CPU core for heavy traffic)."),
        threads: int = typer.Option(4, "--threads", min=1, max=256, help="Database reader threads per process."),
        rate_limit: float = typer.Option(20.0, "--rate-limit", min=0, help="Requests per second per client address and process (0: no limit)."),
        rate_burst: int = typer.Option(200, "--rate-burst", min=1, help="Requests a client may send at once before the rate limit applies."),
        stats: Optional[Path] = typer.Option(None, "--stats", help="Folder written by `fonoteca stats --out` (default: ARCHIVE/stats)."),
        cache_entries: int = typer.Option(2048, "--cache-entries", min=0, help="Responses each process keeps in memory for as long as their Cache-Control allows (0: none)."),
        access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
        build_index: bool = typer.Option(True, "--build-index/--no-build-index", help="Build the search index first when the archive has none."),
    ) -> None:
        """Serve the website (search, tracks, albums, artists, audio, torrents, statistics) and its JSON API."""
        from fonoteca.commands import open_archive
        from fonoteca.web.server import serve as run

        archive = open_archive(ctx)
        run(archive, host, port, workers=workers, threads=threads, rate_limit=rate_limit, rate_burst=rate_burst,
            stats_dir=stats, access_log=access_log, build_index=build_index, cache_entries=cache_entries)
