"""How far a stage has got: the one callback every stage reports progress through.

A stage takes `progress: Progress | None = None` and calls `progress(n)` each time n more units (objects, rows,
files, bytes) are done: always the units done since its last call, never a running count. It names the step it
is in with `stage=` and says how many units the step has with `total=` once it knows. A command shows the
progress with `fonoteca.console.progress_bar()`, which binds the callback to a bar on stderr.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """`progress(n)`: n more units done. `stage`: what is being done now, as a short label (a step's name; ingest
    and features give how fast they decode). `total`: the units of the step now running. A step that comes with a
    total of its own is counted from zero (a bar of its own); a step without one goes on with the count."""

    def __call__(self, advance: int = 0, /, *, stage: str | None = None, total: int | None = None) -> None: ...


def no_progress(advance: int = 0, /, *, stage: str | None = None, total: int | None = None) -> None:
    """The Progress of a caller that shows none."""


def realtime(audio_seconds: float, elapsed: float) -> str:
    """How fast audio decodes, as the step label of ingest and features: "12x realtime"."""
    return f"{audio_seconds / elapsed if elapsed > 0 else 0.0:,.0f}x realtime"
