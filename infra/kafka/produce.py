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
from smsledger.domain.closure import closure_request, returned_deposit_request
from smsledger.infra.kafka.clients import make_producer
from smsledger.infra.kafka.topics import ensure_topics
from smsledger.infra.settings import KafkaSettings, Topics

PROVIDER_TYPES = frozenset({"number.issued", "number.unavailable", "sms.delivered"})
PAYMENT_TYPES = frozenset({"deposit.succeeded", "refund.paid"})
CLOCK_TICK = "clock.tick"
# What the router learns account ownership from before anything is sent.


# Lines naming an order or refund request whose owner is not known yet wait for it, up to
# this many in all (about 20-40 MB); past it the oldest go on unroutable.
HOLD_LIMIT = 100_000


@dataclass(frozen=True)
class Route:
    """Where one line goes; `partition` None lets the key pick it, `broadcast` means all.
    `waits_for` is the ("order" | "request", ref) whose owner an unroutable line needs;
    `opens` the one a line makes known."""

    topic: str
    key: bytes | None
    partition: int | None = None
    broadcast: bool = False
    routable: bool = True
    waits_for: tuple[str, str] | None = None
    opens: tuple[str, str] | None = None

    @property
    def destination(self) -> str:
        if self.key is None:
            return f"{self.topic} partition {self.partition}"
        return f"{self.topic}, keyed by their account"


@dataclass
class ProduceReport:
    """What `produce_jsonl` published, and why the counts differ from the lines read."""

    lines: int = 0
    messages: Counter[str] = field(default_factory=Counter)
    unroutable: int = 0
    blank: int = 0
    ticks: int = 0  # clock.tick lines, each copied to every partition of the customer topic
    tick_messages: int = 0  # the copies sent for them
    held: int = 0  # lines sent once the order or refund request they name was requested
    unroutable_to: Counter[str] = field(default_factory=Counter)

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
        self.closed: set[str] = set()

    def route(self, line: bytes) -> Route:
        message = _parse(line)
        if message is None:
            return self.unroutable(None)
        kind = message.get("type")
        data = message.get("data")
        data = data if isinstance(data, dict) else {}
        if kind == CLOCK_TICK:
            return Route(self.topics.customer, None, broadcast=True)
        account = self._account(kind, data)
        if not isinstance(kind, str) or account is None:
            return self.unroutable(account, _named(data) if account is None else None)
        return Route(self._topic(kind), account.encode(),
                     opens=_opened(kind, data) or self._engine_opened(kind, account, data))

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
            self._engine_requests(kind, account, data)
            return account
        if order is not None and order in self.order_accounts:
            return self.order_accounts[order]
        if request is not None:
            return self.request_accounts.get(request)
        return None

    def _engine_requests(self, kind: Any, account: str, data: dict[str, Any]) -> None:
        """The refund requests a closure makes, and those returning later deposits, belong
        to the closed account: payouts naming them are routed there."""
        if kind == "account.closed":
            self.closed.add(account)
        opened = self._engine_opened(kind, account, data)
        if opened is not None:
            self.request_accounts.setdefault(opened[1], account)

    def _engine_opened(self, kind: Any, account: str, data: dict[str, Any]
                       ) -> tuple[str, str] | None:
        """The refund request whose owner this line makes known without naming it: a
        closure's, or the one returning a deposit that reached a closed account."""
        if kind == "account.closed":
            return ("request", closure_request(account))
        deposit = _text(data.get("deposit"))
        if kind == "deposit.succeeded" and account in self.closed and deposit is not None:
            return ("request", returned_deposit_request(account, deposit))
        return None

    def _topic(self, kind: str) -> str:
        if kind in PROVIDER_TYPES:
            return self.topics.provider
        if kind in PAYMENT_TYPES:
            return self.topics.payments
        return self.topics.customer

    def unroutable(self, account: str | None, waits_for: tuple[str, str] | None = None) -> Route:
        # Published anyway, so that the consumer dead-letters it with its reason.
        if account is not None:
            return Route(self.topics.customer, account.encode(), routable=False)
        return Route(self.topics.customer, None, partition=0, routable=False,
                     waits_for=waits_for)


class ProduceFailed(RuntimeError):
    """Some messages were not acknowledged by the broker."""


