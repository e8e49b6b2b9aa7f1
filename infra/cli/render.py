"""Human tables and JSON for the command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import orjson


def print_json(rows: Any, out: TextIO = sys.stdout) -> None:
    out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")


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
    rows: Sequence[dict[str, Any]], out: TextIO = sys.stdout, *, max_width: int = 60
) -> None:
    """Rows as aligned columns. Cells are cut to `max_width` (ending "…") on a terminal
    only: output read by a program or written to a file is whole."""
    if not rows:
        out.write("(no rows)\n")
        return
    width = max_width if out.isatty() else None
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
    label: str, out: TextIO = sys.stderr, every: float = 0.5
) -> Callable[[int], None]:
    """A callback that reports a running count on stderr, at most every `every` seconds;
    on a terminal only (a log file gets no carriage returns)."""
    if not out.isatty():
        return _no_progress
    started = time.monotonic()
    last = [0.0]

    def report(count: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            rate = count / max(now - started, 1e-9)
            out.write(f"\r{label}: {count:,} ({rate:,.0f}/s)   ")
            out.flush()

    return report


def _no_progress(count: int) -> None:
    return None


def end_progress(out: TextIO = sys.stderr) -> None:
    """Clear the progress line (nothing was written where stderr is not a terminal)."""
    if out.isatty():
        out.write("\r\033[K")
        out.flush()
