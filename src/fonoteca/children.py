"""Worker processes that end when the process they work for ends.

A pool's workers are not always children of the coordinator (a forkserver starts them), so the parent-death signal
alone is not enough: each worker also watches the coordinator itself through a pidfd and leaves the moment it is
gone, whatever killed it (kill -9 included). Every pool Fonoteca starts passes `die_with` as its initializer."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import threading

_PR_SET_PDEATHSIG = 1


def die_with(pid: int) -> None:
    """End this process (at once, without cleanup) when process `pid` ends."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not glibc: the watcher below still works
        pass
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):  # gone already (or no pidfd: Linux < 5.3)
        if not _alive(pid):
            os._exit(1)
        return
    threading.Thread(target=_wait_for, args=(fd,), name="fonoteca-die-with", daemon=True).start()


def _wait_for(fd: int) -> None:
    select.select([fd], [], [])  # a pidfd becomes readable when its process exits
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pool_initializer() -> tuple[object, tuple[int]]:
    """(initializer, initargs) for a pool started from this process: its workers die with this process."""
    return die_with, (os.getpid(),)
