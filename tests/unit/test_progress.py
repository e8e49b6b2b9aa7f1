"""Progress on the command line: a bar with rate and ETA on a terminal, nothing otherwise."""

from __future__ import annotations

import io

from smsledger.infra.cli.render import end_progress, progress_line, progress_printer
from tests.clocks import ManualClock


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_shows_a_bar_the_rate_and_the_time_left() -> None:
    out, clock = Terminal(), ManualClock(100.0)
    report = progress_printer("rebuilding", out, total=1000, clock=clock)
    clock.now += 10.0
    report(250)
    assert out.getvalue() == "\r" + progress_line("rebuilding", 250, 25.0, 0.25, 10.0)
    assert "[######------------------]  25% 250 (25/s, ETA 0:30)" in out.getvalue()


def test_a_fraction_of_the_input_read_sets_the_bar() -> None:
    out, clock = Terminal(), ManualClock(100.0)
    report = progress_printer("ingesting", out, fraction=lambda: 0.5, clock=clock)
    clock.now += 60.0
    report(6000)
    assert "50% 6,000 (100/s, ETA 1:00)" in out.getvalue()


def test_without_a_known_size_there_is_a_count_and_a_rate_only() -> None:
    assert progress_line("consuming", 1200, 300.0, None, 4.0) == "consuming: 1,200 (300/s)   "


def test_updates_come_at_most_every_half_second() -> None:
    out, clock = Terminal(), ManualClock(100.0)
    report = progress_printer("replaying", out, total=10, clock=clock)
    clock.now += 1.0
    report(1)
    clock.now += 0.1
    report(2)
    assert out.getvalue().count("\r") == 1


def test_off_a_terminal_nothing_is_written() -> None:
    out = io.StringIO()
    report = progress_printer("ingesting", out, total=10)
    for count in range(10):
        report(count)
    end_progress(out)
    assert out.getvalue() == ""
