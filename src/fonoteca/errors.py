"""Errors a user must act on: the CLI prints them without a traceback and exits 1."""


class FonotecaError(Exception):
    """A failure with a message meant for the user."""


class UsageError(FonotecaError):
    """Bad arguments: the CLI exits 2."""
