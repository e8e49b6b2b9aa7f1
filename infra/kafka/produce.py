"""Publishing JSONL inbound messages to their Kafka topics, keyed by account."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaProducer

from smsledger.consumers.partitions import RUN_HEADER, SEQUENCE_HEADER
from smsledger.infra.kafka.clients import make_producer
from smsledger.infra.kafka.topics import ensure_topics
from smsledger.infra.settings import KafkaSettings, Topics

PROVIDER_TYPES = frozenset({"number.issued", "number.unavailable", "sms.delivered"})
PAYMENT_TYPES = frozenset({"deposit.succeeded", "refund.paid"})
CLOCK_TICK = "clock.tick"


@dataclass(frozen=True)
class Route:
    """Where one line goes; `partition` None lets the key pick it, `broadcast` means all."""

    topic: str
    key: bytes | None
    partition: int | None = None
    broadcast: bool = False
    routable: bool = True


@dataclass
class ProduceReport:
    """What `produce_jsonl` published."""

    lines: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    unroutable: int = 0
    blank: int = 0

    @property
    def total(self) -> int:
        return sum(self.messages.values())


class Router:
    """Picks each message's topic and key; remembers which account owns an order or request.

    Provider messages name only the order and payouts only the request, so their
    account is looked up from the `order.requested` / `refund.requested` seen
    earlier. Keep one router across calls to route a stream fed in several parts.
    """

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self.order_accounts: dict[str, str] = {}
        self.request_accounts: dict[str, str] = {}

    def route(self, line: bytes) -> Route:
        message = _parse(line)
        if message is None:
            return self._unroutable(None)
        kind = message.get("type")
        data = message.get("data")
        data = data if isinstance(data, dict) else {}
        if kind == CLOCK_TICK:
            return Route(self.topics.customer, None, broadcast=True)
        account = self._account(kind, data)
        if not isinstance(kind, str) or account is None:
            return self._unroutable(account)
        return Route(self._topic(kind), account.encode())

    def _account(self, kind: Any, data: dict[str, Any]) -> str | None:
        account = _text(data.get("account"))
        order, request = _text(data.get("order")), _text(data.get("request"))
        if account is not None:
            # The first claim wins: a later message naming another account must
            # not move the order; the consumer rejects it as not_owner.
            if kind == "order.requested" and order is not None:
                self.order_accounts.setdefault(order, account)
            if kind == "refund.requested" and request is not None:
                self.request_accounts.setdefault(request, account)
            return account
        if order is not None and order in self.order_accounts:
            return self.order_accounts[order]
        if request is not None:
            return self.request_accounts.get(request)
        return None

    def learn(self, line: bytes) -> None:
        """Note which account owns an order or refund request, before anything is sent:
        a provider message may come before its order in the stream."""
        message = _parse(line)
        if message is not None and message.get("type") in ("order.requested", "refund.requested"):
            data = message.get("data")
            self._account(message["type"], data if isinstance(data, dict) else {})

    def _topic(self, kind: str) -> str:
        if kind in PROVIDER_TYPES:
            return self.topics.provider
        if kind in PAYMENT_TYPES:
            return self.topics.payments
        return self.topics.customer

    def _unroutable(self, account: str | None) -> Route:
        # Published anyway, so that the consumer dead-letters it with its reason.
        if account is not None:
            return Route(self.topics.customer, account.encode(), routable=False)
        return Route(self.topics.customer, None, partition=0, routable=False)


class ProduceFailed(RuntimeError):
    """Some messages were not acknowledged by the broker."""


def produce_jsonl(
    lines: Iterable[bytes], settings: KafkaSettings, router: Router | None = None
) -> ProduceReport:
    """Publish each line's bytes unchanged (less its line ending) to its topic; flush at the end.

    `clock.tick` goes to every partition of the customer topic, so every member of
    the consumer group sees it. Every record is stamped with its place in the stream
    (headers `smsledger-run`, `smsledger-seq`), by which the consumer merges the topics
    back into this order. Blank lines are skipped and counted. Raises `ProduceFailed` if
    the broker did not acknowledge every message.
    """
    ensure_topics(settings)
    router = router or Router(settings.topics)
    stream = list(lines)  # two passes: first learn every order's and request's account
    for raw in stream:
        router.learn(raw)
    publisher = _Publisher(make_producer(settings), router, run=time.time_ns())
    try:
        for sequence, raw in enumerate(stream, start=1):
            publisher.publish(raw, sequence)
        publisher.producer.flush()
    finally:
        publisher.producer.close()
    publisher.check_delivered()
    return publisher.report


class _Publisher:
    def __init__(self, producer: KafkaProducer, router: Router, run: int) -> None:
        self.producer = producer
        self.router = router
        self.run = str(run).encode()  # later runs merge after earlier ones
        self.report = ProduceReport()
        self.failures: list[BaseException] = []

    def publish(self, raw: bytes, sequence: int) -> None:
        """Send one line; its place in the stream travels in headers, so a consumer
        merging the topics restores the order of the stream."""
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            self.report.blank += 1
            return
        self.report.lines += 1
        route = self.router.route(line)
        if not route.routable:
            self.report.unroutable += 1
        for partition in self._partitions(route):
            future = self.producer.send(
                route.topic, value=line, key=route.key, partition=partition,
                headers=[(RUN_HEADER, self.run), (SEQUENCE_HEADER, str(sequence).encode())],
            )
            # flush() does not raise for failed sends; only their futures know.
            future.add_errback(self.failures.append)
            self.report.messages[route.topic] += 1

    def check_delivered(self) -> None:
        if self.failures:
            raise ProduceFailed(
                f"{len(self.failures)} of {self.report.total} messages were not delivered; "
                f"first error: {self.failures[0]}"
            )

    def _partitions(self, route: Route) -> list[int | None]:
        if not route.broadcast:
            return [route.partition]
        return sorted(self.producer.partitions_for(route.topic))


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
