"""Helpers for the Kafka consumer tests: a workload, file-ingest reference, process control."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from smsledger.infra.bootstrap import bootstrap
from smsledger.infra.settings import KafkaSettings, Settings
from smsledger.infra.simulation.simulator import SimulationConfig, simulate
from tests.scenario import run

VIEWS = ("balances", "orders", "refunds", "deposits")


def workload(accounts: int = 30, seed: int = 3, days: float = 0.5) -> list[bytes]:
    """Simulated traffic, then a tick a month later so every deadline has passed."""
    messages = list(simulate(SimulationConfig(accounts=accounts, seed=seed, days=days)))
    last = max(m["at"] for m in messages)
    final = (_parse(last) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    messages.append({"id": "tick-final", "type": "clock.tick", "at": final, "data": {}})
    return [orjson.dumps(m) for m in messages]


def _parse(stamp: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def reference(lines: list[bytes], policy: str = "sms-service") -> dict[str, list[dict]]:
    """What `smsledger ingest` makes of the same lines."""
    outcome = run(lines, policy=policy, batch_size=500)
    return {view: outcome.query(view) for view in VIEWS}


def views(store: str, policy: str = "sms-service") -> dict[str, list[dict]]:
    from smsledger.projections.queries import run_query

    ledger = bootstrap(Settings(store=store, policy=policy))
    try:
        ledger.catch_up()
        return {view: run_query(ledger.opened.database, view) for view in VIEWS}
    finally:
        ledger.close()


def cli_env(kafka: KafkaSettings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SMSLEDGER_BOOTSTRAP": kafka.bootstrap,
        "SMSLEDGER_GROUP_ID": kafka.group_id,
        "SMSLEDGER_TOPIC_PROVIDER": kafka.topics.provider,
        "SMSLEDGER_TOPIC_CUSTOMER": kafka.topics.customer,
        "SMSLEDGER_TOPIC_PAYMENTS": kafka.topics.payments,
        "SMSLEDGER_TOPIC_LEDGER": kafka.topics.ledger,
        "SMSLEDGER_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "SMSLEDGER_HEARTBEAT_INTERVAL_MS": str(kafka.heartbeat_interval_ms),
        "SMSLEDGER_MAX_POLL_INTERVAL_MS": str(kafka.max_poll_interval_ms),
        "SMSLEDGER_KAFKA_BATCH": str(kafka.batch_size),
    })
    return env


def start_consumer(store: str, kafka: KafkaSettings, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "smsledger.infra.cli", "consume", "--store", store, *extra],
        env=cli_env(kafka), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def small_batches(kafka: KafkaSettings, size: int = 50) -> KafkaSettings:
    return replace(kafka, batch_size=size)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def prepared(
    kafka: KafkaSettings, directory: Path, name: str, *, accounts: int, seed: int,
    partitions: int,
) -> tuple[list[bytes], str]:
    """A workload produced to fresh co-partitioned topics, and a SQLite store URL for it."""
    from smsledger.infra.kafka.produce import produce_jsonl
    from smsledger.infra.kafka.topics import create_topics

    lines = workload(accounts=accounts, seed=seed)
    create_topics(kafka, partitions=partitions)
    produce_jsonl(lines, kafka)
    return lines, sqlite_url(directory / f"{name}.db")


def produce_unstamped(lines: list[bytes], kafka: KafkaSettings) -> None:
    """As three producers of their own would: keyed by account, ticks to every customer
    partition, but no stamp of the stream's order (the consumer merges by event time)."""
    from smsledger.infra.kafka.clients import make_producer
    from smsledger.infra.kafka.produce import Router
    from smsledger.infra.kafka.topics import ensure_topics

    ensure_topics(kafka)
    router = Router(kafka.topics)
    for line in lines:  # a first pass, as such producers know every order's account
        router.route(line)
    producer = make_producer(kafka)
    try:
        futures = []
        for line in lines:
            route = router.route(line)
            partitions = (sorted(producer.partitions_for(route.topic)) if route.broadcast
                          else [route.partition])
            futures.extend(producer.send(route.topic, value=line, key=route.key, partition=p)
                           for p in partitions)
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()


# Streams whose accounts interleave out of event-time order (each account's own messages
# staying in order), as topics fed by real producers deliver them.

def accounts_of(lines: list[bytes]) -> list[str | None]:
    """The account of each line (an order's or refund request's for the provider's and
    payments' messages that name only those); None for ticks."""
    orders: dict[str, str] = {}
    requests: dict[str, str] = {}
    found: list[str | None] = []
    for line in lines:
        message = orjson.loads(line)
        data = message.get("data") or {}
        account = data.get("account")
        if message["type"] == "order.requested":
            orders.setdefault(data["order"], account)
        if message["type"] == "refund.requested":
            requests.setdefault(data["request"], account)
        found.append(account or orders.get(data.get("order", "")) or
                     requests.get(data.get("request", "")))
    return found


def some_accounts(lines: list[bytes], count: int, seed: int) -> set[str]:
    import random

    accounts = sorted({a for a in accounts_of(lines) if a is not None})
    return set(random.Random(seed).sample(accounts, count))


def appended_late(lines: list[bytes], accounts: set[str], at_share: float) -> list[bytes]:
    """The accounts' whole history taken out and appended, in its own order, after the
    other accounts' traffic up to `at_share` of the stream (and the ticks with it)."""
    owners = accounts_of(lines)
    theirs = [line for line, a in zip(lines, owners, strict=True) if a in accounts]
    others = [line for line, a in zip(lines, owners, strict=True) if a not in accounts]
    cut = int(len(others) * at_share)
    return others[:cut] + theirs + others[cut:]


def delayed(lines: list[bytes], accounts: set[str], by: int) -> list[bytes]:
    """Every message of the accounts arriving `by` lines late, in its own order."""
    owners = accounts_of(lines)
    arrived: list[bytes] = []
    waiting: list[tuple[int, bytes]] = []
    for index, (line, owner) in enumerate(zip(lines, owners, strict=True)):
        if owner in accounts:
            waiting.append((index + by, line))
        else:
            arrived.append(line)
        while waiting and waiting[0][0] <= index:
            arrived.append(waiting.pop(0)[1])
    return arrived + [line for _, line in waiting]


PROVIDER_TYPES = ("number.issued", "number.unavailable", "sms.delivered")


def provider_backlog(lines: list[bytes], hour: int, late: timedelta) -> list[bytes]:
    """The provider's messages of the stream's `hour`-th hour delivered `late`: each put
    just before the first line at least that much later than itself."""
    times = [_parse(orjson.loads(line)["at"]) for line in lines]
    start = times[0] + timedelta(hours=hour)
    held = {i for i, line in enumerate(lines)
            if orjson.loads(line)["type"] in PROVIDER_TYPES
            and start <= times[i] < start + timedelta(hours=1)}
    out: list[bytes] = []
    pending = sorted(held)
    for i, line in enumerate(lines):
        while pending and times[pending[0]] + late <= times[i]:
            out.append(lines[pending.pop(0)])
        if i not in held:
            out.append(line)
    return out + [lines[i] for i in pending]
