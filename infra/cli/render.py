"""Human tables and JSON for the command line."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import orjson


def print_json(rows: Any, out: TextIO | None = None) -> None:
    out = out or sys.stdout  # looked up at the call: tests and pipes may replace it
    out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_csv(rows: Sequence[dict[str, Any]], out: TextIO = sys.stdout, *,
              fields: Sequence[str]) -> None:
    """A header row of `fields`, then a row each: empty for null, lists joined with commas,
    booleans as true/false, numbers as JSON writes them."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([_csv_cell(row.get(name)) for name in fields] for row in rows)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cut(text: str, width: int | None) -> str:
    """The cell within `width` characters; a cut one ends with "…"."""
    if width is None or len(text) <= width:
        return text
    return text[: width - 1] + "…"


def print_table(
    rows: Sequence[dict[str, Any]], out: TextIO | None = None, *, max_width: int = 60
) -> None:
    """Rows as aligned columns. Cells are cut to `max_width` (ending "…") on a terminal
    only: output read by a program or written to a file is whole."""
    out = out or sys.stdout
    if not rows:
        out.write("(no rows)\n")
        return
    width = max_width if _is_terminal(out) else None
    headers = list(rows[0])
    cells = [[_cut(_cell(row.get(h)), width) for h in headers] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row.get(h), int | float) for row in rows) for h in headers]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out.write(line(headers) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for row_cells in cells:
        out.write(line(row_cells) + "\n")
    out.write(f"({count(len(rows), 'row')})\n")


def count(number: int, noun: str) -> str:
    """`1 row`, `2 rows`."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def progress_printer(
    label: str, out: TextIO | None = None, every: float = 0.5, *, total: int | None = None,
    fraction: Callable[[], float] | None = None, clock: Callable[[], float] = time.monotonic,
) -> Callable[[int], None]:
    """A callback that shows a running count on stderr, at most every `every` seconds, as a
    bar with rate and ETA when the work's size is known (`total` items, or a `fraction`
    done, e.g. of a file's bytes). Only on a terminal: piped output gets no `\r` lines."""
    stream = out or sys.stderr
    if not _is_terminal(stream):
        return lambda count: None
    started = clock()
    last = [float("-inf")]

    def report(count: int) -> None:
        now = clock()
        if now - last[0] < every:
            return
        last[0] = now
        elapsed = max(now - started, 1e-9)
        done = fraction() if fraction is not None else (
            count / total if total else None)
        stream.write("\r" + progress_line(label, count, count / elapsed, done, elapsed))
        stream.flush()

    return report


def progress_line(label: str, count: int, rate: float, done: float | None,
                  elapsed: float, width: int = 24) -> str:
    """`label [#####-----] 42% 12,345 (3,210/s, ETA 0:07)`, or without bar and ETA when
    the size of the work is not known."""
    if done is None:
        return f"{label}: {count:,} ({rate:,.0f}/s)   "
    done = min(max(done, 0.0), 1.0)
    filled = int(done * width)
    eta = elapsed * (1 - done) / done if done > 0 else None
    left = "?" if eta is None else f"{int(eta) // 60}:{int(eta) % 60:02d}"
    return (f"{label} [{'#' * filled}{'-' * (width - filled)}] {done:4.0%} {count:,}"
            f" ({rate:,.0f}/s, ETA {left})   ")


def show_step(text: str, out: TextIO | None = None) -> None:
    """One line saying what long work is at (only on a terminal; `end_progress` clears it)."""
    stream = out or sys.stderr
    if _is_terminal(stream):
        stream.write(f"\r\033[K{text}")
        stream.flush()


def end_progress(out: TextIO | None = None) -> None:
    """Clear the progress line (nothing was written when not on a terminal)."""
    stream = out or sys.stderr
    if _is_terminal(stream):
        stream.write("\r\033[K")
        stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
