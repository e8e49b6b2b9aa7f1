"""Human tables and JSON for the command line."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import orjson


def print_json(rows: Any, out: TextIO = sys.stdout) -> None:
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


def print_table(
    rows: Sequence[dict[str, Any]], out: TextIO = sys.stdout, *, max_width: int = 60
) -> None:
    if not rows:
        out.write("(no rows)\n")
        return
    headers = list(rows[0])
    cells = [[_cell(row.get(h))[:max_width] for h in headers] for row in rows]
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
    out.write(f"({len(rows)} rows)\n")


def progress_printer(
    label: str, out: TextIO = sys.stderr, every: float = 0.5
) -> Callable[[int], None]:
    """A callback that reports a running count on stderr, at most every `every` seconds."""
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


def end_progress(out: TextIO = sys.stderr) -> None:
    out.write("\r\033[K" if out.isatty() else "\n")
    out.flush()
