"""`produce` streams its input: each line is sent as it is read (a provider message read
before its order waits for that order only), and its report explains its counts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from smsledger.infra.kafka import produce
from smsledger.infra.kafka.produce import Router, publish_lines
from smsledger.infra.settings import Topics

TOPICS = Topics()
PARTITIONS = 3


class _Future:
    def add_errback(self, callback: Any) -> None:
        return None


@dataclass
class FakeProducer:
    """Records what was sent, in order; the broker's side is tested in test_kafka_infra."""

    sent: list[tuple[str, bytes, bytes | None, int | None, int]] = field(default_factory=list)

    def send(self, topic: str, *, value: bytes, key: bytes | None, partition: int | None,
             headers: list[tuple[str, bytes]]) -> _Future:
        sequence = next(int(v) for k, v in headers if k == produce.SEQUENCE_HEADER)
        self.sent.append((topic, value, key, partition, sequence))
        return _Future()

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def flush(self) -> None:
        return None


def line(id_: str, type_: str, **data: Any) -> bytes:
    return orjson.dumps({"id": id_, "type": type_, "at": "2026-06-01T10:00:00Z",
                         "data": data}) + b"\n"


def test_each_line_is_sent_before_the_next_is_read() -> None:
    producer = FakeProducer()
    seen_before_read: list[int] = []

    def lines() -> Iterator[bytes]:
        for number in range(1, 6):
            seen_before_read.append(len(producer.sent))
            yield line(f"m{number}", "deposit.succeeded", account="a1", deposit=f"d{number}")

    publish_lines(lines(), producer, Router(TOPICS))
    assert seen_before_read == [0, 1, 2, 3, 4]


def test_an_endless_input_is_published_as_it_arrives() -> None:
    producer = FakeProducer()

    def endless() -> Iterator[bytes]:
        number = 0
        while True:
            number += 1
            if number > 1000:
                raise AssertionError("read past what was needed: the input was collected")
            yield line(f"m{number}", "account.opened", account=f"a{number}")
            if len(producer.sent) == 10:
                raise EnoughRead()

    with pytest.raises(EnoughRead):
        publish_lines(endless(), producer, Router(TOPICS))
    assert len(producer.sent) == 10


class EnoughRead(Exception):
    """Ends the endless input from inside the test."""


def test_a_provider_message_read_before_its_order_goes_to_the_orders_account() -> None:
    producer = FakeProducer()
    lines = [
        line("m1", "number.issued", order="o1", provider="p"),
        line("m2", "deposit.succeeded", account="a9", deposit="d1"),
        line("m3", "order.requested", account="a1", order="o1"),
        line("m4", "sms.delivered", order="o1"),
    ]
    report = publish_lines(lines, producer, Router(TOPICS))
    assert [(v, k, seq) for _, v, k, _, seq in producer.sent] == [
        (lines[1].strip(), b"a9", 2),
        (lines[2].strip(), b"a1", 3),
        (lines[0].strip(), b"a1", 1),  # held until its order was read, keeps its position
        (lines[3].strip(), b"a1", 4),
    ]
    assert (report.held, report.unroutable) == (1, 0)


def test_a_line_whose_order_never_comes_goes_on_unroutable_at_the_end() -> None:
    producer = FakeProducer()
    report = publish_lines([line("m1", "sms.delivered", order="o-never"), b"not json\n"],
                           producer, Router(TOPICS))
    assert [(t, k, p) for t, _, k, p, _ in producer.sent] == [
        (TOPICS.customer, None, 0), (TOPICS.customer, None, 0)]
    assert report.unroutable == 2
    assert report.unroutable_to == {f"{TOPICS.customer} partition 0": 2}


def test_lines_held_past_the_limit_go_on_unroutable_oldest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(produce, "HOLD_LIMIT", 2)
    producer = FakeProducer()
    lines = [line(f"m{n}", "sms.delivered", order=f"o{n}") for n in range(1, 4)]
    report = publish_lines(lines, producer, Router(TOPICS))
    assert [seq for *_, seq in producer.sent] == [1, 2, 3]
    assert report.unroutable == 3


def test_a_tick_is_counted_once_and_copied_to_every_partition() -> None:
    producer = FakeProducer()
    report = publish_lines([line("t1", "clock.tick"), b"\n"], producer, Router(TOPICS))
    assert (report.lines, report.ticks, report.total, report.blank) == (1, 1, PARTITIONS, 1)
    assert report.tick_messages == PARTITIONS
    assert sorted(p for _, _, _, p, _ in producer.sent) == list(range(PARTITIONS))


def test_a_payout_read_before_the_closure_that_makes_its_request_waits_for_it() -> None:
    """A closure's refund request (issue 13) is named by no `refund.requested`: the closure
    itself makes its owner known, and releases a payout that was read before it."""
    producer = FakeProducer()
    publish_lines([
        line("m1", "refund.paid", request="closure:a1", fee=0),
        line("m2", "account.closed", account="a1"),
        line("m3", "deposit.succeeded", account="a1", deposit="d9", amount=5, method="card"),
        line("m4", "refund.extended", request="closure:a1:d9", reason="x",
             until="2026-07-01T00:00:00Z"),
    ], producer, Router(TOPICS))
    sent = {orjson.loads(value)["id"]: key for _, value, key, _, _ in producer.sent}
    assert sent == {"m1": b"a1", "m2": b"a1", "m3": b"a1", "m4": b"a1"}
