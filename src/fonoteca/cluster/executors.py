"""Executors: run one pure task function over many inputs, here (a process pool) or on a Dask cluster, and hand the
results back to the coordinating process as they complete.

Contract for a stage (see the package docstring for an example):
- the task function is a module-level function (importable on the workers), takes one task object (or the task
  and the bytes `attach` gave for it) and returns a picklable result; it never writes the catalog;
- a task may run more than once (a lost worker's tasks are run again): it writes only temporary files with fresh
  names, which the coordinator renames into place (or deletes) when it gets the result;
- an exception raised by the task is retried `retries` times, then ends the run with TaskFailed (a FonotecaError);
- a task whose worker process dies every time it runs (a decoder crash, out of memory) comes back as Crashed;
- tasks lost with a worker (killed, machine gone, network cut) are run again on the others; the stage sees one
  result per task, never a duplicate and never an error for it.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import multiprocessing
import os
import re
import signal
import socket
import tempfile
import time
import traceback
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from fonoteca.errors import FonotecaError, UsageError

T = TypeVar("T")
R = TypeVar("R")

STORAGE_MODES = ("shared", "sources", "none")
STORAGE_HELP = {
    "shared": "the archive directory and the sources are on a shared file system, at the same paths on every "
    "worker; workers write finished files into the archive's temporary folder",
    "sources": "only the sources are shared (same paths on every worker); finished files travel back to the "
    "coordinator, which writes them into the archive",
    "none": "nothing is shared: the coordinator reads each input and sends it to a worker; finished files travel "
    "back to the coordinator",
}
Attach = Callable[[Any], Any]


# ---- what a task can come back as ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Crashed:
    """The task's worker process died every time the task ran (a crashing decoder, memory exhaustion): it is not
    run again. The stage decides what that means for its input (ingest quarantines it with reason "crashed")."""

    message: str


class TaskFailed(FonotecaError):
    """A task raised an exception on every try: the run stops (the catalog stays as it was before the task)."""

    def __init__(self, task: Any, kind: str, message: str, trace: str) -> None:
        self.task, self.kind, self.remote_message, self.trace = task, kind, message, trace
        super().__init__(
            f"a task failed on every try ({kind}: {message}); task: {_describe(task)}\n"
            f"last lines of its traceback:\n{trace.strip()[-1500:]}"
        )


def _describe(task: Any) -> str:
    path = getattr(task, "path", None)
    return str(path) if path else repr(task)[:200]


@dataclass
class _Raised:
    """An exception raised inside a task, carried back as a value (so that the executor can tell it apart from
    failures of the cluster itself)."""

    kind: str
    message: str
    trace: str


def _invoke(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which retries or stops
        return _Raised(type(exc).__name__, str(exc)[:1000], traceback.format_exc()[-4000:])


def _invoke_batch(fn: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    return [_invoke(fn, *args) for args in calls]


def probe(value: Any = None) -> dict[str, Any]:
    """A task for checking a cluster (`fonoteca cluster check`, tests): where it ran. "crash" kills the worker
    process, "raise" raises."""
    if value == "crash":
        os._exit(70)
    if value == "raise":
        raise RuntimeError("the probe was asked to raise")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        time.sleep(float(value))
    from fonoteca import __version__

    return {
        "value": value,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "fonoteca": __version__,
        "code": code_fingerprint(),
    }


_CODE: dict[str, str] | None = None


def _code_parts() -> dict[str, str]:
    """sha256 of each part of the fonoteca package (a sub-package, or a top-level module) as it was on disk when
    this process first imported this module: .py and .sql files."""
    global _CODE
    if _CODE is None:
        import hashlib
        from pathlib import Path

        import fonoteca

        root = Path(fonoteca.__file__).resolve().parent
        hashes: dict[str, Any] = {}
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".sql") and p.is_file()):
            rel = path.relative_to(root)
            part = rel.parts[0] if len(rel.parts) > 1 else rel.stem
            h = hashes.setdefault(part, hashlib.sha256())
            h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE = {part: h.hexdigest() for part, h in hashes.items()}
    return _CODE


def code_fingerprint(*parts: str) -> str:
    """16 hex digits identifying the code of these parts of fonoteca (sub-packages such as "audio", "ingest";
    none: all of it) as this process runs it. A worker started before the code changed, or running another
    build, gives another value, and could make other files: stages compare it before a run."""
    import hashlib

    code = _code_parts()
    chosen = sorted(parts) if parts else sorted(code)
    return hashlib.sha256("".join(f"{p}={code.get(p, '-')};" for p in chosen).encode()).hexdigest()[:16]


def worker_scratch(base: str = "") -> str:
    """A fresh folder on the worker's own disk for a task whose storage is not shared (the caller removes it)."""
    return tempfile.mkdtemp(prefix="fonoteca-task-", dir=base or None)


