"""The `fonoteca` entry point: runs the command line and turns its outcome into a truthful exit code.

The typer app itself is built in `fonoteca.commands` (each stage registers its own sub-commands there); this
module stays tiny so that `fonoteca --version` answers before typer, rich or any stage is imported.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence

from fonoteca import __version__

# The exit codes every command keeps (printed by `fonoteca --help`, listed in the README).
EXIT_OK = 0  # the command did what was asked
EXIT_FAILED = 1  # it did not: an error, or problems found (verify), rejects with --strict, an incomplete download
EXIT_USAGE = 2  # bad arguments or options; nothing was done
EXIT_TEMPORARY = 75  # a resource ran out (disk full, I/O error, read-only disk, too many open files): nothing is
#                      lost or marked done; free the resource and run the same command again (sysexits EX_TEMPFAIL)
EXIT_INTERRUPTED = 130  # Ctrl-C: the next run resumes

EXIT_CODES_HELP = (
    "Exit codes: 0 done as asked; 1 failed or found problems (verify), rejects with --strict, incomplete "
    "download; 2 usage error; 75 temporary: disk full, I/O error or read-only disk, nothing lost, run again; "
    "130 interrupted, run again to resume."
)

_RESOURCE_ERRNOS = {errno.ENOSPC, errno.EIO, errno.EROFS, errno.EMFILE, errno.ENFILE, errno.EDQUOT}


def main(argv: Sequence[str] | None = None) -> None:
    """`fonoteca ARGS`: exits with the code of what happened (see EXIT_CODES_HELP)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        sys.stdout.write(f"fonoteca {__version__}\n")
        sys.exit(EXIT_OK)
    code = run(args)
    _flush_stdout()
    sys.exit(code)


def run(args: list[str]) -> int:
    """Run one command line and return its exit code; errors meant for the user are printed, not raised."""
    import click

    from fonoteca.commands import make_command
    from fonoteca.console import console, lit
    from fonoteca.errors import FonotecaError, ResourceError, UsageError

    try:
        result = make_command().main(args=args, prog_name="fonoteca", standalone_mode=False)
    except UsageError as exc:
        console.print(f"[red]Error:[/red] {lit(exc)}")
        return EXIT_USAGE
    except ResourceError as exc:
        console.print(f"[red]stopped:[/red] {lit(exc)}")
        return EXIT_TEMPORARY
    except FonotecaError as exc:
        console.print(f"[red]Error:[/red] {lit(exc)}")
        return EXIT_FAILED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        console.print("interrupted")
        return EXIT_INTERRUPTED
    except click.ClickException as exc:  # usage errors (bad option, missing argument) carry exit code 2
        exc.show()
        return int(exc.exit_code)
    except BrokenPipeError:
        return _stdout_closed()
    except OSError as exc:
        if exc.errno in _RESOURCE_ERRNOS:
            where = f" ({exc.filename})" if exc.filename else ""
            console.print(
                f"[red]stopped:[/red] {lit(os.strerror(exc.errno or 0))}{lit(where)}: nothing was marked "
                "done; free the resource and run the same command again"
            )
            return EXIT_TEMPORARY
        raise
    # A command that returns without raising did what was asked; one that returns an int chose its code.
    return result if isinstance(result, int) else EXIT_OK


def _stdout_closed() -> int:
    """The reader of stdout went away (`| head`): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 128 + 13  # what a shell reports for a process ended by SIGPIPE


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
