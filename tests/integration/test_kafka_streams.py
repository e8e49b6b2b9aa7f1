"""Real streams against a real Tansu broker: accounts interleaved out of event-time order,
a provider backlog delivered late, a tick on one partition, members killed with -9 and a
drain that waits for the whole group; every time compared with ingesting the same lines."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from smsledger.consumers.drain import DrainWatch
from smsledger.consumers.kafka_consumer import LedgerConsumer
from smsledger.consumers.partitions import partition_of
from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.kafka.clients import make_consumer, make_producer
from smsledger.infra.kafka.drain import GroupBacklog, drain_watch
from smsledger.infra.kafka.produce import produce_jsonl
from smsledger.infra.kafka.runtime import consume
from smsledger.infra.kafka.topics import create_topics
from smsledger.infra.settings import KafkaSettings, Settings
from tests.integration.kafka_support import (
    accounts_of,
    appended_late,
    delayed,
    provider_backlog,
    reference,
    small_batches,
    some_accounts,
    sqlite_url,
    start_consumer,
    views,
    workload,
)
from tests.scenario import Scenario, run

pytestmark = pytest.mark.kafka


def consume_all(store: str, kafka: KafkaSettings, idle: float = 3.0) -> Any:
    ledger = bootstrap(Settings(store=store, kafka=kafka))
    try:
        return consume(ledger, Settings(store=store, kafka=kafka), stop_when_idle=idle)
    finally:
        ledger.close()


def journal(store: str, sql: str) -> list[tuple[Any, ...]]:
    ledger = bootstrap(Settings(store=store))
    try:
        return sorted(ledger.opened.database.query(sql))
    finally:
        ledger.close()


def late_ids(store: str) -> list[tuple[Any, ...]]:
    return journal(store, "SELECT message, at FROM late_messages")


def ingested(lines: list[bytes], path: Path) -> str:
    """The file ingest of the lines, in a SQLite store of its own."""
    store = sqlite_url(path)
    run(lines, store=store, batch_size=500).ledger.close()
    return store


def two_days() -> list[bytes]:
    return workload(accounts=24, seed=21, days=2)


def shaped(shape: str) -> list[bytes]:
    lines = two_days()
    accounts = some_accounts(lines, 4, seed=5)
    if shape == "accounts appended late":
        return appended_late(lines, accounts, at_share=0.6)
    if shape == "accounts delayed":
        return delayed(lines, accounts, by=400)
    return provider_backlog(lines, hour=10, late=timedelta(hours=1))


@pytest.mark.parametrize("shape", ["accounts appended late", "accounts delayed",
                                   "provider backlog an hour late"])
def test_out_of_order_streams_give_the_state_of_ingesting_the_same_lines(
    kafka_settings: KafkaSettings, tmp_path: Path, shape: str
) -> None:
    lines = shaped(shape)
    assert sorted(lines) == sorted(two_days())
    create_topics(kafka_settings, partitions=3)
    produce_jsonl(lines, kafka_settings)
    produce_jsonl(lines, kafka_settings)  # and every message twice
    store = sqlite_url(tmp_path / "topics.db")
    report = consume_all(store, small_batches(kafka_settings, 300))
    assert views(store) == reference(lines)
    file_store = ingested(lines, tmp_path / "file.db")
    assert late_ids(store) == late_ids(file_store)
    assert report.late == len(late_ids(file_store))
    # Nothing parked out because another account's traffic ran ahead.
    kinds = "SELECT reason, message FROM dead_letters"
    assert journal(store, kinds) == journal(file_store, kinds)


def test_accounts_appended_late_lose_nothing_to_other_accounts_traffic(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """The issue's case: other accounts' later traffic (ticks included) ran hours ahead of
    the late accounts' messages. None of those is dead-lettered, their balances are the
    in-order ones, and only their own messages count as late (behind the clock)."""
    lines = two_days()
    accounts = some_accounts(lines, 4, seed=5)
    shuffled = appended_late(lines, accounts, at_share=0.6)
    create_topics(kafka_settings, partitions=3)
    produce_jsonl(shuffled, kafka_settings)
    store = sqlite_url(tmp_path / "appended.db")
    consume_all(store, small_batches(kafka_settings, 300))
    assert journal(store, "SELECT reason FROM dead_letters") == []
    in_order = {row["account"]: row for row in reference(lines)["balances"]}
    got = {row["account"]: row for row in views(store)["balances"]}
    assert {a: got[a] for a in accounts} == {a: in_order[a] for a in accounts}
    theirs = {orjson.loads(line)["id"] for line, owner in zip(lines, accounts_of(lines),
                                                               strict=True)
              if owner in accounts}
    late = {message_id for message_id, _ in late_ids(store)}
    assert late
    assert late <= theirs


def test_a_tick_on_one_partition_moves_only_that_partitions_accounts(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    partitions = 3
    first = "acc-1"
    other = next(f"acc-{n}" for n in range(2, 99)
                 if partition_of(f"acc-{n}", partitions) != partition_of(first, partitions))
    s = Scenario()
    for account, order in ((first, "o1"), (other, "o2")):
        s.account(account)
        s.deposit(500, account=account, deposit=f"d-{account}")
        s.order(order, 100, account=account)
    create_topics(kafka_settings, partitions=partitions)
    produce_jsonl(s.lines(), kafka_settings)
    tick = orjson.dumps({"id": "t-one", "type": "clock.tick", "at": "2026-06-01T12:00:00Z"})
    producer = make_producer(kafka_settings)
    producer.send(kafka_settings.topics.customer, value=tick,
                  partition=partition_of(first, partitions)).get(timeout=30)
    producer.close()
    store = sqlite_url(tmp_path / "one-tick.db")
    consume_all(store, kafka_settings)
    orders = {row["order"]: row["state"] for row in views(store)["orders"]}
    assert orders == {"o1": "failed", "o2": "requested"}


def test_a_member_that_finds_the_group_undrained_names_what_is_left(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Its own partitions drained, it waits for the rest as long as its patience lasts,
    then stops with the partitions left (here the store is another group's: nothing of
    it counts as consumed)."""
    lines = workload(accounts=5)
    create_topics(kafka_settings, partitions=2)
    produce_jsonl(lines, kafka_settings)
    store = sqlite_url(tmp_path / "left.db")
    ledger = bootstrap(Settings(store=store, kafka=kafka_settings))
    try:
        watch = DrainWatch(GroupBacklog(kafka_settings, dict), patience=2.0)
        runner = LedgerConsumer(
            make_consumer(kafka_settings), lambda owns: ledger.engine("g", owns),
            topics=kafka_settings.topics.inbound, publish_dead_letters=lambda batch: 0,
            stop_when_idle=1.0, drain=watch,
        )
        started = time.monotonic()
        report = runner.run()
    finally:
        ledger.close()
    assert time.monotonic() - started < 60
    left = {(u.topic, u.partition) for u in report.unconsumed}
    customer = kafka_settings.topics.customer
    assert {(customer, 0), (customer, 1)} <= left
    assert all(u.stored == 0 < u.end for u in report.unconsumed)


