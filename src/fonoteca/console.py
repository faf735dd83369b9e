"""Terminal output, one rule for every command: results on stdout, everything else on stderr.

- Results (tables, ids, JSON) go to stdout: `emit_table`, `emit_pairs`, `emit_line`, `print_json`. On a terminal a
  table is drawn with rich; anywhere else (a pipe, a file) it is tab-separated with a header line and one row per
  line, so `| grep`, `| cut -f` and `> file` work and nothing is wrapped mid-id.
- Progress bars, summaries and diagnostics go to stderr: `console`, and `progress_bar()` for a stage's progress
  (fonoteca.progress).
- Every value that comes from metadata is printed literally: `cell()`/`lit()` escape rich markup, and control and
  escape characters become visible escapes (`\\x1b`, `\\n`), so a track named `[/]` or carrying an ANSI sequence can
  neither crash the output nor reach the terminal as a command.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from fonoteca.progress import Progress


class _StderrConsole:
    """rich's Console on stderr, created on first use: `--help` and `--version` never import rich."""

    _real: Console | None = None

    @property
    def real(self) -> Console:
        if _StderrConsole._real is None:
            from rich.console import Console

            # piped or redirected, a message is one line per line written (no wrap at 80 columns mid-word), so
            # `2>&1 | grep` and scripts matching a message find it whatever the length of the paths in it
            _StderrConsole._real = Console(stderr=True, highlight=False, soft_wrap=not sys.stderr.isatty())
        return _StderrConsole._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


console: Any = _StderrConsole()

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidi overrides that reorder a terminal line.
_INVISIBLE = {
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
}
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def literal(value: Any) -> str:
    """A value as text safe to print: controls and escape characters as visible escapes; None as ''."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif code in _INVISIBLE:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def lit(value: Any) -> str:
    """A metadata value to interpolate into a rich markup string: literal() with the markup escaped."""
    from rich.markup import escape

    return escape(literal(value))


def cell(value: Any) -> Text:
    """A table cell that rich never parses as markup."""
    from rich.text import Text

    return Text(literal(value))


_stdout: Console | None = None


def stdout_console() -> Console:
    from rich.console import Console

    global _stdout
    if _stdout is None or _stdout.file is not sys.stdout:
        _stdout = Console(file=sys.stdout, highlight=False)
    return _stdout


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _tsv(value: Any) -> str:
    return literal(value)  # tabs and newlines inside a value are escaped, so one row stays one line


def _title_on_stderr(title: str | None) -> None:
    """A table's title when the table itself goes to a pipe or a file (plain text: no need to load rich)."""
    if title:
        sys.stderr.write(literal(title) + "\n")
        sys.stderr.flush()


def emit_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    right: Iterable[str] = (),
    wide: Iterable[str] = (),
) -> None:
    """A result table on stdout: rich on a terminal, else a header line and tab-separated rows.

    `right`: columns aligned right (numbers); `wide`: columns that take the spare width (names) and fold when
    they must. The title is printed on stderr when stdout is not a terminal (it is not data)."""
    rows = list(rows)
    if not stdout_is_terminal():
        _title_on_stderr(title)
        out = sys.stdout
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(_tsv(v) for v in row) + "\n")
        out.flush()
        return
    from rich.table import Table
    from rich.text import Text

    right, wide = set(right), set(wide)
    table = Table(title=cell(title) if title else None, title_justify="left")
    for name in columns:
        table.add_column(
            name,
            justify="right" if name in right else "left",
            overflow="fold",
            no_wrap=name not in wide,
            ratio=3 if name in wide else None,
        )
    for row in rows:
        table.add_row(*(v if isinstance(v, Text) else cell(v) for v in row))
    stdout_console().print(table)


def emit_pairs(pairs: Mapping[str, Any] | Iterable[tuple[str, Any]], *, title: str | None = None) -> None:
    """A key/value result (show, stats): two columns, `key<TAB>value` lines when piped."""
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    if not stdout_is_terminal():
        _title_on_stderr(title)
        sys.stdout.write("".join(f"{_tsv(k)}\t{_tsv(v)}\n" for k, v in items))
        sys.stdout.flush()
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, title=cell(title) if title else None, title_justify="left")
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in items:
        table.add_row(cell(key), value if isinstance(value, Text) else cell(value))
    stdout_console().print(table)


def emit_line(text: Any) -> None:
    """One result line on stdout (an id, a path, a magnet link), printed literally."""
    sys.stdout.write(literal(text) + "\n")
    sys.stdout.flush()


def print_json(value: Any) -> None:
    """Machine-readable output on stdout (for --json)."""
    import orjson

    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()


def number(value: float | int | None, unit: str = "") -> str:
    """A count for people: 47,500 (never 4.75e+04); fractions keep up to one decimal."""
    if value is None:
        return "unknown"
    text = f"{value:,.0f}" if float(value) >= 100 or float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {unit}".rstrip()


def human(value: Any) -> str:
    """A value as a person reads it in a table: thousands separators, names of nested objects, no raw dicts."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, dict):
        named = value.get("name") or value.get("id")
        if named is not None:
            return str(named)
        return ", ".join(f"{k} {human(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(human(v) for v in value)
    return str(value)


def progress(*, transient: bool = False) -> Any:
    """A progress bar on stderr with count, rate, elapsed time and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Items per second, with the unit stored in the task's fields."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            unit = task.fields.get("unit", "items")
            return Text(f"{speed:,.0f} {unit}/s" if speed else "", style="cyan")

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console.real,
        transient=transient,
    )


class BarProgress:
    """A stage's Progress (fonoteca.progress) drawn by `progress()`: the command's bar, named `label`, and one more
    bar for each later step that comes with a total of its own."""

    def __init__(
        self,
        bar: Any,
        label: str,
        *,
        unit: str = "items",
        units: Mapping[str, str] | None = None,
        total: int | None = None,
    ) -> None:
        self.bar, self.label, self.unit = bar, label, unit
        self.units = dict(units or {})  # steps counted in another unit than the command's (pack: bytes, then steps)
        self.task = bar.add_task(label, total=total, unit=unit)
        self.stage: str | None = None

    def __call__(self, advance: int = 0, /, *, stage: str | None = None, total: int | None = None) -> None:
        if stage is not None and stage != self.stage:
            self._begin(stage, total)
        self.bar.update(self.task, advance=advance, total=total)

    def _begin(self, stage: str, total: int | None) -> None:
        description, unit = f"{self.label}: {stage}", self.units.get(stage, self.unit)
        if total is not None and self.stage is not None:  # a later step with a count of its own
            self.task = self.bar.add_task(description, total=total, unit=unit)
        else:
            self.bar.update(self.task, description=description, unit=unit)
        self.stage = stage


@contextmanager
def progress_bar(
    label: str,
    *,
    unit: str = "items",
    total: int | None = None,
    units: Mapping[str, str] | None = None,
    transient: bool = False,
) -> Iterator[Progress]:
    """A command's progress on stderr: `with progress_bar("import table", unit="rows") as report:`, then the
    stage is given `progress=report`. `units`: the unit of a step counted in another one; `transient`: the bars
    are cleared at the end."""
    with progress(transient=transient) as bar:
        yield BarProgress(bar, label, unit=unit, units=units, total=total)
