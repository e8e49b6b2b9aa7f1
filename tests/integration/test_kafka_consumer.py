"""The Kafka consumer against a real Tansu broker: exactly-once effect, file equivalence,
crashes, a second member taking over, out-of-order topics, hostile input."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer

from smsledger.consumers.consume_report import ConsumeReport
from smsledger.consumers.engine import Engine
from smsledger.consumers.kafka_consumer import LedgerConsumer
from smsledger.consumers.merging import POLL_WAIT_MS
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.kafka.clients import make_consumer
from smsledger.infra.kafka.produce import produce_jsonl
from smsledger.infra.kafka.runtime import consume
from smsledger.infra.kafka.topics import create_topics
from smsledger.infra.settings import KafkaSettings, Settings
from tests.integration.kafka_support import (
    prepared,
    produce_unstamped,
    reference,
    small_batches,
    sqlite_url,
    start_consumer,
    views,
    workload,
)

pytestmark = pytest.mark.kafka


def consume_all(store: str, kafka: KafkaSettings, idle: float = 3.0) -> None:
    ledger = bootstrap(Settings(store=store, kafka=kafka))
    try:
        consume(ledger, Settings(store=store, kafka=kafka), stop_when_idle=idle)
    finally:
        ledger.close()


def test_three_topics_give_the_state_of_the_file(kafka_settings: KafkaSettings,
                                                  tmp_path: Path) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "k", accounts=30, seed=3,
                            partitions=3)
    consume_all(store, small_batches(kafka_settings, 200))
    assert views(store) == reference(lines)


def test_every_message_delivered_twice_has_one_effect(kafka_settings: KafkaSettings,
                                                      tmp_path: Path) -> None:
    lines = workload(accounts=15)
    create_topics(kafka_settings, partitions=2)
    produce_jsonl(lines, kafka_settings)
    produce_jsonl(lines, kafka_settings)
    store = sqlite_url(tmp_path / "twice.db")
    consume_all(store, kafka_settings)
    assert views(store) == reference(lines)


def test_topics_of_other_producers_delivered_out_of_step_give_the_state_in_event_time(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Three producers without the produce stamp, each topic in event-time order but the
    provider's delivered first and the payments' last: merged by event time."""
    lines = workload(accounts=15, seed=5)
    create_topics(kafka_settings, partitions=2)
    by_type = sorted(lines, key=lambda line: _topic_rank(orjson.loads(line)["type"]))
    produce_unstamped(by_type, kafka_settings)  # all provider events first, payments last
    store = sqlite_url(tmp_path / "shuffled.db")
    consume_all(store, kafka_settings)
    assert views(store) == reference(lines)


def test_stamped_topics_give_the_state_of_the_stream_as_produced(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """`produce` stamps the stream's order: the topics give what ingesting the produced
    lines gives, even where that is not the event-time order."""
    lines = workload(accounts=15, seed=5)
    create_topics(kafka_settings, partitions=2)
    by_type = sorted(lines, key=lambda line: _topic_rank(orjson.loads(line)["type"]))
    produce_jsonl(by_type, kafka_settings)
    store = sqlite_url(tmp_path / "as-produced.db")
    consume_all(store, kafka_settings)
    assert views(store) == reference(by_type) != reference(lines)


def _topic_rank(kind: str) -> int:
    if kind in ("number.issued", "number.unavailable", "sms.delivered"):
        return 0
    if kind in ("deposit.succeeded", "refund.paid"):
        return 2
    return 1


@pytest.fixture(params=["sqlite", "postgres"])
def crash_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "killed.db")
    return request.getfixturevalue("pg_url")


def processed_count(store: str) -> int:
    ledger = bootstrap(Settings(store=store))
    try:
        return ledger.opened.database.query("SELECT COUNT(*) FROM processed_messages")[0][0]
    finally:
        ledger.close()


def wait_until_processed(process: subprocess.Popen[bytes], store: str, count: int) -> None:
    """Until the running consumer has processed `count` messages."""
    deadline = time.monotonic() + 120
    while processed_count(store) < count:
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, f"fewer than {count} messages in two minutes"
        time.sleep(0.05)