# ---- configuration ----------------------------------------------------------------------------------------------


@dataclass
class ExecutorConfig:
    """The archive's [cluster] table (fonoteca.toml), under command-line values."""

    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler; None: the local process pool
    workers: int = 0  # local pool size (0: every core); a cluster's size is its own
    storage: str = "shared"  # shared | sources | none (see STORAGE_HELP)
    scratch: str = ""  # worker-local folder for staged files (storage sources|none); "": TMPDIR
    retries: int = 2  # re-runs of a task that raised, before the run stops
    window: float = 2.0  # tasks in flight per worker thread (the rest wait in the coordinator)
    batch: int = 1  # tasks per Dask task (fewer, longer scheduler tasks for huge runs)
    connect_timeout_s: float = 10.0
    wait_for_workers_s: float = 120.0  # how long to wait for a first worker to join
    max_lost: int = 5  # times one task may be lost with its worker before the run stops

    @classmethod
    def from_config(cls, config: dict[str, Any], **overrides: Any) -> ExecutorConfig:
        section = dict(config.get("cluster", {}))
        cfg = cls()
        if "scheduler" in section and section["scheduler"]:
            cfg.scheduler = str(section["scheduler"])
        for key in ("storage", "scratch"):
            if key in section:
                setattr(cfg, key, str(section[key]))
        for key in ("retries", "batch", "max_lost", "workers"):
            if key in section:
                setattr(cfg, key, int(section[key]))
        for key in ("window", "connect_timeout_s", "wait_for_workers_s"):
            if key in section:
                setattr(cfg, key, float(section[key]))
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        cfg.check()
        return cfg

    def check(self) -> None:
        if self.storage not in STORAGE_MODES:
            raise UsageError(f"[cluster] storage takes {', '.join(STORAGE_MODES)}, not {self.storage!r}")
        if self.retries < 0 or self.batch < 1 or self.window <= 0 or self.max_lost < 0:
            raise UsageError("[cluster] retries >= 0, batch >= 1, window > 0 and max_lost >= 0, please")
        if self.scheduler:
            self.scheduler = normalise_address(self.scheduler)

    @property
    def local_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)


def normalise_address(address: str) -> str:
    """tcp://HOST:PORT (HOST:PORT gets tcp://); anything else is a usage error."""
    address = address.strip()
    if "://" not in address:
        address = "tcp://" + address
    if not re.fullmatch(r"(tcp|tls|ws|wss|inproc|ucx)://[^/\s]+:\d+", address):
        raise UsageError(
            f"--scheduler {address}: expected tcp://HOST:PORT (the address `fonoteca cluster local` "
            "or `dask scheduler` prints)"
        )
    return address


# ---- the interface ----------------------------------------------------------------------------------------------


