"""Prometheus metrics of `consume` and `relay`, served on --metrics-port (off by default).
Each run has a registry of its own; the consumer's are fed by its observer hooks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from smsledger.consumers.journal import Batch
from smsledger.consumers.observer import ConsumerObserver, LedgerConsumer

log = logging.getLogger(__name__)

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_EVERY_S = 1.0


class ConsumerMetrics(ConsumerObserver):
    """Counters, gauges and the batch latency histogram of one consumer member."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.registry = registry or CollectorRegistry()
        self.wall_clock = wall_clock
        r = self.registry
        self.records = Counter("smsledger_consumer_records", "Records processed in committed"
                               " batches (applied, rejected, dead-lettered or duplicate)",
                               registry=r)
        self.batches = Counter("smsledger_consumer_batches",
                               "Batches of records processed and committed", registry=r)
        self.dead_letters = Counter("smsledger_consumer_dead_letters",
                                    "Records dead-lettered, by reason", ["reason"], registry=r)
        self.rejections = Counter("smsledger_consumer_rejections",
                                  "Messages rejected by the rules, by reason", ["reason"],
                                  registry=r)
        self.parked = Counter("smsledger_consumer_parked",
                              "Messages parked until their order or refund arrives",
                              registry=r)
        self.late_messages = Counter("smsledger_consumer_late_messages",
                            "Messages applied more than the allowed lateness behind"
                            " their partition's clock (the late_messages journal)",
                            registry=r)
        self.batch_seconds = Histogram("smsledger_consumer_batch_seconds",
                                       "Time to process and commit one batch",
                                       buckets=BATCH_BUCKETS, registry=r)
        self.lag = Gauge("smsledger_consumer_lag", "End offset minus the offset stored with"
                         " the ledger, per assigned partition", ["topic", "partition"],
                         registry=r)
        self.assigned_partitions = Gauge("smsledger_consumer_assigned_partitions",
                                         "Partitions this member holds", registry=r)
        self.last_commit = Gauge("smsledger_consumer_last_commit_timestamp_seconds",
                                 "Wall-clock time of the last committed transaction",
                                 registry=r)
        self.watermark = Gauge("smsledger_watermark_timestamp_seconds",
                               "The ledger's event-time watermark", registry=r)
        self.watermark_delay = Gauge("smsledger_watermark_delay_seconds",
                                     "Wall clock minus the event-time watermark", registry=r)
        self.watermark_delay.set_function(self._delay)
        self._watermark: float | None = None
        self.stored: dict[tuple[str, int], int] = {}
        self._lag_at = float("-inf")

    def _delay(self) -> float:
        return float("nan") if self._watermark is None else self.wall_clock() - self._watermark

    # Hooks.

    def applied(self, consumer: LedgerConsumer, records: int, seconds: float) -> None:
        self.records.inc(records)
        self.batches.inc()
        self.batch_seconds.observe(seconds)

    def committed(self, consumer: LedgerConsumer, batch: Batch) -> None:
        self.last_commit.set(self.wall_clock())
        for letter in batch.dead_letters:
            self.dead_letters.labels(letter[1]).inc()
        for rejection in batch.rejections:
            self.rejections.labels(rejection[5]).inc()
        if batch.parked:
            self.parked.inc(len(batch.parked))
        if batch.late:
            self.late_messages.inc(len(batch.late))
        self.stored.update(batch.offsets)
        engine = consumer.engine
        if engine is not None and engine.watermark is not None:
            self._watermark = engine.watermark.timestamp()
            self.watermark.set(self._watermark)

    def assigned(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        self.assigned_partitions.set(len(partitions))
        engine = consumer.engine
        if engine is not None:
            self.stored.update(engine.store.offsets(engine.consumer_group))
            if engine.watermark is not None:
                self._watermark = engine.watermark.timestamp()
                self.watermark.set(self._watermark)
        self._lag_at = float("-inf")

    def revoked(self, consumer: LedgerConsumer, partitions: Sequence[Any]) -> None:
        self.assigned_partitions.set(0)
        for tp in partitions:
            self.stored.pop((tp.topic, tp.partition), None)
            try:
                self.lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass  # never measured

    def turn(self, consumer: LedgerConsumer) -> None:
        now = time.monotonic()
        if now - self._lag_at < LAG_EVERY_S:
            return
        self._lag_at = now
        for tp in list(consumer.buffers):
            end = consumer.consumer.highwater(tp)
            if end is not None:
                stored = self.stored.get((tp.topic, tp.partition), 0)
                self.lag.labels(tp.topic, str(tp.partition)).set(max(end - stored, 0))


class RelayMetrics:
    """What the outbox relay published, and how far it is behind the event log."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.published = Counter("smsledger_relay_events", "Events published to the ledger"
                                 " topic and acknowledged", registry=r)
        self.position = Gauge("smsledger_relay_position", "Notification id published last",
                              registry=r)
        self.log_position = Gauge("smsledger_relay_log_position",
                                  "Notification id of the last stored event", registry=r)
        self.lag = Gauge("smsledger_relay_lag", "Stored events not yet published", registry=r)
        self.last_publish = Gauge("smsledger_relay_last_publish_timestamp_seconds",
                                  "Wall-clock time of the last acknowledged batch", registry=r)

    def read(self, position: int, log_position: int) -> None:
        self.position.set(position)
        self.log_position.set(log_position)
        self.lag.set(max(log_position - position, 0))

    def acknowledged(self, events: int) -> None:
        self.published.inc(events)
        self.last_publish.set_to_current_time()


@contextmanager
def serving(registry: CollectorRegistry, port: int, host: str) -> Iterator[None]:
    """Serve `registry` on http://host:port/metrics for the duration (port 0: not at all)."""
    if not port:
        yield
        return
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        raise RuntimeError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None
    log.info("serving metrics on http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
