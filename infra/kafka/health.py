"""Watches on a running consumer member: the broker connection, the group assignment and the
read-model process. Each logs what it sees and stops the member, with the reason kept for
`consume` to raise, when waiting longer would only hide the failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from smsledger.consumers.observer import ConsumerObserver, LedgerConsumer
from smsledger.infra.alongside import AlongsideProjector, ReadModelProcessFailed
from smsledger.infra.settings import KafkaSettings

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0
# No broker connection for this long counts as a lost broker.
LOST_AFTER_S = 2.0
# While the broker is unreachable (or no assignment comes), a reminder this often.
REMIND_EVERY_S = 10.0


class MemberStopped(RuntimeError):
    """A watch stopped the member: the broker stayed away, or no assignment came."""


class _Watch(ConsumerObserver):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failure: RuntimeError | None = None
        self._checked = float("-inf")

    def turn(self, consumer: LedgerConsumer) -> None:
        now = self.clock()
        if now - self._checked < CHECK_EVERY_S:
            return
        self._checked = now
        self.check(consumer, now)

    def check(self, consumer: LedgerConsumer, now: float) -> None:
        raise NotImplementedError

    def fail(self, consumer: LedgerConsumer, failure: RuntimeError) -> None:
        log.error("%s", failure)
        self.failure = failure
        consumer.stop()


def connection_count(kafka_consumer: Any) -> int | None:
    """Open broker connections of a kafka-python consumer (its `connection-count` metric);
    None if the client does not report it."""
    value = kafka_consumer.metrics().get("consumer-metrics", {}).get("connection-count")
    return None if value is None else int(value)


class BrokerWatch(_Watch):
    """No connection to any broker for `LOST_AFTER_S`: logged, reminded, and after
    `broker_timeout_s` without one the member stops. kafka-python keeps reconnecting
    meanwhile (its backoff settings). A single reading of none is not a loss: between the
    bootstrap and the group's first requests a client may briefly hold no connection."""

    def __init__(self, settings: KafkaSettings, clock: Callable[[], float] = time.monotonic,
                 connections: Callable[[Any], int | None] = connection_count) -> None:
        super().__init__(clock)
        self.settings = settings
        self.connections = connections
        self.none_since: float | None = None  # first reading of no connection
        self.lost = False
        self._reminded = 0.0

    def may_idle(self) -> bool:
        return self.none_since is None

    def check(self, consumer: LedgerConsumer, now: float) -> None:
        count = self.connections(consumer.consumer)
        if count is None or count > 0:
            if self.lost and self.none_since is not None:
                log.warning("broker reachable again after %.0f s", now - self.none_since,
                            extra={"bootstrap": self.settings.bootstrap})
            self.none_since, self.lost = None, False
            return
        if self.none_since is None:
            self.none_since = now
        down = now - self.none_since
        if down >= self.settings.broker_timeout_s:
            self.fail(consumer, MemberStopped(
                f"no broker reachable at {self.settings.bootstrap} for {down:.0f} s "
                f"(SMSLEDGER_BROKER_TIMEOUT_S={self.settings.broker_timeout_s:g}); stopping"))
        elif not self.lost and down >= LOST_AFTER_S:
            self.lost, self._reminded = True, now
            log.warning(
                "broker lost: no connection to %s for %.0f s; reconnecting (backoff %d ms up"
                " to %d ms), giving up after %.0f s", self.settings.bootstrap, down,
                self.settings.reconnect_backoff_ms, self.settings.reconnect_backoff_max_ms,
                self.settings.broker_timeout_s)
        elif self.lost and now - self._reminded >= REMIND_EVERY_S:
            self._reminded = now
            log.warning("broker still unreachable after %.0f s", down,
                        extra={"bootstrap": self.settings.bootstrap})


class AssignmentWatch(_Watch):
    """A member that holds no assignment (joining, or a rebalance that does not end) warns
    every `timeout_s`; with --stop-when-idle it stops after that long instead."""

    def __init__(self, settings: KafkaSettings, *, stop_when_idle: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.settings = settings
        self.stop_when_idle = stop_when_idle
        self.waiting_since: float | None = clock()
        self._warned = self.waiting_since

    def assigned(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        self.waiting_since = None

    def revoked(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        self.waiting_since = self._warned = self.clock()

    def check(self, consumer: LedgerConsumer, now: float) -> None:
        if self.waiting_since is None or consumer.engine is not None:
            return
        waited = now - self.waiting_since
        limit = self.settings.assignment_timeout_s
        if self.stop_when_idle is not None and waited >= limit:
            self.fail(consumer, MemberStopped(
                f"no partitions assigned by group {self.settings.group_id!r} within "
                f"{limit:g} s (the group is still rebalancing; "
                f"SMSLEDGER_ASSIGNMENT_TIMEOUT_S); stopping"))
        elif now - self._warned >= limit:
            self._warned = now
            log.warning("no partitions assigned after %.0f s (group %s still rebalancing)",
                        waited, self.settings.group_id)


class ProjectorWatch(_Watch):
    """The read-model process beside the member: restarted when it died, and the member
    stopped when it keeps dying."""

    def __init__(self, projector: AlongsideProjector | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.projector = projector

    def check(self, consumer: LedgerConsumer, now: float) -> None:
        if self.projector is None:
            return
        try:
            self.projector.check()
        except ReadModelProcessFailed as failure:
            self.fail(consumer, failure)
