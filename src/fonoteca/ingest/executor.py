"""Executors run the pure task function over many inputs. Local: a process pool (the default, every core);
inline: in this process (workers=1 debugging, tests). A Dask executor (`--scheduler tcp://HOST:PORT`) is a later
issue: asking for it reports that cleanly."""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from fonoteca.errors import FonotecaError
from fonoteca.ingest.task import Result, Task, process

OnResult = Callable[[Task, Result], None]


class Executor(Protocol):
    def run(self, tasks: Iterable[Task], on_result: OnResult) -> None:
        """Run every task; call on_result in the calling process, one at a time, as results arrive."""


class InlineExecutor:
    def run(self, tasks: Iterable[Task], on_result: OnResult) -> None:
        for task in tasks:
            on_result(task, process(task))


def _worker_init() -> None:
    """Workers die with the coordinator (a kill -9 of it must not leave workers writing files)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    """A process pool of `workers` processes with at most 2 x workers tasks in flight. A task whose worker dies
    (a decoder crash) is retried alone; if it kills a worker again it comes back as reason "crashed"."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"),
                                   initializer=_worker_init)

    def run(self, tasks: Iterable[Task], on_result: OnResult) -> None:
        suspects: list[Task] = []
        pool = self._pool(self.workers)
        pending: dict[Future, Task] = {}
        source: Iterator[Task] = iter(tasks)
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < 2 * self.workers:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                        break
                    pending[pool.submit(process, task)] = task
                if not pending:
                    break
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    task = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        suspects.append(task)
                        broken = True
                        continue
                    on_result(task, result)
                if broken:
                    suspects.extend(pending.values())
                    pending.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    self._retry_alone(suspects, on_result)
                    suspects = []
                    pool = self._pool(self.workers)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _retry_alone(self, suspects: list[Task], on_result: OnResult) -> None:
        for task in suspects:
            pool = self._pool(1)
            try:
                result = pool.submit(process, task).result()
            except BrokenProcessPool:
                result = Result(index=task.index, ok=False, reason="crashed",
                                message="the decoder crashed the worker process on this file")
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            on_result(task, result)


def make_executor(workers: int, scheduler: str | None) -> Executor:
    if scheduler:
        raise FonotecaError(f"--scheduler {scheduler}: distributed ingest (Dask) is not available yet; "
                            "run without --scheduler to use the local process pool")
    if workers == 1:
        return LocalExecutor(1)
    return LocalExecutor(workers)
