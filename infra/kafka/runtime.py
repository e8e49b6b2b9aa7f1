"""Wiring of the distributed runtime: the Kafka consumer, dead-letter topics, the relay."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from smsledger.consumers.engine import Engine
from smsledger.consumers.journal import Batch
from smsledger.consumers.kafka_consumer import ConsumeReport, LedgerConsumer
from smsledger.consumers.outbox import Relay, RelayReport
from smsledger.consumers.schedule import Ownership
from smsledger.infra.alongside import projecting_alongside
from smsledger.infra.bootstrap import Ledger
from smsledger.infra.kafka.clients import make_consumer, make_producer
from smsledger.infra.kafka.drain import drain_watch
from smsledger.infra.kafka.topics import ensure_topics
from smsledger.infra.settings import Settings, Topics


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
    kafka = settings.kafka
    group = kafka.group_id

    def make_engine(ownership: Ownership) -> Engine:
        ledger.opened.store.forget()  # another member may have written while we did not own
        return ledger.engine(group, ownership)

    ensure_topics(kafka)
    producer = make_producer(kafka)
    consumer = make_consumer(kafka)
    runner = LedgerConsumer(
        consumer, make_engine, topics=kafka.topics.inbound,
        publish_dead_letters=dead_letter_publisher(producer),
        batch_size=kafka.batch_size, buffer_limit=kafka.buffer_limit,
        stop_when_idle=stop_when_idle,
        drain=None if stop_when_idle is None else drain_watch(
            kafka, lambda: ledger.opened.store.offsets(group), stop_when_idle),
    )
    previous = _on_sigterm(runner.stop)
    try:
        # The read models follow the consumer while it runs, on the other core.
        with projecting_alongside(settings.store, ledger.policy.name, enabled=True):
            report = runner.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        producer.close()
    ledger.catch_up()
    return report


def relay(ledger: Ledger, settings: Settings, *, stop_when_idle: float | None) -> RelayReport:
    ensure_topics(settings.kafka)
    producer = make_producer(settings.kafka)
    topic = settings.kafka.topics.ledger

    pending: list[Any] = []

    def send(key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
        pending.append(producer.send(topic, key=key, value=value, headers=headers))

    def flush() -> None:
        try:
            await_delivery(producer, pending)
        finally:
            pending.clear()

    outbox = Relay(ledger.opened.database, ledger.opened.recorder.select_stored_after, send,
                   flush, name=f"outbox:{topic}")
    previous = _on_sigterm(lambda: setattr(outbox, "stopping", True))
    try:
        return outbox.run(stop_when_idle=stop_when_idle)
    finally:
        signal.signal(signal.SIGTERM, previous)
        producer.close()


def _on_sigterm(stop: Any) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    return signal.signal(signal.SIGTERM, handler)
