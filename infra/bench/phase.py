"""One measured phase of the benchmark: items, seconds and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from smsledger.infra.bench.child import PHASE_VARIABLE, peak_rss_mb, reset_peak_rss
from smsledger.infra.cli.render import end_progress, show_step


@dataclass
class Phase:
    name: str
    items: int
    seconds: float
    peak_rss_mb: float
    unit: str = "msgs"
    extra: dict[str, Any] = field(default_factory=dict)  # what a child reported besides

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def measure(name: str, unit: str, work: Callable[[], int]) -> Phase:
    reset_peak_rss()
    started = time.perf_counter()
    items = work()
    return Phase(name, items, time.perf_counter() - started, peak_rss_mb(), unit)


def child_phase(name: str, unit: str, *args: str) -> Phase:
    """Run a phase in a fresh interpreter: its time is measured inside, its peak RSS is its own."""
    show_step(f"bench: {name}...")
    # On a terminal the child draws its own progress bar (rate and ETA) on the inherited
    # stderr; elsewhere its stderr is kept for the error message.
    on_terminal = sys.stderr.isatty()
    done = subprocess.run(
        [sys.executable, "-m", "smsledger.infra.bench.child", *args],
        stdout=subprocess.PIPE, stderr=None if on_terminal else subprocess.PIPE, check=False,
        env={**os.environ, PHASE_VARIABLE: name},
    )
    end_progress()
    if done.returncode != 0:
        said = "" if on_terminal else done.stderr.decode()[-2000:]
        raise RuntimeError(f"bench phase {name} failed (exit {done.returncode}) {said}")
    figures = orjson.loads(done.stdout.splitlines()[-1])
    return Phase(name, figures.pop("items"), figures.pop("seconds"), figures.pop("peak_rss_mb"),
                 unit, figures)
