"""Shared terminal output: rich consoles, progress bars, JSON printing."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

console = Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    """Machine-readable output on stdout (for --json)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


class RateColumn(ProgressColumn):
    """Items per second, with the unit stored in the task's fields."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "items")
        return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="cyan")


def progress(*, transient: bool = False) -> Progress:
    """A progress bar on stderr with count, rate, elapsed time and ETA."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
