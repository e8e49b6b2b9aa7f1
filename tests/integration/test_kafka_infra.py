"""The Kafka plumbing against a real Tansu broker: launcher, clients, topics, JSONL producer."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from smsledger.infra.kafka.broker import BrokerError, LocalBroker, free_port
from smsledger.infra.kafka.clients import BrokerUnavailable, make_admin, make_consumer
from smsledger.infra.kafka.produce import ProduceReport, Router, produce_jsonl
from smsledger.infra.kafka.topics import (
    DEFAULT_PARTITIONS,
    TopicLayoutError,
    create_topics,
    describe_partitions,
    topic_names,
)
from smsledger.infra.settings import KafkaSettings, Topics

PARTITIONS = 3


def line(id_: str, type_: str, data: dict[str, object] | None = None) -> bytes:
    message: dict[str, object] = {"id": id_, "type": type_, "at": "2026-06-01T10:00:00Z"}
    if data is not None:
        message["data"] = data
    return orjson.dumps(message) + b"\n"


# One account's life and a second account's failed order, in the DESIGN §2 shape.
STREAM = [
    line("m-1", "account.opened", {"account": "a-1", "currency": "USD", "eu_consumer": False}),
    line("m-2", "deposit.succeeded", {"account": "a-1", "deposit": "d-1", "amount": 1000,
                                      "currency": "USD", "method": "card"}),
    line("m-3", "order.requested", {"account": "a-1", "order": "o-1", "service": "telegram",
                                    "country": "de", "price": 150}),
    line("m-4", "number.issued", {"order": "o-1", "provider": "p-1", "phone": "+4915100000001",
                                  "activation": "act-1", "price": 150}),
    # Odd spacing on purpose: the bytes must travel unchanged.
    b'{"id": "m-5",  "type": "sms.delivered", "at": "2026-06-01T10:01:00Z",'
    b' "data": {"order": "o-1", "text": "Your code: 52817", "code": "52817"}}\n',
    line("m-6", "order.completed", {"order": "o-1", "account": "a-1"}),
    line("m-7", "refund.requested", {"request": "r-1", "account": "a-1", "reason": "other",
                                     "details_provided": False}),
    line("m-8", "refund.details_provided", {"request": "r-1"}),
    line("m-9", "refund.paid", {"request": "r-1", "fee": 30}),
    line("m-10", "account.opened", {"account": "a-2", "currency": "USD", "eu_consumer": True}),
    line("m-11", "order.requested", {"account": "a-2", "order": "o-2", "service": "whatsapp",
                                     "country": "us", "price": 90}),
    line("m-12", "number.unavailable", {"order": "o-2", "reason": "no_numbers"}),
]  # fmt: skip

# message id -> (which topic, key)
EXPECTED = {
    "m-1": ("customer", b"a-1"),
    "m-2": ("payments", b"a-1"),
    "m-3": ("customer", b"a-1"),
    "m-4": ("provider", b"a-1"),
    "m-5": ("provider", b"a-1"),
    "m-6": ("customer", b"a-1"),
    "m-7": ("customer", b"a-1"),
    "m-8": ("customer", b"a-1"),
    "m-9": ("payments", b"a-1"),
    "m-10": ("customer", b"a-2"),
    "m-11": ("customer", b"a-2"),
    "m-12": ("provider", b"a-2"),
}


def read_back(
    settings: KafkaSettings, topics: Iterable[str], expected: int, timeout: float = 10.0
) -> list[ConsumerRecord]:
    """Every record of `topics`, read with a plain consumer (no group)."""
    consumer = KafkaConsumer(bootstrap_servers=[settings.bootstrap], enable_auto_commit=False)
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        for batch in consumer.poll(timeout_ms=300).values():  # anything unexpected?
            records.extend(batch)
        return records
    finally:
        consumer.close()


def role_of(topics: Topics) -> dict[str, str]:
    return {topics.provider: "provider", topics.customer: "customer", topics.payments: "payments"}


def message_id(record: ConsumerRecord) -> str:
    return str(orjson.loads(record.value)["id"])


# --- routing, without a broker ----------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "role"),
    [
        ("number.issued", "provider"),
        ("number.unavailable", "provider"),
        ("sms.delivered", "provider"),
        ("deposit.succeeded", "payments"),
        ("refund.paid", "payments"),
        ("refund.extended", "customer"),
        ("order.cancel_failed", "customer"),
        ("account.opened", "customer"),
        ("order.requested", "customer"),
        ("order.wrong_code_reported", "customer"),
        ("refund.requested", "customer"),
        ("account.closed", "customer"),
    ],
)
def test_router_picks_the_topic_by_type(type_: str, role: str) -> None:
    topics = Topics()
    route = Router(topics).route(line("m-1", type_, {"account": "a-1", "order": "o-1"}))
    assert role_of(topics)[route.topic] == role
    assert route.key == b"a-1"


def test_router_keeps_the_first_owner_of_an_order() -> None:
    router = Router(Topics())
    router.route(line("m-1", "order.requested", {"account": "a-1", "order": "o-1"}))
    router.route(line("m-2", "order.requested", {"account": "a-2", "order": "o-1"}))
    assert router.route(line("m-3", "sms.delivered", {"order": "o-1"})).key == b"a-1"


def test_router_sends_payouts_of_a_closures_refunds_to_the_closed_account() -> None:
    """A closure makes a refund request of its own, and one per later deposit (issue 13):
    their payouts and extensions name only the request."""
    router = Router(Topics())
    stream = [
        line("m-1", "account.closed", {"account": "a-1"}),
        line("m-2", "deposit.succeeded", {"account": "a-1", "deposit": "d-9", "amount": 5,
                                          "method": "card"}),
        line("m-3", "refund.paid", {"request": "closure:a-1", "fee": 0}),
        line("m-4", "refund.extended", {"request": "closure:a-1:d-9", "reason": "x",
                                        "until": "2026-07-01T00:00:00Z"}),
    ]
    assert [router.route(raw).key for raw in stream] == [b"a-1"] * 4


def test_unreachable_broker_is_reported_with_its_address() -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(BrokerUnavailable, match=address):
        make_admin(KafkaSettings(bootstrap=address), bootstrap_timeout_ms=500)


# --- the broker -------------------------------------------------------------------------


@pytest.mark.kafka
def test_broker_answers_kafka_requests(kafka_broker: LocalBroker) -> None:
    assert kafka_broker.running
    host, port = kafka_broker.address.split(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    admin = make_admin(kafka_broker.kafka_settings())
    try:
        assert isinstance(admin.list_topics(), list)
    finally:
        admin.close()


@pytest.mark.kafka
def test_broker_start_failure_carries_its_output(kafka_broker: LocalBroker) -> None:
    taken = int(kafka_broker.address.rsplit(":", 1)[1])
    with pytest.raises(BrokerError, match="Address in use"):
        LocalBroker(taken, startup_timeout=10).start()


@pytest.mark.kafka
def test_run_broker_forever_stops_on_sigterm(kafka_broker: LocalBroker) -> None:
    code = "from smsledger.infra.kafka.broker import run_broker_forever; run_broker_forever()"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().decode().strip()
        host, port = address.split(":")
        with socket.create_connection((host, int(port)), timeout=2):
            pass
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, int(port)), timeout=1).close()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


# --- topics -----------------------------------------------------------------------------


@pytest.mark.kafka
def test_create_topics_makes_co_partitioned_topics(kafka_settings: KafkaSettings) -> None:
    counts = create_topics(kafka_settings, PARTITIONS)
    names = topic_names(kafka_settings.topics)
    assert counts == dict.fromkeys(names, PARTITIONS)
    assert f"{kafka_settings.topics.customer}.dlq" in counts
    assert describe_partitions(kafka_settings) == counts


@pytest.mark.kafka
def test_create_topics_is_idempotent(kafka_settings: KafkaSettings) -> None:
    first = create_topics(kafka_settings, PARTITIONS)
    assert create_topics(kafka_settings, PARTITIONS) == first


@pytest.mark.kafka
def test_inbound_partition_mismatch_is_refused(kafka_settings: KafkaSettings) -> None:
    topics = kafka_settings.topics
    admin = make_admin(kafka_settings)
    try:
        admin.create_topics([NewTopic(topics.provider, 2, 1)])
    finally:
        admin.close()
    with pytest.raises(TopicLayoutError, match=f"{topics.provider}=2"):
        create_topics(kafka_settings, PARTITIONS)
    # Refused before creating the others: nothing half-made to clean up.
    assert describe_partitions(kafka_settings) == {topics.provider: 2}


# --- producing JSONL --------------------------------------------------------------------


@pytest.mark.kafka
def test_produce_on_a_fresh_broker_creates_co_partitioned_topics(
    kafka_settings: KafkaSettings,
) -> None:
    assert describe_partitions(kafka_settings) == {}
    produce_jsonl(STREAM, kafka_settings)
    counts = describe_partitions(kafka_settings)
    assert {counts[name] for name in kafka_settings.topics.inbound} == {DEFAULT_PARTITIONS}
    assert set(counts) == set(topic_names(kafka_settings.topics))


@pytest.mark.kafka
def test_produce_refuses_inbound_topics_that_are_not_co_partitioned(
    kafka_settings: KafkaSettings,
) -> None:
    admin = make_admin(kafka_settings)
    admin.create_topics([NewTopic(kafka_settings.topics.provider, 2, 1),
                         NewTopic(kafka_settings.topics.customer, 3, 1)])
    admin.close()
    with pytest.raises(TopicLayoutError, match="co-partitioned"):
        produce_jsonl(STREAM, kafka_settings)


@pytest.mark.kafka
def test_produce_follows_the_partition_count_of_existing_inbound_topics(
    kafka_settings: KafkaSettings,
) -> None:
    admin = make_admin(kafka_settings)
    admin.create_topics([NewTopic(kafka_settings.topics.provider, 2, 1)])
    admin.close()
    produce_jsonl(STREAM, kafka_settings)
    counts = describe_partitions(kafka_settings)
    assert {counts[name] for name in kafka_settings.topics.inbound} == {2}


@pytest.mark.kafka
def test_produce_routes_each_type_to_its_topic_keyed_by_account(
    kafka_settings: KafkaSettings,
) -> None:
    topics = kafka_settings.topics
    create_topics(kafka_settings, PARTITIONS)

    report = produce_jsonl(STREAM, kafka_settings)

    assert report.lines == len(STREAM)
    assert report.unroutable == 0
    assert report.messages == {topics.customer: 7, topics.payments: 2, topics.provider: 3}
    records = read_back(kafka_settings, topics.inbound, expected=len(STREAM))
    roles = role_of(topics)
    assert {message_id(r): (roles[r.topic], r.key) for r in records} == EXPECTED
    assert sorted(r.value + b"\n" for r in records) == sorted(STREAM)


@pytest.mark.kafka
def test_an_accounts_messages_share_one_partition_number(kafka_settings: KafkaSettings) -> None:
    topics = kafka_settings.topics
    create_topics(kafka_settings, PARTITIONS)
    produce_jsonl(STREAM, kafka_settings)

    records = read_back(kafka_settings, topics.inbound, expected=len(STREAM))
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for record in records:
        partitions[record.key].add(record.partition)
    assert set(partitions) == {b"a-1", b"a-2"}
    assert all(len(numbers) == 1 for numbers in partitions.values())
    by_id = {message_id(r): r for r in records}
    assert by_id["m-4"].topic == topics.provider  # number.issued for o-1 ...
    assert by_id["m-4"].partition == by_id["m-3"].partition  # ... beside order.requested o-1


@pytest.mark.kafka
def test_clock_tick_reaches_every_customer_partition(kafka_settings: KafkaSettings) -> None:
    topics = kafka_settings.topics
    create_topics(kafka_settings, PARTITIONS)
    tick = b'{"id": "m-t", "type": "clock.tick", "at": "2026-06-01T10:30:00Z"}'

    report = produce_jsonl([tick], kafka_settings)

    assert report.messages == {topics.customer: PARTITIONS}
    records = read_back(kafka_settings, topics.inbound, expected=PARTITIONS)
    assert sorted(r.partition for r in records) == list(range(PARTITIONS))
    assert {(r.topic, r.value) for r in records} == {(topics.customer, tick)}


@pytest.mark.kafka
def test_unroutable_lines_are_published_for_dead_lettering(kafka_settings: KafkaSettings) -> None:
    topics = kafka_settings.topics
    create_topics(kafka_settings, PARTITIONS)
    lines = [
        b"this is not json\n",
        b"[1, 2, 3]\n",
        line("m-x", "sms.delivered", {"order": "o-nobody-requested"}),
        line("m-y", "no.such.type", {"account": "a-9"}),
        b"\n",
    ]

    report = produce_jsonl(lines, kafka_settings)

    assert report == ProduceReport(lines=4, messages=report.messages, unroutable=3, blank=1,
                                   unroutable_to=report.unroutable_to)
    assert report.unroutable_to == {f"{topics.customer} partition 0": 3}
    assert report.messages == {topics.customer: 4}
    records = read_back(kafka_settings, topics.inbound, expected=4)
    placed = {r.value: (r.topic, r.partition, r.key) for r in records}
    assert placed[b"this is not json"] == (topics.customer, 0, None)
    assert placed[b"[1, 2, 3]"] == (topics.customer, 0, None)
    assert placed[lines[2].rstrip(b"\n")] == (topics.customer, 0, None)
    assert placed[lines[3].rstrip(b"\n")][2] == b"a-9"
    assert len(records) == 4


# --- consumer group ---------------------------------------------------------------------


@pytest.mark.kafka
def test_group_members_get_co_partitioned_assignments(kafka_settings: KafkaSettings) -> None:
    topics = kafka_settings.topics
    create_topics(kafka_settings, PARTITIONS)
    members = [make_consumer(kafka_settings) for _ in range(2)]
    try:
        for member in members:
            member.subscribe(list(topics.inbound))
        started = time.monotonic()
        while time.monotonic() - started < 60 and not _settled(members):
            for member in members:
                member.poll(timeout_ms=100)
        assert _settled(members), [m.assignment() for m in members]
        for member in members:
            by_topic: dict[str, set[int]] = defaultdict(set)
            for tp in member.assignment():
                by_topic[tp.topic].add(tp.partition)
            assert set(by_topic) == set(topics.inbound)
            assert len({frozenset(numbers) for numbers in by_topic.values()}) == 1
    finally:
        for member in members:
            member.close()


def _settled(members: list[KafkaConsumer]) -> bool:
    assignments = [member.assignment() for member in members]
    every = set().union(*assignments)
    return all(assignments) and len(every) == 3 * PARTITIONS == sum(map(len, assignments))


def test_bench_measures_kafka_with_the_configured_batch_size(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    env = {**os.environ, "SMSLEDGER_KAFKA_BATCH": "100", "SMSLEDGER_SESSION_TIMEOUT_MS": "2000",
           "SMSLEDGER_HEARTBEAT_INTERVAL_MS": "500", "SMSLEDGER_MAX_POLL_INTERVAL_MS": "5000"}
    done = subprocess.run(
        [sys.executable, "-m", "smsledger.infra.cli", "bench", "--messages", "1500",
         "--no-postgres", "--json", "--bootstrap", kafka_broker.address],
        cwd=tmp_path, env=env, capture_output=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = orjson.loads(done.stdout)
    kafka = report["kafka"]
    assert report["kafka_msgs_per_s"] > 0
    assert kafka["records"] >= report["messages"]  # clock ticks reach every partition
    assert kafka["batches"] >= kafka["records"] / 100  # no batch above the configured 100
    assert 0 < kafka["peak_buffered"] <= kafka["records"]
