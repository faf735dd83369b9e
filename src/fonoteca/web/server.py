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
from fonoteca.web.config import WebConfig, web_config
from fonoteca.web.connections import GuardedConfig

ENV_SETTINGS = "FONOTECA_WEB_SETTINGS"


def _uvicorn_options(access_log: bool, limits: WebConfig | None = None) -> dict[str, Any]:
    limits = limits or WebConfig()
    return {
        "server_header": False,  # do not advertise the server software
        "proxy_headers": False,  # rate limits key on the real peer address unless told otherwise
        "timeout_keep_alive": limits.keep_alive_timeout,
        "request_timeout": limits.request_timeout,
        "max_per_client": limits.max_connections_per_client,
        "limit_concurrency": 2048,  # beyond this many connections, answer 503 rather than queue without bound
        "backlog": 2048,
        "access_log": access_log,
        "log_level": "info" if access_log else "warning",
    }


def _limits(
    archive: Archive,
    request_timeout: float | None,
    keep_alive_timeout: float | None,
    max_connections_per_client: int | None,
) -> WebConfig:
    """The connection limits: the arguments where given, else fonoteca.toml [web], else the defaults."""
    configured = web_config(archive.config)
    chosen = WebConfig(
        request_timeout=configured.request_timeout if request_timeout is None else request_timeout,
        keep_alive_timeout=configured.keep_alive_timeout if keep_alive_timeout is None else keep_alive_timeout,
        max_connections_per_client=(
            configured.max_connections_per_client if max_connections_per_client is None else max_connections_per_client
        ),
    )
    if chosen.request_timeout < 0 or chosen.keep_alive_timeout < 0 or chosen.max_connections_per_client < 0:
        raise UsageError("timeouts and the connection limit must be >= 0 (0: none)")
    return chosen


def _run(config: GuardedConfig) -> None:
    """What uvicorn.run does with a Config (one process, or a supervisor of `workers` processes)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if config.workers > 1:
        try:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        except KeyboardInterrupt:
            pass
    else:
        server = uvicorn.Server(config)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        if not server.started:
            raise FonotecaError(f"the web server could not start on {config.host}:{config.port}")


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


def serve(
    archive: Archive | Path | str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    workers: int = 1,
    threads: int = 4,
    rate_limit: float = 20.0,
    rate_burst: int = 200,
    stats_dir: Path | None = None,
    access_log: bool = False,
    build_index: bool = True,
    cache_entries: int = 2048,
    base_url: str | None = None,
    allowed_hosts: list[str] | tuple[str, ...] | None = None,
    request_timeout: float | None = None,
    keep_alive_timeout: float | None = None,
    max_connections_per_client: int | None = None,
) -> None:
    """Serve the website and JSON API of an archive (or a mirror) until interrupted. Blocks.

    base_url, allowed_hosts, request_timeout (seconds to send a whole request), keep_alive_timeout and
    max_connections_per_client (0: no limit) default to fonoteca.toml [web], then to the built-in defaults.
    The demo calls this at its end: `serve(ctx.archive, "127.0.0.1", ctx.port)`."""
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
    limits = _limits(opened, request_timeout, keep_alive_timeout, max_connections_per_client)
    settings = Settings(
        archive=opened.root,
        stats_dir=stats_dir,
        rate_limit=rate_limit,
        rate_burst=rate_burst,
        threads=threads,
        cache_entries=cache_entries,
        base_url=base_url,
        allowed_hosts=None if allowed_hosts is None else tuple(allowed_hosts),
    )
    app = create_app(settings)  # fails here, in the foreground, on a bad archive
    shown = f"[{host}]" if ":" in host else host
    console.print(
        f"serving [bold]{opened.name}[/bold] at http://{shown}:{port}/ "
        f"({workers} process{'es' if workers > 1 else ''} x {threads} threads; Ctrl+C stops)"
    )
    if not is_loopback(host):
        console.print(
            f"[yellow]listening on {host}: the site is reachable from the network (it is read-only; "
            f"the rate limit is {rate_limit:g} requests/s per client and process)[/yellow]"
        )
    options = _uvicorn_options(access_log, limits)
    if workers == 1:
        _run(GuardedConfig(app, host=host, port=port, **options))
        return
    os.environ[ENV_SETTINGS] = orjson.dumps(settings.as_dict()).decode()
    _run(
        GuardedConfig(
            "fonoteca.web.server:app_from_env", factory=True, host=host, port=port, workers=workers, **options
        )
    )


class ServerThread:
    """The site served from a background thread on a free loopback port (tests, notebooks, the demo).

    with ServerThread(app) as server: httpx.get(server.url + "/api/home")"""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, limits: WebConfig | None = None) -> None:
        import uvicorn

        self.config = GuardedConfig(app, host=host, port=port, **_uvicorn_options(False, limits))
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, name="fonoteca-web", daemon=True)
        self.url = ""

    def __enter__(self) -> ServerThread:
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