class Executor(Protocol):
    kind: str  # "local" | "dask" | "inline"
    remote: bool  # tasks may run on other machines
    storage: str  # what the workers share with the coordinator (always "shared" for local executors)
    scratch: str  # worker-local folder for staged files

    @property
    def workers(self) -> int:
        """Task slots (processes, or the cluster's worker threads now)."""

    def map_unordered(
        self, fn: Callable[..., R], tasks: Iterable[T], *, attach: Attach | None = None
    ) -> Iterator[tuple[T, R | Crashed]]:
        """Run fn(task) (or fn(task, attach(task))) for every task; yield (task, result) in completion order.
        Tasks are taken from `tasks` lazily, a bounded window at a time. Close the iterator (or use `run`)."""

    def run(
        self,
        fn: Callable[..., R],
        tasks: Iterable[T],
        on_result: Callable[[T, R | Crashed], None],
        *,
        attach: Attach | None = None,
    ) -> None:
        """map_unordered, calling on_result in this process for each result; always cleans up."""

    def on_every_worker(self, fn: Callable[[], Any]) -> dict[str, Any]:
        """Call fn() once on every worker now connected (checks before a run); {worker: return value}."""

    def describe(self) -> str: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class _Base:
    kind = "base"
    remote = False
    storage = "shared"
    scratch = ""
    retries = 2

    def run(
        self,
        fn: Callable[..., R],
        tasks: Iterable[T],
        on_result: Callable[[T, Any], None],
        *,
        attach: Attach | None = None,
    ) -> None:
        with contextlib.closing(self.map_unordered(fn, tasks, attach=attach)) as results:  # type: ignore[attr-defined]
            for task, result in results:
                on_result(task, result)

    def close(self) -> None:
        pass

    def __enter__(self):  # noqa: ANN204
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _args(self, task: Any, attach: Attach | None) -> tuple[Any, ...]:
        return (task, attach(task)) if attach is not None else (task,)


class InlineExecutor(_Base):
    """Everything in this process, one task at a time (debugging; no crash isolation)."""

    kind = "inline"

    def __init__(self, retries: int = 2) -> None:
        self.retries = retries

    @property
    def workers(self) -> int:
        return 1

    def map_unordered(self, fn, tasks, *, attach=None):  # noqa: ANN001, ANN201
        for task in tasks:
            for attempt in range(self.retries + 1):
                out = _invoke(fn, *self._args(task, attach))
                if not isinstance(out, _Raised):
                    break
                if attempt == self.retries:
                    raise TaskFailed(task, out.kind, out.message, out.trace)
            yield task, out

    def on_every_worker(self, fn: Callable[[], Any]) -> dict[str, Any]:
        return {"inline": fn()}

    def describe(self) -> str:
        return "this process"


def _worker_init(coordinator: int) -> None:
    """Pool workers die with the coordinator (a kill -9 of it must not leave workers writing files), and use the
    same malloc thresholds as Dask workers (fonoteca.cluster.worker)."""
    from fonoteca.children import die_with

    die_with(coordinator)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from fonoteca.cluster.worker import tune_malloc

    tune_malloc()


