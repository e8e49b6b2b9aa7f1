"""Wiring of the distributed runtime: the Kafka consumer, dead-letter topics, the relay,
with their metrics, logs and health watches."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from smsledger.consumers.consume_report import ConsumeReport
from smsledger.consumers.engine import Engine
from smsledger.consumers.journal import Batch
from smsledger.consumers.kafka_consumer import LedgerConsumer
from smsledger.consumers.observer import Observers
from smsledger.consumers.outbox import Relay, RelayReport
from smsledger.consumers.schedule import Ownership
from smsledger.infra.alongside import projecting_alongside
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.kafka.clients import make_consumer, make_producer
from smsledger.infra.kafka.drain import drain_watch
from smsledger.infra.kafka.health import AssignmentWatch, BrokerWatch, ProjectorWatch
from smsledger.infra.kafka.topics import ensure_topics
from smsledger.infra.observability.logs import ConsumerLog
from smsledger.infra.observability.metrics import ConsumerMetrics, RelayMetrics, serving
from smsledger.infra.settings import Settings, Topics

T = TypeVar("T")

log = logging.getLogger(__name__)
# A producer closing with the broker gone waits at most this long for what it holds.
PRODUCER_CLOSE_S = 5.0


def await_delivery(producer: Any, futures: list[Any]) -> None:
    """Flush, then raise if the broker refused any of these sends (flush alone does not)."""
    if not futures:
        return
    producer.flush()
    for future in futures:
        future.get(timeout=30)


def dead_letter_publisher(producer: Any) -> Any:
    """Sends each dead letter of a committed batch to `<topic>.dlq`, with why and where."""

    def publish(batch: Batch) -> int:
        futures: list[Any] = []
        for message_id, reason, detail, source, partition, offset, raw in batch.dead_letters:
            if partition is None:
                continue  # not from a topic (nothing to route it back to)
            headers = [
                ("reason", reason.encode()), ("detail", detail.encode()[:1000]),
                ("topic", source.encode()), ("partition", str(partition).encode()),
                ("offset", str(offset).encode()),
            ]
            if message_id:
                headers.append(("message-id", message_id.encode()))
            futures.append(producer.send(Topics.dead_letter(source), value=raw, headers=headers))
        await_delivery(producer, futures)
        return len(futures)

    return publish


def consume(ledger: Ledger, settings: Settings, *, stop_when_idle: float | None) -> ConsumeReport:
    """Run a consumer member until stopped, idle, or a watch gives up (then it raises the
    watch's reason: the broker stayed away, no assignment came, the read-model process
    kept dying). Stopped by SIGTERM, it ends without the final catch-up."""
    kafka = settings.kafka
    group = kafka.group_id

    def make_engine(ownership: Ownership) -> Engine:
        ledger.opened.store.forget()  # another member may have written while we did not own
        return ledger.engine(group, ownership)

    ensure_topics(kafka)
    producer = make_producer(kafka)
    metrics = ConsumerMetrics()
    watches = [BrokerWatch(kafka), AssignmentWatch(kafka, stop_when_idle=stop_when_idle)]
    terminated: list[bool] = []
    try:
        with (
            serving(metrics.registry, settings.metrics_port, settings.metrics_host),
            # The read models follow the consumer while it runs, on the other core.
            projecting_alongside(settings.store, ledger.policy.name, enabled=True) as projector,
        ):
            watches.append(ProjectorWatch(projector))
            runner = LedgerConsumer(
                make_consumer(kafka), make_engine, topics=kafka.topics.inbound,
                publish_dead_letters=dead_letter_publisher(producer),
                batch_size=kafka.batch_size, buffer_limit=kafka.buffer_limit,
                stop_when_idle=stop_when_idle,
                observer=Observers(*watches, metrics, ConsumerLog()),
                drain=None if stop_when_idle is None else drain_watch(
                    kafka, lambda: ledger.opened.store.offsets(group), stop_when_idle),
            )
            report = _run_until_signal(runner.run, runner.stop, terminated)
    finally:
        producer.close(timeout=PRODUCER_CLOSE_S)
    for watch in watches:
        if watch.failure is not None:
            raise watch.failure
    if not terminated:
        ledger.catch_up()
    return report


def _run_until_signal(
    run: Callable[[], T], stop: Callable[[], None], terminated: list[bool]
) -> T:
    """`run()` with SIGTERM asking `stop()` (the batch in hand is finished first)."""

    def on_sigterm() -> None:
        if not terminated:
            log.info("SIGTERM: finishing the batch in hand, then stopping")
        terminated.append(True)
        stop()

    previous = _on_sigterm(on_sigterm)
    try:
        return run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def relay(ledger: Ledger, settings: Settings, *, stop_when_idle: float | None) -> RelayReport:
    ensure_topics(settings.kafka)
    producer = make_producer(settings.kafka)
    topic = settings.kafka.topics.ledger
    metrics = RelayMetrics()
    recorder = ledger.opened.recorder
    pending: list[Any] = []
    head_read = [float("-inf")]

    def read(position: int, limit: int) -> list[tuple[Any, ...]]:
        if time.monotonic() - head_read[0] >= 1.0:
            head_read[0] = time.monotonic()
            metrics.read(position, recorder.last_notification_id())
        return recorder.select_stored_after(position, limit)  # type: ignore[no-any-return]

    def send(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        pending.append(producer.send(topic, key=key, value=value, headers=headers))

    def flush() -> None:
        try:
            await_delivery(producer, pending)
            metrics.acknowledged(len(pending))
        finally:
            pending.clear()

    outbox = Relay(ledger.opened.database, read, send, flush, name=f"outbox:{topic}")
    try:
        with serving(metrics.registry, settings.metrics_port, settings.metrics_host):
            return _run_until_signal(lambda: outbox.run(stop_when_idle=stop_when_idle),
                                     lambda: setattr(outbox, "stopping", True), [])
    finally:
        producer.close(timeout=PRODUCER_CLOSE_S)


def _on_sigterm(stop: Any) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    return signal.signal(signal.SIGTERM, handler)
