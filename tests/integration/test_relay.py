"""The outbox relay against a real Tansu broker: every stored event reaches the ledger topic,
keyed by aggregate, in order, at least once; runs resume from the saved position, and a
relay killed mid-way loses nothing when restarted."""

from __future__ import annotations

import inspect
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from smsledger.consumers.ingest import ingest_lines
from smsledger.consumers.outbox import NOTIFICATION_HEADER, Relay
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.kafka.topics import create_topics
from smsledger.infra.settings import KafkaSettings, Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate_lines

pytestmark = pytest.mark.kafka

CLI = [sys.executable, "-m", "smsledger.infra.cli"]
ENVELOPE = {"notification_id", "aggregate_id", "version", "type", "at", "data"}
RELAY_BATCH = inspect.signature(Relay).parameters["batch_size"].default


def ingest(store: Path, lines: list[bytes]) -> None:
    ledger = bootstrap(Settings(store=f"sqlite:///{store}"))
    try:
        ingest_lines(ledger.engine(), lines, source="test")
        ledger.catch_up()
    finally:
        ledger.close()


def stored_events(store: Path) -> list[tuple[int, str, int, str]]:
    """(notification id, aggregate id, version, topic) of every stored event."""
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT rowid, originator_id, originator_version, topic FROM stored_events"
            " ORDER BY rowid"
        ).fetchall()
    db.close()
    return [(int(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]


def relay_args(store: Path, kafka: KafkaSettings, idle: float) -> list[str]:
    return [*CLI, "relay", "--store", f"sqlite:///{store}", "--bootstrap", kafka.bootstrap,
            "--topic-ledger", kafka.topics.ledger, "--stop-when-idle", str(idle)]


def user_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}


def run_relay(store: Path, kafka: KafkaSettings, idle: float = 0.5) -> tuple[int, int]:
    """`smsledger relay … --stop-when-idle`; returns (published, position) as it reports."""
    done = subprocess.run(relay_args(store, kafka, idle), env=user_env(), capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    said = re.search(r"published (\d+) events to (\S+), position (\d+)", done.stdout.decode())
    assert said is not None, done.stdout.decode()
    assert said.group(2) == kafka.topics.ledger
    return int(said.group(1)), int(said.group(3))


def read_ledger(
    kafka: KafkaSettings, done: Callable[[list[ConsumerRecord]], bool], timeout: float = 20.0
) -> list[ConsumerRecord]:
    """The ledger topic from the beginning, with a plain consumer (no group), until `done`;
    then one more poll, so that records beyond what was expected show up too."""
    consumer = KafkaConsumer(bootstrap_servers=[kafka.bootstrap], enable_auto_commit=False)
    try:
        topic = kafka.topics.ledger
        consumer.assign([TopicPartition(topic, p)
                         for p in sorted(consumer.partitions_for_topic(topic) or ())])
        consumer.seek_to_beginning()
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while not done(records) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        return records
    finally:
        consumer.close()


def at_least(count: int) -> Callable[[list[ConsumerRecord]], bool]:
    return lambda records: len(records) >= count


def notification_id(record: ConsumerRecord) -> int:
    headers = dict(record.headers)
    return int(headers[NOTIFICATION_HEADER])


def simulated(accounts: int, seed: int) -> list[bytes]:
    return list(simulate_lines(SimulationConfig(accounts=accounts, days=0.5, seed=seed)))


@pytest.fixture
def ledger_topic(kafka_settings: KafkaSettings) -> KafkaSettings:
    """Fresh topics, the ledger topic among them, with three partitions."""
    create_topics(kafka_settings, partitions=3)
    return kafka_settings


def test_relay_publishes_every_stored_event_keyed_by_aggregate_in_order(
    ledger_topic: KafkaSettings, tmp_path: Path
) -> None:
    store = tmp_path / "ledger.db"
    ingest(store, simulated(accounts=15, seed=21))
    stored = stored_events(store)
    published, position = run_relay(store, ledger_topic)
    assert (published, position) == (len(stored), stored[-1][0])

    records = read_ledger(ledger_topic, at_least(len(stored)))
    assert len(records) == len(stored)
    by_id = {nid: (aggregate, version, topic) for nid, aggregate, version, topic in stored}
    per_aggregate: dict[bytes, list[ConsumerRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        envelope = orjson.loads(record.value)
        assert set(envelope) == ENVELOPE
        nid = notification_id(record)
        assert envelope["notification_id"] == nid
        aggregate, version, topic = by_id[nid]
        assert record.key == aggregate.encode() == envelope["aggregate_id"].encode()
        assert envelope["version"] == version
        assert envelope["type"] == topic.rsplit(":", 1)[-1]
        assert isinstance(envelope["data"], dict)
        per_aggregate[record.key].append(record)
    assert {nid for nid, *_ in stored} == {notification_id(r) for r in records}

    for key, mine in per_aggregate.items():
        assert len({r.partition for r in mine}) == 1, f"{key!r} spread over partitions"
        ids = [notification_id(r) for r in mine]
        assert ids == sorted(ids), f"{key!r} out of notification order"
        versions = [orjson.loads(r.value)["version"] for r in mine]
        assert versions == list(range(1, len(mine) + 1)), key
    assert len({r.partition for r in records}) > 1  # the keys do spread the load


def test_relay_resumes_from_its_saved_position(
    ledger_topic: KafkaSettings, tmp_path: Path
) -> None:
    store = tmp_path / "ledger.db"
    lines = simulated(accounts=12, seed=22)
    half = len(lines) // 2
    ingest(store, lines[:half])
    first = stored_events(store)
    assert run_relay(store, ledger_topic) == (len(first), first[-1][0])

    # Nothing new: a second run publishes nothing and the topic stays as it was.
    assert run_relay(store, ledger_topic) == (0, first[-1][0])
    assert len(read_ledger(ledger_topic, at_least(len(first)))) == len(first)

    ingest(store, lines[half:])
    everything = stored_events(store)
    new = [event for event in everything if event[0] > first[-1][0]]
    assert new
    assert run_relay(store, ledger_topic) == (len(new), everything[-1][0])

    records = read_ledger(ledger_topic, at_least(len(everything)))
    ids = [notification_id(r) for r in records]
    assert len(ids) == len(set(ids)), "an event was published twice without a crash"
    assert set(ids) == {nid for nid, *_ in everything}


def saved_position(store: Path, topic: str) -> int:
    """The relay's saved position, 0 until it saved one."""
    try:
        with sqlite3.connect(store, timeout=5) as db:
            row = db.execute("SELECT position FROM relay_positions WHERE name = ?",
                             (f"outbox:{topic}",)).fetchone()
        db.close()
    except sqlite3.OperationalError:  # the relay has not created its table yet
        return 0
    return int(row[0]) if row else 0


def test_relay_killed_mid_way_then_restarted_publishes_every_event_at_least_once(
    ledger_topic: KafkaSettings, tmp_path: Path
) -> None:
    store = tmp_path / "ledger.db"
    ingest(store, list(simulate_lines(SimulationConfig(accounts=500, days=1.0, seed=23))))
    stored = stored_events(store)
    assert len(stored) > 8 * RELAY_BATCH  # the kill must find several batches still to go
    topic = ledger_topic.topics.ledger

    relay = subprocess.Popen(relay_args(store, ledger_topic, idle=10), env=user_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while saved_position(store, topic) == 0 and relay.poll() is None:
            assert time.monotonic() < deadline, "the relay saved no position in 30 s"
            time.sleep(0.01)
        # Then into the next batch, likely between sending it and saving its position.
        time.sleep(0.05)
    finally:
        relay.send_signal(signal.SIGKILL)
        _, errors = relay.communicate(timeout=10)
    assert relay.returncode == -signal.SIGKILL, errors.decode()
    killed_at = saved_position(store, topic)
    assert 0 < killed_at < stored[-1][0], f"the kill did not land mid-way: {killed_at}"

    published, position = run_relay(store, ledger_topic)
    assert published == sum(1 for nid, *_ in stored if nid > killed_at)  # resumed, not restarted
    assert position == stored[-1][0]

    wanted = {nid for nid, *_ in stored}
    records = read_ledger(ledger_topic, lambda got: {notification_id(r) for r in got} >= wanted,
                          timeout=60)
    values: dict[int, set[bytes]] = defaultdict(set)
    for record in records:
        values[notification_id(record)].add(record.value)
    assert set(values) == wanted
    # A duplicate is the same record again, so the header alone identifies it; only the
    # batch in flight when the relay died can have been sent twice.
    assert all(len(sent) == 1 for sent in values.values())
    assert len(stored) <= len(records) <= len(stored) + RELAY_BATCH