def kill_when_processed(process: subprocess.Popen[bytes], store: str, count: int) -> None:
    wait_until_processed(process, store, count)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def test_killed_consumer_restarts_without_loss_or_double_effect(
    kafka_settings: KafkaSettings, crash_store: str
) -> None:
    lines = workload(accounts=60, seed=11)
    create_topics(kafka_settings, partitions=3)
    produce_jsonl(lines, kafka_settings)
    produce_jsonl(lines, kafka_settings)  # and every message twice
    kafka = small_batches(kafka_settings, 10)
    chance = random.Random(11)
    progress = [0]
    for _ in range(3):
        process = start_consumer(crash_store, kafka)
        # Killed at a random point once a random share more of the stream is in, whatever
        # the machine's speed.
        kill_when_processed(process, crash_store,
                            progress[-1] + chance.randint(len(lines) // 20, len(lines) // 5))
        progress.append(processed_count(crash_store))
    assert 0 < progress[1] < progress[3] < len(lines), f"kills not mid-stream: {progress}"
    final = start_consumer(crash_store, kafka, "--stop-when-idle", "4")
    _, errors = final.communicate(timeout=300)
    assert final.returncode == 0, errors.decode()
    assert views(crash_store) == reference(lines)
    audit = subprocess.run(
        [sys.executable, "-m", "smsledger.infra.cli", "audit", "--store", crash_store],
        capture_output=True, text=True, check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_a_second_member_takes_over_when_the_first_stops(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "pair", accounts=40, seed=13,
                            partitions=4)
    kafka = small_batches(kafka_settings, 20)
    first = start_consumer(store, kafka)
    second = start_consumer(store, kafka, "--stop-when-idle", "6")
    time.sleep(5)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    _, errors = second.communicate(timeout=240)
    assert second.returncode == 0, errors.decode()
    assert views(store) == reference(lines)


@pytest.mark.parametrize("topic_attr", ["provider", "customer", "payments"])
def test_hostile_messages_are_dead_lettered_and_consumption_goes_on(
    kafka_settings: KafkaSettings, tmp_path: Path, topic_attr: str
) -> None:
    lines = workload(accounts=5)
    create_topics(kafka_settings, partitions=2)
    produce_jsonl(lines, kafka_settings)
    topic = getattr(kafka_settings.topics, topic_attr)
    hostile = [b"{not json", b"[]", b'{"id":"h1","type":"nope","at":"2026-06-01T00:00:00Z"}',
               b'{"id":"h2","type":"deposit.succeeded","at":"2026-06-01T00:00:00Z",'
               b'"data":{"account":"acc-0001","deposit":"x","amount":-5,"method":"card"}}']
    from smsledger.infra.kafka.clients import make_producer

    producer = make_producer(kafka_settings)
    for raw in hostile:
        producer.send(topic, key=b"acc-0001", value=raw)
    producer.flush()
    producer.close()
    store = sqlite_url(tmp_path / "hostile.db")
    consume_all(store, kafka_settings)
    assert views(store) == reference(lines)
    ledger = bootstrap(Settings(store=store))
    try:
        from smsledger.projections.queries import run_query

        dead = run_query(ledger.opened.database, "dead-letters")
    finally:
        ledger.close()
    assert sorted(d["raw"] for d in dead) == sorted(h.decode() for h in hostile)
    assert {d["source"] for d in dead} == {topic}
    reader = KafkaConsumer(f"{topic}.dlq", bootstrap_servers=kafka_settings.bootstrap,
                           auto_offset_reset="earliest", consumer_timeout_ms=5000)
    published = list(reader)
    reader.close()
    assert sorted(r.value for r in published) == sorted(hostile)
    assert all(dict(r.headers)["reason"] for r in published)


def test_caught_up_event_time_moves_on_from_the_stream_not_from_todays_date(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Old traffic replayed: once caught up, the watermark advances with elapsed wall-clock
    time from the last event, so an order still inside its window is not timed out."""
    from tests.scenario import Scenario

    scenario = Scenario()
    scenario.account()
    scenario.deposit(500)
    scenario.order("o1", 100)
    scenario.issue("o1")
    create_topics(kafka_settings, partitions=2)
    produce_jsonl(scenario.lines(), kafka_settings)
    store = sqlite_url(tmp_path / "clock.db")
    consume_all(store, kafka_settings, idle=3.0)
    ledger = bootstrap(Settings(store=store))
    try:
        watermark = ledger.opened.store.watermark()
        from smsledger.projections.queries import run_query

        order = run_query(ledger.opened.database, "orders")[0]
    finally:
        ledger.close()
    last = scenario.start + (len(scenario.messages) - 1) * scenario.step
    assert watermark is not None
    assert last < watermark < last + (scenario.step * 120)
    assert order["state"] == "waiting_sms"


def test_sigterm_finishes_the_batch_in_hand_and_exits_cleanly(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "term", accounts=60, seed=17,
                            partitions=2)
    kafka = small_batches(kafka_settings, 10)
    process = start_consumer(store, kafka)
    wait_until_processed(process, store, len(lines) // 4)
    process.send_signal(signal.SIGTERM)
    output, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors.decode()
    assert b"consumed" in output
    stopped_at = processed_count(store)
    assert 0 < stopped_at < len(lines), f"SIGTERM did not land mid-stream ({stopped_at})"
    final = start_consumer(store, kafka, "--stop-when-idle", "3")
    _, errors = final.communicate(timeout=240)
    assert final.returncode == 0, errors.decode()
    assert views(store) == reference(lines)


def test_a_provider_message_ahead_of_its_order_is_parked_then_applied(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    from tests.scenario import Scenario

    scenario = Scenario()
    scenario.account()
    scenario.deposit(500)
    scenario.issue("o1")  # the provider's clock runs ahead of the customer's order
    scenario.order("o1", 100)
    scenario.sms("o1")
    scenario.customer("order.completed", "o1")
    create_topics(kafka_settings, partitions=2)
    produce_jsonl(scenario.lines(), kafka_settings)
    store = sqlite_url(tmp_path / "parked.db")
    consume_all(store, kafka_settings)
    result = views(store)
    assert result == reference(scenario.lines())
    assert [o["state"] for o in result["orders"]] == ["completed"]


class RecordingConsumer:
    """The real consumer, with the wait of every poll written into `journal`."""

    def __init__(self, consumer: KafkaConsumer, journal: list[tuple[str, int]]) -> None:
        self.consumer, self.journal = consumer, journal

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        self.journal.append(("poll", timeout_ms))
        return self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)

    def __getattr__(self, name: str) -> object:
        return getattr(self.consumer, name)


class RecordingLedgerConsumer(LedgerConsumer):
    """The real consumer loop, with each merge's outcome written into `journal`: how many
    records it applied (0: nothing was ready)."""

    journal: list[tuple[str, int]]

    def _apply_merged(self) -> bool:
        before = self.report.records
        applied = super()._apply_merged()
        self.journal.append(("applied", self.report.records - before))
        return applied


def consume_recorded(store: str, kafka: KafkaSettings, journal: list[tuple[str, int]],
                     **options: int) -> ConsumeReport:
    """Consume everything, polls and merges written into `journal`."""
    ledger = bootstrap(Settings(store=store, kafka=kafka))
    runner = RecordingLedgerConsumer(
        RecordingConsumer(make_consumer(kafka), journal),
        lambda owns: Engine(ledger.opened.store, ledger.policy,
                            consumer_group=kafka.group_id, ownership=owns),
        topics=kafka.topics.inbound, publish_dead_letters=lambda batch: 0,
        batch_size=kafka.batch_size, stop_when_idle=3.0, **options,
    )
    runner.journal = journal
    try:
        return runner.run()
    finally:
        ledger.close()


def test_after_a_batch_is_applied_the_next_poll_does_not_wait(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "nowait", accounts=30, seed=3,
                            partitions=3)
    journal: list[tuple[str, int]] = []
    consume_recorded(store, small_batches(kafka_settings, 50), journal)
    pairs = zip(journal, journal[1:], strict=False)
    after_a_batch = [wait for (before, n), (kind, wait) in pairs
                     if before == "applied" and n > 0 and kind == "poll"]
    assert after_a_batch, "no poll followed an applied batch"
    assert set(after_a_batch) == {0}
    assert ("poll", POLL_WAIT_MS) in journal  # with nothing to apply it does wait
    assert views(store) == reference(lines)


def test_with_the_buffers_full_polls_are_skipped_and_the_state_is_the_files(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    lines, store = prepared(kafka_settings, tmp_path, "full", accounts=30, seed=4,
                            partitions=3)
    journal: list[tuple[str, int]] = []
    report = consume_recorded(store, small_batches(kafka_settings, 50), journal,
                              buffer_limit=1)  # anything held counts as full
    assert report.polls_skipped > 0
    applied = [n for kind, n in journal if kind == "applied"]
    assert sum(applied) == report.records >= len(lines)  # clock ticks reach every partition
    assert views(store) == reference(lines)
