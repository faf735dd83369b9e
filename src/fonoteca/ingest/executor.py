"""How ingest runs its per-file task through a fonoteca.cluster executor (local process pool by default, a Dask
cluster with --scheduler), for each [cluster] storage mode:

- shared: workers read the input at its path and write the finished file into the run's temporary folder under
  files/.tmp/ (the archive is on a shared file system); the coordinator renames it into place;
- sources: workers read the input at its path, build the file in their own scratch folder and send its bytes back
  in the result; the coordinator writes them into files/.tmp/ (fsync, sha256 checked) and renames as above;
- none: as "sources", and the coordinator reads each input and sends it along with the task.

Either way the catalog is written only by the coordinator, after the file is durable (fonoteca.ingest.pipeline)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from fonoteca.cluster import Crashed, Executor, ExecutorConfig
from fonoteca.cluster import make_executor as _make
from fonoteca.ingest.task import Result, Task, process, process_staged

OnResult = Callable[[Task, Result], None]
CODE_PARTS = ("__init__", "audio", "cluster", "ingest")  # the code a worker runs for ingest (a change: other files)


def make_executor(options: Any, config: dict[str, Any] | None = None) -> Executor:
    """The executor for these IngestOptions and the archive's config ([cluster] table)."""
    cfg = ExecutorConfig.from_config(
        config or {},
        scheduler=options.scheduler,
        workers=options.worker_count,
        storage=getattr(options, "storage", None),
    )
    return _make(cfg)


def read_input(task: Task) -> bytes | str:
    """The input's bytes, read here to be sent to a worker (storage none); the error text if it cannot be read."""
    try:
        with open(task.path, "rb") as f:
            return f.read()
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def run(executor: Executor, tasks: Iterable[Task], on_result: OnResult) -> None:
    """Run every task; call on_result in this process, one at a time, as results arrive."""
    attach = None
    if executor.storage == "shared":
        fn: Callable[..., Result] = process_shared if executor.remote else process
    else:
        fn = functools.partial(process_staged, scratch=executor.scratch)
        if executor.storage == "none":
            attach = read_input

    def deliver(task: Task, out: Result | Crashed) -> None:
        if isinstance(out, Crashed):
            out = Result(
                index=task.index,
                ok=False,
                reason="crashed",
                message=f"the decoder crashed the worker process on this file ({out.message})",
            )
        on_result(task, out)

    executor.run(fn, tasks, deliver, attach=attach)


def process_shared(task: Task) -> Result:
    """`process` on a worker that should share the archive: refuse (raise, so the run stops instead of
    quarantining good files) when this worker cannot see the run's temporary folder."""
    import os

    if task.tmp_dir and not os.path.isdir(task.tmp_dir):
        raise FileNotFoundError(
            f"this worker does not see the archive's temporary folder {task.tmp_dir}: the "
            "archive is not on a shared file system at the same path here; mount it, or set "
            '[cluster] storage = "sources" or "none" in fonoteca.toml'
        )
    return process(task)


def worker_check(tmp_dir: str, marker: str, sample: str | None, storage: str) -> dict[str, Any]:
    """Run on every worker before an ingest: its fonoteca version, and what it cannot see that it must."""
    import os

    from fonoteca import __version__
    from fonoteca.cluster.executors import code_fingerprint

    problems = []
    if storage == "shared":
        if not os.path.exists(os.path.join(tmp_dir, marker)):
            problems.append(f"does not see the archive's temporary folder {tmp_dir}")
        elif not os.access(tmp_dir, os.W_OK):
            problems.append(f"cannot write to {tmp_dir}")
    if storage in ("shared", "sources") and sample and not os.access(sample, os.R_OK):
        problems.append(f"cannot read the input {sample}")
    return {"version": __version__, "code": code_fingerprint(*CODE_PARTS), "problems": problems}


def preflight(executor: Executor, tmp_dir: str, sample: str | None) -> None:
    """Stop before any work when a worker runs another fonoteca or cannot see what the storage mode says."""
    import os

    from fonoteca import __version__
    from fonoteca.cluster.executors import code_fingerprint
    from fonoteca.errors import FonotecaError

    if not executor.remote:
        return
    marker = ".visible"
    with open(os.path.join(tmp_dir, marker), "w") as f:
        f.write("fonoteca ingest run folder\n")
    found = executor.on_every_worker(functools.partial(worker_check, tmp_dir, marker, sample, executor.storage))
    mine = f"{__version__} (code {code_fingerprint(*CODE_PARTS)})"
    stale = {
        w: f"{r.get('version')} (code {r.get('code')})"
        for w, r in found.items()
        if r.get("version") != __version__ or r.get("code") != code_fingerprint(*CODE_PARTS)
    }
    if stale:
        raise FonotecaError(
            f"Dask workers run other fonoteca ingest code than this machine, {mine}: {stale}. "
            "Install the same fonoteca on every worker, or restart workers started before it was "
            "updated"
        )
    blind = {w: r["problems"] for w, r in found.items() if r["problems"]}
    if blind:
        lines = "; ".join(f"{w} {', '.join(p)}" for w, p in sorted(blind.items()))
        raise FonotecaError(
            f'with [cluster] storage = "{executor.storage}" every worker must see the '
            f"{'archive and the sources' if executor.storage == 'shared' else 'sources'} at the "
            f"same paths as this machine, but: {lines}. Mount them, or choose another storage "
            "mode (sources: finished files come back to this machine; none: inputs are sent too)"
        )
