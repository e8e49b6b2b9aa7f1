"""The simulator's world: a seeded event-time scheduler, its simulated accounts and orders."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from smsledger.infra.simulation.config import SimulationConfig

Message = tuple[str, dict[str, Any]]
"""What a scheduled happening emits: the message type and its `data`."""

Handler = Callable[..., Message | None]

T = TypeVar("T")

DAY = 86_400


@dataclass(slots=True, eq=False)
class Account:
    """One simulated customer, with the balance they *believe* they can spend."""

    ext: str
    eu: bool
    opened_at: int
    balance: int = 0
    active: bool = True
    orders_left: int = 0
    deposits: int = 0


@dataclass(slots=True, eq=False)
class Order:
    """One simulated number order, as far as the simulator needs to follow it."""

    ext: str
    account: Account
    service: str
    country: str
    price: int
    provider: str = ""
    issued_at: int = 0


class Stamp:
    """RFC 3339 UTC text for whole seconds after `start`, cheaper than datetime per call."""

    def __init__(self, start: datetime) -> None:
        aware = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
        self._base = int(aware.timestamp())
        self._day = -1
        self._prefix = ""
        self._last = (-1, "")

    def __call__(self, t: int) -> str:
        if t == self._last[0]:
            return self._last[1]
        day, second = divmod(self._base + t, DAY)
        if day != self._day:
            self._day = day
            self._prefix = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%dT")
        hour, rest = divmod(second, 3600)
        minute, sec = divmod(rest, 60)
        text = f"{self._prefix}{hour:02d}:{minute:02d}:{sec:02d}Z"
        self._last = (t, text)
        return text


class World:
    """A heap of future happenings, popped in (time, insertion) order into messages."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.random = self.rng.random
        self.end = int(config.days * DAY)
        self._heap: list[tuple[int, int, Handler, tuple[Any, ...]]] = []
        self._seq = 0
        self._counters: dict[str, int] = {}

    def randint(self, low: int, high: int) -> int:
        """Uniform in [low, high]; several times cheaper than `Random.randint`."""
        return low + int(self.random() * (high - low + 1))

    def pick(self, choices: Sequence[T]) -> T:
        """A uniform choice; several times cheaper than `Random.choice`."""
        return choices[int(self.random() * len(choices))]

    def at(self, t: int, handler: Handler, *args: Any) -> None:
        """Schedule `handler(world, t, *args)`; happenings past the end are never run."""
        if t <= self.end:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, handler, args))

    def next_id(self, prefix: str, width: int) -> str:
        """The next external id in a series: `ord-000001`, `dep-00001`, …."""
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}-{n:0{width}d}"

    def run(self) -> Iterator[dict[str, Any]]:
        """Pop happenings in time order and yield the messages they emit."""
        heap, pop, stamp = self._heap, heapq.heappop, Stamp(self.config.start)
        count = 0
        while heap:
            t, _, handler, args = pop(heap)
            out = handler(self, t, *args)
            if out is not None:
                count += 1
                yield {"id": f"m-{count:06d}", "type": out[0], "at": stamp(t), "data": out[1]}


def tick(world: World, t: int) -> Message:
    """A scheduler heartbeat; schedules the next one."""
    world.at(t + world.config.tick_seconds, tick)
    return ("clock.tick", {})
