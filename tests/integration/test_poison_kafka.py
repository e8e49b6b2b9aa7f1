"""Poison records on Kafka: times near the ends of the calendar, control characters, a
record without a value and an unreadable sequence header are dead letters; the consumer
neither crashes nor halts its partition, and the state is the file ingest's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.kafka.clients import make_producer
from smsledger.infra.kafka.runtime import consume
from smsledger.infra.settings import KafkaSettings, Settings
from smsledger.projections.queries import run_query
from tests.integration.kafka_support import prepared, reference, views

pytestmark = pytest.mark.kafka

ORDER = (b'"data":{"account":"acc-0001","order":"o-poison","service":"s","country":"c",'
         b'"price":10}')
POISON = [
    b'{"id":"p1","type":"clock.tick","at":"0001-01-01T00:00:00+01:00","data":{}}',
    b'{"id":"p2","type":"clock.tick","at":"9999-12-31T23:59:59-01:00","data":{}}',
    b'{"id":"p3","type":"order.requested","at":"9999-12-31T23:50:00Z",' + ORDER + b"}",
    b'{"id":"p4","type":"refund.requested","at":"9999-12-25T00:00:00Z",'
    b'"data":{"request":"r-poison","account":"acc-0001","reason":"other"}}',
    b'{"id":"p5\\u0000","type":"clock.tick","at":"2026-06-01T00:00:00Z","data":{}}',
    b'{"id":"p6","type":"order.requested","at":"2026-06-01T00:00:00Z",'
    + ORDER.replace(b'"s"', b'"s\\u0000"') + b"}",
]


def dead_letters(store: str) -> list[dict[str, Any]]:
    ledger = bootstrap(Settings(store=store))
    try:
        return run_query(ledger.opened.database, "dead-letters")
    finally:
        ledger.close()


def test_poison_records_are_dead_letters_and_the_partition_goes_on(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "poison", accounts=8, seed=4,
                            partitions=2)
    producer = make_producer(kafka_settings)
    topic = kafka_settings.topics.customer
    for raw in POISON:
        producer.send(topic, key=b"acc-0001", value=raw)
    producer.send(topic, key=b"acc-0001", value=None)  # a tombstone
    producer.send(topic, key=b"acc-0001", value=b'{"id":"p7"}', headers=[
        ("smsledger-seq", b"not a number")])
    producer.flush()
    producer.close()
    ledger = bootstrap(Settings(store=store, kafka=kafka_settings))
    try:
        consume(ledger, Settings(store=store, kafka=kafka_settings), stop_when_idle=3.0)
    finally:
        ledger.close()
    assert views(store) == reference(lines)
    letters = dead_letters(store)
    assert len(letters) == len(POISON) + 2
    expected = ["bad_timestamp"] * 4 + ["unprintable_character"] * 2 + [
        "malformed_json", "unknown_type"]
    assert sorted(d["reason"] for d in letters) == sorted(expected)
