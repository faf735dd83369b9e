"""A real Dask scheduler and worker processes on this machine (`fonoteca cluster local`), for trying the
distributed path without a cluster, for tests and for benchmarks."""

from __future__ import annotations

import logging
import socket
from typing import Any

from fonoteca.errors import FonotecaError

# Dask settings that `fonoteca cluster local` uses, for long CPU-bound tasks (an ingest task runs for seconds):
# no statistical profiler sampling the task threads every 10 ms, and slower resource monitors.
# On other machines: `DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False dask worker ...` does the first.
BATCH_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def start(
    workers: int,
    *,
    port: int = 8786,
    host: str = "127.0.0.1",
    threads: int = 1,
    memory_limit: str | int = "auto",
    dashboard: str | None = None,
) -> Any:
    """A distributed.LocalCluster: one scheduler (in this process) and `workers` worker processes, each under a
    nanny that restarts it if it dies, each with `threads` task threads (1: one task per process, like the local
    pool) and the stages' task modules imported at start (fonoteca.cluster.worker). Close it with .close()."""
    import dask
    from distributed import LocalCluster

    dask.config.set(BATCH_CONFIG)  # the nannies hand this process's config to their workers
    try:
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            host=host,
            scheduler_port=port,
            dashboard_address=dashboard,
            memory_limit=memory_limit,
            silence_logs=logging.ERROR,
            preload=["fonoteca.cluster.worker"],
        )
    except OSError as exc:
        raise FonotecaError(f"cannot start a Dask scheduler on {host}:{port}: {exc}") from None


def public_address(address: str, host: str) -> str:
    """The address other machines use: a scheduler bound to every interface reports 0.0.0.0."""
    if host in ("0.0.0.0", "", "::"):
        port = address.rsplit(":", 1)[1]
        try:
            ip = socket.gethostbyname(socket.gethostname())
        except OSError:
            ip = socket.gethostname()
        return f"tcp://{ip}:{port}"
    return address