def test_after_a_member_is_killed_the_next_one_drains_everything(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """A newcomer shares the partitions with a member that is then killed -9: its own
    share is drained long before the group evicts the dead one (a 12 s session against
    5 s idle), and it waits for the rest to come to it rather than stop short."""
    kafka = replace(small_batches(kafka_settings, 20), session_timeout_ms=12000,
                    heartbeat_interval_ms=1000, max_poll_interval_ms=12000)
    lines = workload(accounts=500, seed=13)
    create_topics(kafka, partitions=4)
    produce_jsonl(lines, kafka)
    store = sqlite_url(tmp_path / "drain.db")
    first = start_consumer(store, kafka)
    wait_until_assigned(first, store)
    ledger = bootstrap(Settings(store=store, kafka=kafka))
    try:
        newcomer = LedgerConsumer(
            make_consumer(kafka), lambda owns: ledger.engine(kafka.group_id, owns),
            topics=kafka.topics.inbound, publish_dead_letters=lambda batch: 0,
            batch_size=kafka.batch_size, stop_when_idle=5.0,
            drain=drain_watch(kafka, lambda: ledger.opened.store.offsets(kafka.group_id), 5.0),
        )
        reports: list[Any] = []
        worker = threading.Thread(target=lambda: reports.append(newcomer.run()))
        worker.start()
        deadline = time.monotonic() + 60
        while not 0 < len(newcomer.buffers) < 12:  # a share of the 3 x 4 partitions
            assert time.monotonic() < deadline, "the newcomer got no share in a minute"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        mine = {(tp.topic, tp.partition) for tp in newcomer.buffers}
        left = GroupBacklog(kafka, lambda: ledger.opened.store.offsets(kafka.group_id))()
        worker.join(timeout=240)
        assert not worker.is_alive()
    finally:
        ledger.close()
    (report,) = reports
    assert {(u.topic, u.partition) for u in left} - mine, "the dead member had finished"
    assert report.unconsumed == []
    assert report.rebalances >= 2  # the dead member's share came to it later
    assert views(store) == reference(lines)


def wait_until_assigned(process: subprocess.Popen[bytes], store: str) -> None:
    """Until the consumer has committed a first batch (so it holds its partitions)."""
    deadline = time.monotonic() + 60
    while not journal(store, "SELECT 1 FROM processed_messages LIMIT 1"):
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "no batch in a minute"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("size", [2, 3])
def test_a_group_under_random_kills_ends_as_the_file_ingest_on_postgres(
    kafka_settings: KafkaSettings, pg_url: str, size: int
) -> None:
    """Two or three members on PostgreSQL, interleaved out-of-order accounts, every message
    twice; members killed with -9 at random points of the stream; a last member drains
    with --stop-when-idle 5. Bounded: four kills, each waited for at most two minutes."""
    chance = random.Random(14 + size)
    lines = delayed(two_days(), some_accounts(two_days(), 4, seed=9), by=300)
    kafka = small_batches(kafka_settings, 25)
    create_topics(kafka, partitions=3)
    produce_jsonl(lines, kafka)
    produce_jsonl(lines, kafka)
    members = [start_consumer(pg_url, kafka) for _ in range(size)]
    at_kills = []
    try:
        # Each kill once a random share more of the stream is in, whatever the speed; the
        # last by 60%, so that a fast machine does not finish the stream before it lands.
        targets = sorted(chance.sample(range(len(lines) // 10, len(lines) * 6 // 10), 4))
        for target in targets:
            wait_until_processed(pg_url, target, members)
            victim = chance.randrange(len(members))
            members[victim].send_signal(signal.SIGKILL)
            members[victim].wait(timeout=10)
            at_kills.append(journal(pg_url, "SELECT COUNT(*) FROM processed_messages")[0][0])
            members[victim] = start_consumer(pg_url, kafka)
        last = start_consumer(pg_url, kafka, "--stop-when-idle", "5")
        for member in members:
            member.send_signal(signal.SIGKILL)
            member.wait(timeout=10)
        _, errors = last.communicate(timeout=300)
    finally:
        for member in members:
            if member.poll() is None:
                member.kill()
    assert all(0 < n < len(lines) for n in at_kills), f"kills not mid-stream: {at_kills}"
    assert last.returncode == 0, errors.decode()[-3000:]
    assert orjson.dumps(views(pg_url)) == orjson.dumps(reference(lines))


def wait_until_processed(store: str, count: int, members: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 120
    while journal(store, "SELECT COUNT(*) FROM processed_messages")[0][0] < count:
        for member in members:
            assert member.poll() is None, member.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, f"fewer than {count} messages in two minutes"
        time.sleep(0.1)