class LocalExecutor(_Base):
    """A process pool of `workers` processes on this machine, with at most 2 x workers tasks in flight. A task
    whose worker dies is run again alone; if it kills a worker again it comes back as Crashed."""

    kind = "local"

    def __init__(self, workers: int, retries: int = 2) -> None:
        self._workers = max(1, workers)
        self.retries = retries

    @property
    def workers(self) -> int:
        return self._workers

    def describe(self) -> str:
        return f"local process pool, {self._workers} worker{'s' if self._workers != 1 else ''}"

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )

    def on_every_worker(self, fn: Callable[[], Any]) -> dict[str, Any]:
        return {"local": fn()}  # the pool's processes see what this one sees

    def map_unordered(self, fn, tasks, *, attach=None):  # noqa: ANN001, ANN201
        pool = self._pool(self._workers)
        pending: dict[Future, tuple[Any, int]] = {}
        source = iter(tasks)
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * self._workers:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                        break
                    pending[pool.submit(_invoke, fn, *self._args(task, attach))] = (task, 0)
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                suspects: list[Any] = []
                ready: list[tuple[Any, Any]] = []
                for future in done:
                    task, tries = pending.pop(future)
                    try:
                        out = future.result()
                    except BrokenProcessPool:
                        suspects.append(task)
                        continue
                    if isinstance(out, _Raised):
                        if tries >= self.retries:
                            raise TaskFailed(task, out.kind, out.message, out.trace)
                        pending[pool.submit(_invoke, fn, *self._args(task, attach))] = (task, tries + 1)
                        continue
                    ready.append((task, out))
                yield from ready
                if suspects:
                    # the pool is broken: every task in flight is suspect; run each alone in a fresh process
                    suspects.extend(task for task, _ in pending.values())
                    pending.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    for task in suspects:
                        yield task, self._alone(fn, task, attach)
                    pool = self._pool(self._workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _alone(self, fn: Callable[..., Any], task: Any, attach: Attach | None) -> Any:
        for tries in range(self.retries + 1):
            pool = self._pool(1)
            try:
                out = pool.submit(_invoke, fn, *self._args(task, attach)).result()
            except BrokenProcessPool:
                return Crashed("the task crashed its worker process twice")
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            if not isinstance(out, _Raised):
                return out
            if tries == self.retries:
                raise TaskFailed(task, out.kind, out.message, out.trace)
        raise AssertionError("unreachable")


@dataclass
class _Job(Generic[T]):
    tasks: list[T]
    tries: list[int] = field(default_factory=list)  # per task: exceptions so far
    lost: int = 0  # times lost with a worker (or its scattered input)


class DaskExecutor(_Base):
    """Tasks on a Dask distributed cluster (`distributed.Client` to a scheduler address).

    - A bounded window of tasks is in flight (window x the cluster's worker threads, re-read as workers come and
      go); the rest wait in the coordinator, so a run of millions of inputs never floods the scheduler.
    - Worker loss: the scheduler runs a lost worker's tasks again elsewhere; a task that was running on workers
      that died more than `distributed.scheduler.allowed-failures` times (default 3) comes back as Crashed.
      Inputs sent with a task (storage "none") live on one worker: if it dies first, the task is sent again.
    - Exceptions raised by a task are retried `retries` times (the task is resubmitted), then TaskFailed.
    - Optional batching: `batch` tasks per Dask task, to cut scheduler overhead (~1 ms a task) for huge runs; a
      batch that crashes its workers is split and its tasks run one by one.
    """

    kind = "dask"
    remote = True

    def __init__(self, config: ExecutorConfig) -> None:
        from distributed import Client

        assert config.scheduler
        self.config = config
        self.address = config.scheduler
        self.storage = config.storage
        self.scratch = config.scratch
        self.retries = config.retries
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self.client = Client(self.address, timeout=config.connect_timeout_s, set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, comm errors: all mean "not reachable"
                raise FonotecaError(
                    f"cannot reach the Dask scheduler at {self.address}: {exc}. Start one with "
                    "`fonoteca cluster local --workers N` (or `dask scheduler` and `dask worker`)"
                ) from None
        try:
            self.client.wait_for_workers(1, timeout=config.wait_for_workers_s)
        except Exception:  # noqa: BLE001 - distributed raises its own TimeoutError
            self.client.close()
            raise FonotecaError(
                f"the Dask scheduler at {self.address} has no workers (waited "
                f"{config.wait_for_workers_s:.0f} s); start some with "
                f"`dask worker {self.address} --nthreads 1`"
            ) from None
        self._threads = 0
        self._threads_at = 0.0

    @property
    def workers(self) -> int:
        now = time.monotonic()
        if now - self._threads_at > 2.0:
            try:
                self._threads = sum(self.client.nthreads().values())
            except Exception:  # noqa: BLE001 - keep the last figure while the scheduler is busy
                pass
            self._threads_at = now
        return self._threads

    def describe(self) -> str:
        return f"Dask cluster at {self.address}, {self.workers} worker threads, storage {self.storage}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def on_every_worker(self, fn: Callable[[], Any]) -> dict[str, Any]:
        return dict(self.client.run(fn))

    def _window(self) -> int:
        return max(2, math.ceil(self.config.window * max(1, self.workers)))

    def map_unordered(self, fn, tasks, *, attach=None):  # noqa: ANN001, ANN201, C901
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        client = self.client
        run_id = uuid.uuid4().hex[:10]
        counter = itertools.count()
        name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "task")
        source = iter(tasks)
        again: deque[_Job] = deque()  # jobs to submit before new ones (retries, lost, split batches)
        pending: dict[Any, _Job] = {}
        in_flight = 0  # tasks (not Dask tasks) in flight
        ac = as_completed(loop=client.loop)

        def submit(job: _Job) -> None:
            nonlocal in_flight
            calls: list[tuple[Any, ...]] = []
            for task in job.tasks:
                if attach is not None:
                    data = attach(task)
                    calls.append((task, client.scatter(data, direct=True, hash=False)))
                else:
                    calls.append((task,))
            key = f"fonoteca-{name}-{run_id}-{next(counter)}"
            try:
                if len(calls) == 1:
                    future = client.submit(_invoke, fn, *calls[0], key=key, pure=False)
                else:
                    future = client.submit(_invoke_batch, fn, calls, key=key, pure=False)
            except Exception as exc:  # noqa: BLE001
                raise FonotecaError(f"lost the Dask scheduler at {self.address}: {exc}") from None
            pending[future] = job
            in_flight += len(job.tasks)
            ac.add(future)

        def fill() -> None:
            window = self._window()
            while in_flight < window:
                if again:
                    submit(again.popleft())
                    continue
                batch = list(itertools.islice(source, self.config.batch))
                if not batch:
                    return
                submit(_Job(batch, [0] * len(batch)))

        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*[Ll]arge (graph|object).*")
                fill()
                while pending:
                    future = next(ac)
                    job = pending.pop(future)
                    in_flight -= len(job.tasks)
                    ready: list[tuple[Any, Any]] = []
                    status, out = future.status, None
                    if status == "finished":
                        try:
                            out = future.result()
                        except Exception:  # noqa: BLE001 - the result was lost with its worker before we got it
                            status = "lost"
                    if status == "finished":
                        outs = out if len(job.tasks) > 1 else [out]
                        retry = _Job([], [])
                        for task, tries, value in zip(job.tasks, job.tries, outs, strict=True):
                            if isinstance(value, _Raised):
                                if tries >= self.retries:
                                    raise TaskFailed(task, value.kind, value.message, value.trace)
                                retry.tasks.append(task)
                                retry.tries.append(tries + 1)
                            else:
                                ready.append((task, value))
                        if retry.tasks:
                            again.append(retry)
                    else:
                        exc = None
                        if status == "error":
                            with contextlib.suppress(Exception):
                                exc = future.exception()
                        if isinstance(exc, KilledWorker):
                            if len(job.tasks) > 1:  # find the culprit: each task alone
                                again.extend(_Job([t], [n]) for t, n in zip(job.tasks, job.tries, strict=True))
                            else:
                                times = getattr(exc, "allowed_failures", 3) + 1
                                ready.append(
                                    (
                                        job.tasks[0],
                                        Crashed(f"the task's worker process died every time it ran it ({times} times)"),
                                    )
                                )
                        elif client.status not in ("running", "connecting"):
                            raise FonotecaError(f"lost the Dask scheduler at {self.address} (client {client.status})")
                        else:  # lost with its worker or its scattered input, cancelled by the cluster: again
                            job.lost += 1
                            if job.lost > self.config.max_lost:
                                raise FonotecaError(
                                    f"the cluster lost a task {job.lost} times ({status}: {exc}); task: "
                                    f"{_describe(job.tasks[0])}"
                                )
                            again.append(job)
                    future.release()
                    fill()
                    yield from ready
        finally:
            for future in list(pending):
                with contextlib.suppress(Exception):
                    future.cancel()
            pending.clear()


def make_executor(config: ExecutorConfig) -> Executor:
    """The Dask executor when a scheduler is configured (--scheduler or [cluster] scheduler), else the local
    process pool. Use it as a context manager: the Dask client is closed at the end."""
    if config.scheduler:
        return DaskExecutor(config)
    return LocalExecutor(config.local_workers, config.retries)


_code_parts()  # pinned at import: a long-running worker keeps the value of the code it runs
