"""Running the site: `serve()` (what `fonoteca serve` and the demo call) and `ServerThread` (tests, embedding).

Process model: uvicorn (uvloop + httptools when installed), one process by default, more with `workers`.
Inside a process the event loop parses HTTP and a bounded pool of threads (`threads`) runs the views; each of
those threads keeps its own read-only SQLite connections. SQLite releases the GIL while it reads, so threads
overlap their queries; separate processes also overlap the Python parts. The rate limit is per process.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from pathlib import Path
from typing import Any

import orjson

from fonoteca.archive import Archive, open_archive
from fonoteca.console import console
from fonoteca.errors import FonotecaError, UsageError
from fonoteca.web.app import Settings, create_app

ENV_SETTINGS = "FONOTECA_WEB_SETTINGS"


def _uvicorn_options(access_log: bool) -> dict[str, Any]:
    return {
        "server_header": False,      # do not advertise the server software
        "proxy_headers": False,      # rate limits key on the real peer address unless told otherwise
        "timeout_keep_alive": 5,
        "limit_concurrency": 2048,   # beyond this many connections, answer 503 rather than queue without bound
        "backlog": 2048,
        "access_log": access_log,
        "log_level": "info" if access_log else "warning",
    }


def app_from_env() -> Any:
    """The app for uvicorn's worker processes (settings passed through the environment)."""
    return create_app(Settings.from_dict(orjson.loads(os.environ[ENV_SETTINGS])))


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_index(archive: Archive) -> bool:
    """Build the search index when the archive has none (a fresh mirror); True when one exists afterwards."""
    from fonoteca.search import index

    if index.current_db(index.index_dir(archive)) is not None:
        return True
    console.print("no search index yet: building it from the catalog (fonoteca index rebuild) ...")
    try:
        stats = index.rebuild(archive)
    except (OSError, FonotecaError) as exc:
        console.print(f"[yellow]could not build the search index ({exc}); search is off until it exists[/yellow]")
        return False
    console.print(f"indexed {stats.tracks:,} tracks in {stats.seconds:.1f} s")
    return True


def serve(archive: Archive | Path | str, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1,
          threads: int = 4, rate_limit: float = 20.0, rate_burst: int = 200, stats_dir: Path | None = None,
          access_log: bool = False, build_index: bool = True, cache_entries: int = 2048) -> None:
    """Serve the website and JSON API of an archive (or a mirror) until interrupted. Blocks.

    The demo calls this at its end: `serve(ctx.archive, "127.0.0.1", ctx.port)`."""
    import uvicorn

    root = archive.root if isinstance(archive, Archive) else Path(archive)
    opened = open_archive(root)
    if not 1 <= workers <= 64:
        raise UsageError("--workers must be between 1 and 64")
    if not 1 <= threads <= 256:
        raise UsageError("--threads must be between 1 and 256")
    if not 0 <= port <= 65535:
        raise UsageError("--port must be between 0 and 65535")
    if build_index:
        ensure_index(opened)
    settings = Settings(archive=opened.root, stats_dir=stats_dir, rate_limit=rate_limit, rate_burst=rate_burst,
                        threads=threads, cache_entries=cache_entries)
    app = create_app(settings)  # fails here, in the foreground, on a bad archive
    shown = f"[{host}]" if ":" in host else host
    console.print(f"serving [bold]{opened.name}[/bold] at http://{shown}:{port}/ "
                  f"({workers} process{'es' if workers > 1 else ''} x {threads} threads; Ctrl+C stops)")
    if not is_loopback(host):
        console.print(f"[yellow]listening on {host}: the site is reachable from the network (it is read-only; "
                      f"the rate limit is {rate_limit:g} requests/s per client and process)[/yellow]")
    options = _uvicorn_options(access_log)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, **options)
        return
    os.environ[ENV_SETTINGS] = orjson.dumps(settings.as_dict()).decode()
    uvicorn.run("fonoteca.web.server:app_from_env", factory=True, host=host, port=port, workers=workers, **options)


class ServerThread:
    """The site served from a background thread on a free loopback port (tests, notebooks, the demo).

    with ServerThread(app) as server: httpx.get(server.url + "/api/home")"""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.config = uvicorn.Config(app, host=host, port=port, **_uvicorn_options(False))
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="fonoteca-web", daemon=True)
        self.url = ""

    def __enter__(self) -> "ServerThread":
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
