"""Errors a user must act on: the CLI prints them without a traceback and exits with their code."""


class FonotecaError(Exception):
    """A failure with a message meant for the user (exit code 1)."""


class UsageError(FonotecaError):
    """Bad arguments: nothing was done (exit code 2)."""


class ResourceError(FonotecaError):
    """A resource ran out (disk full, I/O error, read-only disk, too many open files). Nothing was marked done,
    so running the same command again after freeing the resource completes the work (exit code 75)."""
