"""One measured phase of the benchmark: items, seconds and peak memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from smsledger.infra.bench.child import peak_rss_mb, reset_peak_rss


@dataclass
class Phase:
    name: str
    items: int
    seconds: float
    peak_rss_mb: float
    unit: str = "msgs"

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def measure(name: str, unit: str, work: Callable[[], int]) -> Phase:
    reset_peak_rss()
    started = time.perf_counter()
    items = work()
    return Phase(name, items, time.perf_counter() - started, peak_rss_mb(), unit)