def produce_jsonl(
    lines: Iterable[bytes], settings: KafkaSettings, router: Router | None = None
) -> ProduceReport:
    """Publish each line's bytes unchanged (less its line ending) to its topic, as it is
    read; flush at the end. Every record is stamped with its place in the stream (headers
    `smsledger-run`, `smsledger-seq`), by which the consumer merges the topics back into
    this order. Raises `ProduceFailed` if the broker did not acknowledge every message."""
    ensure_topics(settings)
    producer = make_producer(settings)
    try:
        report = publish_lines(lines, producer, router or Router(settings.topics))
    finally:
        producer.close()
    return report


def publish_lines(
    lines: Iterable[bytes], producer: Any, router: Router, run: int | None = None
) -> ProduceReport:
    """Send the lines through `producer` one by one, never holding the input. `clock.tick`
    goes to every partition of the customer topic, so every member of the consumer group
    sees it. A line naming an order or refund request not requested yet (a provider
    message read before its order) waits until that request is read, then goes to its
    account's partition; one whose request never comes goes on unroutable at the end.
    Blank lines are skipped and counted."""
    publisher = _Publisher(producer, router, run=time.time_ns() if run is None else run)
    for sequence, raw in enumerate(lines, start=1):
        publisher.publish(raw, sequence)
    publisher.release_all()
    producer.flush()
    publisher.check_delivered()
    return publisher.report


class _Publisher:
    def __init__(self, producer: KafkaProducer, router: Router, run: int) -> None:
        self.producer = producer
        self.router = router
        self.run = str(run).encode()  # later runs merge after earlier ones
        self.report = ProduceReport()
        self.failures: list[BaseException] = []
        self.waiting: dict[tuple[str, str], list[tuple[bytes, int]]] = {}
        self.waiting_count = 0

    def publish(self, raw: bytes, sequence: int) -> None:
        """Send one line; its place in the stream travels in headers, so a consumer
        merging the topics restores the order of the stream."""
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            self.report.blank += 1
            return
        self.report.lines += 1
        route = self.router.route(line)
        if route.waits_for is not None:
            self._hold(route.waits_for, line, sequence)
            return
        self._send(route, line, sequence)
        if route.opens is not None and route.opens in self.waiting:
            for held, held_sequence in self._take(route.opens):
                self.report.held += 1
                self._send(self.router.route(held), held, held_sequence)

    def release_all(self) -> None:
        """What still waits will not be requested by this input: it goes on unroutable."""
        for waits_for in list(self.waiting):
            self._release_unroutable(waits_for)

    def _hold(self, waits_for: tuple[str, str], line: bytes, sequence: int) -> None:
        self.waiting.setdefault(waits_for, []).append((line, sequence))
        self.waiting_count += 1
        if self.waiting_count > HOLD_LIMIT:
            self._release_unroutable(next(iter(self.waiting)))  # the longest waiting

    def _take(self, waits_for: tuple[str, str]) -> list[tuple[bytes, int]]:
        held = self.waiting.pop(waits_for)
        self.waiting_count -= len(held)
        return held

    def _release_unroutable(self, waits_for: tuple[str, str]) -> None:
        for line, sequence in self._take(waits_for):
            self._send(self.router.unroutable(None), line, sequence)

    def _send(self, route: Route, line: bytes, sequence: int) -> None:
        if not route.routable:
            self.report.unroutable += 1
            self.report.unroutable_to[route.destination] += 1
        if route.broadcast:
            self.report.ticks += 1
        for partition in self._partitions(route):
            future = self.producer.send(
                route.topic, value=line, key=route.key, partition=partition,
                headers=[(RUN_HEADER, self.run), (SEQUENCE_HEADER, str(sequence).encode())],
            )
            # flush() does not raise for failed sends; only their futures know.
            future.add_errback(self.failures.append)
            self.report.messages[route.topic] += 1
            self.report.tick_messages += route.broadcast

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


def _named(data: dict[str, Any]) -> tuple[str, str] | None:
    """The order or refund request a line without an account names, if any."""
    order, request = _text(data.get("order")), _text(data.get("request"))
    if order is not None:
        return ("order", order)
    return ("request", request) if request is not None else None


def _opened(kind: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """The order or refund request whose owner this line makes known."""
    if kind == "order.requested" and _text(data.get("order")):
        return ("order", data["order"])
    if kind == "refund.requested" and _text(data.get("request")):
        return ("request", data["request"])
    return None
