"""`fonoteca cluster local` (a Dask scheduler and workers on this machine) and `fonoteca cluster check`."""

from __future__ import annotations

import signal
import sys
import threading
import time

import typer

from fonoteca.console import console, print_json
from fonoteca.hookspecs import hookimpl

cluster_app = typer.Typer(
    help="Run heavy stages (ingest, ...) on a Dask cluster: start one here, check one.", no_args_is_help=True
)


@cluster_app.command("local")
def cluster_local_command(
    workers: int = typer.Option(2, "--workers", "-w", min=1, help="Worker processes (one task at a time each)."),
    port: int = typer.Option(8786, "--port", "-p", min=0, max=65535, help="Scheduler port (0: any free port)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 lets other machines' workers and clients in)."
    ),
    threads: int = typer.Option(1, "--threads", min=1, help="Task threads per worker process."),
    memory_limit: str = typer.Option("auto", "--memory-limit", help="Per worker (e.g. 4GiB; auto: RAM / workers)."),
    dashboard: str | None = typer.Option(
        None, "--dashboard", metavar="HOST:PORT", help="Serve Dask's dashboard (needs the bokeh package)."
    ),
) -> None:
    """Start a real Dask scheduler and WORKERS worker processes on this machine and keep them running until
    interrupted (Ctrl-C or SIGTERM). Prints the scheduler address on stdout: pass it to
    `fonoteca ingest --scheduler ADDRESS`. Workers see this machine's files, so storage "shared" applies."""
    from fonoteca.cluster import local

    cluster = local.start(
        workers, port=port, host=host, threads=threads, memory_limit=memory_limit, dashboard=dashboard
    )
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        address = local.public_address(cluster.scheduler_address, host)
        sys.stdout.write(address + "\n")
        sys.stdout.flush()
        console.print(
            f"Dask scheduler at {address} with {workers} worker process{'es' if workers != 1 else ''} "
            f"x {threads} thread{'s' if threads != 1 else ''}; run for example\n"
            f"  fonoteca ingest SRC... --scheduler {address}\n"
            "Ctrl-C stops the scheduler and its workers."
        )
        if cluster.dashboard_link and dashboard:
            console.print(f"dashboard: {cluster.dashboard_link}")
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("stopping the scheduler and its workers")
        started = time.monotonic()
        cluster.close(timeout=30)
        console.print(f"stopped in {time.monotonic() - started:.1f} s")


@cluster_app.command("check")
def cluster_check_command(
    scheduler: str = typer.Option(..., "--scheduler", metavar="tcp://HOST:PORT", help="The Dask scheduler."),
    as_json: bool = typer.Option(False, "--json", help="Print the workers and the probe results as JSON."),
) -> None:
    """Connect to a Dask scheduler, list its workers (threads, fonoteca version and code, process) and run one
    small task per worker thread. Exit 1 when a worker runs another fonoteca version than this machine."""
    from fonoteca import __version__
    from fonoteca.cluster import ExecutorConfig, probe
    from fonoteca.cluster.executors import DaskExecutor
    from fonoteca.errors import FonotecaError

    config = ExecutorConfig(scheduler=scheduler, wait_for_workers_s=10)
    config.check()
    with DaskExecutor(config) as executor:
        started = time.perf_counter()
        found = executor.on_every_worker(probe)
        results = [r for _, r in executor.map_unordered(probe, range(max(1, executor.workers)))]
        seconds = time.perf_counter() - started
        threads = executor.workers
    from fonoteca.cluster.executors import code_fingerprint

    mine = code_fingerprint()
    for r in found.values():
        r.setdefault("code", "unknown")
    stale = {w: r["fonoteca"] for w, r in found.items() if r["fonoteca"] != __version__}
    other_code = sorted(w for w, r in found.items() if r["code"] != mine)
    report = {
        "scheduler": config.scheduler,
        "threads": threads,
        "probe_seconds": round(seconds, 3),
        "workers": [{"address": w, **r} for w, r in sorted(found.items())],
        "tasks_ran_on": sorted({f"{r['host']}:{r['pid']}" for r in results}),
        "version_mismatch": stale,
        "code": mine,
        "other_code": other_code,
    }
    if as_json:
        print_json(report)
    else:
        console.print(
            f"{config.scheduler}: {len(found)} workers, {threads} threads; {len(results)} probe tasks "
            f"in {seconds:.2f} s on {len(report['tasks_ran_on'])} processes"
        )
        for w in report["workers"]:
            console.print(
                f"  {w['address']}  host {w['host']}  pid {w['pid']}  fonoteca {w['fonoteca']} (code {w['code']})"
            )
        if other_code:
            console.print(
                f"note: {len(other_code)} workers loaded other fonoteca code than this machine's "
                f"({mine}); a stage refuses them if the code it runs differs: restart them"
            )
    if stale:
        raise FonotecaError(f"workers run another fonoteca version than this machine ({__version__}): {stale}")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")
